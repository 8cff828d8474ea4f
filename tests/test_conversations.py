"""Saved conversations: per user, newest first, resumed with their answers, renamed, deleted, pruned, forgotten.

Answers are real (the assistant over the starter library); storage is the real SQLite file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kb.answering.assistant import Assistant
from kb.core.settings import REPO_ROOT, Settings
from kb.governance.conversations import Conversations, forget_user, title_from
from kb.governance.journal import Journal
from kb.governance.roles import Role, decide

PAT, SAM = "pat@lakeside.k12.us", "sam@lakeside.k12.us"


@pytest.fixture
def answers(library_assistant: Assistant) -> dict[str, object]:
    questions = ["How should our district prepare for a ransomware attack?", "What about small rural districts?",
                 "What does E-Rate Category Two cover?"]
    return {q: library_assistant.ask(q) for q in questions}


def test_turns_are_saved_per_user_and_come_back_whole(tmp_path: Path, answers: dict) -> None:  # type: ignore[type-arg]
    store = Conversations(tmp_path / "data")
    q1, q2, q3 = list(answers)
    conv, n1 = store.add_turn(PAT, None, q1, answer=answers[q1])
    same, n2 = store.add_turn(PAT, conv, q2, answer=answers[q2])
    other, _ = store.add_turn(SAM, None, q3, answer=answers[q3])
    assert (same, n1, n2) == (conv, 1, 2)

    # a second process (a restart, another browser's server) reads the same
    reopened = Conversations(tmp_path / "data")
    turns = reopened.turns(PAT, conv)
    assert [t.question for t in turns] == [q1, q2] and [t.n for t in turns] == [1, 2]
    first = turns[0].answer
    assert first.text == answers[q1].text and first.id == answers[q1].id
    assert [c.title for c in first.citations] == [c.title for c in answers[q1].citations]
    assert first.to_markdown() == answers[q1].to_markdown()

    # isolation: nobody reads, adds to, renames or deletes another's conversation
    assert [c.id for c in reopened.recent(PAT)] == [conv]
    assert [c.id for c in reopened.recent(SAM)] == [other]
    assert reopened.turns(SAM, conv) == [] and reopened.get(SAM, conv) is None
    with pytest.raises(KeyError):
        reopened.add_turn(SAM, conv, "sneak", answer=answers[q3])
    assert not reopened.rename(SAM, conv, "mine now") and not reopened.delete(SAM, conv)
    assert len(reopened.turns(PAT, conv)) == 2


def test_list_is_newest_first_with_titles_from_the_first_question(tmp_path: Path, answers: dict) -> None:  # type: ignore[type-arg]
    store = Conversations(tmp_path / "data")
    q1, q2, q3 = list(answers)
    older, _ = store.add_turn(PAT, None, q1, answer=answers[q1])
    newer, _ = store.add_turn(PAT, None, q3, answer=answers[q3])
    assert [c.title for c in store.recent(PAT)] == [q3, q1]
    store.add_turn(PAT, older, q2, answer=answers[q2])  # using a conversation moves it to the top
    listed = store.recent(PAT)
    assert [c.id for c in listed] == [older, newer] and listed[0].turns == 2
    assert store.rename(PAT, older, "  Ransomware   plan ") and store.get(PAT, older).title == "Ransomware plan"  # type: ignore[union-attr]
    assert store.delete(PAT, newer) and [c.id for c in store.recent(PAT)] == [older]
    long = "Word " * 40
    assert len(title_from(long)) <= 83 and title_from(long).endswith("...")


def test_prune_removes_conversations_unused_for_the_retention_period(tmp_path: Path, answers: dict) -> None:  # type: ignore[type-arg]
    store = Conversations(tmp_path / "data")
    q1, _, q3 = list(answers)
    old, _ = store.add_turn(PAT, None, q1, answer=answers[q1])
    kept, _ = store.add_turn(SAM, None, q3, answer=answers[q3])
    later = datetime.now(UTC) + timedelta(days=31)
    store.add_turn(SAM, kept, "And the deadlines?", answer=answers[q3])
    assert store.prune(30, now=datetime.now(UTC)) == 0
    import sqlite3

    with sqlite3.connect(store.path) as db:  # make one conversation 40 days old
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                   ((datetime.now(UTC) - timedelta(days=40)).isoformat(), old))
    assert store.prune(30) == 1
    assert store.recent(PAT) == [] and store.turns(PAT, old) == []
    assert [c.id for c in store.recent(SAM)] == [kept]
    assert store.prune(30, now=later) == 1


def test_cli_prune_uses_the_retention_setting(tmp_path: Path, answers: dict) -> None:  # type: ignore[type-arg]
    data = tmp_path / "data"
    store = Conversations(data)
    q1 = next(iter(answers))
    conv, _ = store.add_turn(PAT, None, q1, answer=answers[q1])
    import sqlite3

    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE conversations SET updated_at = ?", ((datetime.now(UTC) - timedelta(days=10)).isoformat(),))
    env = {"CTO_DATA_DIR": str(data), "PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}

    def prune(*extra: str, retention: str = "") -> str:
        run_env = {**env, **({"CTO_CONVERSATION_RETENTION_DAYS": retention} if retention else {})}
        done = subprocess.run([sys.executable, "-m", "kb", "conversations", "prune", *extra], env=run_env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "deleted 0 conversations unused for more than 365 days" in prune()
    assert "deleted 0" in prune("--older-than", "11")
    assert "deleted 1 conversation unused for more than 7 days" in prune(retention="7")
    assert store.get(PAT, conv) is None


def test_forget_user_deletes_history_and_its_feedback_and_audit(tmp_path: Path, answers: dict) -> None:  # type: ignore[type-arg]
    data = tmp_path / "data"
    store, journal = Conversations(data), Journal(data)
    q1, q2, q3 = list(answers)
    conv, n = store.add_turn(PAT, None, q1, answer=answers[q1])
    store.add_turn(SAM, None, q3, answer=answers[q3])
    for q in (q1, q3):
        journal.record_audit(answers[q].id, q, {"question": q})
    journal.record_feedback(answers[q1].id, q1, rating=-1, comment="missing the backups part", conversation_id=conv, turn=n)
    journal.record_feedback(answers[q3].id, q3, rating=1)
    row = next(r for r in journal.feedback() if r["answer_id"] == answers[q1].id)
    assert (row["conversation_id"], row["turn"]) == (conv, 1)  # a rating names its conversation turn

    done = subprocess.run([sys.executable, "-m", "kb", "conversations", "delete-user", PAT.upper(), "--yes"],
                          env={"CTO_DATA_DIR": str(data), "PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 conversations and 2 feedback and audit records" in done.stdout
    assert store.recent(PAT) == [] and journal.audit(answers[q1].id) is None
    assert [r["answer_id"] for r in journal.feedback()] == [answers[q3].id]
    assert journal.audit(answers[q3].id) is not None and len(store.recent(SAM)) == 1
    assert forget_user(store, journal, PAT) == {"conversations": 0, "records": 0}


def test_old_journal_gets_the_feedback_link_columns(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "journal.sqlite3") as db:  # the journal as the previous version wrote it
        db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, at TEXT NOT NULL, answer_id TEXT NOT NULL, "
                   "question TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT NOT NULL DEFAULT '')")
        db.execute("INSERT INTO feedback (at, answer_id, question, rating) VALUES ('2025-01-01', 'a1', 'q', 1)")
    journal = Journal(data)
    journal.record_feedback("a2", "q2", rating=-1, conversation_id="c1", turn=3)
    rows = journal.feedback()
    assert [(r["answer_id"], r["conversation_id"], r["turn"]) for r in rows] == [("a2", "c1", 3), ("a1", "", 0)]


@pytest.mark.parametrize(("email", "settings", "role"), [
    ("pat@lakeside.k12.us", {}, Role.READER),
    ("Pat@Lakeside.k12.us", {"auth_staff": "pat@lakeside.k12.us"}, Role.STAFF),
    ("lee@lakeside.k12.us", {"auth_staff": "@lakeside.k12.us", "auth_admins": "lee@lakeside.k12.us"}, Role.ADMIN),
    ("kim@lakeside.k12.us", {"auth_allowed_domains": "lakeside.k12.us, hillview.org"}, Role.READER),
    ("kim@gmail.com", {"auth_allowed_domains": "lakeside.k12.us"}, None),
    ("", {"auth_allowed_domains": "lakeside.k12.us"}, None),
    ("kim@gmail.com", {"auth_admins": "kim@gmail.com.evil.org"}, Role.READER),
])
def test_roles_from_settings(email: str, settings: dict[str, str], role: Role | None) -> None:
    assert decide(email, Settings(**settings)).role == role  # type: ignore[arg-type]


def test_unverified_address_is_refused_when_domains_are_restricted() -> None:
    restricted = Settings(auth_allowed_domains="lakeside.k12.us")
    assert decide(PAT, restricted, email_verified=False).role is None
    assert decide(PAT, restricted, email_verified=True).role == Role.READER
    assert json.dumps(decide(PAT, Settings()).reason) == '""'


def test_an_email_verified_claim_sent_as_a_string_is_read_as_the_provider_meant_it() -> None:
    """Some providers send "false" as a string: it must refuse like False, not pass as a truthy value."""
    restricted = Settings(auth_allowed_domains="lakeside.k12.us")
    assert decide(PAT, restricted, email_verified="false").role is None
    assert decide(PAT, restricted, email_verified=" FALSE ").role is None
    assert decide(PAT, restricted, email_verified="true").role == Role.READER
    assert decide(PAT, restricted, email_verified="maybe").role == Role.READER  # no claim we can read: domain decides
