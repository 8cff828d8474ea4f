"""Local records of what happened to answers, in SQLite in the data directory.

- gaps: every abstention and every thumbs-down (what staff should add next);
- feedback: thumbs up/down with an optional comment;
- audit: every answer given, with the exact chunks and hashes it used, so that it
  can be shown and replayed later.

Each app instance keeps its own journal (in server mode too); it holds no document text.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from kb.governance.sqlite_file import SqliteFile

__all__ = ["Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gaps (id INTEGER PRIMARY KEY, at TEXT NOT NULL, question TEXT NOT NULL,
    areas TEXT NOT NULL, nearest TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, at TEXT NOT NULL, answer_id TEXT NOT NULL,
    question TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, at TEXT NOT NULL, question TEXT NOT NULL,
    record TEXT NOT NULL);
"""


_ADDED_COLUMNS = {"feedback": {"conversation_id": "TEXT NOT NULL DEFAULT ''", "turn": "INTEGER NOT NULL DEFAULT 0"}}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a journal written by an older version up to date (columns added since, with defaults)."""
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal(SqliteFile):
    """Thread-safe access to ``data_dir/journal.sqlite3``."""

    filename = "journal.sqlite3"
    schema = _SCHEMA

    def _prepare(self, conn: sqlite3.Connection) -> None:
        super()._prepare(conn)
        _add_missing_columns(conn)

    # ----- gaps ---------------------------------------------------------------------------
    def record_gap(self, question: str, *, areas: list[str], nearest: list[str], reason: str) -> None:
        with self._db() as db:
            db.execute("INSERT INTO gaps (at, question, areas, nearest, reason) VALUES (?, ?, ?, ?, ?)",
                       (_now(), question, json.dumps(areas), json.dumps(nearest), reason))

    def gaps(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT at, question, areas, nearest, reason FROM gaps ORDER BY at DESC").fetchall()
        return [{"at": r[0], "question": r[1], "areas": json.loads(r[2]), "nearest": json.loads(r[3]), "reason": r[4]}
                for r in rows]

    def gaps_by_area(self) -> dict[str, list[dict[str, Any]]]:
        """Gaps grouped by challenge area ('unclassified' when none), most frequent questions first."""
        grouped: dict[str, dict[str, dict[str, Any]]] = {}
        for gap in self.gaps():
            for area in gap["areas"] or ["unclassified"]:
                entry = grouped.setdefault(area, {}).setdefault(gap["question"].lower(), {**gap, "count": 0})
                entry["count"] += 1
        return {a: sorted(q.values(), key=lambda g: -g["count"]) for a, q in sorted(grouped.items())}

    # ----- feedback ------------------------------------------------------------------------
    def record_feedback(self, answer_id: str, question: str, *, rating: int, comment: str = "",
                        conversation_id: str = "", turn: int = 0) -> None:
        """Save a rating (and comment), linked to the answer and, when saved, its conversation turn."""
        with self._db() as db:
            db.execute("INSERT INTO feedback (at, answer_id, question, rating, comment, conversation_id, turn) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (_now(), answer_id, question, 1 if rating > 0 else -1,
                                                         comment.strip()[:2000], conversation_id, int(turn)))

    def feedback(self, limit: int = 500) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT at, answer_id, question, rating, comment, conversation_id, turn FROM feedback "
                              "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{"at": r[0], "answer_id": r[1], "question": r[2], "rating": r[3], "comment": r[4],
                 "conversation_id": r[5], "turn": r[6]} for r in rows]

    def forget_answers(self, answer_ids: list[str]) -> int:
        """Delete the feedback and audit records of these answers (a user's deletion request); returns rows deleted."""
        deleted = 0
        with self._db() as db:
            for start in range(0, len(answer_ids), 500):
                part = answer_ids[start:start + 500]
                marks = ",".join("?" * len(part))
                deleted += db.execute(f"DELETE FROM feedback WHERE answer_id IN ({marks})", part).rowcount
                deleted += db.execute(f"DELETE FROM audit WHERE id IN ({marks})", part).rowcount
        return deleted

    # ----- audit ------------------------------------------------------------------------------
    def record_audit(self, answer_id: str, question: str, record: dict[str, Any]) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO audit (id, at, question, record) VALUES (?, ?, ?, ?)",
                       (answer_id, _now(), question, json.dumps(record, default=str)))

    def audit(self, answer_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute("SELECT at, record FROM audit WHERE id = ?", (answer_id,)).fetchone()
        return {"at": row[0], **json.loads(row[1])} if row else None

    def audits(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT id, at, question FROM audit ORDER BY at DESC LIMIT ?", (limit,)).fetchall()
        return [{"id": r[0], "at": r[1], "question": r[2]} for r in rows]

    def prune_audit(self, older_than_days: int) -> int:
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
        with self._db() as db:
            return db.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount
