"""One writer at a time: an exclusive lock per data directory, the project's one lock mechanism.

Writing commands (``ingest``, ``kb import``, ``kb remove``, ``kb reset``) take
:func:`write_lock` before they touch the store, so two runs on one data directory never
interleave: the second waits (up to ``CTO_WRITE_LOCK_WAIT_S`` seconds) and then refuses
with a message naming the holder; the repair a run does at its start therefore only ever
sees documents whose writer is gone.

The app holds the same lock for as long as it runs on the embedded store (:func:`hold`):
Chroma's embedded store is safe for one process only (a second writer's vectors stay
invisible to the app until it restarts), so a command started beside the running app is
refused at once, with one line naming the two ways forward: the app's Library page, or
server mode (``make run-server``). ``kb run --server`` holds it too and writes its Chroma
server's address into the lock file, where commands find it (:func:`running_server`).

The lock is an ``fcntl`` lock on ``<data_dir>/write.lock`` (embedded store) or
``<data_dir>/write-server.lock`` (writes through a Chroma server, which is the one writer of
its data): the kernel drops it when its process ends, however it ends (SIGKILL included),
so a crash never leaves a stale lock behind. Within one process the lock is re-entrant
(the app's Library page ingests while the app holds it; ingest's writer thread writes while
its run holds it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from kb.core.errors import StoreError
from kb.core.settings import Settings

__all__ = ["WriteLockBusy", "Holder", "write_lock", "lock_path", "hold", "release", "held", "held_elsewhere", "holder_of",
           "running_server", "refusal", "with_running_server"]

logger = logging.getLogger(__name__)
EMBEDDED_LOCK, SERVER_LOCK = "write.lock", "write-server.lock"
_POLL_S = 0.2
_guard = threading.RLock()
_holds: dict[Path, tuple[IO[str], int]] = {}  # lock file -> (open handle, holds in this process)


class WriteLockBusy(StoreError):
    """Another process is writing to this knowledge base."""


@dataclass(frozen=True)
class Holder:
    """Who holds a data directory's lock, as its lock file says."""

    pid: int
    command: str
    since: str
    server: str = ""  # "host:port" of the Chroma server when the holder is `kb run --server`
    resident: bool = False  # the app (or its runner): holds the lock until it stops, so waiting is pointless

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid}, since {self.since})"


def lock_path(settings: Settings) -> Path:
    """The lock file of the settings' data directory (one for the embedded store, one for server writes)."""
    return settings.data_dir / (SERVER_LOCK if settings.server_mode else EMBEDDED_LOCK)


