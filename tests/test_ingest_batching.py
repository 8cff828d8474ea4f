"""The encoder's hand-off (ingest.batching): a pool of chunks taken across documents by token count, documents
leaving whole, a bounded pool, and an encoder error that stops the run without leaving half a document."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.batching import ChunkPool, Taken
from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.embed.hashing import HashEmbedder
from kb.index.knowledge import KnowledgeBase


def _doc(pool: ChunkPool[str], name: str, tokens: list[int]) -> bool:
    return pool.put(name, [f"{name}{i}" for i in range(len(tokens))], tokens)


def _vectors(taken: Taken[str]) -> np.ndarray:
    """One row per text, holding the text's chunk number: the rows handed back must be in chunk order."""
    return np.array([[float(text.lstrip("abcdefghijklmnopqrstuvwxyz"))] for text in taken.texts])


def _later(action: Any) -> tuple[threading.Thread, list[Any]]:
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(action()))
    thread.start()
    return thread, got


def test_a_call_takes_similar_lengths_across_documents_and_a_document_leaves_after_its_last_chunk() -> None:
    pool: ChunkPool[str] = ChunkPool(limit=100, cap=4)
    _doc(pool, "a", [10, 3, 7])
    _doc(pool, "b", [9, 2, 8])
    first = pool.take()
    assert first is not None and first.texts == ["a0", "b0", "b2", "a2"]  # the four longest, from both documents
    assert first.tokens == [10, 9, 8, 7]  # their counts travel with them: the encoder does not count again
    assert pool.encoded(first, _vectors(first)) == []  # a1 and b1 are still to encode: nothing leaves yet
    pool.close()
    last = pool.take()
    assert last is not None and sorted(last.texts) == ["a1", "b1"]
    done = pool.encoded(last, _vectors(last))
    assert [name for name, _ in done] == ["a", "b"]
    for _, vectors in done:
        assert vectors[:, 0].tolist() == [0.0, 1.0, 2.0]  # each document's vectors in its chunks' order
    assert pool.take() is None


def test_the_oldest_chunk_is_never_passed_over() -> None:
    pool: ChunkPool[str] = ChunkPool(limit=100, cap=2)
    _doc(pool, "short", [1])
    _doc(pool, "long", [9, 9, 9])
    taken = pool.take()
    assert taken is not None and taken.texts == ["long2", "short0"]  # holds the oldest, beside its nearest length
    assert [name for name, _ in pool.encoded(taken, _vectors(taken))] == ["short"]


def test_a_call_waits_to_be_full_unless_the_parser_is_awaited() -> None:
    pool: ChunkPool[str] = ChunkPool(limit=100, cap=10, least=3)
    _doc(pool, "a", [5, 5])
    thread, got = _later(pool.take)
    time.sleep(0.2)
    assert not got  # 2 of 10 chunks and the preparing side is busy: more are coming
    pool.stalled(True)
    time.sleep(0.2)
    assert not got  # the parser is awaited, but 2 < 3 chunks would not use every thread
    _doc(pool, "b", [5, 5])
    thread.join(timeout=5)
    assert got and got[0] is not None and len(got[0].texts) == 4  # it did not wait for the call to fill


def test_memory_stays_bounded_until_a_document_leaves() -> None:
    """Held chunks count until their document leaves the pool, encoded or not."""
    pool: ChunkPool[str] = ChunkPool(limit=5, cap=10, least=10)
    _doc(pool, "a", [4, 4, 4])
    producer, put = _later(lambda: _doc(pool, "b", [4, 4, 4]))
    taken = pool.take()  # below the cap and below least, but the producer waits for room: a goes now
    assert taken is not None and taken.texts == ["a0", "a1", "a2"]
    time.sleep(0.2)
    assert not put  # a is taken but not yet encoded: its chunks are still held
    assert [name for name, _ in pool.encoded(taken, _vectors(taken))] == ["a"]
    producer.join(timeout=5)
    assert put == [True]
    big: ChunkPool[str] = ChunkPool(limit=5, cap=10)
    assert _doc(big, "huge", [1] * 8)  # one document larger than the limit still goes into an empty pool


def test_a_failed_encoder_releases_a_waiting_producer() -> None:
    pool: ChunkPool[str] = ChunkPool(limit=3, cap=10)
    _doc(pool, "a", [1, 1, 1])
    producer, put = _later(lambda: _doc(pool, "b", [1]))
    time.sleep(0.2)
    assert not put
    pool.fail(ValueError("encoder broke"))
    producer.join(timeout=5)
    assert put == [False]


class _Broken(HashEmbedder):
    """Fails on the batch that holds note 30, whichever batch that is."""

    def embed_batch(self, texts: Any) -> np.ndarray:
        if any("Paragraph 30 " in t for t in texts):
            raise RuntimeError("encoder out of memory")
        return super().embed_batch(texts)


