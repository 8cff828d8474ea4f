"""Chunk and document metadata: the fields, their validation, conversions and rules, in one place.

Dates are ISO dates (``YYYY-MM-DD``) and nothing else; authority and jurisdiction come
from fixed lists (matched without regard to case, stored in their canonical spelling).
Values enter through :func:`validate_fields` (the operator's own input: refused with a
one-line :class:`MetadataError`) or :func:`check_fields` (a document's own front matter
or HTML meta: a bad value is left out with a warning). What is already stored is read
leniently: :func:`stored_date` and :func:`date_number` log a warning and return None for
a value that is not a date, so no question can fail on one.
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
    "JURISDICTIONS", "parse_date", "parse_authority", "parse_jurisdiction", "validate_fields", "check_fields",
    "stored_date", "date_number", "authority_rank", "Currency", "currency", "is_outdated", "years_old",
]

logger = logging.getLogger(__name__)

DATE_FORMS = "YYYY-MM-DD, for example 2024-03-01"
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
South_Carolina South_Dakota Tennessee Texas Utah Vermont Virginia Washington West_Virginia Wisconsin Wyoming""".split()))
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+\-Z]*)?")


class MetadataError(KBError, ValueError):
    """A metadata value is not one the field accepts; the message names the accepted forms."""

    def __init__(self, field: str, value: object, expected: str):
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: {str(value)!r} is not {expected}")


def parse_date(value: object, *, field: str = "date") -> date:
    """The date an ISO value names: a ``date``, or text ``YYYY-MM-DD`` (a time after it is ignored).

    Raises:
        MetadataError: for anything else (``2024``, ``March 2024``, ``2024-13-01``, a number).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _ISO_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise MetadataError(field, value, f"a date; write it as {DATE_FORMS}")


def _from_list(value: object, choices: tuple[str, ...], *, field: str) -> str:
    wanted = " ".join(str(value).split()).lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    raise MetadataError(field, value, f"one of: {', '.join(choices)}")


def parse_authority(value: object, *, field: str = "authority") -> str:
    """The canonical authority (``federal``, ``state``, ...) for a value in any case."""
    return _from_list(value, AUTHORITIES, field=field)


def parse_jurisdiction(value: object, *, field: str = "jurisdiction") -> str:
    """The canonical jurisdiction (``national`` or a US state) for a value in any case."""
    return _from_list(value, JURISDICTIONS, field=field)


def _normalise(key: str, value: object) -> object:
    if key in DATE_FIELDS:
        return parse_date(value, field=key).isoformat()
    if key == "authority":
        return parse_authority(value)
    if key == "jurisdiction":
        return parse_jurisdiction(value)
    return value


def check_fields(meta: Mapping[str, Any]) -> tuple[dict[str, Any], list[MetadataError]]:
    """Metadata with the known fields normalised and the invalid ones left out, plus what was wrong.

    Empty values (None, "") are left out silently; unknown keys pass through unchanged.
    """
    clean: dict[str, Any] = {}
    problems: list[MetadataError] = []
    for key, value in meta.items():
        if value is None or value == "":
            continue
        try:
            clean[key] = _normalise(key, value)
        except MetadataError as exc:
            problems.append(exc)
    return clean, problems


def validate_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with the known fields normalised.

    Raises:
        MetadataError: for the first value a field does not accept.
    """
    clean, problems = check_fields(meta)
    if problems:
        raise problems[0]
    return clean


def stored_date(value: object) -> date | None:
    """A stored date, or None (with a logged warning) when the value is missing or not a date."""
    if value is None or value == "":
        return None
    try:
        return parse_date(value)
    except MetadataError as exc:
        logger.warning("stored date skipped error=%s", exc)
        return None


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
