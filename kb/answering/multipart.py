"""Questions that ask several things at once, split into parts answered one by one.

"What should we protect first and how much will it cost?" asks two things; retrieving for
the whole sentence finds passages about neither well, and an answer that covers one part
must say the other is not covered. :func:`split_question` splits at question marks and at
"and"/"also"/";" followed by a new question word; a part that leans on the one before it
("how much will it cost?") borrows that part's subject, as a follow-up question would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial

from kb.answering.compose_plan import keep_readable
from kb.answering.conversation import standalone_question
from kb.answering.layout import render as render_layout
from kb.answering.shapes import carries_answer, question_shape
from kb.core.answer import Answer, Citation, Claim, Draft
from kb.core.prompts import render
from kb.core.text import content_words

__all__ = ["Part", "split_question", "merge_answers", "MAX_PARTS"]

MAX_PARTS = 3
_ASK = r"(?:how|what|which|who|whom|when|where|why|can|could|should|do|does|did|is|are|will|would|may|must)"
_JOIN = re.compile(rf"(?:,?\s+(?:and|but|also|plus)(?:\s+also)?|;|,\s*(?:and\s+)?also)\s+(?={_ASK}\b)", re.I)
_SENTENCE = re.compile(r"(?<=[?])\s+")


@dataclass(frozen=True)
class Part:
    """One question of several: as asked (its label in the answer) and made standalone (what is retrieved)."""

    asked: str
    standalone: str


def _asks(text: str) -> bool:
    return bool(re.match(rf"^\s*(?:and\s+|also\s+|so\s+)?{_ASK}\b", text, re.I)) or text.rstrip().endswith("?")


def _clauses(sentence: str) -> list[str]:
    """A question split where a new question word starts after "and", "also" or ";" (both sides must ask)."""
    pieces = _JOIN.split(sentence)
    if len(pieces) < 2 or any(not content_words(p) for p in pieces):
        return [sentence]
    return [p.strip().rstrip("?").strip() + "?" for p in pieces]


def split_question(question: str) -> list[Part]:
    """The separate questions asked, each standalone; one item when the question asks one thing.

    Statements before the first question ("Our board wants to cut the budget.") stay with the
    first part; later parts that lean on an earlier one borrow its subject.
    """
    sentences = [s.strip() for s in _SENTENCE.split(question.strip()) if s.strip()]
    asked: list[str] = []
    context = ""
    for sentence in sentences:
        # statements before a question ("Our board wants ... What should we ...?") stay in front of it
        body = re.split(r"(?<=[.!])\s+(?=[A-Z])", sentence)
        lead, last = " ".join(body[:-1]), body[-1]
        if not _asks(last):
            context = f"{context} {sentence}".strip()
            continue
        for k, clause in enumerate(_clauses(last)):
            prefix = " ".join(x for x in (context, lead) if x) if not asked and k == 0 else lead if k == 0 else ""
            asked.append(f"{prefix} {clause}".strip())
        context = ""
    if context and asked:
        asked[-1] = f"{asked[-1]} {context}"
    if len(asked) < 2:
        return [Part(question.strip(), question.strip())]
    asked = asked[:MAX_PARTS]
    labels = [_label(clause) for clause in asked]
    return [Part(labels[0], asked[0])] + [Part(labels[i], _with_subject(part, asked[i - 1]))
                                          for i, part in enumerate(asked[1:], start=1)]


def _with_subject(part: str, previous: str) -> str:
    """A later part, standalone: one that leans on the part before it or names little borrows its subject."""
    if standalone_question(part, [previous]) != part or len(content_words(part)) < 6:
        return f"{previous.rstrip('?')}: {part}"
    return part


def _label(part: str) -> str:
    """The question itself, without the statements before it, capitalised."""
    last = re.split(r"(?<=[.!])\s+(?=[A-Z])", part)[-1].strip()
    return last[:1].upper() + last[1:]


def merge_answers(parts: list[Part], answers: list[Answer], *, max_chars: int) -> Answer:
    """One answer from the answers to each part: each covered part under its own label, then the parts not covered.

    Citations are renumbered in reading order; each part gets an equal share of the length budget
    and keeps its claims in order while they fit. A part counts as not covered when its own answer
    abstained, when everything it would quote was already quoted for an earlier part, or when it
    asks for a figure, date or duration and none of its sentences states one (a "how much will it
    cost?" that borrowed the first part's subject found that subject, not a cost). The merged
    answer is ``abstained`` when no part is covered.
    """
    notes = {i: render("part_not_covered", part=p.asked) for i, (p, a) in enumerate(zip(parts, answers, strict=True))
             if a.abstained}
    covered = [(i, p, a) for i, (p, a) in enumerate(zip(parts, answers, strict=True)) if not a.abstained]
    for i, p, a in covered:  # known before the budget is shared out, so covered parts get the room
        if not carries_answer(question_shape(p.asked).shape, [c.text for c in a.claims]):
            notes[i] = render("part_not_covered", part=p.asked)
    covered = [(i, p, a) for i, p, a in covered if i not in notes]
    room = max_chars - sum(len(m) + 2 for m in notes.values())
    numbers: dict[tuple[int, int], int] = {}
    citations: list[Citation] = []
    claims: list[Claim] = []
    sections: list[str] = []
    for k, (i, part, answer) in enumerate(covered):
        share = room // (len(covered) - k) - 2  # what an earlier part left unused goes to the later ones
        kept: list[Claim] = []
        for claim in answer.claims:
            if any(claim.text == c.text for c in claims):
                continue  # already quoted for an earlier part
            trial = kept + [claim]
            if len(_section(part, trial)) > share:
                break
            kept = trial
        kept = keep_readable(kept, partial(_snippet, answer))  # e.g. an announcement whose items did not fit
        if not kept or not carries_answer(question_shape(part.asked).shape, [c.text for c in kept]):
            notes[i] = render("part_not_covered", part=part.asked)  # nothing new, or no figure for "how much"
            room -= len(notes[i]) + 2
            continue
        room -= len(_section(part, kept)) + 2
        for claim in kept:
            for n in claim.sources:
                if (k, n) not in numbers:
                    numbers[(k, n)] = len(numbers) + 1
                    old = answer.cited(n)
                    if old is not None:
                        citations.append(replace(old, n=numbers[(k, n)]))
            claims.append(replace(claim, sources=[numbers[(k, n)] for n in claim.sources]))
        sections.append(_section(part, claims[len(claims) - len(kept):]))
    first = answers[0]
    return Answer(question=first.question, standalone_question=" | ".join(p.standalone for p in parts),
                  text="\n\n".join(sections + [notes[i] for i in sorted(notes)]), citations=citations, claims=claims,
                  areas=sorted({a for ans in answers for a in ans.areas}), abstained=not claims,
                  notices=[n for ans in answers for n in ans.notices if n],
                  composer=next((a.composer for a in answers if not a.abstained), first.composer),
                  evidence=max(a.evidence for a in answers), id=first.id)


def _snippet(answer: Answer, n: int) -> str:
    cited = answer.cited(n)
    return cited.snippet if cited is not None else ""


def _section(part: Part, claims: list[Claim]) -> str:
    """A part's answer: its question as the label, then its claims laid out like any answer."""
    draft = Draft(lead=claims[:1], points=[replace(c, group="") for c in claims[1:]])
    body = render_layout(draft, lambda c: c.text + "".join(f" [{n}]" for n in c.sources))
    return f"{part.asked}\n{body}"
