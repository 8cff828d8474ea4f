"""Answer and retrieval metrics for the gold sets (pure functions, tested on hand-computed cases)."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

from kb.index.keyword import tokenize

__all__ = [
    "hit_at_k", "recall_at_k", "reciprocal_rank", "ndcg_at_k", "fact_recall", "supports",
    "citation_precision", "citation_recall", "abstention_scores", "percentile",
]


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 when any of the first k results is relevant."""
    return 1.0 if any(relevant[:k]) else 0.0


def recall_at_k(found: Sequence[set[int]], n_refs: int, k: int) -> float:
    """Share of the gold references found in the first k results (``found[i]``: refs result i matches)."""
    if n_refs == 0:
        return 0.0
    hit: set[int] = set().union(*found[:k]) if found[:k] else set()
    return len(hit) / n_refs


def reciprocal_rank(relevant: Sequence[bool]) -> float:
    return next((1.0 / (i + 1) for i, r in enumerate(relevant) if r), 0.0)


def ndcg_at_k(relevant: Sequence[bool], k: int = 10, n_relevant: int | None = None) -> float:
    """Binary-relevance nDCG@k; the ideal ranking puts ``n_relevant`` relevant results first."""
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(relevant[:k]) if r)
    ideal_n = min(k, n_relevant if n_relevant is not None else sum(bool(r) for r in relevant))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(ideal_n))
    return dcg / idcg if idcg else 0.0


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def fact_recall(answer: str, facts: Sequence[str]) -> float:
    """Share of key facts present in the answer (case-insensitive, whitespace-collapsed).

    A fact written as ``re:PATTERN`` is a regular expression.
    """
    if not facts:
        return 1.0
    text = _norm(answer)
    found = 0
    for fact in facts:
        if fact.startswith("re:"):
            found += bool(re.search(fact[3:], text, re.I))
        else:
            found += _norm(fact) in text
    return found / len(facts)


def supports(sentence: str, passage: str, threshold: float = 0.6) -> bool:
    """True when the passage supports the sentence: quoted verbatim, or most of its content stems occur in it."""
    if _norm(sentence) in _norm(passage):
        return True
    terms = set(tokenize(sentence))
    if not terms:
        return False
    return len(terms & set(tokenize(passage))) / len(terms) >= threshold


def citation_precision(pairs: Sequence[tuple[str, Sequence[str]]]) -> float:
    """Share of (sentence, cited passages) pairs whose passages support the sentence."""
    cited = [(s, ps) for s, ps in pairs if ps]
    if not cited:
        return 0.0
    return sum(any(supports(s, p) for p in ps) for s, ps in cited) / len(cited)


def citation_recall(pairs: Sequence[tuple[str, Sequence[str]]]) -> float:
    """Share of answer sentences that carry at least one supporting citation."""
    if not pairs:
        return 0.0
    return sum(bool(ps) and any(supports(s, p) for p in ps) for s, ps in pairs) / len(pairs)


def abstention_scores(should: Sequence[bool], did: Sequence[bool]) -> dict[str, float]:
    """Precision and recall of abstaining, plus the answer rate on questions that should be answered."""
    tp = sum(s and d for s, d in zip(should, did, strict=False))
    abstained = sum(did)
    must = sum(should)
    answerable = len(should) - must
    answered_ok = sum((not s) and (not d) for s, d in zip(should, did, strict=False))
    return {
        "abstain_precision": tp / abstained if abstained else 1.0,
        "abstain_recall": tp / must if must else 1.0,
        "answer_rate": answered_ok / answerable if answerable else 1.0,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0
