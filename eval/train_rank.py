"""``python -m eval train-rank``: fit the learned re-ranking on the gold sets, with grouped cross-validation.

For every covered gold question the fused head (:data:`kb.answering.ranking.POOL` chunks,
re-ranking off) and its cheap features are taken; a chunk is positive when it is a gold
place (the right page of a PDF, the right document otherwise). A pointwise logistic model
learns the features' weights. Folds are grouped by the answering document, and the
figures printed are the held-out re-ranked hit@1, hit@5 and MRR beside the fused order's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from eval.gold import load_gold
from eval.run import eval_kb
from kb.answering.ranking import POOL, RANK_FEATURES, RANK_MODEL_PATH, RankModel, rank_features

__all__ = ["rank_rows", "fit_rank", "COMMANDS"]

CORPORA = ("library", "k12docs")
FOLDS = 5
C = 1.0


def rank_rows(settings: Any, corpora: tuple[str, ...] = CORPORA) -> list[dict[str, Any]]:
    """Per covered gold question: its group, the pool's feature rows and which are gold places."""
    from kb.answering.assistant import Assistant
    from kb.core.areas import classify

    rows: list[dict[str, Any]] = []
    for corpus in corpora:
        kb = eval_kb(settings.with_overrides(rerank=False), corpus)
        assistant = Assistant(kb.settings, kb=kb, journal=None)
        for item in load_gold(corpus):
            if item.abstain:
                continue
            question = assistant._expand(assistant._standalone(item.question, list(item.history)))
            areas = classify(question)
            pool = assistant.retriever.retrieve(question, k=POOL, areas=areas)
            x = rank_features(question, pool, kb.keyword, areas)
            rows.append({"id": item.id, "corpus": corpus, "group": item.refs[0].stem,
                         "x": np.round(x, 4).tolist(),
                         "y": [int(item.is_relevant(p.chunk.source, p.chunk.page)) for p in pool]})
    return rows


def _fit(rows: list[dict[str, Any]]) -> RankModel:
    from sklearn.linear_model import LogisticRegression

    x = np.array([f for r in rows for f in r["x"]], dtype=np.float64)
    y = np.array([v for r in rows for v in r["y"]], dtype=np.int64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=C, class_weight="balanced", solver="lbfgs", max_iter=5000)
    model.fit((x - mean) / scale, y)
    return RankModel(features=RANK_FEATURES, mean=tuple(round(float(v), 4) for v in mean),
                     scale=tuple(round(float(v), 4) for v in scale),
                     coef=tuple(round(float(v), 4) for v in model.coef_[0]))


def fit_rank(rows: list[dict[str, Any]]) -> RankModel:
    """The model fitted on every row."""
    return _fit(rows)


def _metrics(labels: list[list[int]]) -> dict[str, float]:
    def first(ys: list[int]) -> int | None:
        return next((i for i, v in enumerate(ys) if v), None)

    ranks = [first(ys) for ys in labels]
    n = len(ranks) or 1
    return {"hit@1": round(sum(r == 0 for r in ranks) / n, 3),
            "hit@5": round(sum(r is not None and r < 5 for r in ranks) / n, 3),
            "mrr": round(sum(1 / (r + 1) for r in ranks if r is not None) / n, 3)}


# feature groups left out one at a time in the printed ablation
ABLATIONS = {"neighbouring pages": ("neighbour",), "title and heading fields": ("title_match", "heading_match"),
             "same-document support": ("doc_support",), "position in document": ("position",),
             "area match": ("area_match",)}


def _without(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows with some features held constant (so the model cannot use them)."""
    drop = [RANK_FEATURES.index(n) for n in names]
    return [dict(r, x=[[0.0 if j in drop else v for j, v in enumerate(f)] for f in r["x"]]) for r in rows]


def cross_validate(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Held-out figures per corpus: fused order vs learned order (each fold's model never saw its documents)."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([r["group"] for r in rows])
    reordered: list[list[int]] = [[] for _ in rows]
    for train, test in GroupKFold(n_splits=min(FOLDS, len(set(groups)))).split(np.zeros(len(rows)), groups=groups):
        model = _fit([rows[i] for i in train])
        for i in test:
            x = np.array(rows[i]["x"], dtype=np.float64)
            order = np.argsort(-model.scores(x), kind="stable") if len(x) else []
            reordered[i] = [rows[i]["y"][j] for j in order]
    out: dict[str, dict[str, float]] = {}
    for corpus in sorted({r["corpus"] for r in rows}):
        chosen = [i for i, r in enumerate(rows) if r["corpus"] == corpus]
        out[f"{corpus} fused"] = _metrics([rows[i]["y"] for i in chosen])
        out[f"{corpus} learned (cross-validated)"] = _metrics([reordered[i] for i in chosen])
    return out


@click.command("train-rank")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=RANK_MODEL_PATH, show_default=True,
              help="Where to write the fitted model (JSON).")
@click.option("--rows", "rows_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Reuse (or, when absent, write) the per-question feature rows in this JSON-lines file.")
def train_rank(out: Path, rows_path: Path | None) -> None:
    """Fit the learned re-ranking on the gold sets and print held-out figures beside the fused order.

    \b
    Examples:
      python -m eval train-rank
      python -m eval train-rank --rows /tmp/rank-rows.jsonl
    """
    from kb.cli.common import configure_logging, load_settings

    configure_logging("WARNING")
    settings = load_settings()
    if rows_path is not None and rows_path.is_file():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    else:
        rows = rank_rows(settings)
        if rows_path is not None:
            rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures = cross_validate(rows)
    for name, names in ABLATIONS.items():
        figures.update({f"{key} without {name}": v for key, v in cross_validate(_without(rows, names)).items()
                        if "learned" in key})
    click.echo("| order | hit@1 | hit@5 | mrr |\n|---|---|---|---|")
    for name, v in figures.items():
        click.echo(f"| {name} | {v['hit@1']:.3f} | {v['hit@5']:.3f} | {v['mrr']:.3f} |")
    document = {"command": "python -m eval train-rank", "model": fit_rank(rows).to_dict(), "cross_validated": figures,
                "questions": len(rows), "pool": POOL, "folds": FOLDS, "C": C}
    out.write_text(json.dumps(document, indent=2) + "\n")
    click.echo(f"model written to {out}")
    sys.stdout.flush()


COMMANDS = [train_rank]
