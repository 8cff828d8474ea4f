"""The abstention decision: its signals, the shipped model, and the deterministic, grouped training."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from eval.train_gate import AGREEMENT, PLACES, ablation, cross_validate, decisions_agree, fit_gate
from kb.answering.abstention import DENSE_FLOOR, FEATURES, MODEL_PATH, GateModel, load_model
from kb.answering.gate_signals import asking_sentence
from kb.core.settings import REPO_ROOT


def test_the_asking_sentence_is_told_apart_from_its_context() -> None:
    asking, context = asking_sentence("We moved every teacher to Gmail and Google Workspace last year. Under FERPA, "
                                   "may teachers email grades to parents? (family educational rights)")
    assert asking == "Under FERPA, may teachers email grades to parents? (family educational rights)"  # long forms stay
    assert "Gmail" in context and "Gmail" not in asking
    assert asking_sentence("Does Gmail encrypt mail at rest?") == ("Does Gmail encrypt mail at rest?", "")


def _rows(seed: int = 7, n: int = 160) -> list[dict[str, object]]:
    """Synthetic gate rows: covered questions have closer passages and better coverage, with noise."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        covered = i % 4 != 0
        base = 0.6 if covered else 0.35
        row: dict[str, object] = {f: round(rng.random(), 4) for f in FEATURES}
        row.update({"dense": round(base + rng.gauss(0, 0.1), 4), "coverage": round(base + rng.gauss(0, 0.15), 4),
                    "missing_asked": float(rng.random() < (0.1 if covered else 0.4)),
                    "covered": covered, "group": f"doc{i % 23}", "corpus": "synthetic", "slice": "main"})
        rows.append(row)
    return rows


@pytest.mark.model  # fitting needs scikit-learn (the eval extra)
def test_fitting_is_deterministic_and_learns_the_signal() -> None:
    rows = _rows()
    first, second = fit_gate(rows), fit_gate(list(rows))
    assert first == second
    coef = dict(zip(first.features, first.coef, strict=True))
    assert coef["dense"] > 0 and coef["coverage"] > 0 and coef["missing_asked"] < 0
    decisions = cross_validate(rows)
    covered = [d for d, r in zip(decisions, rows, strict=True) if r["covered"]]
    uncovered = [d for d, r in zip(decisions, rows, strict=True) if not r["covered"]]
    assert sum(covered) / len(covered) > 0.8 and sum(uncovered) / len(uncovered) < 0.5


@pytest.mark.model  # fitting needs scikit-learn (the eval extra)
def test_cross_validation_never_scores_a_question_with_a_model_that_saw_its_group() -> None:
    rows = _rows()
    flipped = [dict(r, covered=not r["covered"]) if r["group"] == "doc5" else r for r in rows]
    before, after = cross_validate(rows), cross_validate(flipped)
    same_group = [i for i, r in enumerate(rows) if r["group"] == "doc5"]
    assert [before[i] for i in same_group] == [after[i] for i in same_group]
    assert before != after  # the flip does change the folds that trained on doc5


@pytest.mark.model  # fits with scikit-learn (the eval extra), absent from the no-model suite
def test_the_casual_slice_is_trained_on_and_folded_with_the_questions_over_its_document() -> None:
    rows = _rows()
    # casual paraphrases of main questions: same documents (groups), their own wording (signals)
    casual = [dict(r, slice="casual", group=f"doc{i % 23}") for i, r in enumerate(_rows(seed=11, n=40))]
    flipped = [dict(r, covered=not r["covered"]) for r in casual]
    assert fit_gate(rows + casual) != fit_gate(rows)  # the casual rows are fitted on ...
    assert fit_gate(rows + casual) != fit_gate(rows + flipped)  # ... and their labels read
    # cross-validation holds a casual question out together with every question over its document
    doc5 = [dict(r, covered=not r["covered"]) if r["group"] == "doc5" else r for r in rows + casual]
    before, after = cross_validate(rows + casual), cross_validate(doc5)
    in_doc5 = [i for i, r in enumerate(rows + casual) if r["group"] == "doc5"]
    assert any((rows + casual)[i]["slice"] == "casual" for i in in_doc5)
    assert [before[i] for i in in_doc5] == [after[i] for i in in_doc5]


