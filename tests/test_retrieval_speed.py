"""Retrieval's shortcuts (issue #20) rank exactly as the long way round: every gold question, same passages, same scores.

The vector search returns ids and similarities only (no metadata: ~3 ms less per question), the
keyword index's entries say which hits are current, their areas and their places in their
documents (no store read of ~30 neighbour-support candidates), and only the passages handed back
are read. ``_reference`` is retrieval as it was before: the two must agree to the last bit on the
starter library's gold questions, plain, boosted and filtered.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from eval.gold import load_gold
from kb.answering.retrieval import NEIGHBOUR_HEAD, Filters, Passage, Retriever, neighbour_supported
from kb.core.areas import classify
from kb.core.documents import REV, Chunk, is_current
from kb.index.keyword import KeywordIndex
from kb.index.knowledge import KnowledgeBase
from kb.index.store import Store


def _rows(passages: list[Passage]) -> list[tuple[Any, ...]]:
    return [(p.chunk.id, p.chunk.text, p.chunk.doc_id, p.chunk.index, p.score, p.dense, p.keyword,
             None if p.vector is None else p.vector.tobytes()) for p in passages]


def _all_ways(retrieve: Callable[..., list[Passage]], questions: list[tuple[str, str]]) -> list[list[tuple[Any, ...]]]:
    """Each question plain, with 10 passages and its areas boosted, and filtered to its area."""
    out = []
    for question, area in questions:
        out.append(_rows(retrieve(question)))
        out.append(_rows(retrieve(question, k=10, areas=classify(question))))
        out.append(_rows(retrieve(question, Filters(areas=(area,)) if area else None, k=8)))
    return out


def _counting_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many chunks (text and metadata turned into Python) each store read or search returns."""
    rows: list[int] = []
    get_chunks, search = Store.get_chunks, Store.search

    def counted_get(self: Store, ids: Any, with_embeddings: bool = False) -> Any:
        rows.append(len(ids))
        return get_chunks(self, ids, with_embeddings)

    def counted_search(self: Store, *args: Any, **kwargs: Any) -> Any:
        hits = search(self, *args, **kwargs)
        rows.append(len(hits))
        return hits

    monkeypatch.setattr(Store, "get_chunks", counted_get)
    monkeypatch.setattr(Store, "search", counted_search)
    return rows


def _brute_force(kb: KnowledgeBase) -> Callable[[Any, int, Filters], list[Any]]:
    """An exact vector search the slowest way: every stored chunk read back, scored and sorted in Python."""
    chunks, vectors = kb.store.get_chunks([c.id for c in kb.store.iter_chunks()], with_embeddings=True)
    assert vectors is not None
    order = {cid: n for n, cid in enumerate(kb.keyword.ids)}  # ties: the earlier index entry first, as retrieval does

    def search(vector: Any, k: int, filters: Filters) -> list[Any]:
        scored = [(float(v @ vector), c, v) for c, v in zip(chunks, vectors, strict=True)
                  if c.id in order and filters.allows(kb.keyword.meta_of(c.id))]
        scored.sort(key=lambda t: (-t[0], order[t[1].id]))
        return [SimpleNamespace(chunk=c, vector=v, score=score) for score, c, v in scored[:k]]
    return search


def _reference(retriever: Retriever, question: str, filters: Filters | None = None, *, k: int | None = None,
               areas: list[str] | None = None, dense: Callable[[Any, int, Filters], list[Any]] | None = None,
               ) -> list[Passage]:
    """Retrieval the long way round, as it was before issue #20's shortcuts: the vector search returns every hit's
    chunk and vector, and every candidate of the neighbour-support head is read from the store. ``dense`` replaces
    Chroma's graph search (an exact search, :func:`_brute_force`)."""
    kb, s = retriever.kb, retriever.settings
    filters, k = filters or Filters(), k or s.top_k
    done, index = kb.done_docs(), kb.keyword
    question, added = index.vocabulary.split(question) if s.expand_vocabulary else (question, [])
    keyword = dict(index.search(question, s.fetch_k, mask=filters.keyword_mask(index), extra="; ".join(added),
                                extra_weight=s.expansion_weight))
    vector = kb.embedder.embed_batch([f"{question} ({'; '.join(added)})" if added else question])[0]
    hits = dense(vector, s.fetch_k, filters) if dense else kb.store.search(vector, s.fetch_k, filters.chroma_where())
    known = {h.chunk.id: h for h in hits if is_current(h.chunk, done.get(h.chunk.doc_id))}
    fused = retriever._fuse({cid: hit.score for cid, hit in known.items()}, keyword)
    if areas and s.area_boost:
        top = max(fused.values())
        fused = {cid: score + (s.area_boost * top if set(known[cid].chunk.areas if cid in known else
                                                         index.meta_of(cid).get("areas", [])) & set(areas) else 0.0)
                 for cid, score in fused.items()}
    fused = retriever._prefer_current(fused, index)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])[:max(k + 3, NEIGHBOUR_HEAD)]
    by_id = {cid: (known[cid].chunk, known[cid].vector) for cid, _ in ranked if cid in known}
    missing = [cid for cid, _ in ranked if cid not in by_id]
    chunks, vectors = kb.store.get_chunks(missing, with_embeddings=True)
    by_id.update({c.id: (c, vectors[i] if vectors is not None else None) for i, c in enumerate(chunks)})
    ranked = neighbour_supported(ranked, {cid: entry[0] for cid, entry in by_id.items()}, s.neighbour_support)
    return [Passage(by_id[cid][0], score, known[cid].score if cid in known else float(by_id[cid][1] @ vector),
                    keyword.get(cid), by_id[cid][1])
            for cid, score in ranked if cid in by_id and is_current(by_id[cid][0], done.get(by_id[cid][0].doc_id))][:k]


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_every_gold_question_ranks_as_the_long_way_round(library_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch,
                                                         fusion: str) -> None:
    questions = [(item.question, item.area) for item in load_gold("library")]
    assert len(questions) > 100
    retriever = Retriever(library_kb, library_kb.settings.with_overrides(neighbour_support=0.1, fusion=fusion, mmr=False,
                                                                         exact_search_max_chunks=0))
    assert all(isinstance(m.get("index"), int) and m.get("rev") for m in library_kb.keyword.meta)
    rows = _counting_rows(monkeypatch)
    fast = _all_ways(retriever.retrieve, questions)
    fast_rows = sum(rows)
    rows.clear()
    slow = _all_ways(functools.partial(_reference, retriever), questions)
    assert fast == slow
    assert sum(len(found) for found in fast) > 3 * len(questions) * 4  # real result lists, not empty ones
    assert fast_rows < 0.3 * sum(rows)  # about 8 chunks a question come out of the store instead of about 50


