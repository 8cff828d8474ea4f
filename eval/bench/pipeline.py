"""``python -m eval bench``: ingest throughput, re-ingest, latency, memory and scaling, in one run.

Steps (all timings wall-clock, ``time.perf_counter``):

1. generate a mixed PDF/HTML/Markdown corpus (:mod:`eval.bench.corpus`);
2. ingest it with ``run_ingest`` (parse worker, chunking, encoding, store, keyword index),
   then encode exactly the chunks the pipeline stored with a plain
   ``SentenceTransformer.encode`` call: the ratio of the two throughputs is the
   pipeline's efficiency;
3. ingest the unchanged corpus again (everything must be skipped);
4. a plain LangChain baseline over the same chunk texts and model folder
   (``langchain_chroma.Chroma`` + ``HuggingFaceEmbeddings``): ingest time and
   ``similarity_search`` latency beside ``Retriever.retrieve`` on our store;
5. for each scale (default 1k, 10k, 100k chunks) a knowledge base is written
   (:mod:`eval.bench.scale` explains how the large ones avoid re-encoding) and a fresh
   process (:mod:`eval.bench.probe`) times retrieval and offline answers and reports its
   peak RSS.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click

from eval.bench.corpus import generate_corpus, questions
from eval.bench.scale import RealCorpus, build_scale
from eval.bench.stats import percentile
from ingest.pipeline import run_ingest
from kb.answering.retrieval import Retriever
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.core.settings import Settings
from kb.embed import Embedder, bulk_encoder, make_embedder
from kb.embed.base import resolve_model_dir
from kb.embed.selection import pick_backend
from kb.embed.torch_model import SentenceTransformerEmbedder
from kb.index.knowledge import KnowledgeBase

__all__ = ["BenchPlan", "FULL", "QUICK", "run_bench", "percentile", "COMMANDS"]

logger = logging.getLogger(__name__)
Echo = Callable[[str], None]


@dataclass(frozen=True)
class BenchPlan:
    """How big the benchmark is."""

    target_chunks: int = 2000
    scales: tuple[int, ...] = (1_000, 10_000, 100_000)
    questions: int = 40
    asks: int = 20
    langchain: bool = True
    whole: str = ""  # a folder to ingest whole-process, ours against the LangChain pipeline ("" skips it)
    api_requests: int = 30  # at most this many of the probe's questions posted one at a time to `kb serve` at each scale (0: no API)


FULL = BenchPlan()
QUICK = BenchPlan(target_chunks=100, scales=(300, 2_000), questions=8, asks=4, api_requests=8)


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0}


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the ingest parser's processes) so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class _CpuClock:
    """Adds up the CPU time spent inside ``with`` blocks (every thread, and the child processes they wait for)."""

    def __init__(self) -> None:
        self.runs: list[float] = []

    def __enter__(self) -> _CpuClock:
        self._started = _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runs.append(_cpu_seconds() - self._started)


def _raw_encode(embedder: Embedder, texts: list[str], batch_size: int) -> float:
    """Seconds for one plain encode of the texts (SentenceTransformer.encode when the model is one)."""
    embedder = bulk_encoder(embedder)
    if isinstance(embedder, SentenceTransformerEmbedder):
        model: Any = embedder._load()
        _torch_threads(embedder.bulk_threads)  # torch's thread count is global: a query-sized encode may have left it at 1
        started = time.perf_counter()
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    else:
        started = time.perf_counter()
        embedder.embed_batch(texts)
    return time.perf_counter() - started


def _own_encode(embedder: Embedder, texts: list[str]) -> float:
    """Seconds for our bulk encoder to encode the texts in one call (ingest's encoder, without the pipeline)."""
    bulk = bulk_encoder(embedder)
    started = time.perf_counter()
    bulk.embed_batch(texts)
    return time.perf_counter() - started


def _torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


def _fresh_ingest(settings: Settings, embedder: Embedder, docs: Path, folder: Path) -> tuple[float, KnowledgeBase]:
    kb = KnowledgeBase(settings.with_overrides(data_dir=folder, collection="bench", chroma_host=None), embedder=embedder)
    report = run_ingest(kb, [str(docs)])
    if report.failed:
        raise RuntimeError(f"benchmark corpus failed to ingest: {[r.reason for r in report.failed][:3]}")
    return report.seconds, kb


def _ingest_stage(settings: Settings, embedder: Embedder, docs: Path, folder: Path, echo: Echo) -> tuple[dict[str, Any], KnowledgeBase]:
    """Ingest vs raw encode in A-B-B-A order (ingest, raw, raw, ingest into a fresh store), and vs our bulk
    encoder given every chunk in one call (between the raw runs): the pipeline's own cost, apart from the
    encoder's batching.

    Other work on the machine comes and goes; the symmetric order cancels a steady drift
    in load, and the ratio is taken over the sums.
    """
    ingest_cpu, raw_cpu = _CpuClock(), _CpuClock()
    with ingest_cpu:
        ingest_1, kb = _fresh_ingest(settings, embedder, docs, folder / "kb")
    chunks = kb.store.count()
    files = len(kb.done_docs())
    echo(f"ingest: {chunks} chunks from {files} files in {ingest_1:.1f} s")
    texts = [c.embed_text for c in kb.store.iter_chunks()]
    # ingest, raw, ours, ours, raw, ingest: each pair symmetric around the middle
    with raw_cpu:
        raw = [_raw_encode(embedder, texts, settings.embedding_batch_size)]
    own = [_own_encode(embedder, texts) for _ in range(2)]
    with raw_cpu:
        raw.append(_raw_encode(embedder, texts, settings.embedding_batch_size))
    echo(f"raw encode of the same {len(texts)} chunks: {raw[0]:.1f} s, {raw[1]:.1f} s; "
         f"our encoder in one call: {own[0]:.1f} s, {own[1]:.1f} s")
    with ingest_cpu:
        ingest_2, _ = _fresh_ingest(settings, embedder, docs, folder / "kb-again")
    shutil.rmtree(folder / "kb-again", ignore_errors=True)
    echo(f"ingest again into a fresh store: {ingest_2:.1f} s")
    again = run_ingest(kb, [str(docs)])
    unchanged = again.counts().get("unchanged", 0)
    echo(f"re-ingest: {again.seconds:.3f} s ({unchanged} unchanged)")
    ingest_s, raw_s = (ingest_1 + ingest_2) / 2, sum(raw) / 2
    backend = pick_backend(settings.embedding_backend) if settings.embedding_model != "hash" else "hash"
    return {
        "backend": backend, "raw_encoder": "SentenceTransformer.encode" if isinstance(bulk_encoder(embedder), SentenceTransformerEmbedder)
        else f"{backend} encoder, one call",
        "files": files, "chunks": chunks, "ingest_runs_s": [round(ingest_1, 3), round(ingest_2, 3)],
        "raw_encode_runs_s": [round(r, 3) for r in raw], "ingest_s": round(ingest_s, 3),
        "ingest_chunks_per_s": round(chunks / ingest_s, 2), "raw_encode_s": round(raw_s, 3),
        "raw_encode_chunks_per_s": round(len(texts) / raw_s, 2), "ingest_to_raw_ratio": round(raw_s / ingest_s, 3),
        "own_encode_runs_s": [round(r, 3) for r in own], "own_encode_s": round(sum(own) / 2, 3),
        "ingest_to_own_encode_ratio": round(sum(own) / 2 / ingest_s, 3),
        "reingest_s": round(again.seconds, 4), "reingest_unchanged": unchanged,
        "reingest_speedup": round(ingest_s / max(again.seconds, 1e-6), 1),
        # On cores the encoder keeps busy, every CPU second the pipeline spends beside it is one it takes from it:
        # raw CPU / ingest CPU is then the best ingest / raw throughput any overlap can reach.
        "ingest_cpu_runs_s": [round(r, 2) for r in ingest_cpu.runs], "raw_encode_cpu_runs_s": [round(r, 2) for r in raw_cpu.runs],
        "pipeline_cpu_s": round(statistics.fmean(ingest_cpu.runs) - statistics.fmean(raw_cpu.runs), 2),
        "ratio_bound_when_cores_are_busy": round(statistics.fmean(raw_cpu.runs) / statistics.fmean(ingest_cpu.runs), 3),
    }, kb


def _langchain_stage(settings: Settings, kb: KnowledgeBase, qs: list[str], folder: Path, echo: Echo) -> dict[str, Any]:
    """The plain LangChain baseline: same model folder, same chunk texts, same questions."""
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(
        model_name=str(resolve_model_dir(settings.embedding_model)), model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": settings.embedding_batch_size})
    embeddings.embed_query("warm up the encoder")
    chunks = list(kb.store.iter_chunks())
    bulk = bulk_encoder(kb.embedder)
    if isinstance(bulk, SentenceTransformerEmbedder):  # LangChain encodes with torch's default threads, not ours of the moment
        _torch_threads(bulk.bulk_threads)
    store = Chroma(collection_name="langchain_baseline", embedding_function=embeddings, persist_directory=str(folder),
                   client_settings=ChromaSettings(anonymized_telemetry=False))
    started = time.perf_counter()
    store.add_texts([c.embed_text for c in chunks], ids=[c.id for c in chunks])
    ingest_s = time.perf_counter() - started
    retriever = Retriever(kb)
    sides: list[tuple[list[float], Callable[[str], object]]] = [
        ([], lambda q: store.similarity_search(q, k=settings.top_k)), ([], retriever.retrieve)]
    for q in qs:  # a warm pass of both
        for _, search in sides:
            search(q)
    # Timed in blocks, A-B-B-A: each side's questions one after another, as a process serving one of them would
    # ask them. Interleaving question by question let each library's encoder threads, still spinning after its
    # query, slow the other's next query (LangChain's p95 rose to 106 ms once ours used two threads too).
    for side in (*sides, *reversed(sides)):
        sink, search = side
        for q in qs:
            started = time.perf_counter()
            search(q)
            sink.append(time.perf_counter() - started)
    theirs, mine = _stats(sides[0][0]), _stats(sides[1][0])
    result = {"chunks": len(chunks), "langchain_ingest_s": round(ingest_s, 3), "langchain_search": theirs, "ours_retrieve": mine,
              "retrieve_p50_ratio_ours_to_langchain": round(mine["p50_ms"] / max(theirs["p50_ms"], 1e-6), 2)}
    echo(f"langchain: ingest {ingest_s:.1f} s, search p50 {theirs['p50_ms']} ms; ours retrieve p50 {mine['p50_ms']} ms")
    return result


def _whole_stage(settings: Settings, plan: BenchPlan, folder: Path, echo: Echo) -> dict[str, Any]:
    """`ingest DOCS` against the plain LangChain pipeline, each a fresh process, A-B-B-A (eval.bench.whole)."""
    from eval.bench.whole import whole_process

    env = {**os.environ, "CTO_EMBEDDING_MODEL": settings.embedding_model, "CTO_EMBEDDING_SHA256": settings.embedding_sha256,
           "CTO_REPORTS_DIR": str(folder / "whole-reports"),
           # LangChain's loaders have no time limit: ours must not skip a big PDF on a busy machine either
           "CTO_PARSE_TIMEOUT_S": str(max(settings.parse_timeout_s, 3600.0))}
    env.pop("CTO_CHROMA_HOST", None)
    result = whole_process(Path(plan.whole), folder / "whole", model_dir=str(resolve_model_dir(settings.embedding_model)), env=env)
    echo(f"whole process, {plan.whole}: ingest {result['ours_runs_s']} s, LangChain {result['langchain_runs_s']} s, "
         f"speed-up {result['speedup']}x")
    return result


def _probe(settings: Settings, qs: list[str], asks: int) -> dict[str, Any]:
    overrides = {"data_dir": str(settings.data_dir), "reports_dir": str(settings.reports_dir), "collection": settings.collection,
                 "embedding_model": settings.embedding_model, "embedding_sha256": settings.embedding_sha256, "chroma_host": None}
    args = json.dumps({"settings": overrides, "questions": qs, "asks": asks})
    done = subprocess.run([sys.executable, "-m", "eval.bench.probe", args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark probe failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _api_single(settings: Settings, asked: list[str], log: Path) -> dict[str, Any]:
    """`kb serve` (one worker) on a scale's knowledge base, one client posting ``/v1/ask`` after a warm-up.

    It asks the questions the in-process probe asks, so that the two latencies are of the same answers.
    """
    from eval.bench.api import api_load, serve_env

    requests = len(asked)
    result = api_load(settings, workers=1, clients=1, requests=requests, env=serve_env(settings), log=log, asked=asked)
    if result["errors"]:
        raise RuntimeError(f"`kb serve` answered {result['errors']} of {requests} questions with an error "
                           f"(log: {log}): {result['error_samples'][:2]}")
    return {k: result[k] for k in ("requests", "errors", "p50_ms", "p95_ms", "ready_s")}


def _scale_stage(settings: Settings, kb: KnowledgeBase, ingest: dict[str, Any], plan: BenchPlan, qs: list[str],
                 folder: Path, echo: Echo) -> list[dict[str, Any]]:
    real = RealCorpus.read(kb.store)
    rows = []
    for n in plan.scales:
        built = build_scale(real, n, base=settings, folder=folder / f"scale-{n}")
        measured = _probe(built.settings, qs, plan.asks)
        encode_projected = built.chunks / ingest["ingest_chunks_per_s"]
        row = {"target": n, "chunks": built.chunks, "real_chunks": built.real_chunks, "synthetic_chunks": built.chunks - built.real_chunks,
               "store_write_s": round(built.write_s, 2), "open_and_keyword_s": round(measured["open_s"], 2),
               "update_one_doc_s": round(measured.get("update_s", 0.0), 2),
               "ingest_projected_s": round(encode_projected + built.write_s + measured["open_s"], 1),
               "cold_query_ms": round(measured["cold_query_s"] * 1000, 1), "retrieve": _stats(measured["retrieve_s"]),
               "ask": _stats(measured["ask_s"]), "peak_rss_mb": round(measured["peak_rss_mb"], 1),
               "rss_mb": round(measured.get("rss_mb", 0.0), 1),
               "ask_stages_mean_ms": {k: round(v * 1000, 1) for k, v in measured.get("ask_stages_mean_s", {}).items()}}
        if plan.api_requests:
            row["api"] = _api_single(built.settings, (qs[:plan.asks] or qs)[:plan.api_requests], folder / f"api-{n}.log")
        echo(f"scale {built.chunks}: write {row['store_write_s']} s, open+keyword {row['open_and_keyword_s']} s, "
             f"one document added {row['update_one_doc_s']} s, "
             f"retrieve p50/p95 {row['retrieve']['p50_ms']}/{row['retrieve']['p95_ms']} ms, "
             f"ask p50/p95 {row['ask']['p50_ms']}/{row['ask']['p95_ms']} ms, peak RSS {row['peak_rss_mb']} MB"
             + (f", API /v1/ask p50/p95 {row['api']['p50_ms']}/{row['api']['p95_ms']} ms" if "api" in row else ""))
        rows.append(row)
        shutil.rmtree(folder / f"scale-{n}", ignore_errors=True)
    return rows


def run_bench(settings: Settings, plan: BenchPlan = FULL, echo: Echo = logger.info) -> dict[str, Any]:
    """Run every stage and write the report; return the summary that was written."""
    from eval.bench.report import write_bench_report

    folder = settings.data_dir / "bench"
    shutil.rmtree(folder, ignore_errors=True)
    load_before = os.getloadavg()  # other work on the machine skews every timing; the report says how busy it was
    started = time.perf_counter()
    corpus = generate_corpus(folder / "docs", plan.target_chunks)
    echo(f"generated {len(corpus.files)} files ({corpus.chars} characters) in {time.perf_counter() - started:.1f} s")
    embedder = make_embedder(settings)
    embedder.embed_batch(["warm up the encoder"] * 8)  # the query encoder (numpy) that retrieval uses
    # Ingest and the raw encode both use the bulk encoder: load it before either is timed. Warming only the
    # query encoder left torch's import and the model load inside the first timed ingest, never in a raw run.
    bulk_encoder(embedder).embed_batch(["warm up the encoder"] * 8)
    qs = questions(plan.questions)
    ingest, kb = _ingest_stage(settings, embedder, corpus.folder, folder, echo)
    baseline = None
    if plan.langchain and settings.embedding_model != "hash":  # LangChain loads the real model itself (torch)
        baseline = _langchain_stage(settings, kb, qs, folder / "langchain", echo)
    whole = _whole_stage(settings, plan, folder, echo) if plan.whole else None
    scales = _scale_stage(settings, kb, ingest, plan, qs, folder, echo)
    summary: dict[str, Any] = {"plan": asdict(plan), "embedding_model": embedder.name, "batch_size": settings.embedding_batch_size,
               "ingest": ingest, "langchain": baseline, "whole_process": whole, "scales": scales, "seconds": round(time.perf_counter() - started, 1),
               "machine": {"cpus": os.cpu_count(), "load_avg_1m_start": round(load_before[0], 2),
                           "load_avg_1m_end": round(os.getloadavg()[0], 2)},
               "method": {"synthetic_vectors": "real chunk vector + N(0, 0.03) per dimension, re-normalised",
                          "synthetic_texts": "eval.bench.corpus.paragraph, 700 characters, 50 chunks per document",
                          "ingest_projected_s": "chunks / measured pipeline rate + measured store write + measured open/keyword build"}}
    summary["targets"] = {"ingest_to_raw_ratio>=0.95": ingest["ingest_to_raw_ratio"] >= 0.95,
                          "reingest_speedup>=50": ingest["reingest_speedup"] >= 50}
    if baseline:
        summary["targets"]["retrieve_p50<=langchain_p50"] = baseline["retrieve_p50_ratio_ours_to_langchain"] <= 1.0
    at_10k = [r for r in scales if r["target"] == 10_000 and "api" in r]
    if at_10k:
        summary["targets"]["api_p95_at_10k<=300ms"] = at_10k[0]["api"]["p95_ms"] <= 300
    if whole:
        summary["targets"]["whole_process_speedup>=1.5"] = whole["speedup"] >= 1.5
    summary["report"] = str(write_bench_report(settings.reports_dir / "bench", summary))
    return summary


@click.command("bench")
@click.option("--quick", is_flag=True, help="A small version (about 100 chunks, scales 300 and 2,000) that finishes in about a minute on an idle machine.")
@click.option("--scales", default="", help="Comma-separated chunk counts to measure (default 1000,10000,100000); "
              "`none` measures the ingest stage alone (with --no-langchain: ingest against the raw encoder, nothing else).")
@click.option("--chunks", type=click.IntRange(20, 100_000), help="Size of the generated ingest corpus in chunks (default 2000; --quick 100).")
@click.option("--no-langchain", is_flag=True, help="Skip the LangChain baseline.")
@click.option("--whole", "whole", default="", metavar="FOLDER",
              help="Also ingest FOLDER whole-process, `ingest` against a plain LangChain pipeline, A-B-B-A "
                   "(e.g. ../shared/data/k12docs).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@friendly_errors
def bench_command(quick: bool, scales: str, chunks: int | None, no_langchain: bool, whole: str, as_json: bool) -> None:
    """Ingest throughput, re-ingest, retrieval and answer latency, memory and scaling.

    \b
    Examples:
      python -m eval bench --quick
      python -m eval bench
      python -m eval bench --scales 1000,10000
      python -m eval bench --scales none --no-langchain
      python -m eval bench --scales 1000 --whole ../shared/data/k12docs
    """
    from eval.bench.report import text_table

    settings = load_settings()
    configure_logging(settings.log_level if settings.log_level.upper() != "INFO" else "WARNING")
    plan = QUICK if quick else FULL
    if scales:
        plan = replace(plan, scales=() if scales.strip().lower() == "none" else tuple(int(s) for s in scales.split(",") if s.strip()))
    if chunks:
        plan = replace(plan, target_chunks=chunks)
    if no_langchain:
        plan = replace(plan, langchain=False)
    if whole:
        plan = replace(plan, whole=str(Path(whole).resolve()))
    summary = run_bench(settings, plan, echo=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(summary, indent=2) if as_json else text_table(summary))
    if not as_json:
        click.echo(f"\nreport: {summary['report']}")


COMMANDS = [bench_command]
