"""Every passage carries its similarity to the question, whichever retriever found it."""

from __future__ import annotations

import pytest

from kb.answering.retrieval import Retriever
from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index.knowledge import DONE, KnowledgeBase

TEXTS = {
    "backups": "Backups are restored in a test every quarter, and one copy stays offline.",
    "phishing": "Phishing drills run twice a year and click rates fall by half.",
    "budget": "The board approves the technology budget every spring.",
}


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    kb = KnowledgeBase(hash_settings)
    chunks = [Chunk(id=f"{name}:0", doc_id=name, index=0, text=text, title=name, source=f"/lib/{name}.md",
                    source_type="md") for name, text in TEXTS.items()]
    kb.store.add_chunks(chunks, kb.embedder.embed_batch([c.embed_text for c in chunks]))
    kb.store.put_docs([DocRecord(doc_id=c.doc_id, source=c.source, source_type="md", title=c.title,
                                 content_hash=c.doc_id, status=DONE, chunk_count=1) for c in chunks])
    return kb


@pytest.mark.parametrize("fusion", ["rrf", "weighted", "dense", "bm25"])
def test_passages_carry_their_cosine(kb: KnowledgeBase, fusion: str) -> None:
    settings = kb.settings.with_overrides(fusion=fusion, mmr=False)
    question = "how often are backups restored in a test"
    vector = kb.embedder.embed_batch([question])[0]
    passages = Retriever(kb, settings).retrieve(question, k=3, query_vector=vector)
    assert passages[0].chunk.doc_id == "backups"
    for passage in passages:
        assert passage.dense == pytest.approx(float(passage.vector @ vector), abs=1e-4)


def test_bm25_without_a_question_vector_computes_none(kb: KnowledgeBase) -> None:
    """Keyword-only retrieval does not pay for an encode it was not given."""
    passages = Retriever(kb, kb.settings.with_overrides(fusion="bm25")).retrieve("phishing drills", k=2)
    assert passages and passages[0].chunk.doc_id == "phishing"
    assert all(p.dense is None for p in passages)
