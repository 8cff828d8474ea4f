"""Chunk metadata has one home (kb.core.metadata): dates are ISO dates where they enter, and never crash later."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.pipeline import IngestOptions, run_ingest
from kb.core import metadata
from kb.core.documents import Chunk, DocRecord
from kb.core.metadata import MetadataError
from kb.core.settings import Settings
from kb.index.keyword import _filter_meta
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.store import chunk_to_meta
from tests.helpers import write

BODY = "Rostering runs nightly from the student information system and feeds every classroom app. " * 6


@pytest.mark.parametrize("value, expected", [
    ("2024-03-01", date(2024, 3, 1)), (" 2024-03-01 ", date(2024, 3, 1)), ("2024-03-01T09:30:00Z", date(2024, 3, 1)),
    (date(2024, 3, 1), date(2024, 3, 1)), (datetime(2024, 3, 1, 9, 30), date(2024, 3, 1)),
    ("2024-3-1", date(2024, 3, 1)), ("2024/03/01", date(2024, 3, 1)), ("2024-03", date(2024, 3, 1)),
    ("2024", date(2024, 1, 1)), (2024, date(2024, 1, 1)),  # the staff guide's forms (issue #16)
])
def test_iso_dates_are_accepted(value: object, expected: date) -> None:
    assert metadata.parse_date(value, field="published") == expected


@pytest.mark.parametrize("value", ["March 2024", "2024-13-01", "2024-02-30", "01/03/2024", "", "0000-00-00", None])
def test_anything_else_is_refused_with_the_accepted_form(value: object) -> None:
    with pytest.raises(MetadataError) as caught:
        metadata.parse_date(value, field="published")
    assert str(caught.value).startswith(f"published: {str(value)!r} is not a date")
    assert str(caught.value).endswith("write it as YYYY-MM-DD, for example 2024-03-01 (also YYYY/MM/DD, YYYY-MM, YYYY "
                                      "or a timestamp)")
    assert caught.value.field == "published" and "\n" not in str(caught.value)


def test_authority_and_jurisdiction_come_from_their_lists_in_any_case() -> None:
    assert metadata.parse_authority("District  POLICY") == "district policy"
    assert metadata.parse_jurisdiction("new hampshire") == "New Hampshire"
    with pytest.raises(MetadataError, match=r"authority: 'feds' is not one of: federal, state, district policy"):
        metadata.parse_authority("feds")
    with pytest.raises(MetadataError, match="jurisdiction: 'Ontario' is not one of: national, Alabama"):
        metadata.parse_jurisdiction("Ontario")
    assert metadata.authority_rank("FEDERAL") > metadata.authority_rank("state") > metadata.authority_rank(None)


def test_one_date_number_rule_for_the_store_the_keyword_index_and_filters(caplog: pytest.LogCaptureFixture) -> None:
    from kb.answering.retrieval import Filters

    chunk = Chunk(id="c", doc_id="d", index=0, text="t", title="T", source="s", source_type="markdown", date="2024-03-01")
    assert chunk_to_meta(chunk)["date_ord"] == _filter_meta(chunk)["date_ord"] == metadata.date_number("2024-03-01") == 20240301
    where = Filters(date_from="2024-03-01").chroma_where()
    assert where == {"date_ord": {"$gte": 20240301}}
    bad = Chunk(id="c", doc_id="d", index=0, text="t", title="T", source="s", source_type="markdown", date="March 2024")
    with caplog.at_level(logging.WARNING, logger="kb.core.metadata"):
        assert "date_ord" not in chunk_to_meta(bad) and "date_ord" not in _filter_meta(bad)
    assert "stored date skipped" in caplog.text and "'March 2024' is not a date" in caplog.text
    with pytest.raises(MetadataError, match="date_from: 'March 2024' is not a date"):
        Filters(date_from="March 2024")


def test_currency_rule(caplog: pytest.LogCaptureFixture) -> None:
    today = date(2025, 6, 1)
    assert metadata.currency({"expires": "2025-05-31"}, today=today).expired == date(2025, 5, 31)
    assert not metadata.currency({"expires": "2025-06-01"}, today=today).outdated
    assert metadata.currency({"superseded_by": "New plan"}, today=today).outdated
    with caplog.at_level(logging.WARNING, logger="kb.core.metadata"):
        assert not metadata.currency({"expires": "soon"}, today=today).outdated  # unreadable: skipped, said
    assert "'soon' is not a date" in caplog.text


@pytest.mark.parametrize("option, value, message", [
    ("--published", "March 2024", "Invalid value for --published: 'March 2024' is not a date; write it as YYYY-MM-DD"),
    ("--expires", "2024-13-01", "Invalid value for --expires: '2024-13-01' is not a date"),
    ("--authority", "feds", "Invalid value for --authority: 'feds' is not one of: federal, state"),
])
def test_ingest_options_are_refused_before_any_work(tmp_path: Path, hash_settings: Settings, option: str, value: str,
                                                    message: str) -> None:
    from ingest.cli import main

    doc = write(tmp_path / "docs" / "note.md", "# Note\n\n" + BODY)
    result = CliRunner().invoke(main, [str(doc), option, value])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (hash_settings.data_dir / "chroma").exists()  # refused before the store was even opened


def test_ingest_options_are_normalised(tmp_path: Path, hash_settings: Settings) -> None:
    from ingest.cli import main

    doc = write(tmp_path / "docs" / "note.md", "# Note\n\n" + BODY)
    result = CliRunner().invoke(main, [str(doc), "--published", "2024-03-01", "--authority", "STATE",
                                       "--jurisdiction", "texas"])
    assert result.exit_code == 0, result.output
    [row] = KnowledgeBase(hash_settings).store.docs()
    assert row.date == "2024-03-01" and row.meta["authority"] == "state" and row.meta["jurisdiction"] == "Texas"


def test_python_callers_are_refused_too() -> None:
    with pytest.raises(MetadataError, match="reviewed: 'last spring' is not a date"):
        IngestOptions(metadata={"reviewed": "last spring"})


@pytest.mark.parametrize("front", ["date: 05/31/2023", "date: March 2024", "date: 2024-13-01", "published: 'last year'"])
def test_a_bad_front_matter_date_is_left_out_with_a_warning(tmp_path: Path, hash_settings: Settings, front: str) -> None:
    doc = write(tmp_path / "docs" / "note.md", f"---\ntitle: Note\n{front}\nexpires: 2030-02-31\n---\n# Note\n\n{BODY}")
    kb = KnowledgeBase(hash_settings)
    report = run_ingest(kb, [str(doc)])
    [result] = report.results
    assert result.status == "added", result.reason
    value = front.split(": ", 1)[1].strip("'")
    accepted = "write it as YYYY-MM-DD, for example 2024-03-01 (also YYYY/MM/DD, YYYY-MM, YYYY or a timestamp)"
    assert any(w.startswith(f"{front.split(':')[0]}: '{value}' is not a date") and w.endswith(f"{accepted}; the value was left out")
               for w in result.warnings), result.warnings
    assert f"expires: '2030-02-31' is not a date (no such day); {accepted}; the value was left out" in result.warnings
    [row] = kb.store.docs()
    assert row.date is None and "expires" not in row.meta
    assert all(c.date is None and "expires" not in c.extra for c in kb.store.iter_chunks())


def test_front_matter_dates_and_lists_are_normalised(tmp_path: Path, hash_settings: Settings) -> None:
    doc = write(tmp_path / "docs" / "note.md", "---\ntitle: Note\ndate: 2024-03-01\nexpires: 2031-01-31T00:00:00Z\n"
                f"authority: Research\njurisdiction: NEW YORK\n---\n# Note\n\n{BODY}")
    kb = KnowledgeBase(hash_settings)
    [result] = run_ingest(kb, [str(doc)]).results
    assert not result.warnings
    chunk = next(iter(kb.store.iter_chunks()))
    assert chunk.date == "2024-03-01"
    assert chunk.extra["expires"] == "2031-01-31" and chunk.extra["authority"] == "research"
    assert chunk.extra["jurisdiction"] == "New York"


def test_html_meta_date_that_is_not_a_day_is_left_out(tmp_path: Path, hash_settings: Settings) -> None:
    page = write(tmp_path / "page.html", '<html><head><title>Guide</title><meta name="date" content="2024-13-01">'
                 f"</head><body><main><h1>Guide</h1><p>{BODY}</p></main></body></html>")
    kb = KnowledgeBase(hash_settings)
    [result] = run_ingest(kb, [str(page)]).results
    assert result.status == "added" and "date: '2024-13-01' is not a date" in " ".join(result.warnings)
    assert kb.store.docs()[0].date is None


def test_no_question_crashes_on_a_stored_date_that_is_not_a_date(hash_settings: Settings,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Data written before validation existed (or by hand) is skipped with a warning, never a traceback."""
    from kb.answering.assistant import Assistant

    kb = KnowledgeBase(hash_settings)
    chunks = [Chunk(id=f"bad-{i}", doc_id="bad", index=i, text=f"Rostering part {i}. " + BODY, title="Rostering",
                    source="rostering.md", source_type="markdown", date=stamp, extra={"expires": "2024-13-01"})
              for i, stamp in enumerate(["last year", "March 2024", "2024-13-01"])]
    kb.store.put_doc(DocRecord(doc_id="bad", source="rostering.md", source_type="markdown", title="Rostering",
                               content_hash="x", status=DONE, chunk_count=3, date="last year",
                               meta={"expires": "March 2024", "superseded_by": ""}))
    kb.store.add_chunks(chunks, kb.embedder.embed_batch([c.embed_text for c in chunks]))
    kb.refresh(force=True)
    with caplog.at_level(logging.WARNING, logger="kb.core.metadata"):
        answer = Assistant(hash_settings, kb=kb).ask("How does rostering run from the student information system?")
    assert not answer.abstained and answer.citations, answer.text
    assert {c.date for c in answer.citations} == {None}  # skipped where they are read (kb.index.store)
    assert not any("expired" in n or "years old" in n for n in answer.notices)
    assert "stored date skipped" in caplog.text