@pytest.mark.model  # fits with scikit-learn (the eval extra), absent from the no-model suite
def test_a_slice_outside_the_trained_ones_is_held_out_and_scored_by_the_whole_model() -> None:
    rows = _rows()
    other = [dict(r, slice="formats", group=f"formats{i}") for i, r in enumerate(_rows(seed=13, n=30))]
    flipped = [dict(r, covered=not r["covered"]) for r in other]  # labels the fit must never read
    assert fit_gate(rows + other) == fit_gate(rows) == fit_gate(rows + flipped)
    model = fit_gate(rows)
    decisions = cross_validate(rows + other)
    assert decisions[len(rows):] == [model.answers(r) for r in other]
    assert decisions[: len(rows)] == cross_validate(rows)  # the trained rows' held-out decisions are unchanged


@pytest.mark.model  # fits with scikit-learn (the eval extra), absent from the no-model suite
def test_the_repeated_cross_validation_is_seeded_and_keeps_groups_whole() -> None:
    from eval.train_gate import _shuffled_folds, repeated_cv

    rows = _rows()
    first, second = repeated_cv(rows, repeats=3), repeated_cv(list(rows), repeats=3)
    assert first == second and set(first) == {"synthetic/main", "all/all"}
    assert 0.8 < first["all/all"]["answer_rate"] <= 1.0 and first["all/all"]["covered"] == 120
    groups = np.array([r["group"] for r in rows])
    folds = _shuffled_folds(groups, 5, seed=4)
    assert sorted(i for _, test in folds for i in test) == list(range(len(rows)))  # every row tested once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])  # no group on both sides
    assert [t.tolist() for _, t in folds] != [t.tolist() for _, t in _shuffled_folds(groups, 5, seed=5)]


def _jitter(rows: list[dict[str, object]], seed: int) -> list[dict[str, object]]:
    """The rows as a freshly built index gives them: every real-valued signal moved in its last place."""
    rng = random.Random(seed)
    step = 10 ** -PLACES
    return [{k: (round(v + rng.choice((-step, 0.0, step)), PLACES) if k in FEATURES and k not in
                 ("missing_asked", "missing_context", "unseen_asked", "unseen_context", "asks_amount") else v)
             for k, v in r.items()} for r in rows]


@pytest.mark.model  # fits with scikit-learn (the eval extra), absent from the no-model suite
def test_a_refit_over_jittered_signals_decides_alike_though_its_coefficients_move() -> None:
    """What --check compares: decisions on the gold questions, not coefficients (which move with the index build)."""
    rows = _rows(n=400)
    shipped, refit = fit_gate(rows), fit_gate(_jitter(rows, seed=3))
    assert shipped != refit  # the parameters differ in the last places ...
    assert decisions_agree(shipped, refit, rows) >= AGREEMENT  # ... the decisions do not
    stale = fit_gate([dict(r, dense=round(1 - float(r["dense"]), 4)) for r in rows])  # a signal whose meaning changed
    assert decisions_agree(stale, refit, rows) < AGREEMENT


@pytest.mark.model  # fits with scikit-learn (the eval extra), absent from the no-model suite
def test_the_ablation_scores_each_feature_set_held_out() -> None:
    rows = _rows(n=200)
    without_dense = tuple(f for f in FEATURES if f != "dense")
    result = ablation(rows, {"all": FEATURES, "without dense": without_dense}, repeats=2)
    assert set(result) == {"all", "without dense"}
    assert result["all"]["auc"] > result["without dense"]["auc"]  # dense carries the synthetic signal
    assert 0.0 <= result["all"]["abstain@.95"] <= result["all"]["abstain@.90"] <= 1.0
    assert result["all"]["synthetic/main answer"] >= 0.9


def test_the_shipped_model_is_readable_and_complete() -> None:
    model = load_model()
    assert isinstance(model, GateModel)
    assert model.features == FEATURES
    document = json.loads(MODEL_PATH.read_text())
    assert document["command"] == "python -m eval train-gate"
    assert set(document["cross_validated"]) >= {"library/main", "k12docs/main", "all/all"}
    low = dict.fromkeys(FEATURES, 0.0) | {"question_terms": 2.0, "dense_shortfall": DENSE_FLOOR}
    high = low | {"dense": 0.8, "coverage": 0.9, "cited_coverage": 0.9, "cited_rare_coverage": 1.0,
                  "agree_top_doc": 1.0, "agree_share": 1.0, "keyword_top": 0.8}
    assert model.probability(high) > model.threshold > model.probability(low)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CTO_CHECK_RETRAIN"), reason="on demand (CTO_CHECK_RETRAIN=1): over a freshly "
                    "built index it agreed on 98.5% (k12docs rows identical; the library rows differed because the "
                    "index the model was fitted on held every brief several times, fixed on main since)")
