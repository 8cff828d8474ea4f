"""Answer composers behind one interface.

The offline default is extractive: it builds the answer only from sentences of the
retrieved passages, chosen for the question, with redundancy removed. It recognises the
question's shape (:mod:`kb.answering.shapes`) and leads with the sentence that answers in
that shape; every sentence it quotes comes with what it needs to stand on its own
(:mod:`kb.answering.sentences`); list items come as a list under their lead-in. It never
writes a sentence that is not in a passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.answering.compose_plan import Plan, keep_readable, lead_score, plan_draft, side_lead, side_sentence
from kb.answering.conversation import standalone_question
from kb.answering.gate_signals import asking_sentence, split_subject
from kb.answering.retrieval import Passage
from kb.answering.sentences import LIST_JOIN, MAX_SENTENCE, Candidate, Sentence, closure, passage_sentences, siblings
from kb.answering.shapes import QuestionShape, Shape, question_shape, shape_fit
from kb.core.answer import Draft
from kb.core.documents import is_outdated
from kb.embed.base import Embedder
from kb.index.keyword import tokenize

__all__ = ["ExtractiveComposer", "Candidate", "Weights", "candidates", "score_candidates", "LIST_JOIN", "MAX_SENTENCE"]

OUTDATED_PENALTY = 0.05  # sentences of expired or superseded sources lose near-ties
SUBJECT_SHARE = 0.5  # a lead is judged by its subject this much, by the whole question the rest
ENCODE_CHARS = 300  # a sentence's meaning is judged on its start: encoding cost grows with length
SIDE_ITEMS = 3  # items of a list that states one side of a comparison, quoted with their lead-in


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def candidates(passages: Sequence[Passage], structures: Sequence[list[Sentence]] | None = None) -> list[Candidate]:
    """Every sentence (or introduced list of short items) of the passages that may be quoted for itself."""
    structures = structures if structures is not None else [passage_sentences(p.chunk.text) for p in passages]
    seen: set[str] = set()
    out: list[Candidate] = []
    for p_index, sentences in enumerate(structures):
        for sentence in sentences:
            key = _key(sentence.text)
            if key in seen or not sentence.usable:
                continue
            seen.add(key)
            group = siblings(sentences, sentence.position)
            out.append(Candidate(sentence.text, p_index, sentence.position, item=sentence.item is not None,
                                 siblings=None if group is None else (p_index, group)))
    return out


@dataclass(frozen=True)
class Weights:
    """How a sentence's score mixes its own similarity, shared terms, its passage's relevance and the shape fit."""

    similarity: float = 0.30
    overlap: float = 0.20
    passage: float = 0.50  # measured: sentences of the most relevant passage carry most key facts
    shape: float = 0.10


def _term_share(terms: set[str], text: str) -> float:
    """The share of ``terms`` (a question's or its subject's) that the text uses."""
    return len(terms & set(tokenize(text))) / len(terms) if terms else 0.0


def score_candidates(question: str, items: list[Candidate], passages: Sequence[Passage], *, embedder: Embedder,
                     question_vector: np.ndarray | None = None, weights: Weights = Weights(),
                     shortlist: int | None = None, shape: QuestionShape | None = None,
                     fused: bool = True) -> list[Candidate]:
    """Score sentences by meaning (cosine), shared question terms, their passage's relevance and the shape fit.

    Encoding the sentences is the costly part of composing, so with ``shortlist`` only that
    many sentences, those with the best score before meaning is known, are encoded and
    returned; the others cannot be chosen.

    Returns:
        the scored candidates (all of them, or the shortlist), in their original order.
    """
    if not items:
        return []
    if question_vector is None:
        question_vector = embedder.embed_batch([question])[0]
    shape = shape or question_shape(question)
    q_terms = set(tokenize(question))
    relevance = _passage_relevance(passages, question_vector, fused=fused)
    outdated = [OUTDATED_PENALTY if is_outdated(p.chunk.extra) else 0.0 for p in passages]
    headings = [_term_share(q_terms, f"{p.chunk.title} {p.chunk.section or ''}") for p in passages]
    for item in items:
        item.heading_overlap = headings[item.passage]
        item.overlap = _term_share(q_terms, item.text)
        item.penalty = outdated[item.passage]
        item.fit = shape_fit(shape.shape, item.text, item=item.item)
        item.score = (weights.overlap * item.overlap + weights.passage * relevance[item.passage]
                      + weights.shape * item.fit - item.penalty)
    if shortlist is not None and len(items) > shortlist:
        keep = set(sorted(range(len(items)), key=lambda i: -items[i].score)[:shortlist])
        items = [item for i, item in enumerate(items) if i in keep]
    vectors = embedder.embed_batch([c.text[:ENCODE_CHARS] for c in items])
    for item, vector in zip(items, vectors, strict=True):
        item.similarity = float(vector @ question_vector)
        item.vector = vector
        item.score += weights.similarity * item.similarity
    return items


def _fitted(plan: Plan, seeds: list[Candidate], passages: Sequence[Passage], *, answering: bool) -> Draft:
    """The readable draft of the most seeds whose layout fits the length budget (an empty one if none fits)."""
    while seeds:
        draft = plan_draft(plan, seeds, answering=answering)
        if plan.fits(draft):
            return _readable(draft, passages)
        seeds = seeds[:-1]  # labels and markers took more room than estimated: drop the weakest
    return Draft(lead=[])


def _readable(draft: Draft, passages: Sequence[Passage]) -> Draft:
    """The draft without claims that would not stand on their own (see :func:`keep_readable`)."""
    claims = draft.lead + draft.points
    kept = keep_readable(claims, lambda n: passages[n].chunk.text)
    if len(kept) == len(claims):
        return draft
    ids = {id(c) for c in kept}
    lead = [c for c in draft.lead if id(c) in ids]
    points = [c for c in draft.points if id(c) in ids]
    if not lead and points:
        lead = [points.pop(0)]  # the answer still opens with a paragraph
    return Draft(lead=lead, points=points, notices=draft.notices)


def _passage_relevance(passages: Sequence[Passage], question_vector: np.ndarray, *, fused: bool = True) -> list[float]:
    """Each passage's relevance to the question, on the scale of cosine similarity.

    With ``fused`` (the default), the mean of the passage's own cosine and the retriever's score
    (dense and BM25 fused, with its area and currency adjustments) relative to the best passage's,
    times the best passage's cosine: the ranking the retriever settled on counts as much as meaning
    alone, which misjudges a passage that wins on the question's exact terms. Measured on the cached
    compose-only runs: k12docs key facts 0.562 -> 0.602, library 0.724 -> 0.725 (the retriever's
    score alone: 0.616 and 0.721, and the library's casual slice 0.819 -> 0.764, so half of each).
    Without ``fused``, or when the scores are not positive, each passage's own cosine.
    """
    cosines = []
    for passage in passages:
        if passage.vector is not None and passage.vector.shape == question_vector.shape:
            cosines.append(float(passage.vector @ question_vector))
        else:
            cosines.append(float(passage.dense or 0.0))
    scores = [float(p.score) for p in passages]
    if not fused or not scores or max(scores) <= 0 or min(scores) < 0:
        return cosines
    top, high = max(cosines), max(scores)
    return [0.5 * cosine + 0.5 * top * score / high for cosine, score in zip(cosines, scores, strict=True)]


def _list_first(ranked: list[Candidate], shape: QuestionShape) -> list[Candidate]:
    """For a steps or priorities question, the entries of the leading list first, in the source's order.

    "How do we..." wants the steps and "what first..." the prioritised items, as the source
    lists them. When the sentence that would lead the answer (:func:`lead_score`) is an entry
    of a list with at least two candidate entries, that list's entries come first; otherwise,
    and for other questions, the ranking stays. (Measured: letting any list whose best entry
    scored within 0.05 of the best sentence lead put a staff-retention list first for "When an
    employee quits, how do we make sure they lose access?"; the key facts were the same.)
    """
    if shape.shape not in (Shape.STEPS, Shape.PRIORITY) or not ranked:
        return ranked
    top = max(ranked, key=lead_score)
    if top.siblings is None or not top.item:
        return ranked
    entries = sorted((c for c in ranked if c.siblings == top.siblings and c.item), key=lambda c: c.position)
    if len(entries) < 2:
        return ranked
    chosen = {id(c) for c in entries}
    return entries + [c for c in ranked if id(c) not in chosen]


def _fit_shape(question: str, shape: QuestionShape, every: Sequence[Candidate]) -> QuestionShape:
    """The shape sentences are scored by: for a comparison none of whose sides any sentence states (``side_lead``),
    the shape the question's other words ask for, as if it were not a comparison.

    The comparison's own fit is none (a side is stated by a sentence of any kind), so without a side to state it
    would only lose the fit of the question's other shape: "How does the CEDS Normalized Data Schema/IDS differ
    from the Data Warehouse Reporting Data Store?" (k12-058), read as steps before the "differ" wording was a
    comparison, lost the list entries that fit steps and half its key facts. The layout stays a comparison's.
    """
    if shape.shape is not Shape.COMPARE or any(side_lead(side, c.text) for side in shape.sides for c in every):
        return shape
    return question_shape(question, compare=False)


class ExtractiveComposer:
    """Offline grounded composer: quotes the best sentences of the passages, each cited."""

    name = "extractive"

    def __init__(self, embedder: Embedder, *, max_chars: int = 1500, max_sentences: int = 14,
                 redundancy: float = 0.86, floor: float = 0.0, weights: Weights = Weights(),
                 shortlist: int | None = None, fused_relevance: bool = True, fill: bool = True,
                 list_lead: bool = False, compare_sides: bool = True):
        self.embedder = embedder
        self.compare_sides = compare_sides
        self.fill = fill
        self.list_lead = list_lead
        self.fused_relevance = fused_relevance
        self.shortlist = shortlist
        self.weights = weights
        self.max_chars = max_chars
        self.max_sentences = max_sentences
        self.redundancy = redundancy
        self.floor = floor

    def compose(self, question: str, passages: Sequence[Passage], *, question_vector: np.ndarray | None = None,
                on_token: Callable[[str], None] | None = None, max_chars: int | None = None) -> Draft:
        """Quote the passages' best sentences, laid out in the question's shape (nothing streams)."""
        shape = question_shape(question)
        structures = [passage_sentences(p.chunk.text) for p in passages]
        every = candidates(passages, structures)
        items = score_candidates(question, every, passages, embedder=self.embedder,
                                 question_vector=question_vector, weights=self.weights, shortlist=self.shortlist,
                                 shape=_fit_shape(question, shape, every), fused=self.fused_relevance)
        self._score_lead(question, items)
        ranked = sorted(items, key=lambda c: -c.score)
        if self.fill:  # past the shortlist, by the score known before encoding: they fill the room left
            encoded = {id(c) for c in items}
            ranked += sorted((c for c in every if id(c) not in encoded), key=lambda c: -c.score)
        budget = max_chars or self.max_chars
        ranked = self._sides_first(ranked, shape, structures, question=question, question_vector=question_vector)
        if self.list_lead:
            ranked = _list_first(ranked, shape)
        plan = Plan(passages=passages, structures=structures, shape=shape, max_chars=budget, question=question)
        seeds = self._select(ranked, plan)
        draft = _fitted(plan, seeds, passages, answering=True)
        plain = _fitted(plan, seeds, passages, answering=False)
        if not {c.text for c in plain.lead + plain.points} <= {c.text for c in draft.lead + draft.points}:
            draft = plain  # the answering lead moved a block and cost a quoted sentence: the plain lead keeps it
        draft.composer = self.name
        return draft

    def _score_lead(self, question: str, items: list[Candidate]) -> None:
        """For a question after a preamble about the district ("We use Gmail and Google Workspace for students.
        What does FERPA require of us ...?"), judge the encoded sentences as openings against its subject
        (``gate_signals.split_subject``) as much as against the whole question (``SUBJECT_SHARE``), so the answer
        does not open on the preamble's words. A preamble that asks a question itself ("Should we flip on MFA
        for all employees the same day, or stage it? Who goes first?") may hold the subject: the whole question
        judges then.

        Only the opening moves: which sentences are quoted does not change. Measured on the gold sets' composer
        inputs (415 answered questions): the lead changes in 27, and the share of leads holding a key fact stays
        within a question (k12docs 0.479 -> 0.471, casual 0.450 -> 0.450; library 0.363 -> 0.368, casual 0.206 ->
        0.206). Applied to every question with a scene (clauses too) it changed 47 leads, and judged by the
        subject alone, library casual fell to 0.147."""
        preamble = asking_sentence(question)[1]
        subject = split_subject(question)[0]
        subject_terms = set(tokenize(subject))
        if not preamble or "?" in preamble or not subject_terms or not items:
            return  # no preamble, or a question in it (the subject may be there): the whole question judges
        vector = self.embedder.embed_batch([subject])[0]
        for item in items:
            if item.vector is not None:
                item.lead_similarity = SUBJECT_SHARE * float(item.vector @ vector) + (1 - SUBJECT_SHARE) * item.similarity
                item.lead_overlap = (SUBJECT_SHARE * _term_share(subject_terms, item.text)
                                     + (1 - SUBJECT_SHARE) * item.overlap)

    def _sides_first(self, ranked: list[Candidate], shape: QuestionShape, structures: Sequence[list[Sentence]], *,
                     question: str, question_vector: np.ndarray | None) -> list[Candidate]:
        """For a comparison ("Cat 1 vs Cat 2 ..."), the sentence stating each side (``side_sentence``) goes first, so
        the answer quotes both sides, each cited, whatever the passages' relevance to the whole question; a stating
        sentence that introduces a list ("Category Two covers three kinds of service ...:") brings its first
        ``SIDE_ITEMS`` items next.

        A stating sentence past the shortlist is encoded first (one short batch), so it is judged as an opening
        like the others and is not quoted twice in other words.
        """
        if not self.compare_sides or shape.shape is not Shape.COMPARE or len(shape.sides) < 2:
            return ranked
        firsts: list[Candidate] = []
        for side in shape.sides:
            found = side_sentence(side, ranked, taken=firsts)
            if found is not None:
                firsts.append(found)
        items = [c for f in firsts for c in sorted((c for c in ranked if c.passage == f.passage and c.item
                                                    and structures[c.passage][c.position].lead_in == f.position),
                                                   key=lambda c: c.position)[:SIDE_ITEMS]]
        firsts += [c for c in items if not any(c is f for f in firsts)]
        fresh = [c for c in firsts if c.vector is None]
        if fresh:
            if question_vector is None:
                question_vector = self.embedder.embed_batch([question])[0]
            for item, vector in zip(fresh, self.embedder.embed_batch([c.text[:ENCODE_CHARS] for c in fresh]), strict=True):
                item.vector = vector
                item.similarity = float(vector @ question_vector)
                item.score += self.weights.similarity * item.similarity
        return firsts + [c for c in ranked if not any(c is f for f in firsts)]

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """A follow-up made standalone by the deterministic rule (no model offline)."""
        return standalone_question(question, list(history))

    def _select(self, ranked: list[Candidate], plan: Plan) -> list[Candidate]:
        """Greedy by score: each sentence comes with what it needs, within the length budget, without repeats."""
        if not ranked:
            return []
        best = ranked[0].score
        chosen: list[Candidate] = []
        taken: set[tuple[int, int]] = set()
        used = 0
        budget = plan.max_chars - 30  # room for the first label and list formatting
        for item in ranked:
            if len(chosen) >= self.max_sentences or item.score < best * self.floor:
                break
            if (item.passage, item.position) in taken:
                continue
            sentences = plan.structures[item.passage]
            need = [pos for pos in closure(sentences, item.position) if (item.passage, pos) not in taken]
            cost = sum(len(sentences[pos].text) + 7 for pos in need)
            if used + cost > budget:
                continue
            if any(float(item.vector @ c.vector) > self.redundancy for c in chosen
                   if item.vector is not None and c.vector is not None):
                continue
            chosen.append(item)
            taken.update((item.passage, pos) for pos in need)
            used += cost
        return chosen
