"""The passage that states each side of a comparison, found by a search for that side alone.

"Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?" retrieves passages about E-Rate and
Category Two budgets, but not the one that says what Category Two covers: the sentence
model scores it low against the whole question (and, measured, against the side alone), so
neither the question's search nor a per-side vector search finds it. A keyword search for
the side's own words and the long forms the library defines for them ("Cat 2" -> "Category
Two") does; among its hits, the passage whose sentence has the side as its subject
(:func:`kb.answering.compose_plan.side_lead`, "Category Two covers ...") is that side's. It is
added to what the composer reads when the passages already read state the side less squarely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.answering.compose_plan import side_lead
from kb.answering.retrieval import Filters, Passage
from kb.answering.sentences import passage_sentences
from kb.answering.shapes import QuestionShape, Shape
from kb.core.documents import Chunk, is_current
from kb.index.knowledge import KnowledgeBase

__all__ = ["side_passages", "SIDE_HITS"]

SIDE_HITS = 10  # keyword hits per side searched for a passage stating it


def _stating(side: str, chunk: Chunk) -> int:
    """How squarely the chunk states the side: the best :func:`side_lead` of its quotable sentences."""
    return max((side_lead(side, s.text) for s in passage_sentences(chunk.text) if s.usable), default=0)


def side_passages(kb: KnowledgeBase, shape: QuestionShape, passages: Sequence[Passage], *, filters: Filters | None,
                  query_vector: np.ndarray, expansion_weight: float) -> list[Passage]:
    """For a comparison, the passages (at most one per side) that state a side better than ``passages`` do.

    Each side is searched alone by keyword, its long forms weighted by ``expansion_weight`` as in
    retrieval; the first hit (best BM25 first) stating the side more squarely than any passage
    already read is added, scored as the lowest of ``passages`` so it never outranks them.

    Returns:
        the passages to add (none for other questions, or when every side is stated already).
    """
    if shape.shape is not Shape.COMPARE or len(shape.sides) < 2 or not passages:
        return []
    index = kb.keyword
    done = kb.done_docs()
    mask = (filters or Filters()).keyword_mask(index)
    added: list[Passage] = []
    floor = min(p.score for p in passages)
    for side in shape.sides:
        have = max(_stating(side, p.chunk) for p in [*passages, *added])
        if have >= 2:
            continue
        hits = index.search(side, SIDE_HITS, mask=mask, extra="; ".join(index.vocabulary.expansions(side)),
                            extra_weight=expansion_weight)
        known = {p.chunk.id for p in [*passages, *added]}
        ids = [cid for cid, _ in hits if cid not in known]
        chunks, vectors = kb.store.get_chunks(ids, with_embeddings=True) if ids else ([], None)
        by_id = {c.id: (c, None if vectors is None else vectors[i]) for i, c in enumerate(chunks)}
        for cid, bm25 in hits:
            chunk, vector = by_id.get(cid, (None, None))
            if chunk is None or not is_current(chunk, done.get(chunk.doc_id)) or _stating(side, chunk) <= have:
                continue
            dense = float(vector @ query_vector) if vector is not None and vector.shape == query_vector.shape else None
            added.append(Passage(chunk, floor, dense, bm25, vector))
            break
    return added
