"""``python -m eval encoders``: the encoder backends side by side, speed and answer quality.

For each backend (torch float32, torch-bf16, openvino, onnx, onnx-int8, numpy; or those named with
``--backends``) on the same texts, in one process:

- ingest-style throughput: the starter library's chunks encoded in batches with all threads,
  in interleaved passes (A-B-C-D-D-C-B-A) so that load from other work falls on every backend
  alike; the figure is the mean over both passes;
- query-style latency: one question, and 16 answer sentences (the composer's shortlist);
- fidelity: cosine of each chunk vector to the torch vector of the same chunk;
- optionally every gold-set metric (``--gold library``): each backend builds its own
  evaluation index, so each answers from its own vectors.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, get_args

import click
import numpy as np

from eval.bench.probe import timed
from eval.bench.stats import percentile
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.core.settings import REPO_ROOT, Settings
from kb.embed import make_embedder
from kb.embed.selection import pick_backend

__all__ = ["compare_encoders", "COMMANDS"]

BACKENDS = tuple(b for b in get_args(Settings.model_fields["embedding_backend"].annotation) if b != "auto")
GOLD_COLUMNS = ("hit@1", "hit@5", "hit@10", "recall@5", "mrr", "ndcg@10", "cited_right", "fact_recall",
                "citation_precision", "citation_recall", "abstain_recall", "answer_rate")


def _texts() -> tuple[list[str], list[str], list[list[str]]]:
    """Chunk-sized texts, questions and sentence batches from the starter library (no index needed)."""
    from ingest.chunking import chunk_document
    from ingest.loaders.markdown import load_markdown_text
    from kb.core.text import split_sentences

    chunks: list[str] = []
    for path in sorted((REPO_ROOT / "library").glob("*.md")):
        doc = load_markdown_text(path.read_text(encoding="utf-8"), str(path))
        chunks.extend(c.embed_text for c in chunk_document(doc, doc_id=path.stem, size=900, overlap=120))
    sentences = [s for text in chunks for s in split_sentences(text) if len(s) > 40]
    batches = [sentences[i:i + 16] for i in range(0, min(len(sentences), 16 * 30), 16)]
    questions = [s[:80] for s in sentences[::17][:30]]
    return chunks, questions, batches


def compare_encoders(settings: Settings, gold: str | None, *, echo: Any = print, limit: int | None = None,
                     backends: tuple[str, ...] = BACKENDS) -> dict[str, Any]:
    """Measure the backends (torch first: the others' cosines are to its vectors); return rows keyed by backend
    name (``limit``: chunks per throughput pass)."""
    backends = ("torch", *(b for b in backends if b != "torch"))
    chunks, questions, batches = _texts()
    chunks = chunks[:limit] if limit else chunks
    embedders = {b: make_embedder(settings.with_overrides(embedding_backend=b)) for b in backends}
    for embedder in embedders.values():
        embedder.embed_batch(chunks[:70])  # load, export on first use, warm up
        timed(embedder.embed_batch, batches[:3] + [[q] for q in questions[:3]])
    seconds: dict[str, list[float]] = {b: [] for b in backends}
    vectors: dict[str, np.ndarray] = {}
    for backend in list(backends) + list(reversed(backends)):  # A-B-C-D-D-C-B-A
        started = time.perf_counter()
        vectors[backend] = embedders[backend].embed_batch(chunks)
        seconds[backend].append(time.perf_counter() - started)
    rows: dict[str, Any] = {}
    for backend, embedder in embedders.items():
        cosine = (vectors[backend] * vectors["torch"]).sum(axis=1)
        query = [s * 1000 for s in timed(embedder.embed_batch, [[q] for q in questions])]
        sentences = [s * 1000 for s in timed(embedder.embed_batch, batches)]
        rows[backend] = {"chunks_per_s": len(chunks) / statistics.mean(seconds[backend]),
                         "passes_chunks_per_s": [round(len(chunks) / x, 2) for x in seconds[backend]],
                         "query_p50_ms": statistics.median(query),
                         "sentences16_p50_ms": statistics.median(sentences),
                         "sentences16_p95_ms": percentile(sentences, 95),
                         "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min())}
        echo(f"{backend}: {rows[backend]['chunks_per_s']:.1f} chunks/s, cosine to torch {cosine.mean():.4f}")
    for backend in rows:
        rows[backend]["speedup"] = rows[backend]["chunks_per_s"] / rows["torch"]["chunks_per_s"]
    if gold:
        _gold_metrics(settings, gold, rows, echo)
    return {"chunks": len(chunks), "rows": rows, "gold": gold, "loadavg": _loadavg(),
            "picked_here": pick_backend("auto")}


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _gold_metrics(settings: Settings, gold: str, rows: dict[str, Any], echo: Any) -> None:
    from eval.gold import load_gold
    from eval.run import eval_kb, run_gold
    from kb.answering.assistant import Assistant

    items = load_gold(gold)
    corpus = "k12docs" if gold == "k12docs" else "library"
    for backend in rows:  # each backend ingests the corpus itself, into a folder of its own
        own = settings.with_overrides(embedding_backend=backend, data_dir=settings.data_dir / "encoders" / backend)
        kb = eval_kb(own, corpus)
        _, summary = run_gold(Assistant(kb.settings, kb=kb, journal=None), items)
        rows[backend].update({name: summary["overall"][name] for name in GOLD_COLUMNS})
        echo(f"{backend}: fact recall {summary['overall']['fact_recall']:.3f}")


def table(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    gold = [c for c in GOLD_COLUMNS if any(c in r for r in result["rows"].values())]
    head = ["backend", "chunks/s", "x torch fp32", "query p50 ms", "16 sentences p50/p95 ms", "cosine to torch (mean/min)"] + gold
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, r in result["rows"].items():
        cells = [name, f"{r['chunks_per_s']:.1f}", f"{r['speedup']:.2f}", f"{r['query_p50_ms']:.1f}",
                 f"{r['sentences16_p50_ms']:.0f} / {r['sentences16_p95_ms']:.0f}",
                 f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f}"] + [f"{r[c]:.3f}" if c in r else "n/a" for c in gold]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\n{result.get('chunks', 'n/a')} chunks per pass; load average {result.get('loadavg', 'n/a')}; "
                 f"`auto` picks {result.get('picked_here', 'n/a')} on this CPU.")
    return "\n".join(lines)


@click.command("encoders")
@click.option("--gold", type=click.Choice(["none", "library", "k12docs"]), default="library", show_default=True,
              help="Also answer this gold set with each backend (none: speed and fidelity only).")
@click.option("--chunks", "limit", type=click.IntRange(16), help="Chunks per throughput pass (default: all of the library's).")
@click.option("--backends", default=",".join(BACKENDS), show_default=True,
              help="Comma-separated backends to compare (torch is always measured: the reference for cosines).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@friendly_errors
def encoders(gold: str, limit: int | None, backends: str, as_json: bool) -> None:
    """Compare the encoder backends (torch fp32 and bf16, OpenVINO, ONNX, ONNX int8, numpy): speed, fidelity,
    answer quality.

    \b
    Examples:
      python -m eval encoders --gold none
      python -m eval encoders --backends torch,openvino --gold k12docs
      python -m eval encoders
    """

    configure_logging("WARNING")
    chosen = tuple(b.strip() for b in backends.split(",") if b.strip())
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown or not chosen:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}: choose from {', '.join(BACKENDS)}",
                                 param_hint="--backends")
    settings = load_settings()
    result = compare_encoders(settings, None if gold == "none" else gold, echo=lambda m: click.echo(m, err=True),
                              limit=limit, backends=chosen)
    folder = settings.reports_dir / "encoders"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encoders.json").write_text(json.dumps(result, indent=2))
    (folder / "encoders.md").write_text(f"# Encoder backends\n\n{table(result)}\n")
    click.echo(json.dumps(result, indent=2) if as_json else table(result))
    sys.stdout.flush()


COMMANDS = [encoders]
