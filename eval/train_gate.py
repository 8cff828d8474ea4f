"""``python -m eval train-gate``: fit the abstention model on the gold sets, with grouped cross-validation.

Every gold question (library and k12docs) is asked through the one answering path; the signals
the decision reads (``Answer.gate``) and whether the question is covered become one row. The
model is fitted on the main sets and the casual-wording slices together (:data:`TRAINED`): casual
wording is what users type, and fitted on the main sets alone the model answered casual
uncovered questions it had never seen worded that way. Rows are grouped by the document that
answers them, so a casual paraphrase and the main questions over the same document fall in the
same fold (all uncovered questions of one set and area form a group): cross-validation never
scores a question whose document, or whose paraphrase, it trained on. The reported figures are
cross-validated, per corpus and slice: for each held-out fold, the model and its threshold are
fitted on the other folds only. A slice not in :data:`TRAINED` stays held out and is scored by
the model fitted on all trained rows. With 10-45 uncovered questions per slice one question moves
a figure by 0.02-0.1, so the report also gives the mean over :data:`REPEATS` reshuffles of the
groups into folds (``repeated``): judge a change by those.

The fit is deterministic (signals rounded to 3 places, rows in a fixed order, lbfgs, unshuffled
folds; the reshuffles are seeded). Signals computed over a freshly built index differ in the last places (the vector index
is built in parallel), so ``--check`` compares decisions, not coefficients: it refits and passes
when the shipped model and the refit decide alike on at least 99% of the gold questions.
``--ablate`` compares feature sets on the same rows (held-out AUC and abstain recall).
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
from kb.answering.abstention import FEATURES, MODEL_PATH, GateModel

__all__ = ["gate_rows", "fit_gate", "cross_validate", "repeated_cv", "decisions_agree", "ablation", "COMMANDS"]

CORPORA = ("library", "k12docs")
MIN_ANSWER_RATE = 0.96  # the threshold keeps at least this share of covered questions answered
FOLDS = 5
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)  # inverse regularisation strengths; the one with the best held-out log loss is used
PLACES = 3  # signals are rounded to this many places: the last places vary between index builds
TRAINED = ("main", "casual")  # the slices the model is fitted on; rows tagged with any other slice stay held out
REPEATS = 10  # reshuffles of the groups into folds for the repeated cross-validated figures
AGREEMENT = 0.99  # --check passes when the shipped model and a refit decide alike on this share of questions


def gate_rows(settings: Any, corpora: tuple[str, ...] = CORPORA, progress: bool = False) -> list[dict[str, Any]]:
    """One row per gold question: its gate signals, whether it is covered, its group and slice."""
    from kb.answering.assistant import Assistant

    rows: list[dict[str, Any]] = []
    for corpus in corpora:
        kb = eval_kb(settings, corpus)
        assistant = Assistant(kb.settings, kb=kb, journal=None)
        items = load_gold(corpus)
        for n, item in enumerate(items):
            if progress and n % 25 == 0:
                click.echo(f"{corpus}: {n}/{len(items)}", err=True)
            # unsplit: the gate's signals belong to one retrieval, and a multi-part question's parts each pass the gate
            answer = assistant.ask(item.question, history=item.history, audit=False, log_gap=False, split=False)
            group = item.refs[0].stem if item.refs else f"{corpus}:{item.area}:uncovered"
            rows.append({"id": item.id, "corpus": corpus, "slice": ",".join(getattr(item, "tags", ())) or "main",
                         "covered": not item.abstain, "group": group,
                         **{name: round(float(value), PLACES) for name, value in answer.gate.items()}})
    return rows


def _is_trained(row: dict[str, Any]) -> bool:
    return all(part in TRAINED for part in str(row.get("slice", "main")).split(","))


def _trained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the model is fitted on: the main sets and the casual slices (other tagged slices stay held out)."""
    return [r for r in rows if _is_trained(r)]


def _matrix(rows: list[dict[str, Any]], features: tuple[str, ...] = FEATURES) -> tuple[np.ndarray, np.ndarray]:
    x = np.round(np.array([[row[f] for f in features] for row in rows], dtype=np.float64), PLACES)
    y = np.array([1 if row["covered"] else 0 for row in rows], dtype=np.int64)
    return x, y


