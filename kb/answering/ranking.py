"""A learned re-ranking of the fused candidates, for page-accurate citations.

Fusion orders chunks by two scores; the right *page* often sits just below a neighbour
or an overview. This linear model re-scores the head of the fused list from cheap
signals computed on it alone (no extra encoding): the fused, dense and keyword scores,
whether the question's rare words are in the title or heading, the question's challenge
areas, how strongly other chunks of the same document and its neighbouring pages were
retrieved, and where the chunk sits in its document. Trained with grouped
cross-validation on the gold sets (``python -m eval train-rank``); the coefficients ship
as ``ranking_model.json`` beside this file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.index.keyword import KeywordIndex, tokenize

if TYPE_CHECKING:
    from kb.answering.retrieval import Passage

__all__ = ["RANK_FEATURES", "RankModel", "rank_features", "load_rank_model", "RANK_MODEL_PATH", "POOL"]

RANK_MODEL_PATH = Path(__file__).resolve().parent / "ranking_model.json"
POOL = 20  # fused candidates the model re-orders
RANK_FEATURES = ("fused", "fused_rank", "dense", "keyword", "title_match", "heading_match", "area_match",
                 "doc_support", "neighbour", "position")


def _match(weights: dict[str, float], text: str | None) -> float:
    if not text or not weights:
        return 0.0
    words = set(tokenize(text))
    return sum(w for t, w in weights.items() if t in words) / (sum(weights.values()) or 1.0)


def _place(passage: Passage) -> tuple[str, int]:
    chunk = passage.chunk
    return chunk.doc_id, chunk.page if chunk.page is not None else chunk.index


def rank_features(question: str, passages: Sequence[Passage], index: KeywordIndex,
                  areas: Sequence[str] = ()) -> np.ndarray:
    """One row of :data:`RANK_FEATURES` per passage (the fused head, best first)."""
    if not passages:
        return np.zeros((0, len(RANK_FEATURES)))
    weights = {t: index.idf(t) for t in set(tokenize(question))}
    top = max(p.score for p in passages) or 1.0
    top_keyword = max((p.keyword or 0.0) for p in passages) or 1.0
    best_doc: dict[str, float] = {}
    best_place: dict[tuple[str, int], float] = {}
    for p in passages:
        best_doc[p.chunk.doc_id] = max(best_doc.get(p.chunk.doc_id, 0.0), p.score)
        best_place[_place(p)] = max(best_place.get(_place(p), 0.0), p.score)
    wanted = set(areas)
    rows = []
    for rank, p in enumerate(passages):
        doc, where = _place(p)
        others = [q.score for q in passages if q is not p and q.chunk.doc_id == doc]
        rows.append([
            p.score / top,
            1.0 / (1.0 + rank),
            p.dense or 0.0,
            (p.keyword or 0.0) / top_keyword,
            _match(weights, p.chunk.title),
            _match(weights, p.chunk.section),
            float(bool(wanted & set(p.chunk.areas))),
            max(others, default=0.0) / top,
            max(best_place.get((doc, where - 1), 0.0), best_place.get((doc, where + 1), 0.0)) / top,
            math.log1p(where),
        ])
    return np.array(rows, dtype=np.float64)


@dataclass(frozen=True)
class RankModel:
    """A standardised linear score over :data:`RANK_FEATURES` (higher: more likely the right page)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]

    def scores(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef)

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float] | list[str]]) -> RankModel:
        return cls(features=tuple(str(f) for f in data["features"]), mean=tuple(float(v) for v in data["mean"]),
                   scale=tuple(float(v) for v in data["scale"]), coef=tuple(float(v) for v in data["coef"]))


@lru_cache(maxsize=4)
def load_rank_model(path: Path = RANK_MODEL_PATH) -> RankModel | None:
    """The shipped ranking model, or None (fusion order stands then)."""
    if not path.is_file():
        return None
    model = RankModel.from_dict(json.loads(path.read_text(encoding="utf-8"))["model"])
    return model if model.features == RANK_FEATURES else None
