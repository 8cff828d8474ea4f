"""``python -m eval train-compose``: fit the composer's sentence scorer on the gold sets, with held-out figures.

Every covered gold question (library and k12docs) is asked through the one answering path
(unsplit, as ``train-gate`` does); the passages the offline composer reads are kept. Each
candidate sentence of those passages becomes one row: the features of
:mod:`kb.answering.compose_model` and the label "holds a gold key fact" (the matcher
``eval.metrics.fact_recall`` uses). Two logistic models are fitted on the main sets (the casual
slices stay held out): one on the features known before encoding, one with the cosine too.

The figures printed are composed answers, not row accuracy: each question composed with the
hand-set scorer, with the model fitted on every question (in-sample), and with the model of the
fold that did not see it (grouped by question, and grouped by the document that answers it):
key facts and cited right page per corpus and slice. Only the held-out columns say whether the
model generalises.

The fit is deterministic (features rounded to 4 places, rows in gold order, lbfgs, unshuffled
folds): two runs over the same index write the same JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from eval import metrics as m
from eval.gold import GoldItem, load_gold
from eval.run import eval_kb
from eval.train_gate import CORPORA, FOLDS, _choose_c, _fit
from kb.answering.compose_model import COMPOSE_MODEL_PATH, FEATURES, PRE_FEATURES, ComposeModel, SentenceModel

__all__ = ["Question", "compose_questions", "sentence_rows", "fit_compose", "held_out", "COMMANDS"]

PLACES = 4


@dataclass
class Question:
    """One covered gold question and what the composer read for it."""

    item: GoldItem
    corpus: str
    question: str  # as the composer gets it (standalone, vocabulary expanded)
    passages: list[Any]
    vector: np.ndarray
    abstained: bool
    rows: list[dict[str, float]] = field(default_factory=list)  # one per candidate sentence
    labels: list[int] = field(default_factory=list)

    @property
    def slice(self) -> str:
        return ",".join(getattr(self.item, "tags", ())) or "main"

    @property
    def document(self) -> str:
        return self.item.refs[0].stem if self.item.refs else f"{self.corpus}:{self.item.id}"


class _Memo:
    """The embedder with its sentence encodings remembered: each question is composed several times."""

    def __init__(self, embedder: Any):
        self.embedder = embedder
        self.seen: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.seen))
        if todo:
            self.seen.update(zip(todo, self.embedder.embed_batch(todo), strict=True))
        return np.array([self.seen[t] for t in texts])


def compose_questions(settings: Any, embedder: Any, corpora: tuple[str, ...] = CORPORA,
                      progress: bool = False) -> list[Question]:
    """Every covered gold question with the passages the offline composer reads for it (and its sentence rows).

    ``embedder`` should remember its encodings (``_Memo``): the held-out figures compose each question again.
    """
    from kb.answering.assistant import Assistant
    from kb.answering.extractive import ExtractiveComposer

    class Recorder(ExtractiveComposer):
        last: tuple[str, list[Any], np.ndarray] | None = None

        def compose(self, question: str, passages: Any, *, question_vector: Any = None, **kw: Any) -> Any:
            self.last = (question, list(passages), question_vector)
            return super().compose(question, passages, question_vector=question_vector, **kw)

    out: list[Question] = []
    for corpus in corpora:
        kb = eval_kb(settings, corpus, embedder=embedder)
        memo = embedder
        assistant = Assistant(kb.settings, kb=kb, journal=None)
        recorder = Recorder(memo, max_chars=settings.max_answer_chars, shortlist=settings.compose_shortlist,
                            fused_relevance=settings.compose_fused_relevance, fill=settings.compose_fill,
                            list_lead=settings.compose_list_lead)
        assistant._probe_composer = recorder  # the probe is the offline answer: record what it reads
        items = [i for i in load_gold(corpus) if not i.abstain]
        for n, item in enumerate(items):
            if progress and n % 25 == 0:
                click.echo(f"{corpus}: {n}/{len(items)}", err=True)
            recorder.last = None
            answer = assistant.ask(item.question, history=item.history, audit=False, log_gap=False, split=False)
            if recorder.last is None:
                continue
            question, passages, vector = recorder.last
            q = Question(item, corpus, question, passages, vector, answer.abstained)
            q.rows, q.labels = sentence_rows(q, memo)
            out.append(q)
    return out


def sentence_rows(q: Question, embedder: Any) -> tuple[list[dict[str, float]], list[int]]:
    """The features (all encoded) and labels of every candidate sentence of the question's passages."""
    from kb.answering.compose_model import sentence_features, with_similarity
    from kb.answering.extractive import _passage_relevance, candidates, score_candidates
    from kb.answering.shapes import question_shape

    items = candidates(q.passages)
    shape = question_shape(q.question)
    items = score_candidates(q.question, items, q.passages, embedder=embedder, question_vector=q.vector, shape=shape)
    relevance = _passage_relevance(q.passages, q.vector)
    rows = with_similarity(sentence_features(q.question, items, q.passages, relevance=relevance, shape=shape),
                           [c.similarity for c in items])
    rows = [{k: round(float(v), PLACES) for k, v in row.items()} for row in rows]
    labels = [int(m.fact_recall(c.text, q.item.key_facts) > 0) for c in items]
    return rows, labels


