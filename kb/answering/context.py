"""What the composer reads besides the retrieved passages: the chunk a top passage runs over into.

Chunks are cut at a size, so a list often runs over a chunk (or page) boundary: the ransomware
brief's "Before an attack" list has items 1-5 (offline backups, restore tests, MFA, patching)
in one chunk and items 6-10 in the next, and retrieval returns only the second. A passage that
starts cut (inside a list, or with "The second phase...") or ends cut (a lead-in, an
announcement, a list still going, a sentence broken off) is read together with that neighbouring
chunk of the same document, which is cited to its own page like any passage. Only the best few
passages are looked at, and only a neighbour on the cut side, so the composer's reading grows
by a chunk or two where the answer is likely to continue, never by a whole ranking depth
(reading seven passages instead of five lowered key facts: docs/evaluation-guide.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kb.answering.readability import announces, leans_back
from kb.answering.retrieval import Passage
from kb.answering.sentences import Sentence, passage_sentences
from kb.core.documents import Chunk, is_current
from kb.index.knowledge import KnowledgeBase

__all__ = ["starts_cut", "ends_cut", "continues", "with_context", "list_start", "neighbours", "arrange"]

_ENDS = (".", "!", "?", ")", '"', "'", "\u201d")
_FRESH_LIST = re.compile(r"^\s*1[.)]\s")  # a numbered list starting at its first item


def starts_cut(sentences: Sequence[Sentence]) -> bool:
    """True when a passage begins in the middle of something: a list without its lead-in, a
    sentence that refers back ("These...", "The second phase..."), or a sentence's lower-case tail."""
    if not sentences:
        return False
    first = sentences[0]
    if first.item is not None and first.lead_in is None:
        return True
    return (first.item is None and leans_back(first.text)) or first.text[:1].islower()


def ends_cut(sentences: Sequence[Sentence]) -> bool:
    """True when a passage stops before it is done: on a lead-in or an announcement, inside a list,
    or in the middle of a sentence."""
    if not sentences:
        return False
    last = sentences[-1]
    text = last.text.rstrip()
    return announces(text) or last.item is not None or not text.endswith(_ENDS)


def continues(before: Chunk, after: Chunk) -> bool:
    """True when chunk ``after`` goes on with what chunk ``before`` left unfinished: ``before`` ends cut and
    ``after`` starts cut (a list, or a sentence, running over the boundary), within one section.

    A chunk that opens another section (another heading) starts afresh, as does a numbered list
    that starts again at 1: the ransomware brief's "During an attack" steps are not more of the
    "Before an attack" list that ends the chunk before them.
    """
    if (before.section or "") != (after.section or ""):
        return False
    first = after.text.lstrip().split("\n", 1)[0]
    if _FRESH_LIST.match(first) and first.strip() not in before.text:
        return False
    return ends_cut(passage_sentences(before.text)) and starts_cut(passage_sentences(after.text))


def with_context(kb: KnowledgeBase, passages: Sequence[Passage], *, depth: int, share: float,
                 query_vector: np.ndarray | None = None) -> list[Passage]:
    """The passages with, next to each of the best ``depth``, the unretrieved neighbouring chunk it runs into.

    A neighbour comes right before (or after) its passage, so the composer lays the two out in
    the document's order; it scores ``share`` of its passage's retrieval score, and its own
    cosine to the question when it has a vector. ``depth`` 0 returns the passages unchanged.
    """
    if depth <= 0 or not passages:
        return list(passages)
    return arrange(passages, neighbours(kb, passages, depth), depth=depth, share=share, query_vector=query_vector)


def list_start(kb: KnowledgeBase, passages: Sequence[Passage], at: int, *, share: float,
               query_vector: np.ndarray | None = None) -> list[Passage] | None:
    """The passages with the unretrieved chunk before passage ``at`` read right before it, when the list
    ``at`` opens part-way through begins there (:func:`continues`); None when there is no such chunk.

    The ransomware brief's "Before an attack" steps 6-10 answer "what should we protect first?" from
    their own chunk; steps 1-5 (offline backups, restore tests, MFA, patching) are in the chunk before.
    """
    passage = passages[at]
    place = (passage.chunk.doc_id, passage.chunk.index - 1)
    if place[1] < 0 or any((p.chunk.doc_id, p.chunk.index) == place for p in passages):
        return None
    before = neighbours(kb, [passage], 1, steps=(-1,)).get(place)
    if before is None or not continues(before[0], passage.chunk):
        return None
    out = list(passages)
    out.insert(at, _context(before, passage, share=share, query_vector=query_vector, added=set()))
    return out


Found = dict[tuple[str, int], tuple[Chunk, "np.ndarray | None"]]


def neighbours(kb: KnowledgeBase, passages: Sequence[Passage], depth: int, *, steps: Sequence[int] = (-1, 1)) -> Found:
    """The current chunks just before and after (``steps``) each of the best ``depth`` passages that were not retrieved.

    The keyword index names them (chunks are indexed in document order), so one store read by id
    fetches them; the neighbours of a chunk it cannot place are asked of the store by document and
    position (a where-query, slower on a large store).
    """
    have = {(p.chunk.doc_id, p.chunk.index) for p in passages}
    index = kb.keyword
    ids: dict[str, tuple[str, int]] = {}
    wanted: set[tuple[str, int]] = set()
    for passage in passages[:depth]:
        for step in steps:
            place = (passage.chunk.doc_id, passage.chunk.index + step)
            if place[1] < 0 or place in have:
                continue
            if not index.places(passage.chunk.id):
                wanted.add(place)  # asked of the store below
            elif (cid := index.neighbour_id(passage.chunk.id, step)) is not None:
                wanted.add(place)
                ids[cid] = place
    if not wanted:
        return {}
    chunks, vectors = kb.store.get_chunks(list(ids), with_embeddings=True) if ids else ([], None)
    rows = [(c, None if vectors is None else vectors[n]) for n, c in enumerate(chunks) if ids.get(c.id) == (c.doc_id, c.index)]
    missing = sorted(wanted - {(c.doc_id, c.index) for c, _ in rows})
    if missing:
        more, more_vectors = kb.store.chunks_at(missing)
        rows += [(c, None if more_vectors is None else more_vectors[n]) for n, c in enumerate(more)]
    done = kb.done_docs()
    return {(c.doc_id, c.index): (c, vector) for c, vector in rows
            if (c.doc_id, c.index) in wanted and is_current(c, done.get(c.doc_id))}


def arrange(passages: Sequence[Passage], found: Found, *, depth: int, share: float,
            query_vector: np.ndarray | None = None) -> list[Passage]:
    """The passages with the found neighbours each of the best ``depth`` continues into (or from), in document order."""
    out: list[Passage] = []
    added = {(p.chunk.doc_id, p.chunk.index) for p in passages}  # a retrieved chunk is never read twice
    for rank, passage in enumerate(passages):
        before = after = None
        if rank < depth:
            here = (passage.chunk.doc_id, passage.chunk.index)
            before = _neighbour(found, (here[0], here[1] - 1), added)
            after = _neighbour(found, (here[0], here[1] + 1), added)
            if before is not None and not continues(before[0], passage.chunk):
                before = None
            if after is not None and not continues(passage.chunk, after[0]):
                after = None
        if before is not None:
            out.append(_context(before, passage, share=share, query_vector=query_vector, added=added))
        out.append(passage)
        if after is not None:
            out.append(_context(after, passage, share=share, query_vector=query_vector, added=added))
    return out


def _neighbour(found: dict[tuple[str, int], tuple[Chunk, np.ndarray | None]], place: tuple[str, int],
               added: set[tuple[str, int]]) -> tuple[Chunk, np.ndarray | None] | None:
    return None if place in added else found.get(place)


def _context(entry: tuple[Chunk, np.ndarray | None], passage: Passage, *, share: float,
             query_vector: np.ndarray | None, added: set[tuple[str, int]]) -> Passage:
    chunk, vector = entry
    added.add((chunk.doc_id, chunk.index))
    cosine = None
    if vector is not None and query_vector is not None and vector.shape == query_vector.shape:
        cosine = float(vector @ query_vector)
    return Passage(chunk, passage.score * share, cosine, None, vector, context=True)