@pytest.mark.slow
def test_the_exact_vector_search_ranks_as_a_brute_force_over_every_stored_vector(library_kb: KnowledgeBase) -> None:
    """Below exact_search_max_chunks the vector search is a product over the snapshot's vectors: the very chunks a
    sort of every stored vector finds, in its order, with its scores (to float32 rounding), plain, boosted, filtered."""
    assert library_kb.exact is not None and len(library_kb.exact.ids) == len(library_kb.keyword)
    questions = [(item.question, item.area) for item in load_gold("library")]
    retriever = Retriever(library_kb, library_kb.settings.with_overrides(neighbour_support=0.1, mmr=False))
    exact = _all_ways(retriever.retrieve, questions)
    slow = _all_ways(functools.partial(_reference, retriever, dense=_brute_force(library_kb)), questions)
    assert [[row[:4] for row in found] for found in exact] == [[row[:4] for row in found] for found in slow]
    assert all(row[4] == pytest.approx(other[4], abs=1e-5) and row[5] == pytest.approx(other[5], abs=1e-5)
               for found, others in zip(exact, slow, strict=True) for row, other in zip(found, others, strict=True))
    assert sum(len(found) for found in exact) > 3 * len(questions) * 4


@pytest.mark.slow
def test_an_index_without_chunk_places_reads_them_from_the_store(library_kb: KnowledgeBase,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries without a chunk number (a chunk the index does not hold) are placed by reading the store: same ranks."""
    questions = [(item.question, item.area) for item in load_gold("library")][:40]
    retriever = Retriever(library_kb, library_kb.settings.with_overrides(neighbour_support=0.1))
    fast = _all_ways(retriever.retrieve, questions)
    index = library_kb.keyword
    old = dataclasses.replace(index, meta=[{k: v for k, v in m.items() if k != "index"} for m in index.meta])
    monkeypatch.setattr(library_kb, "_keyword", old)
    assert library_kb.keyword is old
    rows = _counting_rows(monkeypatch)
    assert _all_ways(retriever.retrieve, questions) == fast
    assert max(rows) > 8  # the places were read


@pytest.mark.slow
def test_candidates_further_down_fill_in_for_chunks_that_vanished(library_kb: KnowledgeBase,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the top candidates are read; when some are gone from the store (deleted meanwhile), the next ones are."""
    retriever = Retriever(library_kb, library_kb.settings.with_overrides(fusion="bm25", neighbour_support=0.1))
    question = "How should a district budget for a device refresh cycle?"
    full = retriever.retrieve(question, k=25)  # the same 30-candidate head as k=5 (neighbour support's depth)
    assert len(full) == 25
    vanished = {full[n].chunk.id for n in (0, 2, 3, 5)}
    original = Store.get_chunks
    reads: list[list[str]] = []

    def without(self: Store, ids: Any, with_embeddings: bool = False) -> Any:
        reads.append(list(ids))
        return original(self, [i for i in ids if i not in vanished], with_embeddings)

    monkeypatch.setattr(Store, "get_chunks", without)
    kept = retriever.retrieve(question, k=5)
    expected = [p for p in full if p.chunk.id not in vanished][:5]
    assert _rows(kept) == _rows(expected)
    assert len(reads) == 2 and len(reads[0]) == 8  # the top k + 3 first, then the next 8


def test_a_keyword_index_saved_by_an_older_release_is_refused_so_that_it_is_rebuilt(tmp_path: Path) -> None:
    chunks = [Chunk(id=f"d-{n:05d}", doc_id="d", index=n, text=f"Phishing drill number {n} for staff.", title="d",
                    source="/d.md", source_type="markdown", extra={REV: "abc123"}) for n in range(3)]
    index = KeywordIndex.build(chunks)
    assert [(m["index"], m[REV]) for m in index.meta] == [(0, "abc123"), (1, "abc123"), (2, "abc123")]
    index.save(tmp_path / "k")
    assert KeywordIndex.load(tmp_path / "k").meta == index.meta
    entries = json.loads((tmp_path / "k" / "entries.json").read_text())
    del entries["format"]  # as the release before issue #20 saved it (no chunk numbers or revisions)
    (tmp_path / "k" / "entries.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="saved by an older release"):
        KeywordIndex.load(tmp_path / "k")
