"""The single-writer lock on an embedded store's data directory.

Chroma's embedded store is safe for one process only: a second process writing the same
folder is not seen by the first until it restarts (see docs/admin-server-mode.md). So any
process that writes an embedded store holds an exclusive ``fcntl.flock`` on
``<data_dir>/write.lock``: the app for as long as it runs, a command (``ingest``,
``kb remove``, ``kb reset``, ``kb import``) for as long as it writes. A second writer is
refused at once with a message naming the holder and the two ways forward.

The lock is re-entrant within a process (the app's Library page ingests while the app
holds it) and released by the kernel when the process ends, however it ends, so a crash
never leaves a stale lock behind. Server mode needs none of this: the Chroma server is
the one writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.core.errors import StoreLockedError
from kb.core.settings import Settings

__all__ = ["LOCK_NAME", "Holder", "acquire", "release", "writing", "held", "holder_of", "refusal", "running_server"]

LOCK_NAME = "write.lock"
_registry: dict[Path, tuple[int, int]] = {}  # lock path -> (file descriptor, holds in this process)
_guard = threading.RLock()  # re-entrant: acquire() names the holder (holder_of) while it holds it


@dataclass(frozen=True)
class Holder:
    """Who holds a data directory's write lock (as written into the lock file)."""

    pid: int
    what: str
    since: str
    server: str = ""  # "host:port" of the Chroma server when the holder runs the app in server mode

    def describe(self) -> str:
        return f"{self.what} (process {self.pid}, since {self.since})"


def _lock_path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / LOCK_NAME


def _held_elsewhere(path: Path) -> bool:
    """True when another process holds the lock (probed without keeping it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def holder_of(data_dir: Path) -> Holder | None:
    """Who holds the lock (as the lock file says), or None when nobody does or the note is unreadable."""
    path = _lock_path(data_dir)
    with _guard:
        mine = path in _registry
    if not mine and not _held_elsewhere(path):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        return Holder(pid=int(data["pid"]), what=str(data["what"]), since=str(data["since"]),
                      server=str(data.get("server", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_server(data_dir: Path) -> tuple[str, int] | None:
    """The (host, port) of the Chroma server that `kb run --server` runs over this data directory, if it runs."""
    holder = holder_of(data_dir)
    if holder is None or not holder.server:
        return None
    host, _, port = holder.server.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def refusal(data_dir: Path, holder: Holder | None) -> str:
    """The one-line message a refused writer shows."""
    who = holder.describe() if holder else "another process"
    if holder and holder.server:
        host, _, port = holder.server.rpartition(":")
        return (f"the knowledge base in {data_dir} is served by {who}; run this command with "
                f"CTO_CHROMA_HOST={host} CTO_CHROMA_PORT={port} to write through that server")
    return (f"the knowledge base in {data_dir} is open for writing by {who}; add documents from the running app's "
            f"Library page, or run the app in server mode (`make run-server`) so that `ingest` and `kb` commands "
            f"can write while it answers")


def acquire(data_dir: Path, what: str, *, server: str = "") -> None:
    """Take the write lock on ``data_dir`` (or count one more hold when this process has it).

    Args:
        data_dir: the data directory of the embedded store.
        what: who is writing, for the refusal another process shows ("the app", "ingest").
        server: "host:port" of the Chroma server this process runs over the data directory, so that
            commands find it (``running_server``).

    Raises:
        StoreLockedError: another process holds the lock.
    """
    path = _lock_path(data_dir)
    with _guard:
        if path in _registry:
            fd, count = _registry[path]
            _registry[path] = (fd, count + 1)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # never truncate before holding the lock
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(refusal(path.parent, holder_of(path.parent))) from None
        except BaseException:
            os.close(fd)
            raise
        note = {"pid": os.getpid(), "what": what, "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "argv": " ".join(sys.argv[:3]), "server": server}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(note).encode("utf-8"), 0)
        _registry[path] = (fd, 1)


def release(data_dir: Path) -> None:
    """Give back one hold; the lock is dropped when this process's last hold is released."""
    path = _lock_path(data_dir)
    with _guard:
        if path not in _registry:
            return
        fd, count = _registry[path]
        if count > 1:
            _registry[path] = (fd, count - 1)
            return
        del _registry[path]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock


@contextlib.contextmanager
def writing(settings: Settings, what: str) -> Iterator[None]:
    """Hold the write lock for a block of writes (nothing to hold in server mode).

    Raises:
        StoreLockedError: another process is writing the same embedded store.
    """
    if settings.server_mode:
        yield
        return
    acquire(settings.data_dir, what)
    try:
        yield
    finally:
        release(settings.data_dir)


def held(data_dir: Path) -> bool:
    """True when this process holds the write lock on ``data_dir``."""
    with _guard:
        return _lock_path(data_dir) in _registry
