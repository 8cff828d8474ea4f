"""Exact vector search over the keyword snapshot's vectors: exact, saved beside the snapshot, the same in every process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.answering.retrieval import Filters, Retriever
from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index.exact import FILE, ExactVectors
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.store import Store

DOCS = {
    "backups": ["Backups are restored in a test every quarter.", "One copy of every backup stays offline."],
    "phishing": ["Phishing drills run twice a year.", "Click rates fall by half after a year of drills."],
    "budget": ["The board approves the technology budget every spring."],
}


def _unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def add(kb: KnowledgeBase, doc_id: str, texts: list[str]) -> None:
    chunks = [Chunk(id=f"{doc_id}-{n}", doc_id=doc_id, index=n, text=t, title=doc_id, source=f"/lib/{doc_id}.md",
                    source_type="md", areas=["cybersecurity"] if doc_id != "budget" else ["budgets-funding"])
              for n, t in enumerate(texts)]
    kb.store.add_chunks(chunks, kb.embedder.embed_batch(texts))
    kb.store.put_doc(DocRecord(doc_id=doc_id, source=f"/lib/{doc_id}.md", source_type="md", title=doc_id,
                               content_hash=doc_id, status=DONE, chunk_count=len(texts)))


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    kb = KnowledgeBase(hash_settings)
    for doc_id, texts in DOCS.items():
        add(kb, doc_id, texts)
    kb.refresh(force=True)
    return kb


def test_nearest_is_every_row_scored_best_first_with_ties_to_the_earlier_row() -> None:
    exact = ExactVectors(ids=["a", "b", "c", "d"], matrix=_unit([[1, 0], [0, 1], [1, 1], [0, 1]]))
    found = exact.nearest(np.asarray([0, 1], dtype=np.float32), 3)
    assert [cid for cid, _ in found] == ["b", "d", "c"]  # b and d tie at 1.0: b is the earlier row
    assert found[0][1] == pytest.approx(1.0) and found[2][1] == pytest.approx(0.7071, abs=1e-4)
    assert [cid for cid, _ in exact.nearest(np.asarray([0, 1], dtype=np.float32), 2, np.asarray([1, 0, 1, 1.0]))] == ["d", "c"]
    assert exact.nearest(np.asarray([0, 1], dtype=np.float32), 3, np.zeros(4)) == []
    assert len(exact.nearest(np.asarray([1, 0], dtype=np.float32), 50)) == 4


def test_build_takes_known_vectors_first_and_reads_only_the_rest() -> None:
    asked: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, np.ndarray]:
        asked.append(ids)
        return {cid: np.asarray([0.0, 1.0], dtype=np.float32) for cid in ids}

    exact = ExactVectors.build(["a", "b"], known={"a": np.asarray([1.0, 0.0], dtype=np.float32)}, fetch=fetch)
    assert asked == [["b"]]
    assert exact.matrix.tolist() == [[1.0, 0.0], [0.0, 1.0]] and exact.matrix.dtype == np.float32
    with pytest.raises(ValueError, match="1 chunks have no stored vector \\(first: c\\)"):
        ExactVectors.build(["a", "c"], known={}, fetch=lambda ids: {"a": np.zeros(2, np.float32)})


def test_saved_vectors_load_only_for_the_snapshot_they_belong_to(tmp_path: Path) -> None:
    exact = ExactVectors(ids=["a", "b"], matrix=_unit([[1, 0], [0, 1]]))
    exact.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [FILE]  # no temporary file left behind
    loaded = ExactVectors.load(tmp_path, ["a", "b"])
    assert loaded is not None and np.array_equal(loaded.matrix, exact.matrix)
    assert ExactVectors.load(tmp_path, ["a", "b", "c"]) is None  # another snapshot's entries
    (tmp_path / FILE).write_bytes(b"not numpy")
    assert ExactVectors.load(tmp_path, ["a", "b"]) is None
    assert ExactVectors.load(tmp_path / "missing", ["a"]) is None


def test_the_knowledge_base_keeps_its_snapshot_s_vectors_and_a_new_process_loads_them(
        kb: KnowledgeBase, hash_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    exact = kb.exact
    assert exact is not None and exact.ids is kb.keyword.ids
    stored = kb.store.vectors_of(list(exact.ids))
    assert all(np.array_equal(exact.matrix[n], stored[cid]) for n, cid in enumerate(exact.ids))
    assert (kb._keyword_dir(kb._fingerprint) / FILE).is_file()

    def refuse(self: Store, ids: object) -> dict[str, np.ndarray]:
        raise AssertionError("the saved vectors should have been loaded")

    monkeypatch.setattr(Store, "vectors_of", refuse)
    again = KnowledgeBase(hash_settings)  # as another process opening the same data directory
    assert again.exact is not None and np.array_equal(again.exact.matrix, exact.matrix)


def test_a_change_reads_back_only_the_vectors_the_snapshot_before_did_not_hold(
        kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    original = Store.vectors_of

    def counted(self: Store, ids: list[str]) -> dict[str, np.ndarray]:
        asked.extend(ids)
        return original(self, ids)

    monkeypatch.setattr(Store, "vectors_of", counted)
    before = kb.exact
    assert before is not None
    add(kb, "wifi", ["Every school has Wi-Fi in each classroom."])
    add(kb, "devices", ["Chromebooks are replaced every four years.", "Carts charge them overnight."])
    kb.refresh(force=True)
    assert sorted(asked) == ["devices-0", "devices-1", "wifi-0"]  # backups, phishing and budget: the snapshot before's
    after = kb.exact
    assert after is not None and len(after.ids) == 8
    kept = before.by_id()
    assert all(np.array_equal(after.matrix[n], kept[cid]) for n, cid in enumerate(after.ids) if cid in kept)


def test_retrieval_searches_the_snapshot_exactly_and_filters_with_its_masks(kb: KnowledgeBase,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def no_graph(self: Store, *args: object, **kwargs: object) -> None:
        raise AssertionError("the graph search ran")

    monkeypatch.setattr(Store, "nearest", no_graph)
    retriever = Retriever(kb)
    question = "How often are backups restored in a test?"
    vector = kb.embedder.embed_batch([question])[0]
    every = sorted(((float(v @ vector), cid) for cid, v in kb.store.vectors_of(list(kb.exact.ids)).items()), reverse=True)
    dense = [p.dense for p in retriever.retrieve(question, k=5)]
    assert sorted(dense, reverse=True)[0] == pytest.approx(every[0][0], abs=1e-6)
    budget = retriever.retrieve(question, Filters(areas=("budgets-funding",)), k=5)
    assert [p.chunk.doc_id for p in budget] == ["budget"]


def test_over_the_limit_or_switched_off_the_graph_search_answers(hash_settings: Settings) -> None:
    small = KnowledgeBase(hash_settings.with_overrides(exact_search_max_chunks=4))
    for doc_id, texts in DOCS.items():
        add(small, doc_id, texts)
    small.refresh(force=True)
    assert len(small.keyword) == 5 and small.exact is None
    assert not list(small._keyword_dir(small._fingerprint).glob(FILE))
    passages = Retriever(small).retrieve("Phishing drills twice a year", k=2)
    assert passages and passages[0].chunk.doc_id == "phishing"
