"""The composer's learned sentence scorer: deterministic training, applied in the right direction, budget kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eval.gold import load_gold
from eval.train_compose import Question, fit_compose, sentence_rows
from kb.answering.compose_model import FEATURES, PRE_FEATURES, ComposeModel, SentenceModel, load_compose_model
from kb.answering.extractive import ExtractiveComposer, candidates, score_candidates
from kb.answering.layout import render
from kb.answering.readability import violations
from kb.answering.retrieval import Passage
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder

LIBRARY = Path(__file__).resolve().parent.parent / "library"


def _passages(stem: str, dense: float = 0.6) -> list[Passage]:
    """A starter-library brief cut into passages of a few paragraphs, as retrieval would return them."""
    path = next(LIBRARY.rglob(f"{stem}.md"))
    paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    out = []
    for n in range(0, min(len(paragraphs), 20), 4):
        chunk = Chunk(id=f"{stem}-{n}", doc_id=stem, index=n // 4, text="\n\n".join(paragraphs[n:n + 4]),
                      title=stem.replace("-", " "), source=str(path), source_type="md", date="2026-01-01")
        out.append(Passage(chunk, dense - 0.05 * len(out), dense=dense - 0.05 * len(out)))
    return out[:5]


def _questions(n: int = 8) -> list[Question]:
    embedder = HashEmbedder()
    out = []
    for item in [i for i in load_gold("library", slices=False) if not i.abstain and i.refs][:n]:
        passages = _passages(item.refs[0].stem)
        vector = embedder.embed_batch([item.question])[0]
        q = Question(item, "library", item.question, passages, vector, abstained=False)
        q.rows, q.labels = sentence_rows(q, embedder)
        out.append(q)
    return out


def test_training_is_deterministic_and_learns_from_key_facts() -> None:
    questions = _questions()
    assert sum(sum(q.labels) for q in questions) >= 3  # real key facts label some sentences
    first = json.dumps(fit_compose(questions).to_dict(), sort_keys=True)
    second = json.dumps(fit_compose(_questions()).to_dict(), sort_keys=True)  # rows rebuilt from scratch
    assert first == second
    model = ComposeModel.from_dict(json.loads(first))
    assert model.shortlist.features == PRE_FEATURES and model.rank.features == FEATURES


def test_shipped_model_reads_the_current_features() -> None:
    model = load_compose_model()
    assert model is not None, "kb/answering/compose_model.json is missing: run `python -m eval train-compose`"
    assert model.shortlist.features == PRE_FEATURES and model.rank.features == FEATURES


def _rare_terms_model() -> ComposeModel:
    """A model that only values the question's rare terms (and, after encoding, nothing else either)."""
    def one(features: tuple[str, ...]) -> SentenceModel:
        coef = tuple(3.0 if f == "rare_overlap" else 0.0 for f in features)
        return SentenceModel(features, mean=(0.0,) * len(features), scale=(1.0,) * len(features), coef=coef,
                             intercept=-1.0)
    return ComposeModel(shortlist=one(PRE_FEATURES), rank=one(FEATURES))


def test_the_scorer_orders_sentences_by_what_it_learned() -> None:
    # the E-Rate brief's first passage is the more relevant one; the sentence naming the question's rare
    # terms sits in a weaker passage: the hand-set score keeps passage order, the model moves it up
    embedder = HashEmbedder()
    question = "What does the Category Two budget cycle allow a district to carry over?"
    passages = _passages("budget-e-rate-category-one-and-two", dense=0.8)
    vector = embedder.embed_batch([question])[0]
    hand = score_candidates(question, candidates(passages), passages, embedder=embedder, question_vector=vector)
    learned = score_candidates(question, candidates(passages), passages, embedder=embedder, question_vector=vector,
                               model=_rare_terms_model())
    assert all(0.0 < c.score < 1.0 for c in learned)  # probabilities: the composer's floor rule still works
    top_hand = max(hand, key=lambda c: c.score)
    top_learned = max(learned, key=lambda c: c.score)
    assert top_learned.text != top_hand.text
    best_rare = max(learned, key=lambda c: (c.overlap, -c.passage))
    assert "carry over" in top_learned.text or top_learned.text == best_rare.text


def test_budget_and_readability_hold_with_the_model() -> None:
    embedder = HashEmbedder()
    for stem, question in (("budget-e-rate-category-one-and-two", "How does the Category Two budget work?"),
                           ("cyber-ransomware-preparedness", "What should we protect first against ransomware?")):
        passages = _passages(stem)
        for model in (None, _rare_terms_model(), load_compose_model()):
            draft = ExtractiveComposer(embedder, max_chars=900, shortlist=8, model=model).compose(question, passages)
            claims = draft.lead + draft.points
            assert claims
            text = render(draft, lambda c: c.text + "".join(f" [{s + 1}]" for s in c.sources))
            assert len(text) <= 900
            assert not violations([(c.text, [passages[s].chunk.text for s in c.sources]) for c in claims])


def test_features_are_finite_and_bounded() -> None:
    for q in _questions(3):
        x = np.array([[row[f] for f in FEATURES] for row in q.rows])
        assert np.isfinite(x).all() and (x[:, FEATURES.index("passage_rank")] <= 9).all()
