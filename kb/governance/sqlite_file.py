"""One SQLite file in the data directory, shared by the app's threads and by other processes.

The journal and the saved conversations each keep one file. A connection is opened for
each operation (SQLite's own locking coordinates processes; ``timeout`` is how long a
writer waits for another), one thread at a time within a process, and the schema is
created (or brought up to date) on first use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

__all__ = ["SqliteFile"]


class SqliteFile:
    """Base of the data directory's SQLite stores: subclasses name the file and give the schema."""

    filename: ClassVar[str]
    schema: ClassVar[str]
    foreign_keys: ClassVar[bool] = False

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / self.filename
        self._lock = threading.Lock()
        self._ready = False

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Create the tables on first use; subclasses add migrations of older files here."""
        conn.executescript(self.schema)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation, committed when the block ends without an error."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                if self.foreign_keys:
                    conn.execute("PRAGMA foreign_keys=ON")
                if not self._ready:
                    self._prepare(conn)
                    self._ready = True
                yield conn
                conn.commit()
            finally:
                conn.close()