def _threshold(probabilities: np.ndarray, y: np.ndarray, min_answer_rate: float) -> float:
    """The highest threshold that still answers ``min_answer_rate`` of the covered questions."""
    covered = np.sort(probabilities[y == 1])
    if not len(covered):
        return 0.5
    allowed = int(np.floor((1.0 - min_answer_rate) * len(covered)))  # covered questions it may refuse
    return float(covered[allowed]) - 1e-6


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, Any]:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", solver="lbfgs", max_iter=5000)
    with threadpool_limits(1):  # a small fit: parallel BLAS threads only wait for each other on a busy machine
        model.fit((x - mean) / scale, y)
    return mean, scale, model


def _oof(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, c: float) -> np.ndarray:
    """Out-of-fold probabilities from grouped cross-validation."""
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=min(folds, len(set(groups)))).split(x, y, groups):
        mean, scale, model = _fit(x[train], y[train], c)
        out[test] = model.predict_proba((x[test] - mean) / scale)[:, 1]
    return out


def _choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int) -> tuple[float, np.ndarray]:
    """The regularisation with the lowest grouped out-of-fold log loss (class-balanced), and its probabilities."""
    weights = np.where(y == 1, 0.5 / max(1, int(y.sum())), 0.5 / max(1, int((1 - y).sum())))
    best: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID:
        oof = np.clip(_oof(x, y, groups, folds, c), 1e-6, 1 - 1e-6)
        loss = float(-(weights * (y * np.log(oof) + (1 - y) * np.log(1 - oof))).sum())
        if best is None or loss < best[0] - 1e-9:
            best = (loss, c, oof)
    assert best is not None
    return best[1], best[2]


def fit_gate(rows: list[dict[str, Any]], min_answer_rate: float = MIN_ANSWER_RATE, folds: int = FOLDS, *,
             features: tuple[str, ...] = FEATURES) -> GateModel:
    """Fit the model on the trained rows; its threshold comes from grouped out-of-fold probabilities."""
    rows = _trained(rows)
    x, y = _matrix(rows, features)
    groups = np.array([row["group"] for row in rows])
    c, oof = _choose_c(x, y, groups, folds)
    mean, scale, model = _fit(x, y, c)
    threshold = _threshold(oof, y, min_answer_rate)
    return GateModel(features=features, mean=tuple(round(float(v), 4) for v in mean),
                     scale=tuple(round(float(v), 4) for v in scale),
                     coef=tuple(round(float(v), 4) for v in model.coef_[0]),
                     intercept=round(float(model.intercept_[0]), 4), threshold=round(threshold, 4))


def chosen_c(rows: list[dict[str, Any]], folds: int = FOLDS, *, features: tuple[str, ...] = FEATURES) -> float:
    """The regularisation ``fit_gate`` picks for these rows."""
    trained = _trained(rows)
    x, y = _matrix(trained, features)
    return _choose_c(x, y, np.array([row["group"] for row in trained]), folds)[0]


