"""Student-privacy scan: finds personal data that must not enter the knowledge base.

Looks for US Social Security numbers, dates of birth next to names, student-ID
numbers, and bulk lists of e-mail addresses or phone numbers (a roster, not a
contact line). The policy decides: refuse the document, redact, or allow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Finding", "scan", "redact"]

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_DOB = re.compile(r"\b(?:dob|d\.o\.b\.|date of birth|birth ?date|born)\b[\s:]*"
                  r"(?:\d{1,2}[/-]\d{1,2}[/-]\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Z][a-z]+ \d{1,2},? \d{4})", re.I)
_STUDENT_ID = re.compile(r"\b(?:student|pupil|learner)[ -]?(?:id|number|no\.?|#)[\s:#]*[A-Z]?\d{5,10}\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<!\d)(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?!\d)")
BULK = 10  # distinct addresses or numbers that make a list a roster


@dataclass(frozen=True)
class Finding:
    kind: str
    count: int

    def describe(self) -> str:
        return f"{self.count} {self.kind}"


def _all(text: str) -> dict[str, list[str]]:
    return {
        "Social Security number(s)": _SSN.findall(text),
        "date(s) of birth": _DOB.findall(text),
        "student ID number(s)": _STUDENT_ID.findall(text),
        "e-mail addresses (bulk list)": sorted(set(_EMAIL.findall(text))),
        "phone numbers (bulk list)": sorted(set(_PHONE.findall(text))),
    }


def scan(text: str) -> list[Finding]:
    """Return what student personal data the text holds (empty when none)."""
    findings = []
    for kind, hits in _all(text).items():
        bulk = "bulk" in kind
        if hits and (not bulk or len(hits) >= BULK):
            findings.append(Finding(kind, len(hits)))
    return findings


def redact(text: str) -> str:
    """Replace personal data with placeholders."""
    text = _SSN.sub("[REDACTED SSN]", text)
    text = _DOB.sub("[REDACTED DATE OF BIRTH]", text)
    text = _STUDENT_ID.sub("[REDACTED STUDENT ID]", text)
    if len(set(_EMAIL.findall(text))) >= BULK:
        text = _EMAIL.sub("[REDACTED E-MAIL]", text)
    if len(set(_PHONE.findall(text))) >= BULK:
        text = _PHONE.sub("[REDACTED PHONE]", text)
    return text
