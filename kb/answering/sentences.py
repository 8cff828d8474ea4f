"""A passage as quotable sentences, each knowing what it must be quoted with to stand on its own.

The composer picks sentences; this module says, for each, which other sentences of the same
passage have to come with it (see :mod:`kb.answering.readability`):

- ``needs``: sentences that must be quoted before it: the sentence a "This/They/The first..."
  refers to, and the lead-in of the list an item belongs to (and the item's first sentence
  for its later sentences);
- ``follows``: a sentence that must be quoted after it: the first item after a lead-in, the
  next sentence after "Two federal actions shape...".

A list of short items ("CIO", "Legal department") is one sentence joined to its lead-in, as
the items cannot be quoted alone. A list item that opens with a label too short to quote
("Attendance.", "1. Document everything.") is quoted with the sentence that explains it. A
table row ("50%-74% | 80% | 80%") is quoted with its header row, each cell named by its
column ("Income: 50%-74%; Urban Discount (C1): 80%"), as a bare row of figures says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from kb.answering.glued_headings import SMALL_WORDS, drop_page_number, split_heading
from kb.answering.readability import LIST_MARK, announces, leans_back, plain
from kb.answering.safety import looks_like_injection
from kb.core.text import paragraphs, split_sentences

__all__ = ["Sentence", "Candidate", "passage_sentences", "closure", "siblings", "usable", "LIST_JOIN", "MIN_SENTENCE", "MAX_SENTENCE"]

MIN_SENTENCE = 25
MAX_SENTENCE = 700  # measured: 600 left 600-700-character sentences holding k12docs key facts unquotable
LIST_JOIN = "; "  # how a list of short items is quoted on one line
_NUMBERED = re.compile(r"^\s*(\d{1,2})[.)]\s+")
_SECTION = re.compile(r"^\d+(?:\.\d+)+\.?\s+[A-Z]")  # "2.3.2 Plan Elements"
_BLANK = re.compile(r"__|(?:^|\s)_+(?=\s|$)")  # blanks of a form to fill in
_LEADERS = re.compile(r"\.(?: ?\.){4}")  # a table of contents' dot leaders ("Preparation ........ 21")
_ENDS = (".", "!", "?", ":", ";", ")", '"', "'", "\u201d")
_RULE_ROW = re.compile(r"^[\s|:\-]+$")  # a Markdown table's |---|---| line
_ATTRIBUTES = re.compile(r"^\{:[^}]*\}")  # a kramdown attribute list ("{:.table.table-bordered}") under a table
_FIGURE_CELL = re.compile(r"^[\d%$.,<>=+\-\u2013/\s]+$")  # "50%-74%", "$1,200", "<1%": data, never a header
_NAMED_CELL = re.compile(r"^[^:|]{1,60}: \S")  # "Purchased: 2022", as ingest writes spreadsheet rows


@dataclass
class Sentence:
    """One quotable sentence of a passage (plain text, no list mark)."""

    text: str
    position: int
    item: int | None = None  # position of the first sentence of the list item this sentence is part of
    numbered: bool = False  # the list item it belongs to is numbered
    number: int | None = None  # the source's number of the numbered item this sentence starts ("7." -> 7)
    lead_in: int | None = None  # position of the lead-in of the list it belongs to
    needs: list[int] = field(default_factory=list)
    follows: list[int] = field(default_factory=list)
    usable: bool = True  # may be chosen for itself (not only as what another sentence needs)
    joined: bool = False  # a lead-in with its short items joined on
    row: bool = False  # a table row quoted with its header row
    heading: str | None = None  # the section heading a PDF ran into this sentence, cut off (glued_headings)


def usable(sentence: str, *, item: bool = False, row: bool = False) -> bool:
    """Long enough, wordy enough and not a heading to be quoted for itself (a table row may be mostly figures)."""
    if not (MIN_SENTENCE <= len(sentence) <= MAX_SENTENCE) or looks_like_injection(sentence):
        return False
    if len(sentence.split()) < 5 or _BLANK.search(sentence) or _LEADERS.search(sentence):
        return False  # too short, a form line with blanks to fill in ("Rank or Grade: __ Date: __"), a contents line
    if row:
        return True
    if not item and not sentence.rstrip().endswith(_ENDS):
        return False  # a heading or a label, not a sentence
    if not item and sentence[:1].isdigit() and not any(w[:1].islower() and w not in SMALL_WORDS for w in sentence.split()):
        return False  # a number, then only capitalised and small words: a heading line ("25 3.2 Detection and Analysis Figure 3-2.")
    letters = sum(ch.isalpha() for ch in sentence)
    return letters / len(sentence) > 0.55


def _cells(line: str) -> list[str] | None:
    """The cells of a table row ("a | b | c"), or None when the line is not a row of at least two cells."""
    if "|" not in line:
        return None
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return cells if len(cells) >= 2 else None


def _table_rows(lines: list[str]) -> list[str | None]:
    """Each line of a paragraph as a table row named by its header ("Income: 50%-74%; Rural (C2): 80%."),
    the header itself and a table's rule and attribute lines as "" (nothing to quote), other lines as None.

    The header is the table's first row unless it holds figures (the chunk starts inside the
    table): then the rows stay as they are, which the length and letter rules keep from being quoted.
    """
    out: list[str | None] = [None] * len(lines)
    header: list[str] | None = None
    in_table = False
    for i, line in enumerate(lines):
        cells = _cells(line)
        if cells is not None and all(_NAMED_CELL.match(c) for c in cells if c):
            header, in_table = None, False  # a spreadsheet row names its own cells: quoted as it stands
            continue
        if cells is None or _RULE_ROW.match(line) or _ATTRIBUTES.match(line.strip()):
            if cells is not None or (in_table and _ATTRIBUTES.match(line.strip())):
                out[i] = ""  # the |---| rule or "{:.table}" attributes: nothing to quote
            else:
                header, in_table = None, False
            continue
        if not in_table:
            in_table = True
            if not any(_FIGURE_CELL.match(c) for c in cells if c):
                header, out[i] = cells, ""
                continue
        if header is not None and len(cells) == len(header):
            named = [f"{h}: {c}" for h, c in zip(header, cells, strict=True) if h and c]
            text = "; ".join(named)
            out[i] = (text if text.endswith((".", "!", "?")) else text + ".") if len(named) >= 2 else None
    return out


class _Line(NamedTuple):
    text: str
    starts_item: bool  # the first sentence of a list item
    new_text: bool  # ends any list before it
    row: bool = False  # a table row named by its header
    heading: str | None = None  # the heading cut off the line's start
    number: int | None = None  # the source's number of a numbered item's first sentence ("7. Write ..." -> 7)


def _number(line: str) -> int | None:
    """The number a numbered list item carries in the source ("7. Write ..." -> 7), else None."""
    found = _NUMBERED.match(line)
    return int(found.group(1)) if found else None


def _lines(text: str) -> Iterator[_Line]:
    """The passage's sentences, each with where it stands in lists and tables.

    A list ends at a new paragraph, and at a plain line after an item that starts a numbered
    section ("2.3.2 Plan Elements ...") or introduces something new ("The plan should include the
    following elements:"); other plain lines after an item are more of the item (a PDF puts an
    item's explanation on its own line). A table row comes named by its header (one sentence).
    """
    for para in paragraphs(plain(text)):
        first = True
        lines = para.split("\n")
        for line, row in zip(lines, _table_rows(lines), strict=True):
            if row is not None:
                if row:
                    yield _Line(row, False, True, row=True)
                first = False
                continue
            mark = LIST_MARK.match(line)
            body = LIST_MARK.sub("", line).strip() if mark else line.strip()
            new_text = not mark and (first or body.endswith(":") or bool(_SECTION.match(body)))
            heading = None
            if not mark:
                length = len(body)  # a PDF's page number or section heading run into the sentence is cut off
                heading, body = split_heading(body)
                new_text = new_text or len(body) < length  # text after a cut-off heading starts afresh
            for k, piece in enumerate(split_sentences(body)):
                # a heading after the line's first sentence: "... education. 4.1 Competencies The ...", "Figure 3-2.
                # Incident Response Life Cycle (Detection and Analysis) 3.2.1 Attack Vectors Incidents can ..."
                later_heading, rest = split_heading(piece, numbered=True) if k > 0 else (None, piece)
                if len(rest) < len(piece):  # a heading was cut off its start
                    yield _Line(rest, False, True, heading=later_heading)
                    continue
                piece = drop_page_number(piece)  # "... annually. 13 At a minimum, ...": the page's number, not the text's
                yield _Line(piece, bool(mark) and k == 0, new_text and k == 0,
                            heading=heading if k == 0 else None, number=_number(line) if mark and k == 0 else None)
            first = False


def _structure(text: str) -> list[Sentence]:
    out: list[Sentence] = []
    current_item: int | None = None
    lead_in: int | None = None
    for piece, starts_item, new_line, row, heading, number in _lines(text):
        pos = len(out)
        if new_line:
            current_item, lead_in = None, None
        sentence = Sentence(piece, pos, row=row, heading=heading)
        if starts_item:
            if current_item is None and lead_in is None and out and out[-1].text.rstrip().endswith(":"):
                lead_in = pos - 1
            current_item = pos
            sentence.item, sentence.lead_in, sentence.number = pos, lead_in, number
            sentence.numbered = number is not None
        elif current_item is not None:
            sentence.item, sentence.numbered, sentence.lead_in = current_item, out[current_item].numbered, lead_in
        out.append(sentence)
    return out


def _join_short_heads(sentences: list[Sentence]) -> list[Sentence]:
    """A list item opening with a label too short to quote ("Attendance.") is quoted with its next sentence.

    "- Attendance. The organization operates the physical or virtual site..." says what the
    label means; alone, neither the label nor a "This effort includes..." after it can be quoted.
    """
    drop: set[int] = set()
    for s, nxt in zip(sentences, sentences[1:], strict=False):
        if (s.item == s.position and s.position not in drop and nxt.item == s.position
                and not usable(s.text, item=True) and len(s.text) + len(nxt.text) < MAX_SENTENCE):
            s.text = f"{s.text} {nxt.text}"
            drop.add(nxt.position)
    return [s for s in sentences if s.position not in drop] if drop else sentences


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
    sentences = _join_short_lists(_join_short_heads(_structure(text)))
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
        s.usable = i not in broken and usable(s.text, item=is_item or s.joined, row=s.row)
    for i, s in enumerate(sentences):
        if s.usable and broken.intersection(closure(sentences, i)):
            s.usable = False  # it would bring a sentence that leans on text outside the passage
    return sentences


def siblings(sentences: list[Sentence], position: int) -> int | None:
    """The list or table a sentence is one entry of (its lead-in, first item or first row), else None.

    Entries of one list or table say different things in the same words ("Attendance. The
    organization operates...", "Funding. The organization is responsible..."), so they are never
    each other's repeats.
    """
    s = sentences[position]
    if s.item is None and not s.row:
        return None
    if s.lead_in is not None:
        return s.lead_in
    first = position
    while first > 0 and (sentences[first - 1].row if s.row else sentences[first - 1].item is not None) \
            and sentences[first - 1].lead_in is None:
        first -= 1
    return first


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
    siblings: tuple[int, int] | None = None  # (passage, list or table) whose items are distinct by construction
    vector: np.ndarray | None = None
    lead_similarity: float | None = None  # to the question's subject, when its scene was left out (else similarity)
    lead_overlap: float | None = None  # the share of the subject's terms it uses (else overlap)
    heading_overlap: float = 0.0  # the share of the question's terms its passage's title and section use
