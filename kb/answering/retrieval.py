"""Hybrid retrieval: dense (Chroma) and keyword (BM25) candidates, fused, filtered, diversified.

Fusion is reciprocal rank fusion by default; a weighted combination of normalised
scores and single-retriever modes exist for measurement (``python -m eval ablate``).
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from kb.core import metadata
from kb.core.documents import REV, Chunk, DocRecord, is_current
from kb.core.metadata import is_outdated
from kb.core.settings import Settings
from kb.index.keyword import KeywordIndex
from kb.index.knowledge import KnowledgeBase

__all__ = ["Filters", "Passage", "Retriever", "neighbour_supported"]

CURRENCY_PENALTY = 0.06  # share of the top score taken from expired or superseded sources
AUTHORITY_BONUS = 0.005  # share of the top score per authority level
NEIGHBOUR_HEAD = 30  # candidates re-ranked by neighbour support (the measured depth)


@dataclass(frozen=True)
class Filters:
    """Restrictions a user can put on retrieval."""

    areas: tuple[str, ...] = ()
    source_types: tuple[str, ...] = ()
    authorities: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    date_from: str | None = None  # YYYY-MM-DD
    date_to: str | None = None

    def __post_init__(self) -> None:
        """Dates, authorities and jurisdictions in the form the store holds them.

        Raises:
            MetadataError: for a date that is not YYYY-MM-DD, or an authority or jurisdiction not on its list.
        """
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, metadata.parse_date(value, field=name).isoformat())
        object.__setattr__(self, "authorities", tuple(metadata.parse_authority(a) for a in self.authorities))
        object.__setattr__(self, "jurisdictions", tuple(metadata.parse_jurisdiction(j) for j in self.jurisdictions))

    def chroma_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.areas:
            ors = [{f"area_{a}": True} for a in self.areas]
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        for key, values in (("source_type", self.source_types), ("authority", self.authorities), ("jurisdiction", self.jurisdictions)):
            if values:
                clauses.append({key: {"$in": list(values)}})
        if self.date_from:
            clauses.append({"date_ord": {"$gte": _ord(self.date_from)}})
        if self.date_to:
            clauses.append({"date_ord": {"$lte": _ord(self.date_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, meta: dict[str, Any]) -> bool:
        if self.areas and not set(self.areas) & set(meta.get("areas", [])):
            return False
        if self.source_types and meta.get("source_type") not in self.source_types:
            return False
        if self.authorities and meta.get("authority") not in self.authorities:
            return False
        if self.jurisdictions and meta.get("jurisdiction") not in self.jurisdictions:
            return False
        date = meta.get("date_ord")
        if self.date_from and (date is None or date < _ord(self.date_from)):
            return False
        if self.date_to and (date is None or date > _ord(self.date_to)):
            return False
        return True

    @property
    def active(self) -> bool:
        return self.chroma_where() is not None

    def keyword_mask(self, index: KeywordIndex) -> np.ndarray | None:
        """:meth:`allows` for every keyword index entry at once, in numpy (None: no filter).

        Evaluating ``allows`` entry by entry cost ~1 µs each, 100 ms a question at 100,000 chunks.
        """
        if not self.active:
            return None
        mask = np.ones(len(index), dtype=bool)
        if self.areas:
            mask &= np.logical_or.reduce([index.has_area(a) for a in self.areas])
        for key, values in (("source_type", self.source_types), ("authority", self.authorities), ("jurisdiction", self.jurisdictions)):
            if values:
                codes, known = index.codes(key)
                mask &= np.isin(codes, [known[v] for v in values if v in known])
        dates = index.dates()
        with np.errstate(invalid="ignore"):  # no date (NaN) never passes a date filter, as in allows()
            if self.date_from:
                mask &= dates >= _ord(self.date_from)
            if self.date_to:
                mask &= dates <= _ord(self.date_to)
        return mask.astype(np.float32)


def _ord(day: str) -> int:
    number = metadata.date_number(day)
    assert number is not None  # the dates were checked in __post_init__
    return number


@dataclass
class Passage:
    """A retrieved chunk with the evidence behind its rank."""

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity to the question
    keyword: float | None = None  # BM25 score
    vector: np.ndarray | None = field(default=None, repr=False)
    context: bool = False  # not retrieved: the neighbouring chunk a retrieved passage runs into (kb.answering.context)


@lru_cache(maxsize=1)
def _keyword_pool() -> cf.ThreadPoolExecutor:
    """Threads for keyword searches (bm25s scores in numpy, which releases the GIL), made on first use."""
    return cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="keyword-search")


def _keyword_search(index: KeywordIndex, question: str, *, k: int, filters: Filters, extra: str = "",
                    extra_weight: float = 1.0) -> list[tuple[str, float]]:
    return index.search(question, k, mask=filters.keyword_mask(index), extra=extra, extra_weight=extra_weight)


class Retriever:
    """Finds the passages for a question."""

    def __init__(self, kb: KnowledgeBase, settings: Settings | None = None):
        self.kb = kb
        self.settings = settings or kb.settings

    def retrieve(self, question: str, filters: Filters | None = None, *, k: int | None = None,
                 areas: list[str] | None = None, query_vector: np.ndarray | None = None) -> list[Passage]:
        """Return up to k passages for the question, best first.

        The vector search returns ids and similarities only; what ranking needs of each candidate
        (is it current, its areas, its place in its document) comes from the keyword index's
        entries, and only the passages handed back are read from the store (text, metadata, vector).
        """
        s = self.settings
        filters = filters or Filters()
        k = k or s.top_k
        done = self.kb.done_docs()
        if not done:
            return []
        index = self.kb.keyword  # one snapshot per question, not one refresh check per candidate
        added: list[str] = []
        if s.expand_vocabulary:  # "Cat 2" also searches "Category Two", below the user's own words in BM25
            question, added = index.vocabulary.split(question)
        dense: dict[str, float] = {}
        outside: dict[str, Chunk] = {}  # vector hits the keyword index does not hold, read from the store
        searching: cf.Future[list[tuple[str, float]]] | None = None
        if s.fusion != "dense":  # the keyword search runs beside the encoder and the vector search
            searching = _keyword_pool().submit(_keyword_search, index, question, k=s.fetch_k, filters=filters,
                                               extra="; ".join(added), extra_weight=s.expansion_weight)
        if s.fusion != "bm25":
            if query_vector is None:  # the encoder reads the long forms as part of the question
                query_vector = self.kb.embedder.embed_batch([f"{question} ({'; '.join(added)})" if added else question])[0]
            dense, outside = self._dense(query_vector, filters, index=index, done=done)
        keyword: dict[str, float] = dict(searching.result()) if searching is not None else {}
        fused = self._fuse(dense, keyword)
        if areas and s.area_boost:
            fused = self._boost(fused, outside, areas=areas, index=index)
        fused = self._prefer_current(fused, index)
        # MMR chooses among a wider head; otherwise the top k (and a few spare, should a
        # document vanish meanwhile) are all that is read from the store.
        # Neighbour support re-ranks a head of NEIGHBOUR_HEAD candidates by where they sit in their documents.
        head = max(k * 4, 20) if s.mmr else k + 3
        ranked = sorted(fused.items(), key=lambda kv: -kv[1])[: max(head, NEIGHBOUR_HEAD) if s.neighbour_support else head]
        by_id: dict[str, tuple[Chunk, np.ndarray | None]] = {}
        if s.neighbour_support:
            ranked = _supported(ranked, self._places(ranked, dense, outside=outside, by_id=by_id, index=index),
                                s.neighbour_support)
        passages = self._passages(ranked, by_id, step=head if not s.mmr else len(ranked), k=None if s.mmr else k,
                                  dense=dense, keyword=keyword, query_vector=query_vector, done=done)
        if s.mmr and len(passages) > k:
            return _mmr(passages, k, s.mmr_lambda)
        return passages[:k]

    def _dense(self, query_vector: np.ndarray, filters: Filters, *, index: KeywordIndex,
               done: dict[str, DocRecord]) -> tuple[dict[str, float], dict[str, Chunk]]:
        """The vector search's current hits (id: cosine, best first) and those of them the keyword index does not hold.

        Exact over the keyword snapshot's own vectors when the knowledge base keeps them
        (:mod:`kb.index.exact`); otherwise Chroma's graph search, whose hits are checked: a
        hit is current when the keyword index's entry for it (the chunk's stored metadata when
        the index was built for this manifest) belongs to the version of its document that is
        done; a hit without an entry (written since) is read from the store and checked the same way.
        """
        exact = self.kb.exact if self.settings.exact_search_max_chunks else None
        if exact is not None and exact.ids is index.ids:  # every entry of this snapshot is current, none outside it
            return dict(exact.nearest(query_vector, self.settings.fetch_k, filters.keyword_mask(index))), {}
        hits = self.kb.store.nearest(query_vector, self.settings.fetch_k, filters.chroma_where())
        unknown = [cid for cid, _ in hits if not index.meta_of(cid)]
        outside = {c.id: c for c in self.kb.store.get_chunks(unknown)[0]} if unknown else {}
        dense: dict[str, float] = {}
        for cid, score in hits:
            if cid in outside:
                if is_current(outside[cid], done.get(outside[cid].doc_id)):
                    dense[cid] = score
            elif _current_entry(index.meta_of(cid), done):
                dense[cid] = score
        return dense, {cid: c for cid, c in outside.items() if cid in dense}

    def _passages(self, ranked: list[tuple[str, float]], by_id: dict[str, tuple[Chunk, np.ndarray | None]], *,
                  step: int, k: int | None, dense: dict[str, float], keyword: dict[str, float],
                  query_vector: np.ndarray | None, done: dict[str, DocRecord]) -> list[Passage]:
        """The ranked candidates as passages, read from the store ``step`` at a time until ``k`` are found (None: all)."""
        passages: list[Passage] = []
        step = max(step, 1)
        for start in range(0, len(ranked), step):  # the next candidates only when some vanished or changed meanwhile
            part = ranked[start:start + step]
            self._read_missing(part, by_id)
            passages += [Passage(by_id[cid][0], score, self._cosine(cid, dense, vector=by_id[cid][1], query_vector=query_vector),
                                 keyword.get(cid), by_id[cid][1])
                         for cid, score in part if cid in by_id and is_current(by_id[cid][0], done.get(by_id[cid][0].doc_id))]
            if k is None or len(passages) >= k:
                break
        return passages

    def _read_missing(self, ranked: list[tuple[str, float]], by_id: dict[str, tuple[Chunk, np.ndarray | None]]) -> None:
        """Text, metadata and vector of the candidates not read yet, from the store in one read."""
        missing = [cid for cid, _ in ranked if cid not in by_id]
        if missing:
            chunks, vectors = self.kb.store.get_chunks(missing, with_embeddings=True)
            by_id.update({c.id: (c, vectors[i] if vectors is not None else None) for i, c in enumerate(chunks)})

    def _places(self, ranked: list[tuple[str, float]], dense: dict[str, float], *, outside: dict[str, Chunk],
                by_id: dict[str, tuple[Chunk, np.ndarray | None]], index: KeywordIndex) -> dict[str, tuple[str, int]]:
        """Each candidate's (document, chunk number), vector hits first: from the keyword index's entries.

        Candidates it has no place for (written since, or an entry without a number) are read from
        the store; the order is the one reading every candidate gave (vector hits, then the others).
        """
        places: dict[str, tuple[str, int]] = {}
        unplaced = []
        for cid, _ in sorted(ranked, key=lambda kv: kv[0] not in dense):  # stable: ranked order within each group
            meta = index.meta_of(cid)
            if cid in outside:
                places[cid] = (outside[cid].doc_id, outside[cid].index)
            elif isinstance(meta.get("index"), int) and meta.get("doc_id"):
                places[cid] = (str(meta["doc_id"]), meta["index"])
            else:
                unplaced.append(cid)
        if unplaced:
            self._read_missing([(cid, 0.0) for cid in unplaced], by_id)
            places.update({cid: (by_id[cid][0].doc_id, by_id[cid][0].index) for cid in unplaced if cid in by_id})
        return places

    @staticmethod
    def _cosine(cid: str, dense: dict[str, float], *, vector: np.ndarray | None,
                query_vector: np.ndarray | None) -> float | None:
        """The passage's similarity to the question: from the vector search, else from its stored vector."""
        if cid in dense:
            return dense[cid]
        if vector is not None and query_vector is not None and vector.shape == query_vector.shape:
            return float(vector @ query_vector)
        return None

    def _fuse(self, dense: dict[str, float], keyword: dict[str, float]) -> dict[str, float]:
        s = self.settings
        if s.fusion == "weighted":
            d = _normalise(dense)
            b = _normalise(keyword)
            ids = sorted(set(d) | set(b))  # sorted: tied scores keep one order from run to run
            return {cid: s.dense_weight * d.get(cid, 0.0) + (1 - s.dense_weight) * b.get(cid, 0.0) for cid in ids}
        fused: dict[str, float] = {}
        for rank, cid in enumerate(sorted(dense, key=lambda c: -dense[c])):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (s.rrf_k + rank + 1)
        for rank, cid in enumerate(sorted(keyword, key=lambda c: -keyword[c])):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (s.rrf_k + rank + 1)
        return fused

    def _boost(self, fused: dict[str, float], outside: dict[str, Chunk], *, areas: list[str],
               index: KeywordIndex) -> dict[str, float]:
        if not fused:
            return fused
        top = max(fused.values())
        wanted = set(areas)
        out = {}
        for cid, score in fused.items():
            chunk_areas = set(outside[cid].areas) if cid in outside else set(index.meta_of(cid).get("areas", []))
            out[cid] = score + (self.settings.area_boost * top if chunk_areas & wanted else 0.0)
        return out


    def _prefer_current(self, fused: dict[str, float], index: KeywordIndex) -> dict[str, float]:
        """Break near-ties toward current, more authoritative sources; push expired or superseded ones down."""
        if not fused:
            return fused
        top = max(fused.values())
        out = {}
        for cid, score in fused.items():
            meta = index.meta_of(cid)
            adjust = AUTHORITY_BONUS * metadata.authority_rank(meta.get("authority"))
            if is_outdated(meta):
                adjust -= CURRENCY_PENALTY
            out[cid] = score + adjust * top
        return out


