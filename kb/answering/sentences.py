"""A passage as quotable sentences, each knowing what it must be quoted with to stand on its own.

The composer picks sentences; this module says, for each, which other sentences of the same
passage have to come with it (see :mod:`kb.answering.readability`):

- ``needs``: sentences that must be quoted before it: the sentence a "This/They/The first..."
  refers to, and the lead-in of the list an item belongs to (and the item's first sentence
  for its later sentences);
- ``follows``: a sentence that must be quoted after it: the first item after a lead-in, the
  next sentence after "Two federal actions shape...".

A list of short items ("CIO", "Legal department") is one sentence joined to its lead-in, as
the items cannot be quoted alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from kb.answering.readability import LIST_MARK, announces, leans_back, plain
from kb.answering.safety import looks_like_injection
from kb.core.text import paragraphs, split_sentences

__all__ = ["Sentence", "Candidate", "passage_sentences", "closure", "usable", "LIST_JOIN", "MIN_SENTENCE", "MAX_SENTENCE"]

MIN_SENTENCE = 25
MAX_SENTENCE = 600
LIST_JOIN = "; "  # how a list of short items is quoted on one line
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+")
_SECTION = re.compile(r"^\d+(?:\.\d+)+\.?\s+[A-Z]")  # "2.3.2 Plan Elements"
_BLANK = re.compile(r"__|(?:^|\s)_+(?=\s|$)")  # blanks of a form to fill in
_ENDS = (".", "!", "?", ":", ";", ")", '"', "'", "\u201d")


@dataclass
class Sentence:
    """One quotable sentence of a passage (plain text, no list mark)."""

    text: str
    position: int
    item: int | None = None  # position of the first sentence of the list item this sentence is part of
    numbered: bool = False  # the list item it belongs to is numbered
    lead_in: int | None = None  # position of the lead-in of the list it belongs to
    needs: list[int] = field(default_factory=list)
    follows: list[int] = field(default_factory=list)
    usable: bool = True  # may be chosen for itself (not only as what another sentence needs)
    joined: bool = False  # a lead-in with its short items joined on


def usable(sentence: str, *, item: bool = False) -> bool:
    """Long enough, wordy enough and not a heading to be quoted for itself."""
    if not (MIN_SENTENCE <= len(sentence) <= MAX_SENTENCE) or looks_like_injection(sentence):
        return False
    if len(sentence.split()) < 5 or _BLANK.search(sentence):
        return False  # too short, or a form line with blanks to fill in ("Rank or Grade: __ Date: __")
    if not item and not sentence.rstrip().endswith(_ENDS):
        return False  # a heading or a label, not a sentence
    letters = sum(ch.isalpha() for ch in sentence)
    return letters / len(sentence) > 0.55


def _lines(text: str) -> Iterator[tuple[str, bool, bool, bool]]:
    """(sentence, starts a list item, numbered, ends any list before it) for the passage's text.

    A list ends at a new paragraph, and at a plain line after an item that starts a numbered
    section ("2.3.2 Plan Elements ...") or introduces something new ("The plan should include the
    following elements:"); other plain lines after an item are more of the item (a PDF puts an
    item's explanation on its own line).
    """
    for para in paragraphs(plain(text)):
        first = True
        for line in para.split("\n"):
            mark = LIST_MARK.match(line)
            body = LIST_MARK.sub("", line).strip() if mark else line.strip()
            new_text = not mark and (first or body.endswith(":") or bool(_SECTION.match(body)))
            for k, piece in enumerate(split_sentences(body)):
                yield piece, bool(mark) and k == 0, bool(mark) and bool(_NUMBERED.match(line)), new_text and k == 0
            first = False


def _structure(text: str) -> list[Sentence]:
    out: list[Sentence] = []
    current_item: int | None = None
    lead_in: int | None = None
    for piece, starts_item, numbered, new_line in _lines(text):
        pos = len(out)
        if new_line:
            current_item, lead_in = None, None
        sentence = Sentence(piece, pos)
        if starts_item:
            if current_item is None and lead_in is None and out and out[-1].text.rstrip().endswith(":"):
                lead_in = pos - 1
            current_item = pos
            sentence.item, sentence.numbered, sentence.lead_in = pos, numbered, lead_in
        elif current_item is not None:
            sentence.item, sentence.numbered, sentence.lead_in = current_item, out[current_item].numbered, lead_in
        out.append(sentence)
    return out


def _join_short_lists(sentences: list[Sentence]) -> list[Sentence]:
    """A lead-in whose items are too short to quote alone absorbs them ("... include: CIO; Legal department")."""
    by_lead: dict[int, list[Sentence]] = {}
    for s in sentences:
        if s.lead_in is not None and s.item == s.position:
            by_lead.setdefault(s.lead_in, []).append(s)
    drop: set[int] = set()
    for lead, items in by_lead.items():
        whole = [s for s in sentences if s.lead_in == lead]
        if len(whole) != len(items) or all(usable(s.text, item=True) for s in items):
            continue  # items with several sentences, or items that stand alone, stay a list
        joined = sentences[lead].text
        for s in items:
            longer = f"{joined} {s.text}" if joined.endswith(":") else f"{joined}{LIST_JOIN}{s.text}"
            if len(longer) > MAX_SENTENCE:
                break
            joined = longer
            drop.add(s.position)
        sentences[lead].text = joined
        sentences[lead].joined = True
    if not drop:
        return sentences
    # the items left over past the length cap keep their lead-in: quoted after the joined line, they read as its list
    return [s for s in sentences if s.position not in drop]


def passage_sentences(text: str) -> list[Sentence]:
    """The passage's sentences with what each must be quoted with; positions index the returned list."""
    sentences = _join_short_lists(_structure(text))
    index = {s.position: i for i, s in enumerate(sentences)}
    for i, s in enumerate(sentences):
        s.position = i
        s.item = index.get(s.item) if s.item is not None else None
        s.lead_in = index.get(s.lead_in) if s.lead_in is not None else None
    broken: set[int] = set()  # sentences that cannot stand on their own whatever is quoted with them
    for i, s in enumerate(sentences):
        is_item = s.item is not None
        if s.lead_in is not None:
            s.needs.append(s.lead_in)
        if is_item and s.item != i and s.item is not None:
            s.needs.append(s.item)
        if leans_back(s.text) and s.item != i:
            if i == 0:
                broken.add(i)  # refers to text before the passage
            elif i - 1 not in s.needs:
                s.needs.append(i - 1)
        if announces(s.text):
            nxt = i + 1 if i + 1 < len(sentences) else None
            if nxt is None:
                broken.add(i)  # announces items the passage does not hold
            else:
                s.follows.append(nxt)
        s.usable = i not in broken and usable(s.text, item=is_item or s.joined)
    for i, s in enumerate(sentences):
        if s.usable and broken.intersection(closure(sentences, i)):
            s.usable = False  # it would bring a sentence that leans on text outside the passage
    return sentences


def closure(sentences: list[Sentence], start: int) -> list[int]:
    """Positions that must be quoted with sentence ``start`` for it to stand on its own, in source order."""
    seen: set[int] = set()
    todo = [start, *sentences[start].follows]  # a chosen announcement brings what it announces
    while todo:
        pos = todo.pop()
        if pos in seen:
            continue
        seen.add(pos)
        todo.extend(sentences[pos].needs)  # an item quoted for another's sake already follows its lead-in
    return sorted(seen)


@dataclass
class Candidate:
    """A sentence of a passage, scored as a candidate for the answer (kb.answering.extractive)."""

    text: str
    passage: int  # index into passages
    position: int  # sentence index inside the passage (see kb.answering.sentences)
    score: float = 0.0
    similarity: float = 0.0
    overlap: float = 0.0
    penalty: float = 0.0  # taken off for expired or superseded sources
    fit: float = 0.0  # how well it carries what the question's shape asks for
    item: bool = False  # part of a list in its source
    vector: np.ndarray | None = None
