"""The regression gate: answers over the starter library must not get worse than the measured baseline."""

from __future__ import annotations

import pytest

from eval.gold import load_gold
from eval.regression_gate import check, load_thresholds
from eval.run import run_gold


@pytest.mark.slow
def test_library_gold_set_clears_the_gate(library_assistant) -> None:  # type: ignore[no-untyped-def]
    thresholds = load_thresholds("library")
    assert {"hit@5", "fact_recall", "citation_precision", "abstain_recall", "answer_rate"} <= set(thresholds)
    library_assistant.journal = None  # the gate must not write gaps into the shared fixture's journal
    rows, summary = run_gold(library_assistant, load_gold("library"))
    overall = summary["overall"]
    failures = check(overall, "library")
    table = ", ".join(f"{k}={overall[k]:.3f}" for k in thresholds)
    assert not failures, f"{failures}; measured: {table}"
