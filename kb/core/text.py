"""Small text utilities shared by the chunker, the keyword index and the composer."""

from __future__ import annotations

import re

__all__ = ["split_sentences", "paragraphs", "content_words", "STOPWORDS"]

_ABBREV = {"e.g", "i.e", "u.s", "u.k", "dr", "mr", "mrs", "ms", "no", "vs", "etc", "inc", "st", "sec", "fig",
           "al", "approx", "dept", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
           "rev", "vol", "p", "pp", "ed", "eds", "gov", "ch", "cf"}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_NUMBER_ONLY = re.compile(r"^\s*\d{1,2}[.)]\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u25cf\u25aa]|\d{1,2}[.)])\s+")
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you your yours us
may might must shall also get got what's how's whats hows do does need needs want wants should can't cannot""".split())


def _is_abbreviation(text: str, end: int) -> bool:
    start = text.rfind(" ", 0, end) + 1
    word = text[start:end].lower().rstrip(".")
    return word in _ABBREV or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; list items and lines ending a paragraph stay whole units."""
    out: list[str] = []
    for para in paragraphs(text):
        for line in para.split("\n"):
            line = line.strip()
            if not line:
                continue
            start = 0
            for match in _BOUNDARY.finditer(line):
                if _is_abbreviation(line, match.start()) or _NUMBER_ONLY.match(line[start:match.start()]):
                    continue  # "e.g. This", or the "1." of a numbered item
                piece = line[start:match.start()].strip()
                if piece:
                    out.append(piece)
                start = match.start()
            tail = line[start:].strip()
            if tail:
                out.append(tail)
    return out


def paragraphs(text: str) -> list[str]:
    """Paragraphs of cleaned text; wrapped lines are joined, list items keep their own lines."""
    result = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        merged: list[str] = []
        for line in lines:
            if merged and not _LIST_ITEM.match(line) and not _LIST_ITEM.match(merged[-1]) and not merged[-1].endswith((":", "|")) and "|" not in line:
                merged[-1] = merged[-1] + " " + line
            elif merged and not _LIST_ITEM.match(line) and _LIST_ITEM.match(merged[-1]) and not merged[-1].endswith((".", ":", "!", "?")):
                merged[-1] = merged[-1] + " " + line  # a wrapped list item
            else:
                merged.append(line)
        result.append("\n".join(merged))
    return result


_WORD = re.compile(r"[a-z0-9][a-z0-9'\-/.]*[a-z0-9]|[a-z0-9]")


def content_words(text: str) -> list[str]:
    """Lower-case words of a text without stop words (used for overlap measures)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]
