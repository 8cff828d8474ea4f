"""The manifest's generation stamp: readers notice every change without reading the whole manifest."""

from __future__ import annotations

import numpy as np
import pytest

from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.store import GENERATION_ID


def record(doc_id: str, chunks: int = 1) -> DocRecord:
    return DocRecord(doc_id=doc_id, source=f"/lib/{doc_id}.md", source_type="md", title=doc_id.title(), content_hash=f"h-{doc_id}",
                     chunk_count=chunks, status=DONE)


def add_doc(kb: KnowledgeBase, doc_id: str, text: str) -> None:
    chunk = Chunk(id=f"{doc_id}:0", doc_id=doc_id, index=0, text=text, title=doc_id.title(),
                  source=f"/lib/{doc_id}.md", source_type="md")
    kb.store.add_chunks([chunk], kb.embedder.embed_batch([text]))
    kb.store.put_doc(record(doc_id))


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    return KnowledgeBase(hash_settings)


def test_every_manifest_write_moves_the_stamp(kb: KnowledgeBase) -> None:
    store = kb.store
    assert store.generation() is None  # a new store has none yet
    add_doc(kb, "alpha", "Backups are restored every quarter.")
    first = store.generation()
    assert first
    add_doc(kb, "beta", "Phishing drills run twice a year.")
    second = store.generation()
    assert second not in {None, first}
    store.delete_doc("alpha")
    third = store.generation()
    assert third not in {None, first, second}
    store.clear()
    assert store.generation() not in {None, third}


def test_the_stamp_is_not_a_document(kb: KnowledgeBase) -> None:
    add_doc(kb, "alpha", "Backups are restored every quarter.")
    assert [d.doc_id for d in kb.store.docs()] == ["alpha"]
    assert GENERATION_ID not in kb.done_docs()


def test_refresh_reads_the_manifest_only_when_the_stamp_moved(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    add_doc(kb, "alpha", "Backups are restored every quarter.")
    assert kb.refresh(force=True)
    reads: list[int] = []
    real_docs = kb.store.docs
    monkeypatch.setattr(kb.store, "docs", lambda: reads.append(1) or real_docs())

    assert not kb.refresh(max_age_s=0)
    assert reads == []  # unchanged: one stamp read, no manifest read

    other = KnowledgeBase(kb.settings)  # another process's view of the same store
    add_doc(other, "beta", "Phishing drills run twice a year.")
    assert kb.refresh(max_age_s=0)
    assert reads == [1]
    assert set(kb.done_docs()) == {"alpha", "beta"}
    assert [cid for cid, _ in kb.keyword.search("phishing drills", 5)] == ["beta:0"]


def test_a_store_without_a_stamp_is_still_read(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores written before the stamp existed: every refresh reads the manifest, as before."""
    add_doc(kb, "alpha", "Backups are restored every quarter.")
    monkeypatch.setattr(kb.store, "generation", lambda: None)
    assert kb.refresh(force=True)
    kb.store.put_doc(record("alpha", chunks=2))  # a change the stamp cannot announce
    assert kb.refresh(max_age_s=0)
    assert kb.done_docs()["alpha"].chunk_count == 2


def test_the_stamp_is_not_a_chunk(kb: KnowledgeBase) -> None:
    add_doc(kb, "alpha", "Backups are restored every quarter.")
    chunks, vectors = kb.store.get_chunks(["alpha:0"], with_embeddings=True)
    assert vectors is not None and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert kb.store.count() == 1  # the stamp lives in the manifest collection, not among the chunks
