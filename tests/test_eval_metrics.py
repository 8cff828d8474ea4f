"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eval import metrics as m
from eval.gold import GoldRef, load_gold
from eval.regression_gate import check


def test_hit_and_reciprocal_rank() -> None:
    relevant = [False, False, True, False]
    assert m.hit_at_k(relevant, 2) == 0.0
    assert m.hit_at_k(relevant, 3) == 1.0
    assert m.reciprocal_rank(relevant) == pytest.approx(1 / 3)
    assert m.reciprocal_rank([False, False]) == 0.0


def test_ndcg_hand_computed() -> None:
    # relevant at ranks 1 and 3, two relevant in total: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    value = m.ndcg_at_k([True, False, True], k=10, n_relevant=2)
    assert value == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert m.ndcg_at_k([False, False], k=10, n_relevant=1) == 0.0
    assert m.ndcg_at_k([True], k=10) == 1.0


def test_recall_at_k_counts_distinct_refs() -> None:
    found = [{0}, set(), {0, 1}, {2}]
    assert m.recall_at_k(found, 3, 2) == pytest.approx(1 / 3)
    assert m.recall_at_k(found, 3, 3) == pytest.approx(2 / 3)
    assert m.recall_at_k(found, 3, 4) == 1.0


def test_fact_recall_is_case_and_space_insensitive_and_supports_patterns() -> None:
    answer = "Keep an OFFLINE copy.\nTest   restores quarterly [1]."
    assert m.fact_recall(answer, ["offline", "test restores", "immutable"]) == pytest.approx(2 / 3)
    assert m.fact_recall(answer, [r"re:restores? (quarterly|monthly)"]) == 1.0
    assert m.fact_recall("anything", []) == 1.0


def test_supports_and_citation_precision_recall() -> None:
    passage = "The district keeps three copies of its data on two media, one of them offline."
    assert m.supports("The district keeps three copies of its data on two media, one of them offline.", passage)
    assert not m.supports("Ransom payments are always recommended by the FBI.", passage)
    pairs = [("Keeps three copies of data on two media.", [passage]), ("Pay the ransom quickly.", [passage]),
             ("An uncited sentence.", [])]
    assert m.citation_precision(pairs) == pytest.approx(1 / 2)
    assert m.citation_recall(pairs) == pytest.approx(1 / 3)


def test_abstention_scores() -> None:
    should = [True, True, False, False, False]
    did = [True, False, True, False, False]
    scores = m.abstention_scores(should, did)
    assert scores["abstain_precision"] == pytest.approx(1 / 2)
    assert scores["abstain_recall"] == pytest.approx(1 / 2)
    assert scores["answer_rate"] == pytest.approx(2 / 3)


def test_percentile_interpolates() -> None:
    assert m.percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert m.percentile([10], 95) == 10
    assert m.percentile([], 95) == 0.0


def test_gold_ref_matches_stem_name_and_pages() -> None:
    ref = GoldRef("nist_guide.pdf", (30,))
    assert ref.matches("/data/k12docs/nist_guide.pdf", 30)
    assert not ref.matches("/data/k12docs/nist_guide.pdf", 31)
    assert GoldRef("cyber-backups").matches("/x/library/cyber-backups.md", None)


def test_gold_sets_are_well_formed() -> None:
    library = load_gold("library")
    k12 = load_gold("k12docs")
    assert len(library) >= 170 and len(k12) >= 120
    ids = [i.id for i in library + k12]
    assert len(ids) == len(set(ids)), "gold ids must be unique"
    for item in library + k12:
        assert item.abstain or item.refs, item.id
        assert item.abstain or item.key_facts, item.id
    per_area: dict[str, int] = {}
    for item in library:
        if not item.abstain:
            per_area[item.area] = per_area.get(item.area, 0) + 1
    assert min(per_area.values()) >= 25, per_area
    assert sum(i.abstain for i in library) >= 20


def test_gate_reports_each_metric_below_threshold(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.yaml"
    path.write_text("library:\n  hit@5: 0.9\n  fact_recall: 0.7\n")
    assert check({"hit@5": 0.95, "fact_recall": 0.8}, "library", path) == []
    failures = check({"hit@5": 0.85, "fact_recall": 0.8}, "library", path)
    assert len(failures) == 1 and "hit@5" in failures[0]
