"""Student privacy at ingest: personal data is refused by default, redacted or allowed on request,
and ordinary documents (a help-line number, a couple of contacts) are never flagged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.governance import privacy
from tests.conftest import LIBRARY
from tests.helpers import make_pdf, write
from tests.ingest_support import assert_consistent, hash_kb, raw_chunk_rows

INTRO = "This page belongs to the district's student services records and lists the enrolment details below.\n\n"
FIRST = ["Maria", "James", "Aisha", "Chen", "Noah", "Olivia", "Liam", "Sofia", "Mateo", "Zara", "Ethan", "Priya"]
LAST = ["Lopez", "Smith", "Khan", "Wei", "Brown", "Garcia", "Nguyen", "Rossi", "Silva", "Ali", "Moore", "Patel"]
STUDENTS = [f"{first} {last}" for first, last in zip(FIRST, LAST, strict=True)]

PII_DOCUMENTS: dict[str, tuple[str, str, list[str]]] = {
    # name: (text, kind named in the reason, raw values that must never be stored when redacting)
    "ssn.md": (INTRO + "Maria Lopez, SSN 123-45-6789, transferred in March.\n\nJames Smith, SSN 234-56-7891.",
               "Social Security number", ["123-45-6789", "234-56-7891"]),
    "dob.txt": (INTRO + "Aisha Khan (DOB: 04/12/2011) is in grade 8.\n\nChen Wei, date of birth 2012-09-30, grade 7.",
                "date(s) of birth", ["04/12/2011", "2012-09-30"]),
    "student-ids.md": (INTRO + "Noah Brown, Student ID: 4829301, homeroom 12.\n\nOlivia Garcia - student # 5839201.",
                       "student ID number", ["4829301", "5839201"]),
    "emails.txt": (INTRO + "\n".join(f"{s}: {s.lower().replace(' ', '.')}@students.example.org" for s in STUDENTS),
                   "e-mail addresses (bulk list)", ["maria.lopez@students.example.org", "priya.patel@students.example.org"]),
    "phones.md": (INTRO + "\n".join(f"- {s}, parent phone (555) 2{n:02d}-{1000 + n * 7}" for n, s in enumerate(STUDENTS)),
                  "phone numbers (bulk list)", ["(555) 200-1000", "(555) 211-1077"]),
    "roster-table.md": (INTRO + "| Name | Date of birth | Student ID | Grade |\n|---|---|---|---|\n"
                        + "\n".join(f"| {s} | {n + 1}/{n + 10}/2011 | {7000100 + n} | 6 |" for n, s in enumerate(STUDENTS[:6])),
                        "date(s) of birth", ["1/10/2011", "7000100", "6/15/2011", "7000105"]),
}


def _write_all(folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    return {name: write(folder / name, PII_DOCUMENTS[name][0]) for name in (names or list(PII_DOCUMENTS))}


def test_personal_data_is_refused_by_default_with_the_reason(hash_settings: Settings, tmp_path: Path) -> None:
    assert hash_settings.privacy_mode == "refuse"
    _write_all(tmp_path / "docs")
    write(tmp_path / "docs" / "ordinary.md", "# Help desk\n\nCall the help line at 555-010-2000 for password resets.")
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(tmp_path / "docs")])
    results = {Path(r.source).name: r for r in report.results}
    assert results.pop("ordinary.md").status == "added"
    for name, result in results.items():
        text, kind, values = PII_DOCUMENTS[name]
        assert result.status == "failed", name
        assert result.reason.startswith("refused: holds student personal data (") and kind in result.reason, result.reason
        assert "CTO_PRIVACY_MODE=redact" in result.reason
        assert not any(v in result.reason for v in values), "the reason must not repeat the personal data"
    assert report.exit_code == 1
    assert [Path(d.source).name for d in kb.store.docs()] == ["ordinary.md"]
    stored = " ".join(c.text for c in kb.store.iter_chunks())
    assert "Maria" not in stored and "@students" not in stored
    assert_consistent(kb.store)


def test_redact_mode_stores_redacted_text(hash_settings: Settings, tmp_path: Path) -> None:
    settings = hash_settings.with_overrides(privacy_mode="redact")
    _write_all(tmp_path / "docs")
    kb, _ = hash_kb(settings)
    report = run_ingest(kb, [str(tmp_path / "docs")])
    assert report.counts() == {"added": len(PII_DOCUMENTS)}, [r.reason for r in report.failed]
    assert all(any(w.startswith("redacted student personal data (") for w in r.warnings) for r in report.results)
    stored = "\n".join(text for text, _ in raw_chunk_rows(settings).values())
    for name, (_, _, values) in PII_DOCUMENTS.items():
        for value in values:
            assert value not in stored, f"{name}: {value} was stored"
    for placeholder in ("[REDACTED SSN]", "[REDACTED DATE OF BIRTH]", "[REDACTED STUDENT ID]", "[REDACTED E-MAIL]",
                        "[REDACTED PHONE]"):
        assert placeholder in stored
    assert "student services records" in stored  # the rest of the text is kept
    assert "Maria Lopez" in stored  # names alone are not redacted; what identifies them is
    rows = {Path(d.source).name: d for d in kb.store.docs()}
    assert all(any("redacted" in w for w in d.meta["warnings"]) for d in rows.values())


def test_redact_mode_catches_a_contact_list_split_over_pages(hash_settings: Settings, tmp_path: Path) -> None:
    """Four pages with five addresses each: no page is a bulk list, the document is."""
    settings = hash_settings.with_overrides(privacy_mode="redact")
    pages = [f"Class list part {n}. Families in this homeroom may be reached at the addresses below for trips. "
             + " ".join(f"{STUDENTS[(n * 5 + k) % 12].split()[0].lower()}{n}{k}@families.example.net" for k in range(5))
             for n in range(4)]
    pdf = make_pdf(tmp_path / "class-list.pdf", pages)
    refused = run_ingest(hash_kb(hash_settings)[0], [str(pdf)])
    assert "20 e-mail addresses (bulk list)" in refused.results[0].reason
    kb, _ = hash_kb(settings)
    report = run_ingest(kb, [str(pdf)])
    assert report.counts() == {"added": 1}
    stored = " ".join(c.text for c in kb.store.iter_chunks())
    assert "@families.example.net" not in stored and stored.count("[REDACTED E-MAIL]") == 20


def test_allow_mode_stores_as_is(hash_settings: Settings, tmp_path: Path) -> None:
    settings = hash_settings.with_overrides(privacy_mode="allow")
    _write_all(tmp_path / "docs", ["ssn.md", "roster-table.md"])
    kb, _ = hash_kb(settings)
    report = run_ingest(kb, [str(tmp_path / "docs")])
    assert report.counts() == {"added": 2}
    assert all(r.warnings == [] for r in report.results)
    stored = " ".join(c.text for c in kb.store.iter_chunks())
    assert "123-45-6789" in stored and "7000100" in stored and "REDACTED" not in stored


def test_privacy_mode_from_the_environment_reaches_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    monkeypatch.setenv("CTO_PRIVACY_MODE", "redact")
    settings = Settings()
    kb, _ = hash_kb(settings)
    report = run_ingest(kb, [str(_write_all(tmp_path, ["ssn.md"])["ssn.md"])])
    assert report.counts() == {"added": 1}
    assert "[REDACTED SSN]" in next(kb.store.iter_chunks()).text


ORDINARY = {
    "help-line.md": "# Getting help\n\nThe district help desk is open 7:30-4:30. Call (555) 010-2000 or e-mail "
                    "helpdesk@district.example.org, and give your asset tag number 104233.",
    "contacts.txt": "Project contacts: CTO Dana Reyes dana.reyes@district.example.org, 555-010-3000; network lead "
                    "Sam Ortiz sam.ortiz@district.example.org, 555-010-3001; data privacy officer "
                    "privacy@district.example.org, 555-010-3002.",
    "policy.md": "# Data governance\n\nVendors may not collect a student's date of birth, Social Security number or "
                 "student ID unless the contract allows it. Review this policy by 2025-07-01 and again in 06/2026.",
    "budget.md": "# E-rate\n\nForm 471 window closes 2025-03-26; funding year 2025 runs 7/1/2025 to 6/30/2026. "
                 "The district's BEN is 123456 and the SPIN is 143001234. Budget line 100-2100-5300 covers it.",
    "history.md": "# Our 1:1 program\n\nThe program was born in 2015 after a pilot at two schools with 1,200 students.",
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_documents_are_not_flagged(hash_settings: Settings, tmp_path: Path, name: str) -> None:
    assert privacy.scan(ORDINARY[name]) == []
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(write(tmp_path / name, ORDINARY[name]))])
    assert report.counts() == {"added": 1}, report.results[0].reason
    assert report.results[0].warnings == [] or not any("personal" in w for w in report.results[0].warnings)


def test_an_html_roster_table_is_found(hash_settings: Settings, tmp_path: Path) -> None:
    rows = "".join(f"<tr><td>{s}</td><td>0{n + 1}/1{n}/2012</td><td>Grade 5</td></tr>" for n, s in enumerate(STUDENTS[:5]))
    page = (f"<html><head><title>Class 5B</title></head><body><main><h1>Class 5B</h1><p>{INTRO}</p>"
            f"<table><tr><th>Student</th><th>Birthdate</th><th>Grade</th></tr>{rows}</table></main></body></html>")
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(write(tmp_path / "class.html", page))])
    assert report.results[0].status == "failed" and "5 date(s) of birth" in report.results[0].reason


def test_redact_keeps_text_level_behaviour_for_answers() -> None:
    """Without document findings, the text alone decides (how the assistant redacts answers)."""
    two = "Write to a@example.org or b@example.org."
    assert privacy.redact(two) == two
    many = " ".join(f"user{n}@example.org" for n in range(12))
    assert "@" not in privacy.redact(many)
    assert re.search(r"\[REDACTED SSN\]", privacy.redact("SSN 123-45-6789"))


def test_starter_library_has_no_privacy_refusals(hash_settings: Settings) -> None:
    assert hash_settings.privacy_mode == "refuse"
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(LIBRARY)])
    refused = [(r.source, r.reason) for r in report.results if "personal data" in r.reason]
    assert refused == []
    assert report.failed == [] and report.counts() == {"added": len(list(LIBRARY.glob("*.md")))}
    assert not any("personal data" in w for r in report.results for w in r.warnings)
