"""Chunk and document metadata: the fields, their validation, conversions and rules, in one place.

Dates are stored as ISO dates (``YYYY-MM-DD``); they are read from the forms in
``DATE_FORMS`` (the staff guide lists the same, a test keeps the two in step), and a form
that is not a full day is reported as what it was read as ("'2024' read as 2024-01-01").
Authority, jurisdiction and areas come from fixed lists (matched without regard to case,
stored in their canonical spelling). Values enter through :func:`validate_fields` (the
operator's own input: CLI options, the upload form, ``kb import``: refused with a one-line
:class:`MetadataError`) or :func:`check_fields` (a document's own front matter or HTML meta:
a bad value is left out with a warning). What is already stored is read leniently:
:func:`stored_date`, :func:`date_number` and :func:`stored_meta` log a warning and return
None (or {}) for a value that is not valid, so no question can fail on one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kb.core.errors import KBError

__all__ = [
    "MetadataError", "DATE_FORMS", "DATE_FIELDS", "CHUNK_EXTRA_FIELDS", "AUTHORITY_RANK", "AUTHORITIES",
    "JURISDICTIONS", "SOURCE_TYPES", "parse_date", "read_date", "parse_authority", "parse_jurisdiction", "parse_areas",
    "validate_fields", "check_fields", "read_fields", "FieldsRead", "stored_date", "stored_meta", "date_number",
    "authority_rank", "Currency", "currency", "is_outdated", "years_old",
]

logger = logging.getLogger(__name__)

# Every form a date may be given in, as the staff guide lists them: (form, what it is read as).
DATE_FORMS: tuple[tuple[str, str], ...] = (
    ("YYYY-MM-DD", "that day, e.g. 2024-05-31; a one-digit month or day is fine: 2024-5-3 is 2024-05-03"),
    ("YYYY/MM/DD", "that day, e.g. 2024/05/31"),
    ("YYYY-MM-DDTHH:MM:SS", "a timestamp (web pages' date tags), with or without a time zone: its day"),
    ("YYYY-MM", "the first day of that month, e.g. 2024-05 is 2024-05-01"),
    ("YYYY", "1 January of that year, e.g. 2024 is 2024-01-01"),
)
ACCEPTED_DATES = "YYYY-MM-DD, for example 2024-03-01 (also YYYY/MM/DD, YYYY-MM, YYYY or a timestamp)"
YEARS = (1800, 2200)  # a year outside these is a typo, not a document date
DATE_FIELDS = ("date", "published", "reviewed", "expires")
# Document metadata copied onto every chunk (and so available to filters and ranking).
CHUNK_EXTRA_FIELDS = ("authority", "jurisdiction", "expires", "superseded_by", "reviewed", "published")
# Higher is more authoritative; used only to break near-ties in relevance.
AUTHORITY_RANK: dict[str, int] = {"federal": 6, "state": 5, "district policy": 4, "research": 3,
                                  "peer district": 2, "internal": 1, "vendor": 0}
AUTHORITIES: tuple[str, ...] = tuple(AUTHORITY_RANK)
JURISDICTIONS: tuple[str, ...] = ("national", *(state.replace("_", " ") for state in """Alabama Alaska Arizona
Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky
Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska Nevada New_Hampshire
New_Jersey New_Mexico New_York North_Carolina North_Dakota Ohio Oklahoma Oregon Pennsylvania Rhode_Island
South_Carolina South_Dakota Tennessee Texas Utah Vermont Virginia Washington West_Virginia Wisconsin Wyoming
District_of_Columbia""".split()))
# The two-letter postal codes, in the order of JURISDICTIONS[1:]: `--jurisdiction il` is Illinois.
_CODES = dict(zip("""AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND
OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC""".lower().split(), JURISDICTIONS[1:], strict=True))
SOURCE_TYPES: tuple[str, ...] = ("pdf", "html", "markdown", "text", "docx")  # what the loaders produce
_DAY = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})")
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"\d{4}")


class MetadataError(KBError, ValueError):
    """A metadata value is not one the field accepts; the message names the accepted forms."""

    def __init__(self, field: str, value: object, expected: str):
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: {str(value)!r} is not {expected}")


def parse_date(value: object, *, field: str = "date") -> date:
    """The date a value names, in any of ``DATE_FORMS`` (or a ``date``).

    Raises:
        MetadataError: for anything else (``March 2024``, ``05/31/2023``, ``2024-13-01``, ``yesterday``, a list),
            naming the value and the accepted forms.
    """
    return read_date(value, field=field)[0]


def read_date(value: object, *, field: str = "date") -> tuple[date, str | None]:
    """:func:`parse_date`, plus a note saying what was read when the value was not a whole day ("'2024' read as 2024-01-01")."""
    if isinstance(value, datetime):
        return _day(value.year, value.month, value.day, value, field), None
    if isinstance(value, date):
        return _day(value.year, value.month, value.day, value, field), None
    raw = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if raw is not None:
        if match := _DAY.fullmatch(raw):
            return _day(int(match.group(1)), int(match.group(3)), int(match.group(4)), value, field), None
        if match := _TIMESTAMP.fullmatch(raw):
            day = _day(int(match.group(1)), int(match.group(2)), int(match.group(3)), value, field)
            return day, None
        if match := _MONTH.fullmatch(raw):
            day = _day(int(match.group(1)), int(match.group(2)), 1, value, field)
            return day, f"{field}: {raw!r} read as {day.isoformat()} (a month counts as its first day)"
        if _YEAR.fullmatch(raw):
            day = _day(int(raw), 1, 1, value, field)
            return day, f"{field}: {raw!r} read as {day.isoformat()} (a bare year counts as 1 January)"
    raise MetadataError(field, value, f"a date; write it as {ACCEPTED_DATES}")


def _day(year: int, month: int, day: int, value: object, field: str) -> date:
    if not YEARS[0] <= year <= YEARS[1]:
        raise MetadataError(field, value, f"a date between {YEARS[0]} and {YEARS[1]}; write it as {ACCEPTED_DATES}")
    try:
        return date(year, month, day)
    except ValueError:
        raise MetadataError(field, value, f"a date (no such day); write it as {ACCEPTED_DATES}") from None


def _from_list(value: object, choices: tuple[str, ...], *, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MetadataError(field, value, f"one of: {', '.join(choices)} (it is a {type(value).__name__})")
    wanted = " ".join(str(value).replace("_", " ").split()).lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    raise MetadataError(field, value, f"one of: {', '.join(choices)}")


def parse_authority(value: object, *, field: str = "authority") -> str:
    """The canonical authority (``federal``, ``state``, ...) for a value in any case."""
    return _from_list(value, AUTHORITIES, field=field)


def parse_jurisdiction(value: object, *, field: str = "jurisdiction") -> str:
    """The canonical jurisdiction (``national`` or a US state, by name or postal code) for a value in any case."""
    if isinstance(value, str) and value.strip().lower() in _CODES:
        return _CODES[value.strip().lower()]
    return _from_list(value, JURISDICTIONS, field=field)


def parse_areas(values: object, *, field: str = "areas") -> tuple[list[str], list[str]]:
    """(known area ids, unknown entries) of a list or comma-separated text; ids match in any case, ``_`` or space for ``-``.

    Raises:
        MetadataError: the value is neither a list nor text.
    """
    from kb.core.areas import area_ids  # reads the areas file: only when areas are given

    if values is None or values == "":
        return [], []
    if isinstance(values, str):
        items = values.split(",")
    elif isinstance(values, (list, tuple)) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        items = [str(v) for v in values]
    else:
        raise MetadataError(field, values, "a list of area ids or comma-separated text")
    known = set(area_ids())
    ids: list[str] = []
    unknown: list[str] = []
    for item in items:
        key = "-".join(item.strip().lower().replace("_", " ").split())
        if key in known:
            ids += [key] if key not in ids else []
        elif item.strip():
            unknown.append(item.strip())
    return ids, unknown


_TEXT_FIELDS = ("title", "summary", "superseded_by", "notes", "source_url", "url")


def _normalise(key: str, value: object, notes: list[str]) -> object:
    if key in DATE_FIELDS:
        day, note = read_date(value, field=key)
        if note:
            notes.append(note)
        return day.isoformat()
    if key == "authority":
        return parse_authority(value)
    if key == "jurisdiction":
        return parse_jurisdiction(value)
    if key in _TEXT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise MetadataError(key, value, f"text (it is a {type(value).__name__})")
        return " ".join(str(value).split())
    return value


@dataclass
class FieldsRead:
    """What :func:`read_fields` made of some metadata."""

    clean: dict[str, Any]  # the valid fields, normalised; unknown keys unchanged
    problems: list[MetadataError]  # the fields left out, and why
    notes: list[str]  # what was read from a form that is not a whole day ("'2024' read as 2024-01-01")


def read_fields(meta: Mapping[str, Any], *, title: str = "", doc_id: str = "") -> FieldsRead:
    """Check and normalise metadata; the rules across fields too (expires after the date, not superseded by itself).

    Args:
        meta: the fields as given (front matter, options, form, backup record).
        title: the document's title, so that ``superseded_by`` naming the document itself is caught.
        doc_id: the document's id, likewise.
    """
    out = FieldsRead({}, [], [])
    for key, value in meta.items():
        if value is None or value == "":
            continue
        try:
            out.clean[key] = _normalise(key, value, out.notes)
        except MetadataError as exc:
            out.problems.append(exc)
    start = out.clean.get("date") or out.clean.get("published")
    if out.clean.get("expires") and start and out.clean["expires"] < start:
        out.problems.append(MetadataError("expires", out.clean.pop("expires"), f"on or after the document's date {start}"))
    successor = str(out.clean.get("superseded_by") or "").lower()
    if successor and successor in {title.strip().lower(), doc_id.lower()} - {""}:
        out.problems.append(MetadataError("superseded_by", out.clean.pop("superseded_by"),
                                          "another document (it names this one); give the title or id of its replacement"))
    return out


def check_fields(meta: Mapping[str, Any], *, title: str = "", doc_id: str = "") -> tuple[dict[str, Any], list[MetadataError]]:
    """Metadata with the known fields normalised and the invalid ones left out, plus what was wrong.

    Empty values (None, "") are left out silently; unknown keys pass through unchanged.
    """
    read = read_fields(meta, title=title, doc_id=doc_id)
    return read.clean, read.problems


def validate_fields(meta: Mapping[str, Any], *, title: str = "", doc_id: str = "") -> dict[str, Any]:
    """Metadata with the known fields normalised.

    Raises:
        MetadataError: for the first value a field does not accept.
    """
    read = read_fields(meta, title=title, doc_id=doc_id)
    if read.problems:
        raise read.problems[0]
    return read.clean


def stored_date(value: object) -> date | None:
    """A stored date, or None (with a logged warning) when the value is missing or not a date."""
    if value is None or value == "":
        return None
    try:
        return parse_date(value)
    except MetadataError as exc:
        logger.warning("stored date skipped error=%s", exc)
        return None


def stored_meta(meta: object, *, where: str = "") -> dict[str, Any]:
    """A stored metadata mapping, or {} (with a logged warning) when it is somehow not one."""
    if isinstance(meta, dict):
        return meta
    logger.warning("stored metadata skipped where=%s type=%s", where, type(meta).__name__)
    return {}


def date_number(value: object) -> int | None:
    """The sortable number of a date (2024-03-01 -> 20240301); None when it is missing or not a date."""
    day = stored_date(value)
    return None if day is None else day.year * 10000 + day.month * 100 + day.day


def authority_rank(value: object) -> int:
    """How authoritative a source is (higher is more); an unstated or unknown authority ranks as internal."""
    return AUTHORITY_RANK.get(str(value or "").strip().lower(), AUTHORITY_RANK["internal"])


@dataclass(frozen=True)
class Currency:
    """Whether a source is still current: superseded by another, or past its ``expires`` date."""

    superseded_by: str | None = None
    expired: date | None = None

    @property
    def outdated(self) -> bool:
        return bool(self.superseded_by) or self.expired is not None


def currency(meta: Mapping[str, Any], *, today: date | None = None) -> Currency:
    """The currency of a document or chunk from its ``superseded_by`` and ``expires`` fields."""
    expires = stored_date(meta.get("expires"))
    expired = expires if expires is not None and expires < (today or date.today()) else None
    return Currency(superseded_by=str(meta.get("superseded_by") or "") or None, expired=expired)


def is_outdated(meta: Mapping[str, Any]) -> bool:
    """True for a source marked superseded, or whose ``expires`` date has passed."""
    return currency(meta).outdated


def years_old(day: date, *, today: date | None = None) -> float:
    """Age in years of a date (a source older than the ``stale_after_years`` setting earns a notice)."""
    return ((today or date.today()) - day).days / 365.25
