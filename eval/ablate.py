"""``python -m eval ablate``: retrieval and answer configurations side by side on a gold set."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from eval.gold import load_gold
from eval.run import eval_kb, run_gold
from eval.tables import markdown_table
from kb.answering.assistant import Assistant
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.index.knowledge import KnowledgeBase

__all__ = ["CONFIGS", "COMMANDS"]

# name -> settings overrides; chunk-size variants get their own evaluation knowledge base.
CONFIGS: dict[str, dict[str, Any]] = {
    "default (weighted 0.4, no mmr)": {},
    "dense only": {"fusion": "dense"},
    "bm25 only": {"fusion": "bm25"},
    "rrf + mmr": {"fusion": "rrf", "mmr": True},
    "rrf, no mmr": {"fusion": "rrf", "mmr": False},
    "weighted 0.4 + mmr": {"fusion": "weighted", "dense_weight": 0.4, "mmr": True},
    "weighted 0.6, no mmr": {"fusion": "weighted", "dense_weight": 0.6, "mmr": False},
    "no area boost": {"area_boost": 0.0},
    "composer encodes every sentence": {"compose_shortlist": 200},
    "composer weighs passages by dense cosine": {"compose_fused_relevance": False},
    "composer quotes from the shortlist only": {"compose_fill": False},
    "composer leads steps/priorities with the list": {"compose_list_lead": True},
    "composer reads the chunk a top passage runs into": {"compose_context": 3},
    "composer never reads the start of a list it opens part-way": {"compose_list_start": False},
    "abstain by one-score threshold": {"abstention": "threshold"},
    "no vocabulary expansion": {"expand_vocabulary": False},
    "expansion words weigh as the user's own": {"expansion_weight": 1.0},
    "no neighbour support": {"neighbour_support": 0.0},
    "vector search by Chroma's graph, not exact": {"exact_search_max_chunks": 0},
    "chunks 600/80": {"chunk_size": 600, "chunk_overlap": 80},
    "chunks 1200/150": {"chunk_size": 1200, "chunk_overlap": 150},
}
COLUMNS = ["hit@5", "mrr", "ndcg@10", "cited_right", "fact_recall", "answer_rate", "abstain_recall", "mean_chars",
           "latency_p50_ms", "latency_p95_ms"]


@click.command("ablate")
@click.option("--gold", default="library", show_default=True, help="Gold set: library or k12docs.")
@click.option("--only", multiple=True, help="Run only these configurations (repeatable; names as listed).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@friendly_errors
def ablate(gold: str, only: tuple[str, ...], as_json: bool) -> None:
    """Run several retrieval configurations over the gold set and print them side by side.

    \b
    Examples:
      python -m eval ablate
      python -m eval ablate --gold k12docs --only "dense only" --only "bm25 only"
    """

    configure_logging("WARNING")
    base = load_settings()
    items = load_gold(gold)
    corpus = "k12docs" if gold == "k12docs" else "library"
    chosen = {n: c for n, c in CONFIGS.items() if not only or n in only}
    kbs: dict[tuple[int, int], KnowledgeBase] = {}
    results: dict[str, dict[str, float]] = {}
    for name, overrides in chosen.items():
        settings = base.with_overrides(**overrides)
        key = (settings.chunk_size, settings.chunk_overlap)
        if key not in kbs:
            kbs[key] = eval_kb(settings, corpus, embedder=next(iter(kbs.values())).embedder if kbs else None)
        kb = kbs[key]
        config_kb = KnowledgeBase(kb.settings.with_overrides(**overrides), embedder=kb.embedder, store=kb.store)
        _, summary = run_gold(Assistant(config_kb.settings, kb=config_kb, journal=None), items)
        results[name] = summary["overall"]
        click.echo(f"{name}: hit@5 {results[name]['hit@5']:.3f}, fact recall {results[name]['fact_recall']:.3f}", err=True)
    folder = base.reports_dir / "ablate"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{gold}.json").write_text(json.dumps(results, indent=2))
    table = markdown_table("configuration", COLUMNS, results.items())
    (folder / f"{gold}.md").write_text(f"# Ablation on the {gold} gold set\n\n{table}\n")
    click.echo(json.dumps(results, indent=2) if as_json else table)
    sys.stdout.flush()


COMMANDS = [ablate]
