"""Evaluation reports: JSON, Markdown and PNG charts in a git-ignored folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.tables import TABLE_METRICS, summary_table

__all__ = ["method_lines", "write_latest", "write_report"]


def write_report(folder: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    """Write latest.json, latest.md, rows.jsonl and charts into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {**summary, "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    charts = _charts(folder, summary, rows)
    summary["charts"] = charts
    (folder / "latest.json").write_text(json.dumps(summary, indent=2, default=str))
    (folder / "rows.jsonl").write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    (folder / "latest.md").write_text(_markdown(summary))
    return folder


def write_latest(folder: Path, summary: dict[str, Any], *, markdown: Callable[[dict[str, Any]], str],
                 chart: Callable[[Path, dict[str, Any]], str] | None) -> Path:
    """Stamp ``summary`` with the time, draw its chart (if any), write latest.json and latest.md; return the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    summary["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["chart"] = chart(folder, summary) if chart is not None else None
    (folder / "latest.json").write_text(json.dumps(summary, indent=2, default=str))
    (folder / "latest.md").write_text(markdown(summary))
    return folder / "latest.md"


def method_lines(summary: dict[str, Any]) -> str:
    """The summary's "method" notes as a Markdown list."""
    return "\n".join(f"- {k}: {v}" for k, v in summary.get("method", {}).items())


def _markdown(summary: dict[str, Any]) -> str:
    return (f"# Evaluation report\n\nGold set `{summary.get('gold')}` over `{summary.get('corpus')}`, "
            f"generated {summary['generated_at']}.\n\n{summary_table(summary, TABLE_METRICS)}\n\n"
            f"Configuration: `{json.dumps(summary.get('config', {}))}`\n")


def _charts(folder: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["hit@5", "cited_right", "fact_recall", "citation_precision", "answer_rate"]
    areas = list(summary["per_area"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([x + i * width for x in range(len(areas))], [summary["per_area"][a].get(name, 0) for a in areas],
               width=width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(areas))], areas, rotation=15, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=5, loc="lower center")
    ax.set_title("Metrics per challenge area")
    fig.tight_layout()
    fig.savefig(folder / "per_area.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist([r["latency"] * 1000 for r in rows], bins=30)
    ax.set_xlabel("answer latency (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Latency distribution")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    return ["per_area.png", "latency.png"]


import click  # noqa: E402  (the command below is the module's CLI face)

from kb.core.console import friendly_errors, load_settings  # noqa: E402


@click.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print the latest report's JSON instead of Markdown.")
@friendly_errors
def report(as_json: bool) -> None:
    """Print the latest evaluation report (written by `python -m eval run`)."""
    folder = load_settings().reports_dir / "eval"
    path = folder / ("latest.json" if as_json else "latest.md")
    if not path.exists():
        raise click.ClickException(f"no report in {folder} yet: run `python -m eval run` first")
    click.echo(path.read_text(encoding="utf-8"))


COMMANDS = [report]