def _shuffled_folds(groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: the groups dealt, in a seeded random order, to the fold holding fewest rows."""
    rng = np.random.RandomState(seed)
    names = sorted(set(groups.tolist()))
    rng.shuffle(names)
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for name in names:
        fold = int(np.argmin(load))
        fold_of[name] = fold
        load[fold] += int((groups == name).sum())
    assigned = np.array([fold_of[g] for g in groups.tolist()])
    return [(np.where(assigned != f)[0], np.where(assigned == f)[0]) for f in range(folds) if (assigned == f).any()]


def cross_validate(rows: list[dict[str, Any]], min_answer_rate: float = MIN_ANSWER_RATE,
                   folds: int = FOLDS, *, features: tuple[str, ...] = FEATURES, seed: int | None = None) -> list[bool]:
    """Held-out decisions (True: answer) for every row.

    A trained row (main or casual) is decided by the model and threshold of the fold that did not
    see its group; a row of a held-out slice by the model fitted on all trained rows. Without a
    ``seed`` the folds are sklearn's deterministic ``GroupKFold``; with one, the groups are dealt
    to folds in a seeded random order (:func:`repeated_cv`).
    """
    from sklearn.model_selection import GroupKFold

    trained = [i for i, r in enumerate(rows) if _is_trained(r)]
    x, y = _matrix([rows[i] for i in trained], features)
    groups = np.array([rows[i]["group"] for i in trained])
    decisions = np.zeros(len(rows), dtype=bool)
    splits = (list(GroupKFold(n_splits=min(folds, len(set(groups)))).split(x, y, groups)) if seed is None
              else _shuffled_folds(groups, folds, seed))
    for train, test in splits:
        c, inner = _choose_c(x[train], y[train], groups[train], folds)
        threshold = _threshold(inner, y[train], min_answer_rate)
        mean, scale, model = _fit(x[train], y[train], c)
        decisions[[trained[i] for i in test]] = model.predict_proba((x[test] - mean) / scale)[:, 1] >= threshold
    held = [i for i in range(len(rows)) if i not in set(trained)]
    if held:
        whole = fit_gate(rows, min_answer_rate, folds, features=features)
        for i in held:
            decisions[i] = whole.answers(rows[i])
    return [bool(d) for d in decisions]


def repeated_cv(rows: list[dict[str, Any]], repeats: int = REPEATS, min_answer_rate: float = MIN_ANSWER_RATE, *,
                features: tuple[str, ...] = FEATURES) -> dict[str, dict[str, float]]:
    """Answer rate and abstain recall per corpus and slice, averaged over ``repeats`` seeded reshuffles of
    the groups into folds (each one nested: C and threshold chosen on the training folds only)."""
    runs = [_scores(rows, cross_validate(rows, min_answer_rate, features=features, seed=seed)) for seed in range(repeats)]
    return {scope: {key: (round(float(np.mean([run[scope][key] for run in runs])), 3)
                          if key in ("answer_rate", "abstain_recall") else runs[0][scope][key])
                    for key in runs[0][scope]} for scope in runs[0]}


def decisions_agree(a: GateModel, b: GateModel, rows: list[dict[str, Any]]) -> float:
    """Share of rows on which two models decide alike (answer or abstain)."""
    if not rows:
        return 1.0
    return sum(a.answers(r) == b.answers(r) for r in rows) / len(rows)


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def _recall_at(scores: np.ndarray, y: np.ndarray, answer_rate: float) -> float:
    """Abstain recall when the threshold answers ``answer_rate`` of the covered questions."""
    threshold = _threshold(scores, y, answer_rate)
    uncovered = scores[y == 0]
    return float((uncovered < threshold).mean()) if len(uncovered) else 0.0


def ablation(rows: list[dict[str, Any]], sets: dict[str, tuple[str, ...]],
             folds: int = FOLDS, *, repeats: int = REPEATS) -> dict[str, dict[str, float]]:
    """Held-out figures per feature set: grouped out-of-fold AUC and abstain recall at answer rates .90/.95
    on the trained rows, and the nested cross-validated answer rate and abstain recall per corpus and
    slice, averaged over ``repeats`` reshuffles of the folds (:func:`repeated_cv`)."""
    trained = _trained(rows)
    groups = np.array([r["group"] for r in trained])
    out: dict[str, dict[str, float]] = {}
    for name, features in sets.items():
        x, y = _matrix(trained, features)
        _, oof = _choose_c(x, y, groups, folds)
        figures = {"auc": round(_auc(oof, y), 3), "abstain@.90": round(_recall_at(oof, y, 0.90), 3),
                   "abstain@.95": round(_recall_at(oof, y, 0.95), 3)}
        for scope, v in repeated_cv(rows, repeats, features=features).items():
            figures[f"{scope} answer"] = v["answer_rate"]
            figures[f"{scope} abstain"] = v["abstain_recall"]
        out[name] = figures
    return out


def _scores(rows: list[dict[str, Any]], answered: list[bool]) -> dict[str, dict[str, float]]:
    """Abstain recall and answer rate per corpus and slice."""
    out: dict[str, dict[str, float]] = {}
    scopes = sorted({(r["corpus"], r["slice"]) for r in rows})
    for corpus, part in [*scopes, ("all", "all")]:
        chosen = [(r, a) for r, a in zip(rows, answered, strict=True)
                  if corpus == "all" or (r["corpus"] == corpus and r["slice"] == part)]
        covered = [a for r, a in chosen if r["covered"]]
        uncovered = [a for r, a in chosen if not r["covered"]]
        out[f"{corpus}/{part}"] = {
            "answer_rate": round(sum(covered) / len(covered), 3) if covered else 0.0,
            "abstain_recall": round(1 - sum(uncovered) / len(uncovered), 3) if uncovered else 0.0,
            "covered": float(len(covered)), "uncovered": float(len(uncovered))}
    return out


def _threshold_gate(rows: list[dict[str, Any]], settings: Any) -> list[bool]:
    """The one-score gate's decisions, for comparison."""
    return [r["evidence"] >= (settings.min_relevance_unknown_names if r["missing"] else settings.min_relevance)
            for r in rows]


def _table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| decision | scope | answer_rate | abstain_recall | covered | uncovered |", "|---|---|---|---|---|---|"]
    for name, scopes in results.items():
        for scope, v in scopes.items():
            lines.append(f"| {name} | {scope} | {v['answer_rate']:.3f} | {v['abstain_recall']:.3f} | "
                         f"{v['covered']:.0f} | {v['uncovered']:.0f} |")
    return "\n".join(lines)


# signals gate_features reports that the shipped model does not read: --ablate tries adding each
CANDIDATES = ("cited_coverage", "agree_top_doc", "amount_unanswered", "question_terms", "asked_uncited",
              "asked_rare_cited", "asked_rare_passages", "missing_context", "unseen_asked", "unseen_context",
              "unknown_scene", "focus_cited", "focus_passages", "together", "agree_top3", "duration_unanswered",
              "choice", "choice_uncited", "subject_uncited", "rare_uncited", "cited_doc_agree")


def _ablation_sets(rows: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    sets: dict[str, tuple[str, ...]] = {"shipped features": FEATURES}
    sets.update({f"without {f}": tuple(g for g in FEATURES if g != f) for f in FEATURES})
    sets.update({f"with {f}": (*FEATURES, f) for f in CANDIDATES if rows and f in rows[0]})
    return sets


def _ablation_table(results: dict[str, dict[str, float]]) -> str:
    columns = list(next(iter(results.values())))
    lines = ["| features | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(f"{v[c]:.3f}" for c in columns) + " |" for name, v in results.items()]
    return "\n".join(lines)


@click.command("train-gate")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=MODEL_PATH, show_default=True,
              help="Where to write the fitted model (JSON).")
@click.option("--rows", "rows_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Reuse (or, when absent, write) the per-question signals in this JSON-lines file.")
@click.option("--check", is_flag=True, help="Refit and exit 1 when the shipped model in --out decides differently "
              f"from the refit on more than {1 - AGREEMENT:.0%} of the gold questions (nothing written).")
@click.option("--ablate", is_flag=True, help="Print held-out figures with each signal left out or added (nothing written).")
def train_gate(out: Path, rows_path: Path | None, check: bool, ablate: bool) -> None:
    """Fit the abstention model on the gold sets and print its cross-validated figures.

    \b
    Examples:
      python -m eval train-gate
      python -m eval train-gate --check
      python -m eval train-gate --rows /tmp/gate-rows.jsonl
      python -m eval train-gate --rows /tmp/gate-rows.jsonl --ablate
    """
    from kb.core.console import configure_logging, load_settings

    configure_logging("WARNING")
    settings = load_settings()
    if rows_path is not None and rows_path.is_file():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    else:
        rows = gate_rows(settings, progress=sys.stderr.isatty())
        if rows_path is not None:
            rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if ablate:
        click.echo(_ablation_table(ablation(rows, _ablation_sets(rows))))
        return
    model = fit_gate(rows)
    results = {"model (cross-validated)": _scores(rows, cross_validate(rows)),
               f"model (cross-validated, mean of {REPEATS} fold shuffles)": repeated_cv(rows),
               "threshold gate (min_relevance)": _scores(rows, _threshold_gate(rows, settings))}
    document = {"command": "python -m eval train-gate", "model": model.to_dict(), "cross_validated": results["model (cross-validated)"],
                "cross_validated_repeated": results[f"model (cross-validated, mean of {REPEATS} fold shuffles)"],
                "trained_slices": list(TRAINED), "repeats": REPEATS,
                "rows": len(_trained(rows)), "held_out_slices": len(rows) - len(_trained(rows)),
                "min_answer_rate": MIN_ANSWER_RATE, "folds": FOLDS, "C": chosen_c(rows), "C_grid": list(C_GRID)}
    click.echo(_table(results))
    if check:
        shipped = GateModel.from_dict(json.loads(out.read_text())["model"]) if out.is_file() else None
        share = decisions_agree(shipped, model, rows) if shipped is not None else 0.0
        same = shipped is not None and shipped.features == model.features and share >= AGREEMENT
        click.echo(f"the shipped model decides like a refit on {share:.1%} of the gold questions" if same else
                   f"the shipped model in {out} decides like a refit on only {share:.1%} of the gold questions "
                   f"(at least {AGREEMENT:.0%} needed): run `python -m eval train-gate` and commit the file")
        sys.exit(0 if same else 1)
    out.write_text(json.dumps(document, indent=2) + "\n")
    click.echo(f"model written to {out}")


COMMANDS = [train_gate]
