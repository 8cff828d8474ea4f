"""The keyword index after a change: only new and changed documents are read again, same results as a rebuild."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import numpy as np
import pytest

from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index import keyword as keyword_module
from kb.index.keyword import KeywordIndex
from kb.index.knowledge import DONE, KnowledgeBase

DOCS = {
    "backups": ["Backups are restored in a test every quarter.", "One copy of every backup stays offline."],
    "phishing": ["Phishing drills run twice a year.", "Click rates fall by half after a year of drills."],
    "budget": ["The board approves the technology budget every spring."],
}


def add(kb: KnowledgeBase, doc_id: str, texts: list[str], version: str = "1") -> None:
    chunks = [Chunk(id=f"{doc_id}-{n}-{version}", doc_id=doc_id, index=n, text=t, title=doc_id, source=f"/lib/{doc_id}.md",
                    source_type="md") for n, t in enumerate(texts)]
    kb.store.delete_chunks(doc_id)
    kb.store.add_chunks(chunks, kb.embedder.embed_batch(texts))
    kb.store.put_doc(DocRecord(doc_id=doc_id, source=f"/lib/{doc_id}.md", source_type="md", title=doc_id,
                               content_hash=f"{doc_id}-{version}", status=DONE, chunk_count=len(texts)))


def results(index: KeywordIndex, query: str) -> list[tuple[str, float]]:
    return [(cid, round(score, 5)) for cid, score in index.search(query, 10)]


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    kb = KnowledgeBase(hash_settings)
    for doc_id, texts in DOCS.items():
        add(kb, doc_id, texts)
    kb.refresh(force=True)
    return kb


def test_a_change_tokenizes_only_the_changed_document(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = keyword_module.tokenize
    monkeypatch.setattr(keyword_module, "tokenize", lambda text: seen.append(text) or real(text))

    add(kb, "phishing", ["Phishing simulations run every month.", "Staff report suspicious mail to the help desk."], "2")
    kb.store.delete_doc("budget")
    assert kb.refresh(force=True)

    assert sorted(s.split("\n", 1)[-1] for s in seen) == ["Phishing simulations run every month.", "Staff report suspicious mail to the help desk."]
    index = kb.keyword
    assert sorted(index.ids) == ["backups-0-1", "backups-1-1", "phishing-0-2", "phishing-1-2"]
    assert index.search("technology budget spring", 5) == []  # the removed document's words are gone
    assert "spring" not in index.vocab and "budget" not in index.vocab

    rebuilt = KeywordIndex.build(kb.store.iter_chunks())
    for query in ("phishing every month", "backups restored quarter", "offline copy", "help desk mail"):
        assert results(index, query) == results(rebuilt, query), query


def test_the_update_survives_a_restart(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (a fresh KnowledgeBase) reuses the saved tokens of the last index."""
    fresh = KnowledgeBase(kb.settings)
    seen: list[str] = []
    real = keyword_module.tokenize
    monkeypatch.setattr(keyword_module, "tokenize", lambda text: seen.append(text) or real(text))
    add(fresh, "budget", ["The board approves the budget in March."], "2")
    assert fresh.refresh(force=True)
    assert [s.split("\n", 1)[-1] for s in seen] == ["The board approves the budget in March."]
    assert [cid for cid, _ in fresh.keyword.search("budget March", 3)][0] == "budget-0-2"


def test_saved_tokens_round_trip(kb: KnowledgeBase, tmp_path) -> None:  # type: ignore[no-untyped-def]
    index = kb.keyword
    index.save(tmp_path / "k")
    loaded = KeywordIndex.load(tmp_path / "k")
    assert loaded.ids == index.ids and loaded.vocab == index.vocab and loaded.doc_hashes == index.doc_hashes
    assert loaded.tokens is not None and index.tokens is not None
    assert all(np.array_equal(a, b) for a, b in zip(loaded.tokens, index.tokens, strict=True))
    assert results(loaded, "phishing drills") == results(index, "phishing drills")


def test_an_index_saved_without_tokens_is_rebuilt_in_full(kb: KnowledgeBase) -> None:
    old = kb.keyword
    kb._keyword = KeywordIndex(ids=old.ids, meta=old.meta, retriever=old.retriever)  # as saved by version 0.1.0
    folder = kb._keyword_dir(kb._fingerprint or "")
    (folder / "tokens.npz").unlink()
    add(kb, "budget", ["The board approves the budget in March."], "2")
    assert kb.refresh(force=True)
    assert sorted(kb.keyword.ids) == sorted(c.id for c in kb.store.iter_chunks())
    assert kb.keyword.tokens is not None


def test_workers_opening_at_once_build_the_index_once(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four API workers starting together: one builds the changed part, the others load what it saved."""
    add(kb, "budget", ["The board approves the budget in March."], "2")
    seen: list[str] = []
    real = keyword_module.tokenize

    def slow(text: str) -> list[str]:
        seen.append(text)
        time.sleep(0.3)  # long enough that both workers are inside refresh() at the same time
        return real(text)

    monkeypatch.setattr(keyword_module, "tokenize", slow)
    workers = [KnowledgeBase(kb.settings) for _ in range(2)]
    start = threading.Barrier(len(workers))

    def open_kb(worker: KnowledgeBase) -> list[str]:
        start.wait()
        worker.refresh(force=True)
        return sorted(worker.keyword.ids)

    with cf.ThreadPoolExecutor(len(workers)) as pool:
        opened = list(pool.map(open_kb, workers))
    assert [s.split("\n", 1)[-1] for s in seen] == ["The board approves the budget in March."]
    assert opened[0] == opened[1] and "budget-0-2" in opened[0]


def test_the_saved_index_survives_another_server_address(server_env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The same Chroma collection reached by another name (or port) reuses the saved index: no re-tokenizing."""
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    first = KnowledgeBase(Settings())
    for doc_id, texts in DOCS.items():
        add(first, doc_id, texts)
    first.refresh(force=True)
    seen: list[str] = []
    real = keyword_module.tokenize
    monkeypatch.setattr(keyword_module, "tokenize", lambda text: seen.append(text) or real(text))
    elsewhere = KnowledgeBase(Settings().with_overrides(chroma_host="localhost"))
    elsewhere.refresh(force=True)
    assert seen == []
    assert sorted(elsewhere.keyword.ids) == sorted(first.keyword.ids)
