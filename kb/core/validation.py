"""Every value that enters the knowledge base is checked here, once, where it enters.

Command-line options, front matter, HTML meta tags, the upload form and ``kb import`` all
call these functions; what passes is stored in one normal form (ISO dates, canonical
authority and jurisdiction names, known area ids), so nothing stored can crash a later
command. Readers that meet a stored value that is somehow invalid (an old store, an edited
backup) use the ``stored_*`` functions, which skip it with a warning instead of raising.

The accepted forms are listed in ``DATE_FORMS``, ``AUTHORITIES``, ``JURISDICTIONS`` and the
areas file; docs/staff-guide.md quotes them and a test keeps the two in step.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kb.core.errors import ValidationError

__all__ = ["DATE_FORMS", "AUTHORITIES", "JURISDICTIONS", "SOURCE_TYPES", "ParsedDate", "parse_date", "check_date",
           "normalise_authority", "normalise_jurisdiction", "normalise_areas", "check_document_fields",
           "stored_date", "stored_meta", "DATE_FIELDS"]

logger = logging.getLogger(__name__)

# (form as the staff guide shows it, pattern, what it means)
DATE_FORMS: tuple[tuple[str, str], ...] = (
    ("YYYY-MM-DD", "the day itself, e.g. 2024-05-31 (a one-digit month or day is fine: 2024-5-3)"),
    ("YYYY/MM/DD", "the same with slashes, e.g. 2024/05/31"),
    ("YYYY-MM-DDTHH:MM:SS", "a timestamp (web pages' publication tags); the day is kept"),
    ("YYYY-MM", "a month: read as its first day, e.g. 2024-05 is 2024-05-01"),
    ("YYYY", "a bare year: read as 1 January, e.g. 2024 is 2024-01-01"),
)
YEARS = (1800, 2200)
_DAY = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"(\d{4})")

AUTHORITIES: tuple[str, ...] = ("federal", "state", "district policy", "peer district", "research", "vendor", "internal")
_STATES = ("Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho "
           "Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota "
           "Mississippi Missouri Montana Nebraska Nevada New_Hampshire New_Jersey New_Mexico New_York "
           "North_Carolina North_Dakota Ohio Oklahoma Oregon Pennsylvania Rhode_Island South_Carolina "
           "South_Dakota Tennessee Texas Utah Vermont Virginia Washington West_Virginia Wisconsin Wyoming "
           "District_of_Columbia").split()
_CODES = ("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
          "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC").split()
JURISDICTIONS: tuple[str, ...] = ("national", *(s.replace("_", " ") for s in _STATES))
_JURISDICTION_KEYS = {j.lower(): j for j in JURISDICTIONS} | {c.lower(): s.replace("_", " ") for c, s in zip(_CODES, _STATES, strict=True)}
SOURCE_TYPES: tuple[str, ...] = ("pdf", "html", "markdown", "text", "docx")
DATE_FIELDS = ("date", "published", "reviewed", "expires")


@dataclass(frozen=True)
class ParsedDate:
    """A date read from some input: the ISO day, and a note when the input was not already a full day."""

    iso: str
    note: str | None = None


def accepted_date_forms() -> str:
    """The accepted forms, for error messages."""
    return ", ".join(form for form, _ in DATE_FORMS)


def _day(year: str, month: str, day: str, raw: str, what: str) -> str:
    y, m, d = int(year), int(month), int(day)
    if not YEARS[0] <= y <= YEARS[1]:
        raise ValidationError(f"{what} {raw!r}: the year must be between {YEARS[0]} and {YEARS[1]}")
    try:
        return date(y, m, d).isoformat()
    except ValueError as exc:
        raise ValidationError(f"{what} {raw!r} is not a calendar date ({exc}); write it as YYYY-MM-DD") from exc


def parse_date(value: Any, what: str = "date") -> ParsedDate:
    """Read a date in one of ``DATE_FORMS`` (or a YAML date) as an ISO day.

    Args:
        value: the text (or ``datetime.date``) as given.
        what: how to name the value in a message (``--published``, ``front matter date``...).

    Raises:
        ValidationError: the value is not one of the accepted forms, or not a real day;
            the message quotes the value and lists the accepted forms.
    """
    if isinstance(value, datetime):
        return ParsedDate(_day(str(value.year).zfill(4), str(value.month), str(value.day), str(value), what))
    if isinstance(value, date):
        return ParsedDate(_day(str(value.year).zfill(4), str(value.month), str(value.day), str(value), what))
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationError(f"{what} {value!r} is a {type(value).__name__}, not a date; accepted forms: {accepted_date_forms()}")
    raw = str(value).strip()
    if match := _DAY.fullmatch(raw):
        return ParsedDate(_day(*match.groups(), raw, what))
    if match := _TIMESTAMP.fullmatch(raw):
        iso = _day(*match.groups()[:3], raw, what)
        return ParsedDate(iso, f"{what} {raw!r} read as {iso}")
    if match := _MONTH.fullmatch(raw):
        iso = _day(match.group(1), match.group(2), "1", raw, what)
        return ParsedDate(iso, f"{what} {raw!r} read as {iso} (a month counts as its first day)")
    if _YEAR.fullmatch(raw):
        iso = _day(raw, "1", "1", raw, what)
        return ParsedDate(iso, f"{what} {raw!r} read as {iso} (a bare year counts as 1 January)")
    raise ValidationError(f"{what} {raw!r} is not a date this tool reads; accepted forms: {accepted_date_forms()} "
                          "(day-month orders such as 05/31/2023 are ambiguous and refused)")


def check_date(value: Any, what: str = "date") -> str:
    """``parse_date(value).iso``: for callers that need no note."""
    return parse_date(value, what).iso


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationError(f"{what} must be text, not a {type(value).__name__} ({value!r})")
    return " ".join(str(value).split())


def normalise_authority(value: Any, what: str = "authority") -> str:
    """The canonical authority name (case, dashes and underscores do not matter)."""
    key = _text(value, what).lower().replace("_", " ").replace("-", " ")
    key = " ".join(key.split())
    if key not in AUTHORITIES:
        raise ValidationError(f"{what} {value!r} is not one of: {', '.join(AUTHORITIES)}")
    return key


def normalise_jurisdiction(value: Any, what: str = "jurisdiction") -> str:
    """A US state's name (or its two-letter code), ``District of Columbia``, or ``national``."""
    key = " ".join(_text(value, what).lower().replace("_", " ").split())
    if key not in _JURISDICTION_KEYS:
        raise ValidationError(f"{what} {value!r} is not a US state (name or two-letter code) or 'national'")
    return _JURISDICTION_KEYS[key]


