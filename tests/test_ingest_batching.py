"""The encoder's hand-off (ingest.batching): greedy batches, a bounded queue, and an encoder error that stops the run."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.batching import Batcher
from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.embed.hashing import HashEmbedder
from kb.index.knowledge import KnowledgeBase


def test_take_hands_over_everything_ready_up_to_the_cap_in_order() -> None:
    ready: Batcher[str] = Batcher(limit=100)
    for name, chunks in [("a", 3), ("b", 4), ("c", 5), ("d", 1)]:
        assert ready.put(name, chunks)
    assert ready.take(cap=8) == ["a", "b"]  # c would make 12 > 8
    assert ready.take(cap=8) == ["c", "d"]
    ready.put("huge", 50)
    assert ready.take(cap=8) == ["huge"]  # one item larger than the cap still goes, alone
    ready.close()
    assert ready.take(cap=8) is None


def test_take_waits_for_the_first_item_and_returns_at_once_then() -> None:
    ready: Batcher[int] = Batcher(limit=100)
    got: list[list[int] | None] = []
    consumer = threading.Thread(target=lambda: got.append(ready.take(cap=1000)))
    consumer.start()
    time.sleep(0.2)
    assert not got  # nothing queued yet: the encoder waits
    ready.put(1, 10)
    consumer.join(timeout=5)
    assert got == [[1]]  # it did not wait for the batch to fill to the cap


def test_take_waits_for_the_least_chunks_unless_the_queue_is_closed() -> None:
    ready: Batcher[int] = Batcher(limit=100)
    got: list[list[int] | None] = []
    consumer = threading.Thread(target=lambda: [got.append(ready.take(cap=1000, least=20)) for _ in range(2)])
    consumer.start()
    ready.put(1, 10)
    time.sleep(0.2)
    assert not got  # 10 < 20 chunks: a batch this small would run on one thread
    ready.put(2, 15)
    ready.put(3, 5)
    time.sleep(0.2)
    assert got[0] in ([1, 2], [1, 2, 3])
    ready.close()  # the last, smaller batch goes once nothing more can come
    consumer.join(timeout=5)
    assert [x for batch in got if batch for x in batch] == [1, 2, 3]


def test_put_waits_while_the_queue_is_full_and_gives_up_when_the_consumer_failed() -> None:
    ready: Batcher[int] = Batcher(limit=10)
    assert ready.put(1, 8)
    outcome: list[bool] = []
    producer = threading.Thread(target=lambda: outcome.append(ready.put(2, 8)))
    producer.start()
    time.sleep(0.2)
    assert not outcome  # 16 > 10 chunks: the preparing thread waits
    assert ready.take(cap=100) == [1]
    producer.join(timeout=5)
    assert outcome == [True]
    assert ready.take(cap=100) == [2]
    assert ready.put(3, 9)
    blocked = threading.Thread(target=lambda: outcome.append(ready.put(4, 5)))  # full again (9 + 5 > 10)...
    blocked.start()
    time.sleep(0.2)
    ready.fail(ValueError("encoder broke"))
    blocked.join(timeout=5)
    assert outcome == [True, False]  # ...and a failed encoder releases it instead of leaving it blocked forever


class _Broken(HashEmbedder):
    """Fails on the batch that holds note 30, whichever batch that is."""

    def embed_batch(self, texts: Any) -> np.ndarray:
        if any("Paragraph 30 " in t for t in texts):
            raise RuntimeError("encoder out of memory")
        return super().embed_batch(texts)


def test_an_encoder_error_stops_the_overlapped_ingest_with_that_error(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(40):
        (docs / f"note-{n:02d}.md").write_text(f"# Note {n}\n\n" + f"Paragraph {n} about device refresh budgets. " * 60)
    settings = Settings(data_dir=tmp_path / "data", embedding_model="hash", embedding_batch_size=1)
    kb = KnowledgeBase(settings, embedder=_Broken())
    with pytest.raises(RuntimeError, match="encoder out of memory"):
        run_ingest(kb, [str(docs)])


def test_the_last_batch_is_encoded_in_tapering_parts_of_whole_documents() -> None:
    """Halves, quarters, eighths... so that the writer stores each part while the next encodes; order and documents kept."""
    from ingest.pipeline import _tapered

    items: list[Any] = [(f"doc{n}", [object()] * 30, None) for n in range(30)]  # 900 chunks in 30 documents
    parts = list(_tapered(items))
    sizes = [sum(len(p[1]) for p in part) for part in parts]
    assert [p for part in parts for p in part] == items  # every document once, in order, none split
    assert sizes == [450, 210, 120, 120]  # about half of what is left each time, by whole documents
    assert sizes[-1] <= 2 * 65  # the write left when encoding ends is small
    assert list(_tapered(items[:4])) == [items[:4]]  # 120 chunks: one part
    big = [("big", [object()] * 800, None), *items[:3]]
    assert [len(part) for part in _tapered(big)] == [1, 3]  # a document over half the chunks goes alone


def test_batcher_is_drained_once_closed_and_empty() -> None:
    ready: Batcher[str] = Batcher(limit=100)
    ready.put("a", 5)
    ready.close()
    assert not ready.drained  # closed, but "a" is still to take
    assert ready.take(cap=10) == ["a"]
    assert ready.drained