def _read(path: Path) -> Holder | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return Holder(pid=int(info["pid"]), command=str(info.get("command", "a command")),
                      since=str(info.get("since", "?")), server=str(info.get("server", "")),
                      resident=bool(info.get("resident", False)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def held_elsewhere(path: Path) -> bool:
    """True when another process holds an ``fcntl`` lock on ``path`` (probed without keeping it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def holder_of(data_dir: Path, name: str = EMBEDDED_LOCK) -> Holder | None:
    """Who holds the lock (None when nobody does, or the lock file says nothing readable)."""
    path = Path(data_dir) / name
    with _guard:
        mine = path in _holds
    if not mine and not held_elsewhere(path):
        return None
    return _read(path)


def running_server(data_dir: Path) -> tuple[str, int] | None:
    """The (host, port) of the Chroma server that `kb run --server` runs over this data directory, if it runs."""
    holder = holder_of(data_dir)
    if holder is None or not holder.server:
        return None
    host, _, port = holder.server.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def refusal(data_dir: Path, holder: Holder | None) -> str:
    """The one-line message a writer refused by a resident holder (the running app) shows."""
    who = holder.describe() if holder else "another process"
    if holder and holder.server:
        host, _, port = holder.server.rpartition(":")
        return (f"the knowledge base in {data_dir} is served by {who}; run this command with "
                f"CTO_CHROMA_HOST={host} CTO_CHROMA_PORT={port} to write through that server")
    return (f"the knowledge base in {data_dir} is open for writing by {who}; add documents from the running app's "
            "Library page, or run the app in server mode (`make run-server`) so that `ingest` and `kb` commands "
            "can write while it answers")


def _open(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a+", encoding="utf-8")  # never truncated before the lock is held
    except OSError as exc:
        raise StoreError(f"cannot create the write lock {path}: {exc.strerror or exc}; "
                         "check that CTO_DATA_DIR is a writable folder") from exc


def _try(handle: IO[str], path: Path) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        return False


def _note(handle: IO[str], command: str, server: str, resident: bool) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"command": command, "pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds"),
                             "server": server, "resident": resident}))
    handle.flush()


def _take(path: Path, command: str, *, wait_s: float, server: str = "", resident: bool = False) -> None:
    """Take the lock into this process's holds (or count one more); wait for a command, never for a resident."""
    with _guard:
        if path in _holds:
            handle, count = _holds[path]
            _holds[path] = (handle, count + 1)
            return
        handle = _open(path)
        deadline = time.monotonic() + max(0.0, wait_s)
        announced = False
        try:
            while not _try(handle, path):
                holder = _read(path)
                if holder is not None and holder.resident:
                    raise WriteLockBusy(refusal(path.parent, holder))
                if time.monotonic() >= deadline:
                    who = holder.describe() if holder else "another process"
                    raise WriteLockBusy(f"{who} is writing to this knowledge base ({path.parent}); wait until it "
                                        "finishes and run the command again (or raise CTO_WRITE_LOCK_WAIT_S to wait longer)")
                if not announced:
                    logger.warning("waiting for the write lock holder=%s wait_s=%g", holder and holder.describe(), wait_s)
                    announced = True
                time.sleep(_POLL_S)
        except BaseException:
            handle.close()
            raise
        _note(handle, command, server, resident)
        _holds[path] = (handle, 1)


def _give_back(path: Path) -> None:
    with _guard:
        if path not in _holds:
            return
        handle, count = _holds[path]
        if count > 1:
            _holds[path] = (handle, count - 1)
            return
        del _holds[path]
        with contextlib.suppress(OSError):
            handle.truncate(0)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


@contextlib.contextmanager
def write_lock(settings: Settings, command: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the data directory's write lock for the ``with`` block.

    Args:
        settings: whose data directory to lock (and which store: embedded, or a server).
        command: what is writing, shown to whoever has to wait (``ingest``, ``kb import``...).
        wait_s: how long to wait for another command; default ``settings.write_lock_wait_s``. A running
            app is never waited for: the refusal names the Library page and server mode.

    Raises:
        WriteLockBusy: another writer holds the lock (the app, or a command still writing after ``wait_s``).
        StoreError: the lock file cannot be created (the data directory is not writable).
    """
    path = lock_path(settings)
    _take(path, command, wait_s=settings.write_lock_wait_s if wait_s is None else wait_s)
    try:
        yield
    finally:
        _give_back(path)


def hold(settings: Settings, command: str, *, server: str = "") -> None:
    """Take the lock for the rest of this process (the app, ``kb run --server``); refused at once if taken.

    Args:
        settings: whose data directory (embedded store) to hold.
        command: what holds it ("the app").
        server: "host:port" of the Chroma server this process runs over the data directory.

    Raises:
        WriteLockBusy: another process holds the lock.
    """
    embedded = settings.data_dir / EMBEDDED_LOCK
    _take(embedded, command, wait_s=0.0, server=server, resident=True)


def release(settings: Settings) -> None:
    """Give back one :func:`hold` (tests; a process's holds end with it anyway)."""
    _give_back(settings.data_dir / EMBEDDED_LOCK)


def held(settings: Settings) -> bool:
    """True when this process holds the lock of the settings' store."""
    with _guard:
        return lock_path(settings) in _holds


def with_running_server(settings: Settings) -> Settings:
    """The settings pointed at the Chroma server of a running ``kb run --server`` over this data directory.

    Unchanged when a server is configured already or none is running; otherwise says so on stderr,
    because the embedded store is locked by that app and writing through its server is what server mode is for.
    """
    found = None if settings.server_mode else running_server(settings.data_dir)
    if not found:
        return settings
    print(f"note: using the Chroma server of the running app at {found[0]}:{found[1]} "
          f"(`kb run --server` serves {settings.data_dir})", file=sys.stderr)
    return settings.with_overrides(chroma_host=found[0], chroma_port=found[1])
