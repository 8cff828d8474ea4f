"""The relevance gate: is there evidence in the passages for this question at all?

Two signals, both cheap: how close the best passage is in meaning (dense cosine),
and how much of the question's vocabulary, weighted by rarity, the best passages
actually contain. A question about sourdough shares no rare words with a K-12
technology library; a question about a specific state's statute misses its rarest
words (the state, the statute). The threshold is a setting, calibrated by
``python -m eval calibrate`` on the gold sets.
"""

from __future__ import annotations

from collections.abc import Sequence

from kb.keyword import KeywordIndex, tokenize
from kb.retrieval import Passage

__all__ = ["evidence_features", "evidence_score"]


def evidence_features(question: str, passages: Sequence[Passage], index: KeywordIndex, top: int = 3) -> dict[str, float]:
    """Signals for the gate: best dense similarity and rarity-weighted term coverage."""
    dense = max((p.dense for p in passages if p.dense is not None), default=0.0)
    terms = set(tokenize(question))
    if not terms or not passages:
        return {"dense": float(dense), "coverage": 0.0, "best_coverage": 0.0}
    weights = {t: index.idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    union: set[str] = set()
    best = 0.0
    for passage in passages[:top]:
        tokens = set(tokenize(passage.chunk.embed_text))
        union |= tokens
        best = max(best, sum(w for t, w in weights.items() if t in tokens) / total)
    coverage = sum(w for t, w in weights.items() if t in union) / total
    return {"dense": float(dense), "coverage": coverage, "best_coverage": best}


def evidence_score(question: str, passages: Sequence[Passage], index: KeywordIndex) -> float:
    """One number in [0, 1]: the mean of dense similarity and weighted coverage."""
    f = evidence_features(question, passages, index)
    return 0.5 * f["dense"] + 0.5 * f["coverage"]
