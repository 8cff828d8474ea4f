"""Evaluation runs started from the app: one ``python -m eval run`` at a time, in its own process, with progress.

The Evaluation page calls :func:`start_run`; the run writes its progress (questions done out of
the total) to ``reports_dir/eval/run-status.json`` and its output to ``run.log`` beside it, and
the page reads :func:`read_status` every few seconds. Only one run at a time: the launcher takes
an exclusive ``flock`` on ``run.lock`` and hands the locked file to the child process, which
holds it until it exits (so a crashed run frees it, and a second start is refused at once).
The run is a separate, lower-priority process: the app's chat keeps answering meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.core.errors import KBError
from kb.core.settings import Settings

__all__ = ["RunStatus", "EvalRunBusy", "start_run", "read_status", "progress_to", "run_folder"]

STATUS_FILE, LOCK_FILE, LOG_FILE = "run-status.json", "run.lock", "run.log"


class EvalRunBusy(KBError):
    """An evaluation is already running."""


@dataclass(frozen=True)
class RunStatus:
    """Where the latest run from the page is: ``idle``, ``running``, ``finished`` or ``failed``."""

    state: str = "idle"
    stage: str = ""
    done: int = 0
    total: int = 0
    gold: str = ""
    started_by: str = ""
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    pid: int = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        """One line: who started it when, and how far it is."""
        who = f" by {self.started_by}" if self.started_by else ""
        when = f" at {self.started_at[11:16]} UTC" if self.started_at else ""
        where = f"{self.done} of {self.total} questions answered" if self.total else (self.stage or "starting")
        return f"started{who}{when}; {where}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_folder(settings: Settings) -> Path:
    return settings.reports_dir / "eval"


def _write(path: Path, status: RunStatus) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(status), handle)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # readers see the old status or the new one, never half a file


def _read(path: Path) -> RunStatus:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return RunStatus(**{k: v for k, v in raw.items() if k in RunStatus.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return RunStatus()


def _locked(folder: Path) -> bool:
    """True while a run holds the folder's lock (probed without keeping it)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def read_status(folder: Path) -> RunStatus:
    """The latest run's status; a run that says ``running`` but no longer holds the lock died, and is ``failed``."""
    status = _read(folder / STATUS_FILE)
    if status.running and not _locked(folder):
        return replace(status, state="failed", error=f"the run stopped before it finished; see {folder / LOG_FILE}")
    return status


def _take(fd: int, folder: Path, exiting_s: float = 10.0) -> bool:
    """Lock the run folder; a run that has written its end but not yet exited gets ``exiting_s`` to go."""
    deadline = time.monotonic() + exiting_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if _read(folder / STATUS_FILE).running or time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def start_run(settings: Settings, *, gold: str, started_by: str = "") -> RunStatus:
    """Start ``python -m eval run --gold GOLD`` in the background (at low priority); return its first status.

    Raises:
        EvalRunBusy: a run is going on already (the message says whose and how far it is).
    """
    folder = run_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _take(fd, folder):
            raise EvalRunBusy(f"an evaluation is already running ({read_status(folder).describe()}); wait for it to "
                              "finish: its report appears on this page")
        status = RunStatus(state="running", stage="starting", gold=gold, started_by=started_by, started_at=_now())
        _write(folder / STATUS_FILE, status)
        args = [sys.executable, "-m", "eval", "run", "--gold", gold, "--progress-file", str(folder / STATUS_FILE)]
        nice = shutil.which("nice")
        with (folder / LOG_FILE).open("wb") as log:
            proc = subprocess.Popen([nice, "-n", "10", *args] if nice else args, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, pass_fds=(fd,), start_new_session=True)
        threading.Thread(target=proc.wait, name="eval-run-reaper", daemon=True).start()  # no zombie left behind
        return replace(status, pid=proc.pid)
    finally:
        os.close(fd)  # the child keeps its copy, and with it the lock, until it exits


@contextlib.contextmanager
def progress_to(path: Path | None) -> Iterator[Callable[..., None]]:
    """Inside ``eval run``: yield ``update(**fields)`` that records progress in ``path`` (nothing when None).

    The status becomes ``finished`` when the block ends and ``failed``, with the error, when it raises.
    """
    if path is None:
        yield lambda **changes: None
        return
    status = replace(_read(path), state="running", pid=os.getpid(), error="")
    if not status.started_at:
        status = replace(status, started_at=_now())

    def update(**changes: Any) -> None:
        nonlocal status
        status = replace(status, **changes)
        _write(path, status)

    update()
    try:
        yield update
    except SystemExit as exc:
        if exc.code not in (0, None):
            update(state="failed", error=f"exit code {exc.code}", finished_at=_now())
            raise
        update(state="finished", stage="", finished_at=_now())
        raise
    except BaseException as exc:
        update(state="failed", error=str(exc) or type(exc).__name__, finished_at=_now())
        raise
    update(state="finished", stage="", finished_at=_now())
