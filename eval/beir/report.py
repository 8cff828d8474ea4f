"""Reports of ``python -m eval beir``: JSON, a Markdown table and a PNG bar chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.reports import method_lines, write_latest

__all__ = ["write_beir_report", "markdown_table"]


def markdown_table(summary: dict[str, Any]) -> str:
    """Our configurations, then the published baselines, as one Markdown table."""
    lines = [
        f"BEIR {summary['dataset']} ({summary['split']}, {summary['queries']} queries, {summary['documents']} documents "
        f"as {summary['chunks']} chunks; model {summary['embedding_model']}; fetch_k {summary['fetch_k']})",
        "",
        "| configuration | nDCG@10 | recall@100 |",
        "|---|---:|---:|",
    ]
    for row in summary["results"]:
        recall = "n/a (MMR reorders the head only)" if row["recall@100"] is None else f"{row['recall@100']:.4f}"
        lines.append(f"| {row['config']} | {row['ndcg@10']:.4f} | {recall} |")
    for name, value in summary["baselines"].items():
        lines.append(f"| *published: {name}* | {value:.3f} | |")
    return "\n".join(lines)


def _chart(folder: Path, summary: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["results"]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.6))
    ax.barh([r["config"] for r in rows], [r["ndcg@10"] for r in rows], color="#4c72b0")
    for (name, value), style in zip(summary["baselines"].items(), ("--", ":", "-."), strict=False):
        ax.axvline(value, color="#c44e52", linestyle=style, label=f"{name}: {value:.3f}")
    ax.invert_yaxis()
    low = min([r["ndcg@10"] for r in rows] + list(summary["baselines"].values()))
    ax.set_xlim(max(0.0, low - 0.1), min(1.0, max(r["ndcg@10"] for r in rows) + 0.05))
    ax.set_xlabel("nDCG@10")
    ax.set_title(f"BEIR {summary['dataset']}: nDCG@10 per retrieval configuration")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "ndcg.png", dpi=110)
    plt.close(fig)
    return "ndcg.png"


def write_beir_report(folder: Path, summary: dict[str, Any]) -> Path:
    """Write latest.json, latest.md and ndcg.png into ``folder``; return the Markdown path."""
    return write_latest(folder, summary, chart=_chart if summary["results"] else None, markdown=_markdown)


def _markdown(summary: dict[str, Any]) -> str:
    return f"# BEIR report\n\nGenerated {summary['generated_at']}.\n\n{markdown_table(summary)}\n\nMethod:\n{method_lines(summary)}\n"
