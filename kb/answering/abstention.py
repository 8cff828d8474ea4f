"""The abstention decision: answer or say the library does not cover the question.

A small logistic model over cheap signals, trained and cross-validated on the gold sets
(``python -m eval train-gate``) and shipped as readable coefficients in
``abstention_model.json`` beside this file. Signals:

- the relevance gate's ``dense`` similarity and passage ``coverage``, and how far the best passage's
  similarity falls below :data:`DENSE_FLOOR` (``dense_shortfall``: off topic altogether);
- retrieval agreement: whether dense and keyword search put the same document first,
  and how many passages both found;
- coverage of the question's words, and of its rarest words, by the sentences the answer
  would cite;
- names and words (of any case) the library never uses in the question's *subject*; those
  that only set the scene ("we use Gmail ... under FERPA, may teachers ...", "for our tech
  staff") are not read at all (see ``gate_signals.split_subject``): fitted on the main gold
  sets, a weight on them came out positive (the gold questions with a paragraph about their
  district happen to be covered), which made casual questions with a preamble answer
  anything;
- the names the subject uses ("What does PowerSchool cost per student?") that the cited
  sentences, and the titles and headings of their passages, leave out;
- whether the question asks for a figure (a price, a count, a deadline), and whether a figure asked
  for by its unit ("per student", "per month") or as a count ("how many districts") goes unstated in
  the cited sentences (``gate_signals.figure_unanswered``).

``gate_features`` reports more signals than the model reads (the candidates of
``python -m eval train-gate --ablate``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.answering.gate_signals import answerability_signals, asking_sentence, cited_headers, lead_document
from kb.answering.relevance_gate import evidence_features, unknown_names
from kb.answering.retrieval import Passage
from kb.core.answer import Draft
from kb.index.keyword import KeywordIndex, tokenize

__all__ = ["FEATURES", "DENSE_FLOOR", "GateModel", "gate_features", "load_model", "MODEL_PATH"]

MODEL_PATH = Path(__file__).resolve().parent / "abstention_model.json"
# The model's inputs, chosen by grouped cross-validation on the main gold sets (`train-gate --ablate`):
# the other signals gate_features reports moved held-out abstention by noise, or (the scene's unknown
# words) learned a sign that does not carry over to questions worded another way.
FEATURES = ("dense", "coverage", "cited_rare_coverage", "agree_share", "keyword_top", "missing_asked",
            "asks_amount", "unknown_subject", "names_uncited", "dense_shortfall", "figure_unanswered")
# MiniLM cosine below which the best passage shares no topic with the question (recipes, sport, personal
# finance score 0.07-0.25 against the gold libraries; their covered questions 0.26 and up). The model's
# weight on `dense` is linear, so without this hinge an off-topic question whose words the library happens
# to use ("index funds ... retirement savings") could be answered: `dense_shortfall` = how far below it is.
DENSE_FLOOR = 0.3
# the question wants a figure: a price, a count, a date or a duration
_ASKS_AMOUNT = re.compile(r"\b(?:cost|costs|price|priced|pricing|premium|premiums|salary|salaries|fee|fees|how many|how much|"
                          r"per[- ](?:seat|student|month|year|user)|average|median|deadline|what date|when is|how long)\b",
                          re.IGNORECASE)
_AMOUNT = re.compile(r"[$%]|\b\d[\d,.]*\b|\b(?:percent|dollars?|days?|months?|years?|annually|quarterly|monthly|weekly)\b",
                     re.IGNORECASE)


def _weighted_coverage(weights: dict[str, float], words: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in words) / total if total else 0.0


def _unseen(text: str, index: KeywordIndex) -> float:
    """Words of the text (any case: casual questions are lower case) that occur nowhere in the knowledge base."""
    vocab = index.retriever.vocab_dict if len(index) else {}
    return float(sum(1 for t in set(tokenize(text)) if len(t) > 2 and not t.isdigit() and t not in vocab
                     and not index.vocabulary.defines(t)))


def _agreement(passages: Sequence[Passage]) -> tuple[float, float]:
    """Do dense and keyword search put the same document first; what share of passages did both find."""
    dense = [p for p in passages if p.dense is not None]
    keyword = [p for p in passages if p.keyword is not None]
    if not dense or not keyword:
        return 0.0, 0.0
    top_dense = max(dense, key=lambda p: p.dense or 0.0).chunk.doc_id
    top_keyword = max(keyword, key=lambda p: p.keyword or 0.0).chunk.doc_id
    return float(top_dense == top_keyword), len(keyword) / len(passages)


def gate_features(question: str, passages: Sequence[Passage], index: KeywordIndex, *, draft: Draft | None) -> dict[str, float]:
    """The signals the abstention model reads, for one question (already expanded) and its passages.

    Args:
        question: the standalone question, with the library's own vocabulary appended.
        passages: the retrieved passages, best first.
        index: the keyword index (term rarity and the library's vocabulary of names).
        draft: the extractive draft: its sentences are the ones the answer would cite.
    """
    evidence = evidence_features(question, passages, index)
    terms = set(tokenize(question))
    weights = {t: index.idf(t) for t in terms}
    cited: set[str] = set()
    cited_text = " ".join(c.text for c in (draft.lead + draft.points)) if draft is not None else ""
    cited = set(tokenize(cited_text))
    asks_amount = float(bool(_ASKS_AMOUNT.search(question)))
    rare = sorted(weights, key=lambda t: (-weights[t], t))[: max(1, len(weights) // 3)]
    asking, context = asking_sentence(question)
    agree_doc, agree_share = _agreement(passages)
    asked = _answerability(asking, passages, index, cited=cited)
    top_keyword = max((p.keyword or 0.0 for p in passages), default=0.0)
    return {
        "dense": evidence.dense,
        "dense_shortfall": max(0.0, DENSE_FLOOR - evidence.dense),
        "coverage": evidence.coverage,
        "cited_coverage": _weighted_coverage(weights, cited),
        "cited_rare_coverage": _weighted_coverage({t: weights[t] for t in rare}, cited),
        "agree_top_doc": agree_doc,
        "agree_share": agree_share,
        "keyword_top": top_keyword / (sum(weights.values()) or 1.0),
        "missing_asked": float(len(unknown_names(asking, index))),
        "missing_context": float(len(unknown_names(context, index))) if context else 0.0,
        "unseen_asked": _unseen(asking, index),
        "unseen_context": _unseen(context, index) if context else 0.0,
        "asks_amount": asks_amount,
        "amount_unanswered": asks_amount * float(not _AMOUNT.search(cited_text)),
        "question_terms": math.log1p(len(terms)),
        **asked,
        **answerability_signals(question, passages, index, cited_text=cited_text, headers=cited_headers(draft, passages),
                                lead_doc=lead_document(draft, passages)),
        "evidence": evidence.score,  # the one-score threshold gate's inputs (CTO_ABSTENTION=threshold)
        "missing": float(len(evidence.missing)),
    }


def _answerability(asking: str, passages: Sequence[Passage], index: KeywordIndex, *, cited: set[str]) -> dict[str, float]:
    """Does the answer carry what the asking sentence names? (candidates the model may read; see eval train-gate --ablate)

    - ``asked_uncited``: the rarity of the rarest word of the asking sentence that the library uses
      but the cited sentences lack, over the rarity of a word the library never uses (0: all cited);
      "What does PowerSchool cost per student?" answered from sentences about SIS costs in general;
    - ``asked_rare_cited``: the asking sentence's rarest third of known words (by rarity) found in the
      cited sentences;
    - ``asked_rare_passages``: the same, found in the three best passages.
    """
    vocab = index.retriever.vocab_dict if len(index) else {}
    known = {t: index.idf(t) for t in set(tokenize(asking)) if t in vocab}
    if not known:
        return {"asked_uncited": 0.0, "asked_rare_cited": 0.0, "asked_rare_passages": 0.0}
    n = max(1, len(index))
    ceiling = math.log((n + 0.5) / 0.5 + 1.0)  # the rarity (BM25 idf) of a word no passage has
    rare = sorted(known, key=lambda t: (-known[t], t))[: max(1, len(known) // 3)]
    top: set[str] = set()
    for passage in passages[:3]:
        top |= set(tokenize(passage.chunk.embed_text))
    uncited = max((w for t, w in known.items() if t not in cited), default=0.0)
    return {"asked_uncited": uncited / ceiling,
            "asked_rare_cited": _weighted_coverage({t: known[t] for t in rare}, cited),
            "asked_rare_passages": _weighted_coverage({t: known[t] for t in rare}, top)}


@dataclass(frozen=True)
class GateModel:
    """Standardised logistic regression: P(the library answers the question) from :data:`FEATURES`."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def probability(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(c * (values[f] - m) / s for f, m, s, c in
                                 zip(self.features, self.mean, self.scale, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def answers(self, values: dict[str, float]) -> bool:
        return self.probability(values) >= self.threshold

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> GateModel:
        def floats(key: str) -> tuple[float, ...]:
            value = data[key]
            assert isinstance(value, list)
            return tuple(float(v) for v in value)

        features = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
        return cls(features=features, mean=floats("mean"), scale=floats("scale"), coef=floats("coef"),
                   intercept=float(data["intercept"]), threshold=float(data["threshold"]))  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> GateModel | None:
    """The shipped abstention model, or None when there is none (the threshold gate decides then)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return GateModel.from_dict(data["model"])
