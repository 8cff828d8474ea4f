"""Reports of ``python -m eval bench``: a text table, JSON, Markdown and a scaling chart (PNG)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from eval.reports import method_lines, write_latest

__all__ = ["text_table", "write_bench_report"]


def _ingest_lines(summary: dict[str, Any]) -> list[str]:
    i = summary["ingest"]
    lines = [
        "| measure | value | target |",
        "|---|---:|---|",
        f"| corpus | {i['files']} files, {i['chunks']} chunks | |",
        f"| machine: CPUs, 1-min load average at start / end | {summary['machine']['cpus']}, "
        f"{summary['machine']['load_avg_1m_start']} / {summary['machine']['load_avg_1m_end']} | |",
        f"| run_ingest, mean of 2 (A-B-B-A order) | {i['ingest_s']:.1f} s ({i['ingest_chunks_per_s']:.1f} chunks/s); runs {i.get('ingest_runs_s')} | |",
        f"| encoder backend | {i.get('backend', 'n/a')} | |",
        f"| raw {i.get('raw_encoder', 'SentenceTransformer.encode')}, same chunks, mean of 2 | {i['raw_encode_s']:.1f} s "
        f"({i['raw_encode_chunks_per_s']:.1f} chunks/s); "
        f"runs {i.get('raw_encode_runs_s')} | |",
        f"| ingest / raw throughput | {i['ingest_to_raw_ratio']:.2f} | >= 0.95 |",
        *([f"| CPU time: ingest / raw encode, mean of 2 | {statistics.fmean(i['ingest_cpu_runs_s']):.1f} / "
           f"{statistics.fmean(i['raw_encode_cpu_runs_s']):.1f} s (the pipeline's own {i['pipeline_cpu_s']:.1f} s: "
           f"with the encoder on every core, ingest / raw can reach {i['ratio_bound_when_cores_are_busy']:.2f} at most) | |"]
          if "pipeline_cpu_s" in i else []),
        f"| our bulk encoder alone, same chunks in one call, mean of 2 | {i.get('own_encode_s', 0.0):.1f} s; runs "
        f"{i.get('own_encode_runs_s')} (ingest / this: {i.get('ingest_to_own_encode_ratio', 0.0):.2f}, the pipeline's cost alone) | |",
        f"| re-ingest unchanged | {i['reingest_s'] * 1000:.0f} ms ({i['reingest_unchanged']} unchanged) | |",
        f"| first ingest / re-ingest | {i['reingest_speedup']:.0f}x | >= 50x |",
    ]
    lc = summary.get("langchain")
    if lc:
        lines += [
            f"| LangChain Chroma.add_texts (embed + write, pre-chunked) | {lc['langchain_ingest_s']:.1f} s | |",
            f"| LangChain similarity_search p50 / p95 | {lc['langchain_search']['p50_ms']:.1f} / {lc['langchain_search']['p95_ms']:.1f} ms | |",
            f"| our Retriever.retrieve (hybrid, as deployed) p50 / p95 | {lc['ours_retrieve']['p50_ms']:.1f} / {lc['ours_retrieve']['p95_ms']:.1f} ms | |",
            f"| retrieve p50 ours / LangChain | {lc['retrieve_p50_ratio_ours_to_langchain']:.2f} | <= 1 |",
        ]
    whole = summary.get("whole_process")
    if whole:
        lines += [
            f"| whole process `ingest {Path(whole['docs']).name}` (A-B-B-A) | runs {whole['ours_runs_s']} s wall, "
            f"{whole.get('ours_cpu_s', '?')} s CPU | |",
            f"| whole process LangChain pipeline, same folder | runs {whole['langchain_runs_s']} s wall, "
            f"{whole.get('langchain_cpu_s', '?')} s CPU | |",
            f"| 1-min load average before each run (ours, LangChain, LangChain, ours) | {whole.get('load_avg_1m_before_runs', '?')} | |",
            f"| LangChain time / ours | {whole['speedup']:.2f}x wall, {whole.get('cpu_speedup', float('nan')):.2f}x CPU | >= 1.5x (wall) |",
        ]
    return lines


def _scale_lines(summary: dict[str, Any]) -> list[str]:
    lines = ["| chunks (real + synthetic) | store write s | open + keyword s | one doc added s | ingest s (projected) | "
             "cold query ms | retrieve p50 / p95 ms | ask p50 / p95 ms | API /v1/ask p50 / p95 ms (1 client) | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary["scales"]:
        lines.append(f"| {r['chunks']:,} ({r['real_chunks']:,} + {r['synthetic_chunks']:,}) | {r['store_write_s']:.1f} | "
                     f"{r['open_and_keyword_s']:.1f} | {r.get('update_one_doc_s', float('nan')):.2f} | "
                     f"{r['ingest_projected_s']:.0f} | {r['cold_query_ms']:.0f} | "
                     f"{r['retrieve']['p50_ms']:.1f} / {r['retrieve']['p95_ms']:.1f} | {r['ask']['p50_ms']:.1f} / {r['ask']['p95_ms']:.1f} | "
                     f"{_api_cell(r)} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return lines


def _api_cell(row: dict[str, Any]) -> str:
    api = row.get("api")
    return f"{api['p50_ms']:.1f} / {api['p95_ms']:.1f}" if api else "not measured"


def text_table(summary: dict[str, Any]) -> str:
    """The ingest/baseline table and the scaling table, as Markdown."""
    return "\n".join(_ingest_lines(summary) + [""] + _scale_lines(summary))


def _chart(folder: Path, summary: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["scales"]
    n = [r["chunks"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(n, [r["ingest_projected_s"] for r in rows], marker="o", label="ingest (projected)")
    left.plot(n, [r["store_write_s"] + r["open_and_keyword_s"] for r in rows], marker="s", label="store write + keyword build (measured)")
    left.set(xscale="log", yscale="log", xlabel="chunks", ylabel="seconds", title="Ingest time")
    right.plot(n, [r["retrieve"]["p50_ms"] for r in rows], marker="o", label="retrieve p50")
    right.plot(n, [r["retrieve"]["p95_ms"] for r in rows], marker="o", linestyle="--", label="retrieve p95")
    right.plot(n, [r["ask"]["p50_ms"] for r in rows], marker="s", label="ask p50")
    right.plot(n, [r["ask"]["p95_ms"] for r in rows], marker="s", linestyle="--", label="ask p95")
    right.set(xscale="log", xlabel="chunks", ylabel="milliseconds", title="Query latency")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "scaling.png", dpi=110)
    plt.close(fig)
    return "scaling.png"


def write_bench_report(folder: Path, summary: dict[str, Any]) -> Path:
    """Write latest.json, latest.md and scaling.png into ``folder``; return the Markdown path."""
    return write_latest(folder, summary, chart=_chart if summary["scales"] else None, markdown=_markdown)


def _markdown(summary: dict[str, Any]) -> str:
    machine = summary.get("machine", {})
    return (f"# Benchmark\n\nGenerated {summary['generated_at']}; model {summary['embedding_model']}; "
            f"{machine.get('cpus')} CPUs, load average {machine.get('load_avg_1m_start')} at the start "
            f"and {machine.get('load_avg_1m_end')} at the end.\n\n"
            f"{text_table(summary)}\n\nMethod:\n{method_lines(summary)}\n")
