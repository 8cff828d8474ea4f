"""Answer composers behind one interface.

The offline default is extractive: it builds the answer only from sentences of the
retrieved passages, chosen for the question, with redundancy removed, as a short
lead plus key points. It never writes a sentence that is not in a passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.answering.conversation import standalone_question
from kb.answering.retrieval import Passage
from kb.answering.safety import looks_like_injection
from kb.core.answer import Claim, Draft
from kb.core.documents import is_outdated
from kb.core.text import paragraphs, split_sentences
from kb.embed.base import Embedder
from kb.index.keyword import tokenize

__all__ = ["ExtractiveComposer", "Candidate", "Weights", "candidates", "score_candidates", "LIST_JOIN"]

OUTDATED_PENALTY = 0.05  # sentences of expired or superseded sources lose near-ties
MIN_SENTENCE = 25
MAX_SENTENCE = 600
ENCODE_CHARS = 300  # a sentence's meaning is judged on its start: encoding cost grows with length
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")
_TABLE_ROW = re.compile(r"\|.*\|")


@dataclass
class Candidate:
    text: str
    passage: int  # index into passages
    position: int  # sentence index inside the passage
    score: float = 0.0
    similarity: float = 0.0
    overlap: float = 0.0
    penalty: float = 0.0  # taken off for expired or superseded sources
    vector: np.ndarray | None = None


def _usable(sentence: str) -> bool:
    if not (MIN_SENTENCE <= len(sentence) <= MAX_SENTENCE):
        return False
    if looks_like_injection(sentence):
        return False
    words = sentence.split()
    if len(words) < 5:
        return False
    letters = sum(ch.isalpha() for ch in sentence)
    return letters / len(sentence) > 0.55


LIST_JOIN = "; "  # how a list of short items is quoted on one line


def _explained_items(sentences: list[str]) -> list[str]:
    """A list item too short to quote alone takes the sentence that explains it ("1. Document everything. This ...")."""
    out: list[str] = []
    for sentence in sentences:
        previous = out[-1] if out else ""
        if (previous and _LIST_MARK.match(previous) and not _LIST_MARK.match(sentence)
                and not _usable(_LIST_MARK.sub("", previous).strip())
                and len(previous) + len(sentence) < MAX_SENTENCE):
            out[-1] = previous + " " + sentence
        else:
            out.append(sentence)
    return out


def _units(text: str) -> list[str]:
    """Sentences of a passage, with a list of short items joined to the line that introduces it.

    Items such as "CIO", "Legal department" are too short to quote alone; the line ending
    in ":" before them and the items together ("... include: CIO; Legal department") are
    one quotable unit, at most ``MAX_SENTENCE`` characters. Lists whose items are whole
    sentences stay separate sentences.
    """
    sentences = [s for para in paragraphs(text) for s in _explained_items(split_sentences(para))]
    out: list[str] = []
    i = 0
    while i < len(sentences):
        sentence = sentences[i]
        items: list[str] = []
        j = i + 1
        while sentence.rstrip().endswith(":") and j < len(sentences) and _LIST_MARK.match(sentences[j]):
            items.append(_LIST_MARK.sub("", sentences[j]).strip())
            j += 1
        if items and not all(_usable(item) for item in items):
            joined = sentence
            for item in items:
                longer = (joined + " " + item) if joined.endswith(":") else (joined + LIST_JOIN + item)
                if len(longer) > MAX_SENTENCE:
                    break
                joined = longer
            out.append(joined)
            out.extend(item for item in items if item not in joined)
            i = j
            continue
        out.append(sentence)
        i += 1
    return out


def candidates(passages: Sequence[Passage]) -> list[Candidate]:
    """Every usable sentence (or introduced list) of the passages, de-duplicated."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for p_index, passage in enumerate(passages):
        for s_index, sentence in enumerate(_units(passage.chunk.text)):
            sentence = _LIST_MARK.sub("", sentence).strip()
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key in seen or not _usable(sentence):
                continue
            seen.add(key)
            out.append(Candidate(sentence, p_index, s_index))
    return out


@dataclass(frozen=True)
class Weights:
    """How a sentence's score mixes its own similarity, shared terms and its passage's relevance."""

    similarity: float = 0.30
    overlap: float = 0.20
    passage: float = 0.50  # measured: sentences of the most relevant passage carry most key facts