def _matrix(questions: list[Question], features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([[row[f] for f in features] for q in questions for row in q.rows], dtype=np.float64)
    y = np.array([label for q in questions for label in q.labels], dtype=np.int64)
    owner = np.array([n for n, q in enumerate(questions) for _ in q.rows])
    return x.reshape(len(y), len(features)), y, owner


def _fit_one(questions: list[Question], features: tuple[str, ...]) -> SentenceModel:
    x, y, owner = _matrix(questions, features)
    c, _ = _choose_c(x, y, owner, FOLDS)
    mean, scale, model = _fit(x, y, c)
    return SentenceModel(features=features, mean=tuple(round(float(v), 4) for v in mean),
                         scale=tuple(round(float(v), 4) for v in scale),
                         coef=tuple(round(float(v), 4) for v in model.coef_[0]),
                         intercept=round(float(model.intercept_[0]), 4))


def _training(questions: list[Question]) -> list[Question]:
    """The questions the models are fitted on: the main sets, with at least one sentence holding a key fact."""
    return [q for q in questions if q.slice == "main" and any(q.labels)]


def fit_compose(questions: list[Question]) -> ComposeModel:
    """Both sentence models, fitted on the main questions."""
    train = _training(questions)
    return ComposeModel(shortlist=_fit_one(train, PRE_FEATURES), rank=_fit_one(train, FEATURES))


def _answer(q: Question, composer: Any) -> tuple[float, float]:
    """(key facts, cited right page) of the question composed by this composer (0, 0 when it abstained)."""
    if q.abstained:
        return 0.0, 0.0
    draft = composer.compose(q.question, q.passages, question_vector=q.vector)
    claims = [c for c in draft.lead + draft.points if c.sources]
    text = " ".join(c.text for c in claims)
    cited = any(q.item.is_relevant(q.passages[s].chunk.source, q.passages[s].chunk.page) for c in claims for s in c.sources)
    return m.fact_recall(text, q.item.key_facts), float(cited)


def held_out(questions: list[Question], settings: Any, embedder: Any,
             folds: int = FOLDS) -> dict[str, dict[str, tuple[float, float]]]:
    """Key facts and cited right page per scope, composed by: the hand-set scorer, the model in-sample, and
    the model of the fold that did not see the question (grouped by question; by answering document)."""
    from sklearn.model_selection import GroupKFold

    from kb.answering.extractive import ExtractiveComposer

    def composer(model: ComposeModel | None) -> ExtractiveComposer:
        return ExtractiveComposer(embedder, max_chars=settings.max_answer_chars, shortlist=settings.compose_shortlist,
                                  fused_relevance=settings.compose_fused_relevance, fill=settings.compose_fill,
                                  list_lead=settings.compose_list_lead, model=model)

    whole = fit_compose(questions)
    results: dict[str, list[tuple[float, float]]] = {
        "hand-set": [_answer(q, composer(None)) for q in questions],
        "model in-sample": [_answer(q, composer(whole)) for q in questions]}
    main = [n for n, q in enumerate(questions) if q.slice == "main"]
    for name, key in (("held out by question", lambda q: f"{q.corpus}:{q.item.id}"),
                      ("held out by document", lambda q: f"{q.corpus}:{q.document}")):
        figures: list[tuple[float, float]] = list(results["model in-sample"])  # slices: never trained on
        groups = np.array([key(questions[n]) for n in main])
        for train, test in GroupKFold(n_splits=folds).split(np.zeros(len(main)), groups=groups):
            fold = fit_compose([questions[main[i]] for i in train])
            for i in test:
                figures[main[i]] = _answer(questions[main[i]], composer(fold))
        results[name] = figures
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, figures in results.items():
        scopes: dict[str, list[tuple[float, float]]] = {}
        for q, f in zip(questions, figures, strict=True):
            scopes.setdefault(f"{q.corpus}/{q.slice}", []).append(f)
        table[name] = {s: (float(np.mean([f[0] for f in v])), float(np.mean([f[1] for f in v])))
                       for s, v in sorted(scopes.items())}
    return table


def _table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    lines = ["| scorer | scope | key facts | cited right page |", "|---|---|---|---|"]
    for name, scopes in results.items():
        lines += [f"| {name} | {scope} | {facts:.3f} | {cited:.3f} |" for scope, (facts, cited) in scopes.items()]
    return "\n".join(lines)


@click.command("train-compose")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=COMPOSE_MODEL_PATH, show_default=True,
              help="Where to write the fitted sentence models (JSON).")
@click.option("--no-write", is_flag=True, help="Print the held-out figures only.")
def train_compose(out: Path, no_write: bool) -> None:
    """Fit the offline composer's sentence scorer on the gold sets and print held-out answer figures.

    \b
    Examples:
      python -m eval train-compose
      python -m eval train-compose --no-write
    """
    from kb.core.console import configure_logging, load_settings
    from kb.embed import make_embedder

    configure_logging("WARNING")
    settings = load_settings()
    embedder = _Memo(make_embedder(settings))
    questions = compose_questions(settings, embedder, progress=sys.stderr.isatty())
    model = fit_compose(questions)
    results = held_out(questions, settings, embedder)
    click.echo(_table(results))
    if no_write:
        return
    train = _training(questions)
    document = {"command": "python -m eval train-compose", "model": model.to_dict(),
                "questions": len(train), "sentences": sum(len(q.rows) for q in train),
                "with_key_fact": sum(sum(q.labels) for q in train), "folds": FOLDS,
                "held_out": {name: {s: {"key_facts": round(f, 3), "cited_right": round(c, 3)} for s, (f, c) in v.items()}
                             for name, v in results.items()}}
    out.write_text(json.dumps(document, indent=2) + "\n")
    click.echo(f"model written to {out}")


COMMANDS = [train_compose]
