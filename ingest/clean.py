"""Text cleaning shared by every loader."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter

from kb.core.documents import Section, slugify

__all__ = ["clean_text", "strip_repeated_lines", "is_contents_page", "SectionBuilder", "PARSER_VERSION"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_HYPHEN_BREAK = re.compile(r"(\w)-\n[ \t]*(\w)")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_DIGITS = re.compile(r"\d+")
# Bullet glyphs as PDFs extract them: Unicode bullets, and symbol-font glyphs (Wingdings,
# Symbol) that land in the private use area U+F000-U+F0FF. Followed by a space they start
# a list item, even mid-line, where a PDF put a whole list on one line.
_BULLET = re.compile(r"[ \t]*\n?[ \t]*[\u2022\u2023\u2043\u25aa\u25cf\u25e6\uf000-\uf0ff][ \t]+(?=\S)")
_LEADERS = re.compile(r"\.(?: ?\.){4}")  # the dot leaders of a contents line ("3.1 Preparation ........ 21")
_NUMBER_LINE = re.compile(r"^(\d{1,2}[.)])\n(?=\S)", re.M)  # "1." alone on its line, its item on the next
PARSER_VERSION = 4  # part of every document's content hash: a better parser re-reads documents once


def clean_text(text: str) -> str:
    """Normalise unicode, drop control characters, re-join hyphenated words, tidy spaces.

    Line breaks are kept (single breaks inside paragraphs are joined by the chunker);
    blank-line paragraph breaks are preserved.
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SPACES.sub(" ", text)
    text = _BULLET.sub("\n- ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _NUMBER_LINE.sub(r"\1 ", text)
    return _BLANKS.sub("\n\n", text).strip()


def _line_key(line: str) -> str:
    return _DIGITS.sub("#", line.strip().lower())


def strip_repeated_lines(pages: list[str], edge: int = 3, min_share: float = 0.5) -> list[str]:
    """Remove running headers and footers: lines at a page's top or bottom repeated on many pages.

    Page numbers differ from page to page, so digits are masked before comparing. A line
    must repeat on at least three pages: in a short document, one sentence that happens
    to end two pages is body text, not a running footer.
    """
    if len(pages) < 3:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [ln for ln in page.split("\n") if ln.strip()]
        counts.update({_line_key(ln) for ln in lines[:edge] + lines[-edge:]})
    threshold = max(3, math.ceil(len(pages) * min_share))
    repeated = {key for key, n in counts.items() if n >= threshold and key.strip("# ")}
    if not repeated:
        return pages
    cleaned = []
    for page in pages:
        lines = page.split("\n")
        non_empty = [i for i, ln in enumerate(lines) if ln.strip()]
        edges = set(non_empty[:edge] + non_empty[-edge:])
        kept = [ln for i, ln in enumerate(lines) if not (i in edges and _line_key(ln) in repeated)]
        cleaned.append("\n".join(kept))
    return cleaned


def is_contents_page(text: str, *, min_lines: int = 4, min_share: float = 0.3) -> bool:
    """True for a table of contents (or list of figures): many of the page's lines end in dot leaders.

    Such a page names every section in the words questions use, so it would be retrieved for
    them, yet answers none: quoted, it reads "3.2 Detection and Analysis .......... 25".
    """
    lines = [ln for ln in text.split("\n") if ln.strip()]
    leaders = sum(bool(_LEADERS.search(ln)) for ln in lines)
    return leaders >= min_lines and leaders >= min_share * len(lines)


class SectionBuilder:
    """Collects paragraphs under the current heading and closes a Section at each new heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.heading: str | None = None
        self._buffer: list[str] = []

    def add(self, text: str) -> None:
        self._buffer.append(text)

    def start(self, heading: str) -> None:
        self.flush()
        self.heading = heading

    def flush(self) -> None:
        text = clean_text("\n\n".join(self._buffer))
        if text:
            anchor = slugify(self.heading, 80) if self.heading else None
            self.sections.append(Section(text=text, heading=self.heading, anchor=anchor))
        self._buffer.clear()
