"""Ranked-retrieval metrics with trec_eval semantics, for public benchmarks (BEIR).

Graded relevance comes from qrels (``{query_id: {doc_id: grade}}``); a run is a ranked
list of document ids per query. nDCG uses linear gain and a log2(rank + 1) discount,
with the ideal ranking built from all judged documents, as ``pytrec_eval``'s
``ndcg_cut`` does; a query without results scores 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["ndcg_at_k", "recall_at_k", "mean_over_queries", "first_occurrence"]

Qrels = Mapping[str, Mapping[str, int]]


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of one ranked list at cut-off k.

    Args:
        ranking: document ids, best first (duplicates count once, at their first rank).
        judged: relevance grade per document id; grades <= 0 earn nothing.
        k: cut-off.

    Returns:
        A value in [0, 1]; 0 when nothing judged is relevant.
    """
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(first_occurrence(ranking)[:k]))
    return dcg / idcg


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the first k results."""
    relevant = {doc for doc, grade in judged.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(first_occurrence(ranking)[:k])) / len(relevant)


def mean_over_queries(runs: Mapping[str, Sequence[str]], qrels: Qrels, *, metric: str, k: int) -> float:
    """Mean of ``ndcg`` or ``recall`` at k over every query in the qrels (missing runs score 0)."""
    score = {"ndcg": ndcg_at_k, "recall": recall_at_k}[metric]
    if not qrels:
        return 0.0
    return sum(score(runs.get(qid, []), judged, k) for qid, judged in qrels.items()) / len(qrels)


def first_occurrence(ids: Sequence[str]) -> list[str]:
    """Drop repeats, keeping each id at its first (best) position: chunk hits -> document ranking."""
    seen: set[str] = set()
    out: list[str] = []
    for item in ids:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
