"""Student-privacy scan: finds personal data that must not enter the knowledge base.

Looks for US Social Security numbers, dates of birth next to names, student-ID
numbers, and bulk lists of e-mail addresses or phone numbers (a roster, not a
contact line). Dates of birth and student IDs are found both inline ("DOB: 4/12/2011")
and as columns of a roster table, where the label sits in the header row and the
values in the rows under it. The policy decides: refuse the document, redact, or allow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Finding", "scan", "redact"]

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_DOB = re.compile(r"\b(?:dob|d\.o\.b\.|date of birth|birth ?date|born)\b[\s:]*"
                  r"(?:\d{1,2}[/-]\d{1,2}[/-]\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Z][a-z]+ \d{1,2},? \d{4})", re.I)
_STUDENT_ID = re.compile(r"\b(?:student|pupil|learner)[ -]?(?:id|number|no\.?|#)[\s:#]*[A-Z]?\d{5,10}\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<!\d)(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?!\d)")
# roster tables: a header row naming the column, then rows holding the values
_DOB_HEADER = re.compile(r"\b(?:dob|d\.o\.b|date of birth|birth ?date|birthday)\b", re.I)
_ID_HEADER = re.compile(r"\b(?:student|pupil|learner)[ _-]?(?:id|number|no\b|#)", re.I)
_DATE_VALUE = re.compile(r"(?<![\d/-])(?:\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2})(?![\d/-])"
                         r"|\b[A-Z][a-z]+ \d{1,2},? \d{4}\b")
_ID_VALUE = re.compile(r"(?<![\d-])[A-Z]?\d{5,10}(?![\d-])")
BULK = 10  # distinct addresses or numbers that make a list a roster
ROSTER_ROWS = 3  # rows with values under a date-of-birth or student-ID column that make a table a roster
MAX_HEADER_CHARS = 200  # a longer line is prose, not a table header

DOB_KIND = "date(s) of birth"
ID_KIND = "student ID number(s)"
EMAIL_KIND = "e-mail addresses (bulk list)"
PHONE_KIND = "phone numbers (bulk list)"


@dataclass(frozen=True)
class Finding:
    kind: str
    count: int

    def describe(self) -> str:
        return f"{self.count} {self.kind}"


def _column_rows(lines: list[str], header: re.Pattern[str], value: re.Pattern[str]) -> list[int]:
    """Indices of the rows under a header line naming the column, while each row holds a value."""
    rows: list[int] = []
    under_header = False
    for index, line in enumerate(lines):
        if not line.strip():
            continue  # rows may be set apart by blank lines (HTML tables read that way)
        if header.search(line) and len(line) <= MAX_HEADER_CHARS and not value.search(line):
            under_header = True
            continue
        if under_header and value.search(line):
            rows.append(index)
        else:
            under_header = False
    return rows if len(rows) >= ROSTER_ROWS else []


def _all(text: str) -> dict[str, list[str]]:
    lines = text.split("\n")
    dob_rows = _column_rows(lines, _DOB_HEADER, _DATE_VALUE)
    id_rows = _column_rows(lines, _ID_HEADER, _ID_VALUE)
    return {
        "Social Security number(s)": _SSN.findall(text),
        DOB_KIND: _DOB.findall(text) + [lines[i] for i in dob_rows],
        ID_KIND: _STUDENT_ID.findall(text) + [lines[i] for i in id_rows],
        EMAIL_KIND: sorted(set(_EMAIL.findall(text))),
        PHONE_KIND: sorted(set(_PHONE.findall(text))),
    }


def scan(text: str) -> list[Finding]:
    """Return what student personal data the text holds (empty when none)."""
    findings = []
    for kind, hits in _all(text).items():
        bulk = "bulk" in kind
        if hits and (not bulk or len(hits) >= BULK):
            findings.append(Finding(kind, len(hits)))
    return findings


def _redact_rows(text: str, header: re.Pattern[str], value: re.Pattern[str], placeholder: str) -> str:
    lines = text.split("\n")
    for index in _column_rows(lines, header, value):
        lines[index] = value.sub(placeholder, lines[index])
    return "\n".join(lines)


def redact(text: str, findings: Sequence[Finding] | None = None) -> str:
    """Replace personal data with placeholders.

    Args:
        text: the text to clean.
        findings: what :func:`scan` found in the whole document. A contact list spread
            over several pages is a bulk list even when no single page holds ten
            addresses, so the document's findings decide; without them, ``text`` alone does.
    """
    kinds = {f.kind for f in (scan(text) if findings is None else findings)}
    text = _SSN.sub("[REDACTED SSN]", text)
    text = _DOB.sub("[REDACTED DATE OF BIRTH]", text)
    text = _STUDENT_ID.sub("[REDACTED STUDENT ID]", text)
    text = _redact_rows(text, _DOB_HEADER, _DATE_VALUE, "[REDACTED DATE OF BIRTH]")
    text = _redact_rows(text, _ID_HEADER, _ID_VALUE, "[REDACTED STUDENT ID]")
    if EMAIL_KIND in kinds:
        text = _EMAIL.sub("[REDACTED E-MAIL]", text)
    if PHONE_KIND in kinds:
        text = _PHONE.sub("[REDACTED PHONE]", text)
    return text