def _forty_notes(tmp_path: Path) -> tuple[Path, Settings]:
    """Forty notes of several chunks each, and settings that encode them one chunk per batch with the hash model."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(40):
        (docs / f"note-{n:02d}.md").write_text(f"# Note {n}\n\n" + f"Paragraph {n} about device refresh budgets. " * 60)
    return docs, Settings(data_dir=tmp_path / "data", embedding_model="hash", embedding_batch_size=1)


def test_an_encoder_error_stops_the_overlapped_ingest_with_that_error(tmp_path: Path) -> None:
    docs, settings = _forty_notes(tmp_path)
    kb = KnowledgeBase(settings, embedder=_Broken())
    with pytest.raises(RuntimeError, match="encoder out of memory"):
        run_ingest(kb, [str(docs)])


def test_an_encoder_error_mid_pool_leaves_no_part_of_any_document(tmp_path: Path) -> None:
    """Documents whose chunks were all encoded before the error may be stored, whole; no other leaves a trace."""
    docs, settings = _forty_notes(tmp_path)
    kb = KnowledgeBase(settings, embedder=_Broken())
    with pytest.raises(RuntimeError):
        run_ingest(kb, [str(docs)])
    kb = KnowledgeBase(settings, embedder=HashEmbedder())
    stored: dict[str, int] = {}
    for chunk in kb.store.iter_chunks():
        stored[chunk.doc_id] = stored.get(chunk.doc_id, 0) + 1
    manifest = {d.doc_id: d for d in kb.store.docs()}
    assert set(stored) <= set(manifest)  # no chunk without its document
    for doc_id, record in manifest.items():
        assert record.status == "done" and stored.get(doc_id) == record.chunk_count, doc_id  # whole or not at all
    assert not any("note-30" in record.source for record in manifest.values())


class _Recording(HashEmbedder):
    """Records each call's texts; its first call is slow, so that the parsed documents pool meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def embed_batch(self, texts: Any) -> np.ndarray:
        self.calls.append(list(texts))
        time.sleep(1.5 if len(self.calls) == 1 else 0.02)
        return super().embed_batch(texts)


def test_ingest_encodes_calls_across_documents_and_stores_every_document_whole(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(80):  # lengths vary within and across documents; more chunks than the pool holds
        body = "\n\n".join(f"## Part {p}\n\n" + f"Note {n} part {p} covers refresh budgets. " * (5 + (n * 7 + p * 11) % 40)
                           for p in range(8))
        (docs / f"note-{n:02d}.md").write_text(f"# Note {n}\n\n{body}")
    settings = Settings(data_dir=tmp_path / "data", embedding_model="hash", embedding_batch_size=16)
    embedder = _Recording()
    kb = KnowledgeBase(settings, embedder=embedder)
    report = run_ingest(kb, [str(docs)])
    assert not report.failed
    chunks = list(kb.store.iter_chunks())
    texts = {c.embed_text: c.doc_id for c in chunks}
    calls = [call for call in embedder.calls if all(t in texts for t in call)]
    assert sum(len(call) for call in calls) == len(chunks) > 512  # every chunk encoded once; more than the pool holds (2 calls of 256)
    assert any(len({texts[t] for t in call}) > 1 for call in calls)  # a call spans documents
    calls_of: dict[str, set[int]] = {}
    for number, call in enumerate(calls):
        for t in call:
            calls_of.setdefault(texts[t], set()).add(number)
    assert any(len(numbers) > 1 for numbers in calls_of.values())  # a document split over calls, by length...
    # ...yet stored whole:
    for record in kb.store.docs():
        assert record.chunk_count == sum(1 for c in chunks if c.doc_id == record.doc_id)


class _Counting(HashEmbedder):
    """Counts tokens as words and records what the pool hands its encoder: the texts with their counts."""

    def __init__(self) -> None:
        super().__init__()
        self.counted: list[tuple[list[str], list[int]]] = []

    def token_counts(self, texts: Any) -> list[int]:
        return [len(t.split()) for t in texts]

    def embed_counted(self, texts: Any, counts: Any) -> np.ndarray:
        self.counted.append((list(texts), list(counts)))
        return super().embed_batch(texts)

    def embed_batch(self, texts: Any) -> np.ndarray:
        raise AssertionError("the pool has every chunk's count: embed_counted is the call")


def test_the_encoder_gets_the_token_counts_the_pool_chose_its_calls_by(tmp_path: Path) -> None:
    docs, settings = _forty_notes(tmp_path)
    embedder = _Counting()
    kb = KnowledgeBase(settings, embedder=embedder)
    assert not run_ingest(kb, [str(docs)]).failed
    assert sum(len(texts) for texts, _ in embedder.counted) == kb.store.count() > 0
    for texts, counts in embedder.counted:
        assert counts == [len(t.split()) for t in texts]