def score_candidates(question: str, items: list[Candidate], passages: Sequence[Passage], embedder: Embedder,
                     question_vector: np.ndarray | None = None, weights: Weights = Weights(),
                     shortlist: int | None = None) -> list[Candidate]:
    """Score sentences by meaning (cosine), by shared question terms, and by their passage's relevance.

    Encoding the sentences is the costly part of composing, so with ``shortlist`` only that
    many sentences, those with the best score before meaning is known (shared terms and
    passage relevance), are encoded and returned; the others cannot be chosen.

    Returns:
        the scored candidates (all of them, or the shortlist), in their original order.
    """
    if not items:
        return []
    if question_vector is None:
        question_vector = embedder.embed_batch([question])[0]
    q_terms = set(tokenize(question))
    relevance = _passage_relevance(passages, question_vector)
    outdated = [OUTDATED_PENALTY if is_outdated(p.chunk.extra) else 0.0 for p in passages]
    for item in items:
        terms = set(tokenize(item.text))
        item.overlap = len(q_terms & terms) / len(q_terms) if q_terms else 0.0
        item.penalty = outdated[item.passage]
        item.score = weights.overlap * item.overlap + weights.passage * relevance[item.passage] - item.penalty
    if shortlist is not None and len(items) > shortlist:
        keep = set(sorted(range(len(items)), key=lambda i: -items[i].score)[:shortlist])
        items = [item for i, item in enumerate(items) if i in keep]
    vectors = embedder.embed_batch([c.text[:ENCODE_CHARS] for c in items])
    for item, vector in zip(items, vectors, strict=True):
        item.similarity = float(vector @ question_vector)
        item.vector = vector
        item.score += weights.similarity * item.similarity
    return items


def _passage_relevance(passages: Sequence[Passage], question_vector: np.ndarray) -> list[float]:
    """Each passage's cosine similarity to the question (from its stored vector when known)."""
    out = []
    for passage in passages:
        if passage.vector is not None and passage.vector.shape == question_vector.shape:
            out.append(float(passage.vector @ question_vector))
        else:
            out.append(float(passage.dense or 0.0))
    return out


class ExtractiveComposer:
    """Offline grounded composer: quotes the best sentences of the passages, each cited."""

    name = "extractive"

    def __init__(self, embedder: Embedder, max_chars: int = 1500, max_sentences: int = 14,
                 redundancy: float = 0.86, floor: float = 0.0, weights: Weights = Weights(),
                 shortlist: int | None = None):
        self.embedder = embedder
        self.shortlist = shortlist
        self.weights = weights
        self.max_chars = max_chars
        self.max_sentences = max_sentences
        self.redundancy = redundancy
        self.floor = floor

    def compose(self, question: str, passages: Sequence[Passage], *, question_vector: np.ndarray | None = None,
                on_token: Callable[[str], None] | None = None) -> Draft:
        """Quote the passages' best sentences (nothing streams: the draft is ready at once)."""
        items = score_candidates(question, candidates(passages), passages, self.embedder, question_vector,
                                 self.weights, self.shortlist)
        chosen = self._select(sorted(items, key=lambda c: -c.score))
        if not chosen:
            return Draft(lead=[], composer=self.name)
        # Lead with the sentence that answers the question most directly; the rest read in source order.
        first = max(chosen, key=lambda c: 0.6 * c.similarity + 0.4 * c.overlap - c.penalty)
        lead = [first]
        rest = sorted((c for c in chosen if c is not first), key=lambda c: (c.passage, c.position))
        return Draft(
            lead=[Claim(c.text, [c.passage]) for c in lead],
            points=[Claim(c.text, [c.passage]) for c in rest],
            composer=self.name,
        )

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """A follow-up made standalone by the deterministic rule (no model offline)."""
        return standalone_question(question, list(history))

    def _select(self, ranked: list[Candidate]) -> list[Candidate]:
        if not ranked:
            return []
        best = ranked[0].score
        chosen: list[Candidate] = []
        budget = self.max_chars - 40  # room for citation markers and list formatting
        used = 0
        for item in ranked:
            if len(chosen) >= self.max_sentences or item.score < best * self.floor:
                break
            cost = len(item.text) + 8
            if used + cost > budget:
                continue
            if any(float(item.vector @ c.vector) > self.redundancy for c in chosen if item.vector is not None and c.vector is not None):
                continue
            chosen.append(item)
            used += cost
        return chosen