def test_retraining_on_the_gold_sets_reproduces_the_shipped_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`python -m eval train-gate --check` refits from the gold sets (over freshly built indexes) and compares
    the decisions with the shipped file's."""
    env = dict(os.environ, CTO_DATA_DIR=str(tmp_path / "data"), CTO_REPORTS_DIR=str(tmp_path / "reports"))
    result = subprocess.run([sys.executable, "-m", "eval", "train-gate", "--check"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decides like a refit on" in result.stdout


def test_gate_features_read_the_asking_sentence_and_the_cited_sentences(hash_settings) -> None:  # type: ignore[no-untyped-def]
    from kb.answering.abstention import gate_features
    from kb.answering.retrieval import Retriever
    from kb.core.answer import Claim, Draft
    from kb.core.documents import Chunk, DocRecord
    from kb.index.knowledge import DONE, KnowledgeBase

    kb = KnowledgeBase(hash_settings)
    text = "Teachers may share grades with parents under FERPA. The service costs $5 per student each year."
    chunk = Chunk(id="ferpa-0", doc_id="ferpa", index=0, text=text, title="FERPA brief", source="/lib/ferpa.md",
                  source_type="md")
    kb.store.add_chunks([chunk], kb.embedder.embed_batch([chunk.embed_text]))
    kb.store.put_doc(DocRecord(doc_id="ferpa", source=chunk.source, source_type="md", title="FERPA brief",
                               content_hash="1", status=DONE, chunk_count=1))
    kb.refresh(force=True)
    question = "We moved everyone to Gmail and starlink last year. Under FERPA, what does sharing grades cost?"
    passages = Retriever(kb).retrieve(question, k=3)
    no_figure = Draft(lead=[Claim("Teachers may share grades with parents under FERPA.", [0])])
    with_figure = Draft(lead=[Claim("The service costs $5 per student each year.", [0])])

    features = gate_features(question, passages, kb.keyword, draft=no_figure)
    assert set(FEATURES) <= set(features)
    assert features["missing_context"] == 1.0 and features["missing_asked"] == 0.0  # Gmail: context, not subject
    assert features["unseen_context"] >= 2.0 and features["unseen_asked"] == 0.0  # gmail, starlink, moved ...
    assert features["asks_amount"] == 1.0 and features["amount_unanswered"] == 1.0
    assert gate_features(question, passages, kb.keyword, draft=with_figure)["amount_unanswered"] == 0.0
    asked = gate_features("Does Gmail encrypt grades?", passages, kb.keyword, draft=no_figure)
    assert asked["missing_asked"] == 1.0 and asked["missing_context"] == 0.0


@pytest.mark.parametrize("question", [
    "We use Gmail and Google Workspace for students. What does FERPA require of us before we share student data "
    "with Google?",
    "Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?",
    "When an employee quits, how do we make sure they lose access to everything?",
])
def test_the_issue_s_casually_worded_covered_questions_are_answered(library_assistant, question: str) -> None:  # type: ignore[no-untyped-def]
    """Issue #14's questions that abstained: names the library never uses in the scene (Gmail), informal
    numbered terms (Cat 1, Cat 2), everyday wording ("quits", "lose access")."""
    answer = library_assistant.ask(question, audit=False, log_gap=False)
    assert not answer.abstained, (answer.evidence, answer.gate)
    assert answer.citations


def test_an_off_topic_question_falls_below_the_similarity_floor_and_abstains(library_assistant) -> None:  # type: ignore[no-untyped-def]
    """`dense_shortfall`: the best passage's similarity below DENSE_FLOOR, the hinge the linear `dense` weight lacks."""
    off = library_assistant.ask("Which index funds are best for my personal retirement savings?", audit=False,
                                log_gap=False)
    assert off.abstained
    assert off.gate["dense_shortfall"] == pytest.approx(max(0.0, DENSE_FLOOR - off.gate["dense"]), abs=1e-3)
    assert off.gate["dense_shortfall"] > 0.05
    covered = library_assistant.ask("What does FERPA require before a district shares student records with a vendor?",
                                    audit=False, log_gap=False)
    assert not covered.abstained and covered.gate["dense_shortfall"] == 0.0
    model = load_model()
    assert model is not None
    weights = dict(zip(model.features, model.coef, strict=True))
    assert weights["dense_shortfall"] < 0  # further below the floor, less likely covered
