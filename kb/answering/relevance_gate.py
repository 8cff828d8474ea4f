"""The relevance gate: is there evidence in the passages for this question at all?

Signals, all cheap:
- ``dense``: how close the best passage is in meaning (cosine similarity);
- ``coverage``: how much of the question's vocabulary, weighted by rarity, the best
  passages contain (a question about sourdough shares no rare words with the library);
- ``missing``: names in the question (a product, a state, a statute: capitalised words
  or model numbers) that occur nowhere in the knowledge base. A question about a
  specific thing the library never mentions is not answered by passages about its
  topic in general, so such questions need much stronger evidence.

The thresholds are settings (``min_relevance``, ``min_relevance_unknown_names``),
calibrated on the starter-library gold set and checked on the k12docs gold set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb.answering.retrieval import Passage
from kb.index.keyword import KeywordIndex, tokenize

__all__ = ["Evidence", "evidence_features", "evidence_score", "names", "unknown_names"]

_NAME = re.compile(r"\b(?:[A-Z][A-Za-z]*[A-Z][A-Za-z]*|[A-Z][a-z]+|[A-Za-z]*\d+[A-Za-z][A-Za-z0-9]*)\b")
_SENTENCE_START = re.compile(r"(?:^|[.?!:;]\s+|\"\s*)$")
_COMMON = frozenset("""i we our my me you your what how which who when where why should could would can do does did is
are was were will the a an and or but if so ok okay also any all some this that these those there it they their
please tell give walk explain compare list show help cat""".split())


def names(question: str) -> list[str]:
    """Capitalised names and model numbers in the question (not a sentence's first word, not a common word)."""
    return [m.group(0) for m in _NAME.finditer(question)
            if m.group(0).lower() not in _COMMON and not _SENTENCE_START.search(question[: m.start()])]


def unknown_names(question: str, index: KeywordIndex) -> list[str]:
    """Capitalised names and model numbers in the question that the knowledge base never mentions.

    An acronym the vocabulary expands ("CSF" in a library that writes "Cybersecurity Framework")
    is not unknown.
    """
    vocab = index.retriever.vocab_dict if len(index) else {}
    missing = []
    for word in names(question):
        tokens = tokenize(word)
        if tokens and not any(t in vocab for t in tokens) and not index.vocabulary.defines(word):
            missing.append(word)
    return missing


@dataclass(frozen=True)
class Evidence:
    dense: float
    coverage: float
    missing: tuple[str, ...]

    @property
    def score(self) -> float:
        """One number in [0, 1]: the mean of dense similarity and weighted coverage."""
        return 0.5 * self.dense + 0.5 * self.coverage


def evidence_features(question: str, passages: Sequence[Passage], index: KeywordIndex, *, top: int = 3) -> Evidence:
    """Measure the evidence the passages hold for the question."""
    dense = max((p.dense for p in passages if p.dense is not None), default=0.0)
    terms = set(tokenize(question))
    missing = tuple(unknown_names(question, index))
    if not terms or not passages:
        return Evidence(float(dense), 0.0, missing)
    weights = {t: index.idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    union: set[str] = set()
    for passage in passages[:top]:
        union |= set(tokenize(passage.chunk.embed_text))
    coverage = sum(w for t, w in weights.items() if t in union) / total
    return Evidence(float(dense), coverage, missing)


def evidence_score(question: str, passages: Sequence[Passage], index: KeywordIndex) -> float:
    """The evidence score alone (see ``Evidence.score``)."""
    return evidence_features(question, passages, index).score
