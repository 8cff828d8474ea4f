"""Saved conversations, per user, in SQLite in the data directory.

Every question and its answer are saved as a turn of the user's conversation, so a
conversation survives a refresh, a restart of the app and a second browser, and its
follow-ups still lean on the earlier turns. Every read and change names the user, and
only that user's rows are ever touched: a user sees only their own conversations. An
admin can delete all of one user's history (``forget_user``, which also removes the
feedback and audit records of those answers), and conversations untouched for longer
than the retention period are pruned (``prune``; the app prunes once at start, and
``kb conversations prune`` on demand).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kb.core.answer import Answer
from kb.governance.journal import Journal
from kb.governance.sqlite_file import SqliteFile

__all__ = ["Conversations", "ConversationInfo", "SavedTurn", "title_from", "forget_user", "MAX_TITLE"]

MAX_TITLE = 80
_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations (user, updated_at);
CREATE TABLE IF NOT EXISTS turns (conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    n INTEGER NOT NULL, at TEXT NOT NULL, question TEXT NOT NULL, answer_id TEXT NOT NULL, answer TEXT NOT NULL,
    PRIMARY KEY (conversation_id, n));
"""


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def title_from(question: str) -> str:
    """A conversation's title: its first question on one line, cut at a word near ``MAX_TITLE`` characters."""
    text = " ".join(question.split())
    if len(text) <= MAX_TITLE:
        return text or "Untitled conversation"
    cut = text[:MAX_TITLE].rsplit(" ", 1)[0]
    return (cut if len(cut) > MAX_TITLE // 2 else text[:MAX_TITLE]) + "..."


@dataclass(frozen=True)
class ConversationInfo:
    """One conversation in a user's list."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int


@dataclass(frozen=True)
class SavedTurn:
    """One saved question and its answer."""

    n: int
    at: str
    question: str
    answer: Answer


class Conversations(SqliteFile):
    """Thread-safe access to ``data_dir/conversations.sqlite3`` (several processes may share it)."""

    filename = "conversations.sqlite3"
    schema = _SCHEMA
    foreign_keys = True

    # ----- writing -------------------------------------------------------------------------
    def add_turn(self, user: str, conversation_id: str | None, question: str, *, answer: Answer) -> tuple[str, int]:
        """Save one exchange; a new conversation (titled by its first question) when ``conversation_id`` is None.

        Returns:
            (conversation id, turn number starting at 1).

        Raises:
            KeyError: the conversation does not exist or belongs to another user.
        """
        now = _iso(_now())
        record = json.dumps({k: v for k, v in answer.to_dict().items() if k != "retrieved"}, default=str)
        with self._db() as db:
            if conversation_id is None:
                conversation_id = uuid.uuid4().hex
                db.execute("INSERT INTO conversations (id, user, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                           (conversation_id, user, title_from(question), now, now))
            elif not db.execute("UPDATE conversations SET updated_at = ? WHERE id = ? AND user = ?",
                                (now, conversation_id, user)).rowcount:
                raise KeyError(conversation_id)
            n = int(db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM turns WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()[0])
            db.execute("INSERT INTO turns (conversation_id, n, at, question, answer_id, answer) VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation_id, n, now, question, answer.id, record))
        return conversation_id, n

    def rename(self, user: str, conversation_id: str, title: str) -> bool:
        """Give a conversation a new title (one line, at most 200 characters); False when it is not the user's."""
        title = " ".join(title.split())[:200]
        if not title:
            raise ValueError("the title must not be empty")
        with self._db() as db:
            return bool(db.execute("UPDATE conversations SET title = ? WHERE id = ? AND user = ?",
                                   (title, conversation_id, user)).rowcount)

    def delete(self, user: str, conversation_id: str) -> bool:
        """Delete one of the user's conversations with its turns; False when it is not the user's."""
        with self._db() as db:
            return bool(db.execute("DELETE FROM conversations WHERE id = ? AND user = ?",
                                   (conversation_id, user)).rowcount)

    # ----- reading -------------------------------------------------------------------------
    def recent(self, user: str, limit: int = 100) -> list[ConversationInfo]:
        """The user's conversations, most recently used first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at, COUNT(t.n) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.user = ? GROUP BY c.id "
                "ORDER BY c.updated_at DESC LIMIT ?", (user, limit)).fetchall()
        return [ConversationInfo(id=r[0], title=r[1], created_at=r[2], updated_at=r[3], turns=int(r[4])) for r in rows]

    def get(self, user: str, conversation_id: str) -> ConversationInfo | None:
        """One of the user's conversations (None when absent or another user's)."""
        return next((c for c in self.recent(user, limit=100_000) if c.id == conversation_id), None)

    def turns(self, user: str, conversation_id: str) -> list[SavedTurn]:
        """The turns of one of the user's conversations, in order (empty when it is not the user's)."""
        with self._db() as db:
            rows = db.execute("SELECT t.n, t.at, t.question, t.answer FROM turns t JOIN conversations c "
                              "ON c.id = t.conversation_id WHERE c.id = ? AND c.user = ? ORDER BY t.n",
                              (conversation_id, user)).fetchall()
        return [SavedTurn(n=int(r[0]), at=r[1], question=r[2], answer=Answer.from_dict(json.loads(r[3]))) for r in rows]

    # ----- administration ---------------------------------------------------------------------
    def users(self) -> list[tuple[str, int]]:
        """Every user with saved conversations, and how many (for the admin page)."""
        with self._db() as db:
            rows = db.execute("SELECT user, COUNT(*) FROM conversations GROUP BY user ORDER BY user").fetchall()
        return [(r[0], int(r[1])) for r in rows]

    def answer_ids(self, user: str) -> list[str]:
        """The ids of every answer saved in the user's conversations."""
        with self._db() as db:
            rows = db.execute("SELECT t.answer_id FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                              "WHERE c.user = ?", (user,)).fetchall()
        return [r[0] for r in rows if r[0]]

    def delete_user(self, user: str) -> int:
        """Delete every conversation of one user; returns how many were deleted."""
        with self._db() as db:
            return int(db.execute("DELETE FROM conversations WHERE user = ?", (user,)).rowcount)

    def prune(self, older_than_days: int, now: datetime | None = None) -> int:
        """Delete conversations last used more than ``older_than_days`` days ago; returns how many."""
        if older_than_days < 1:
            raise ValueError("the retention period must be at least one day")
        cutoff = _iso((now or _now()) - timedelta(days=older_than_days))
        with self._db() as db:
            return int(db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,)).rowcount)

    def stats(self) -> dict[str, Any]:
        with self._db() as db:
            users, conversations = db.execute("SELECT COUNT(DISTINCT user), COUNT(*) FROM conversations").fetchone()
            turns = db.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        return {"users": int(users), "conversations": int(conversations), "turns": int(turns)}


def forget_user(conversations: Conversations, journal: Journal, user: str) -> dict[str, int]:
    """Honour a deletion request: the user's conversations, and the feedback and audit records of their answers.

    Returns:
        How many conversations and journal records were deleted.
    """
    answer_ids = conversations.answer_ids(user)
    records = journal.forget_answers(answer_ids)
    return {"conversations": conversations.delete_user(user), "records": records}