def normalise_areas(values: Any, what: str = "areas") -> tuple[list[str], list[str]]:
    """(known area ids, unknown entries) from a list or a comma-separated string; ids are matched case-insensitively."""
    from kb.core.areas import area_ids

    if values is None:
        return [], []
    if isinstance(values, str):
        items = [v for v in values.split(",")]
    elif isinstance(values, (list, tuple)):
        items = [_text(v, what) for v in values]
    else:
        raise ValidationError(f"{what} must be a list of area ids or comma-separated text, not a {type(values).__name__}")
    known = set(area_ids())
    ids, unknown = [], []
    for item in items:
        key = item.strip().lower().replace("_", "-").replace(" ", "-")
        if not key:
            continue
        if key in known:
            ids.append(key) if key not in ids else None
        else:
            unknown.append(item.strip())
    return ids, unknown


def check_document_fields(fields: dict[str, Any], *, title: str = "", doc_id: str = "", where: str = "") -> tuple[dict[str, Any], list[str]]:
    """Check and normalise a document's metadata fields (front matter, CLI options, upload form, import).

    Returns the normalised fields (dates as ISO days, canonical authority and jurisdiction,
    texts for the other known fields) and notes on what was read. Raises
    :class:`ValidationError` for a value that cannot be read, an ``expires`` before the date,
    or a document superseded by itself.
    """
    prefix = f"{where} " if where else ""
    out = dict(fields)
    notes: list[str] = []
    for name in DATE_FIELDS:
        if out.get(name) not in (None, ""):
            parsed = parse_date(out[name], f"{prefix}{name}")
            out[name] = parsed.iso
            if parsed.note:
                notes.append(parsed.note)
        elif name in out:
            out.pop(name)
    if out.get("authority") not in (None, ""):
        out["authority"] = normalise_authority(out["authority"], f"{prefix}authority")
    if out.get("jurisdiction") not in (None, ""):
        out["jurisdiction"] = normalise_jurisdiction(out["jurisdiction"], f"{prefix}jurisdiction")
    for name in ("superseded_by", "title", "summary", "notes", "source_url", "url"):
        if out.get(name) not in (None, ""):
            out[name] = _text(out[name], f"{prefix}{name}")
    start = out.get("date") or out.get("published")
    if out.get("expires") and start and out["expires"] < start:
        raise ValidationError(f"{prefix}expires {out['expires']} is before the document's date {start}; fix one of them")
    successor = str(out.get("superseded_by") or "").strip().lower()
    if successor and successor in {title.strip().lower(), doc_id.lower()} - {""}:
        raise ValidationError(f"{prefix}superseded_by names the document itself ({out['superseded_by']!r}); "
                              "give the title or id of the document that replaces it")
    return out, notes


# ----- reading what is stored ---------------------------------------------------------------
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)


def stored_date(value: Any, where: str = "") -> date | None:
    """A stored date as a ``date``, or None (with one warning) when it is not a valid ISO day."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(check_date(str(value)[:10] if isinstance(value, str) else value))
    except (ValidationError, ValueError):
        _warn_once(f"ignored an invalid stored date {value!r} {where}; re-ingest the document to fix it".strip())
        return None


def stored_meta(meta: Any, where: str = "") -> dict[str, Any]:
    """A stored metadata mapping, or {} (with one warning) when it is not one."""
    if isinstance(meta, dict):
        return meta
    _warn_once(f"ignored stored metadata that is a {type(meta).__name__}, not a mapping {where}; re-ingest the document")
    return {}
