"""Markdown tables of gold-set figures, shared by ``eval run``, its report and ``eval ablate``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["TABLE_METRICS", "markdown_table", "summary_table"]

TABLE_METRICS = ["hit@5", "mrr", "ndcg@10", "cited_right", "fact_recall", "citation_precision", "readability",
                 "usable_lead", "abstain_recall",
                 "answer_rate", "mean_chars", "latency_p50_ms", "latency_p95_ms", "questions"]
_WHOLE = {"latency_p50_ms", "latency_p95_ms", "mean_chars", "max_chars", "questions"}  # shown without decimals


def markdown_table(first: str, names: list[str], rows: Iterable[tuple[str, Mapping[str, float]]]) -> str:
    """A Markdown table: a label column headed ``first``, then one column per metric name."""
    lines = [f"| {first} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, values in rows:
        cells = [f"{values.get(n, 0):.0f}" if n in _WHOLE else f"{values.get(n, 0):.3f}" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(summary: Mapping[str, Any], names: list[str]) -> str:
    """One row for the main set, one per area, then one per slice (e.g. ``casual``)."""
    scopes = ([("overall", summary["overall"])] if summary.get("overall") else []) + list(summary["per_area"].items())
    scopes += list(summary.get("slices", {}).items())
    return markdown_table("scope", names, scopes)
