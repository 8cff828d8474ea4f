"""A learned sentence score for the offline composer: which sentences of the passages carry the answer's facts.

The composer fills its length budget greedily by sentence score. This module turns cheap
features the composer already has into that score with two small logistic models fitted on
the gold sets (``python -m eval train-compose``; label: the sentence holds a gold key fact):

- ``shortlist``: features known before a sentence is encoded (shared and rare question terms,
  its passage's relevance and rank, position, list item, shape fit, length, heading overlap);
  it picks the sentences to encode and orders those past the shortlist;
- ``rank``: the same plus the sentence's cosine to the question (and its gap to the best
  cosine); it orders the encoded sentences.

Scores are probabilities (0-1), so the composer's floor and ordering rules keep working.
The shipped coefficients are readable JSON beside this file (``compose_model.json``); nothing
is loaded or fitted at import time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.answering.retrieval import Passage
from kb.answering.sentences import Candidate
from kb.answering.shapes import QuestionShape, Shape
from kb.index.keyword import tokenize

__all__ = ["PRE_FEATURES", "FEATURES", "SentenceModel", "ComposeModel", "sentence_features", "with_similarity", "load_compose_model",
           "COMPOSE_MODEL_PATH"]

COMPOSE_MODEL_PATH = Path(__file__).resolve().parent / "compose_model.json"
# known before a sentence is encoded
PRE_FEATURES = ("overlap", "rare_overlap", "relevance", "relevance_gap", "passage_rank", "position", "first",
                "item", "fit", "length", "heading_overlap", "figure", "penalty", "overlap_rank")
# and once it is: its meaning
FEATURES = (*PRE_FEATURES, "similarity", "similarity_gap")
_FIGURE = re.compile(r"\d|\b(?:percent|million|billion)\b", re.I)
_FIGURE_SHAPES = (Shape.AMOUNT, Shape.WHEN, Shape.DURATION)


@dataclass(frozen=True)
class SentenceModel:
    """A logistic model over named features, standardised with the training rows' mean and scale."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, row: dict[str, float]) -> float:
        z = self.intercept + sum(c * (row[f] - m) / s for f, m, s, c in
                                 zip(self.features, self.mean, self.scale, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SentenceModel:
        return cls(features=tuple(data["features"]), mean=tuple(data["mean"]),  # type: ignore[arg-type]
                   scale=tuple(data["scale"]), coef=tuple(data["coef"]),  # type: ignore[arg-type]
                   intercept=float(data["intercept"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ComposeModel:
    """The two sentence models: before encoding (shortlist and fill) and after (the encoded sentences' order)."""

    shortlist: SentenceModel
    rank: SentenceModel

    def to_dict(self) -> dict[str, object]:
        return {"shortlist": self.shortlist.to_dict(), "rank": self.rank.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ComposeModel:
        return cls(shortlist=SentenceModel.from_dict(data["shortlist"]),  # type: ignore[arg-type]
                   rank=SentenceModel.from_dict(data["rank"]))  # type: ignore[arg-type]


def _ranks(values: list[float]) -> list[float]:
    """Each value's rank among the values (0 = highest), as a share of their number."""
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    out = [0.0] * len(values)
    for r, i in enumerate(order):
        out[i] = r / max(1, len(values) - 1)
    return out


def sentence_features(question: str, items: Sequence[Candidate], passages: Sequence[Passage], *,
                      relevance: Sequence[float], shape: QuestionShape) -> list[dict[str, float]]:
    """The features of each candidate known before it is encoded (:data:`PRE_FEATURES`).

    Rare question terms are weighted by how few of the candidate sentences use them (an IDF over
    the passages read, so the composer needs no index). ``item.overlap``, ``item.fit`` and
    ``item.penalty`` must be set (``score_candidates`` sets them).
    """
    q_terms = set(tokenize(question))
    terms = [set(tokenize(item.text)) for item in items]
    n = len(items)
    weight = {t: math.log(1 + n / (1 + sum(t in ts for ts in terms))) for t in q_terms}
    total = sum(weight.values()) or 1.0
    top = max(relevance) if relevance else 0.0
    sizes: dict[int, int] = {}
    for item in items:
        sizes[item.passage] = max(sizes.get(item.passage, 0), item.position + 1)
    headings = [set(tokenize(f"{p.chunk.title} {p.chunk.section or ''}")) for p in passages]
    figure_shape = shape.shape in _FIGURE_SHAPES
    overlap_rank = _ranks([item.overlap for item in items])
    rows = []
    for i, item in enumerate(items):
        row = {
            "overlap": item.overlap,
            "rare_overlap": sum(weight[t] for t in q_terms & terms[i]) / total,
            "relevance": relevance[item.passage],
            "relevance_gap": top - relevance[item.passage],
            "passage_rank": float(min(item.passage, 9)),
            "position": item.position / max(1, sizes[item.passage] - 1),
            "first": float(item.position == 0),
            "item": float(item.item),
            "fit": item.fit,
            "length": min(len(item.text), 700) / 300,
            "heading_overlap": len(q_terms & headings[item.passage]) / len(q_terms) if q_terms else 0.0,
            "figure": float(figure_shape and bool(_FIGURE.search(item.text))),
            "penalty": item.penalty,
            "overlap_rank": overlap_rank[i],
        }
        rows.append(row)
    return rows


def with_similarity(rows: Sequence[dict[str, float]], similarities: Sequence[float]) -> list[dict[str, float]]:
    """The rows of the encoded sentences with their cosine to the question and its gap to the best one."""
    best = max(similarities, default=0.0)
    return [{**row, "similarity": sim, "similarity_gap": best - sim} for row, sim in zip(rows, similarities, strict=True)]


@lru_cache(maxsize=4)
def load_compose_model(path: Path = COMPOSE_MODEL_PATH) -> ComposeModel | None:
    """The shipped sentence models, or None when the file is absent (the hand-set weights apply)."""
    if not path.is_file():
        return None
    return ComposeModel.from_dict(json.loads(path.read_text())["model"])
