"""One writer at a time: an exclusive lock per data directory, held by every command that writes.

Ingest, import, removal and reset take the lock before they touch the store. Two runs on one
data directory therefore never interleave: the second waits (up to ``CTO_WRITE_LOCK_WAIT_S``
seconds) and then refuses with a message naming the holder. The lock is an ``fcntl`` lock on
``<data_dir>/write.lock``: the kernel drops it when its process ends, however it ends (SIGKILL
included), so a crashed run never leaves a stale lock behind, and the repair a run does at its
start only ever sees documents whose writer is gone.

This is the one lock mechanism of the project; other writers (the app's upload page, a
future exclusive lock against a running app) should take :func:`write_lock` too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from kb.core.errors import StoreError
from kb.core.settings import Settings

__all__ = ["WriteLockBusy", "write_lock", "lock_path"]

logger = logging.getLogger(__name__)
_POLL_S = 0.2
_held = threading.local()  # re-entrant within a thread: an import that reconciles does not deadlock on itself


class WriteLockBusy(StoreError):
    """Another process is writing to this knowledge base."""


def lock_path(settings: Settings) -> Path:
    """The lock file of the settings' data directory."""
    return settings.data_dir / "write.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"{info.get('command', 'a command')} (pid {info.get('pid', '?')}, since {info.get('since', '?')})"


@contextlib.contextmanager
def write_lock(settings: Settings, command: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the data directory's write lock for the ``with`` block.

    Args:
        settings: whose data directory to lock.
        command: what is writing, shown to whoever has to wait (``ingest``, ``kb import``...).
        wait_s: how long to wait for another writer; default ``settings.write_lock_wait_s``.

    Raises:
        WriteLockBusy: another writer still held the lock after ``wait_s`` seconds.
        StoreError: the lock file cannot be created (the data directory is not writable).
    """
    path = lock_path(settings)
    key = str(path)
    depth: dict[str, int] = getattr(_held, "depth", {})
    _held.depth = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    handle = _open(path)
    try:
        _acquire(handle, path, command, settings.write_lock_wait_s if wait_s is None else wait_s)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            with contextlib.suppress(OSError):
                os.ftruncate(handle.fileno(), 0)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _open(path: Path):  # type: ignore[no-untyped-def]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot create the write lock {path}: {exc.strerror or exc}; "
                         "check that CTO_DATA_DIR is a writable folder") from exc


def _acquire(handle, path: Path, command: str, wait_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + max(0.0, wait_s)
    announced = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        if time.monotonic() >= deadline:
            raise WriteLockBusy(f"{_holder(path)} is writing to this knowledge base ({path.parent}); wait until it "
                                "finishes and run the command again (or raise CTO_WRITE_LOCK_WAIT_S to wait longer)")
        if not announced:
            logger.warning("waiting for the write lock holder=%s wait_s=%g", _holder(path), wait_s)
            announced = True
        time.sleep(_POLL_S)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"command": command, "pid": os.getpid(),
                             "since": datetime.now(UTC).isoformat(timespec="seconds")}))
    handle.flush()