def neighbour_supported(ranked: list[tuple[str, float]], chunks: dict[str, Chunk], share: float) -> list[tuple[str, float]]:
    """Add to each candidate ``share`` of its best neighbour's score (the chunk before or after it in the same document).

    An answer often runs over a chunk boundary (a list continued on the next page, a heading
    whose body follows): when both halves were retrieved, the passage with a retrieved
    neighbour is the likelier answer than a lone hit that matched the same words. Measured on
    the gold sets (README, "Neighbour support"). Candidates whose chunk is unknown keep their score.
    """
    return _supported(ranked, {cid: (c.doc_id, c.index) for cid, c in chunks.items()}, share)


def _supported(ranked: list[tuple[str, float]], places: dict[str, tuple[str, int]], share: float) -> list[tuple[str, float]]:
    """:func:`neighbour_supported` given each candidate's (document, chunk number) instead of its chunk."""
    scores = dict(ranked)
    position = {place: cid for cid, place in places.items() if cid in scores}
    out = []
    for cid, score in ranked:
        place = places.get(cid)
        if place is not None:
            around = [position.get((place[0], place[1] + step)) for step in (-1, 1)]
            score += share * max((scores[n] for n in around if n is not None), default=0.0)
        out.append((cid, score))
    return sorted(out, key=lambda kv: -kv[1])


def _current_entry(meta: dict[str, Any], done: dict[str, DocRecord]) -> bool:
    """:func:`kb.core.documents.is_current` for a keyword index entry (which keeps the chunk's document and revision)."""
    record = done.get(str(meta.get("doc_id")))
    return record is not None and meta.get(REV) == (record.meta if isinstance(record.meta, dict) else {}).get(REV)


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = (high - low) or 1.0
    return {k: (v - low) / span for k, v in scores.items()}


def _mmr(passages: list[Passage], k: int, lam: float) -> list[Passage]:
    """Maximal marginal relevance on the fused ranking, using chunk vectors for redundancy."""
    relevance = np.array([p.score for p in passages], dtype=np.float32)
    relevance = (relevance - relevance.min()) / ((relevance.max() - relevance.min()) or 1.0)
    vectors = np.stack([p.vector if p.vector is not None else np.zeros(1) for p in passages])
    chosen = [0]
    while len(chosen) < k:
        sim = vectors @ vectors[chosen].T
        redundancy = sim.max(axis=1)
        value = lam * relevance - (1 - lam) * redundancy
        value[chosen] = -np.inf
        chosen.append(int(value.argmax()))
    return [passages[i] for i in chosen]
