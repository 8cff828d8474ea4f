"""The one answering path: ``Assistant.ask(question, history, filters) -> Answer``.

The Streamlit chat, ``kb ask`` and the eval scripts all call this and get the same
Answer object. Steps: standalone question, challenge areas, hybrid retrieval,
relevance gate, composition, citation numbering, notices (age, currency), timings.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date

import numpy as np

from kb.answering.abstention import gate_features, load_model
from kb.answering.audit import build_record
from kb.answering.compare import side_passages
from kb.answering.composers import Composer, make_composer
from kb.answering.context import list_start, with_context
from kb.answering.extractive import ExtractiveComposer
from kb.answering.layout import render as render_answer
from kb.answering.links import deep_link
from kb.answering.multipart import Part, merge_answers, split_question
from kb.answering.retrieval import Filters, Passage, Retriever
from kb.answering.shapes import Shape, question_shape
from kb.core.answer import Answer, Citation, Claim, Draft
from kb.core.areas import area_label, classify
from kb.core.documents import content_hash
from kb.core.metadata import currency, stored_date, stored_meta, years_old
from kb.core.prompts import render
from kb.core.settings import Settings
from kb.governance import privacy
from kb.governance.journal import Journal
from kb.index.knowledge import KnowledgeBase

__all__ = ["Assistant"]

logger = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000


def _passage_ref(passage: Passage) -> dict[str, object]:
    chunk = passage.chunk
    return {"doc_id": chunk.doc_id, "chunk_id": chunk.id, "title": chunk.title, "source": chunk.source,
            "page": chunk.page, "section": chunk.section, "score": round(passage.score, 5),
            "dense": None if passage.dense is None else round(passage.dense, 4),
            "content_hash": content_hash(chunk.text), **({"context": True} if passage.context else {})}


class Assistant:
    """Answers questions from the knowledge base, with citations, or abstains."""

    def __init__(self, settings: Settings, *, kb: KnowledgeBase | None = None, composer: Composer | None = None,
                 journal: Journal | None = None):
        self.settings = settings
        self.kb = kb or KnowledgeBase(settings)
        self.retriever = Retriever(self.kb, settings)
        self._composer = composer
        self._probe_composer: ExtractiveComposer | None = None
        self.journal = journal if journal is not None else Journal(settings.data_dir)

    @property
    def probe_composer(self) -> ExtractiveComposer:
        """The offline composer whose draft the abstention model reads (and, offline, the answer itself)."""
        if self._probe_composer is None:
            self._probe_composer = ExtractiveComposer(self.kb.embedder, max_chars=self.settings.max_answer_chars,
                                                      shortlist=self.settings.compose_shortlist,
                                                      fused_relevance=self.settings.compose_fused_relevance,
                                                      fill=self.settings.compose_fill,
                                                      list_lead=self.settings.compose_list_lead,
                                                      compare_sides=self.settings.compose_compare_sides)
        return self._probe_composer

    @property
    def composer(self) -> Composer:
        """The composer that writes answers: the probe itself offline, else the configured one."""
        if self._composer is None:
            offline = self.settings.llm_backend == "none"
            self._composer = self.probe_composer if offline else make_composer(self.settings, self.kb.embedder)
        return self._composer

    def ask(self, question: str, *, history: Sequence[str] | None = None, filters: Filters | None = None,
            k: int | None = None, on_token: Callable[[str], None] | None = None, audit: bool | None = None,
            log_gap: bool = True, split: bool = True) -> Answer:
        """Answer one question (with the earlier user turns of the conversation, oldest first).

        Args:
            question: what the user typed.
            history: earlier user questions of the same conversation, oldest first.
            filters: areas, authorities, jurisdictions, date range.
            k: passages to answer from (default: the ``top_k`` setting).
            on_token: called with each piece of text as an LLM composer streams it.
            audit: record the answer in the audit trail (default: the ``audit`` setting).
            log_gap: record an abstention as a library gap (a replay of a recorded answer does not).
            split: answer a question that asks several things part by part (see ``multipart``).

        Returns:
            The Answer; ``abstained`` is true when the library does not cover the question.
        """
        timings: dict[str, float] = {}
        started = time.perf_counter()
        question = (question or "").strip()
        notices: list[str] = []
        if not question:
            return self._empty(question, render("empty_question"))
        if len(question) > MAX_QUESTION_CHARS:
            question = question[:MAX_QUESTION_CHARS]
            notices.append(render("question_truncated", limit=MAX_QUESTION_CHARS))
        standalone = self._standalone(question, list(history or []))
        parts = split_question(question) if split else []  # what was typed, not a follow-up's earlier turns
        if len(parts) > 1:
            parts = [Part(p.asked, self._standalone(p.standalone, list(history or []))) for p in parts]
            return self._ask_parts(question, parts, filters=filters, k=k, audit=audit, started=started)
        searched = self._expand(standalone)  # the library's own words for its acronyms and informal terms
        areas = classify(searched)
        mark = time.perf_counter()
        vector = self.kb.embedder.embed_batch([searched])[0]
        timings["embed"] = time.perf_counter() - mark
        mark = time.perf_counter()
        passages = self.retriever.retrieve(searched, filters, k=k, areas=areas, query_vector=vector)
        timings["retrieve"] = time.perf_counter() - mark
        mark = time.perf_counter()
        reading = self._reading(passages, vector)
        sides = self._sides(standalone, reading, filters=filters, vector=vector)
        reading = reading + sides  # a new list: the retrieved passages (what the gate reads) stay as retrieved
        timings["context"] = time.perf_counter() - mark
        mark = time.perf_counter()
        probe = self._probe(searched, reading, vector)
        if probe is not None and self.settings.compose_list_start:
            reading, probe = self._list_start(searched, reading, probe, vector)
        timings["compose"] = time.perf_counter() - mark
        features = gate_features(searched, passages, self.kb.keyword, draft=probe)
        evidence, answers = self._decide(features)
        if not passages or probe is None or not answers:
            answer = self._abstain(question, standalone, areas=areas, passages=passages, evidence=evidence,
                                  filters=filters, notices=notices)
        else:
            draft = probe
            if self.composer is not self.probe_composer:  # another composer writes the answer the probe allowed
                mark = time.perf_counter()
                draft = self.composer.compose(searched, reading, question_vector=vector, on_token=on_token)
                timings["compose"] += time.perf_counter() - mark
            answer = self._render(question, standalone, areas=areas, passages=reading, draft=draft,
                                  evidence=evidence, notices=notices)
        answer.gate = {name: round(value, 4) for name, value in features.items()}
        timings["total"] = time.perf_counter() - started
        answer.timings = timings
        answer.retrieved = ([_passage_ref(p) for p in passages] + [_passage_ref(p) for p in reading if p.context]
                            + [{**_passage_ref(p), "side": True} for p in sides])
        if self.journal is not None:
            if answer.abstained and question and log_gap:
                self.journal.record_gap(question, areas=answer.areas, nearest=answer.nearest_topics, reason="abstained")
            if self.settings.audit if audit is None else audit:
                record = build_record(self.settings, answer, history=list(history or []), filters=filters)
                self.journal.record_audit(answer.id, question, record)
        return answer

    # ----- steps ------------------------------------------------------------------------------
    def _ask_parts(self, question: str, parts: list[Part], *, filters: Filters | None, k: int | None,
                   audit: bool | None, started: float) -> Answer:
        """Each part answered on its own (gaps logged per part), merged into one answer naming what is not covered."""
        answers = [self.ask(p.standalone, filters=filters, k=k, audit=False, split=False) for p in parts]
        if all(a.abstained for a in answers):
            return self.ask(question, filters=filters, k=k, audit=audit, split=False)
        answer = merge_answers(parts, answers, max_chars=self.settings.max_answer_chars)
        if answer.abstained:  # no part has an answer of its own: answer (or abstain on) the question as typed
            return self.ask(question, filters=filters, k=k, audit=audit, split=False)
        if self.journal is not None:
            for part, own in zip(parts, answers, strict=True):
                if not own.abstained and render("part_not_covered", part=part.asked) in answer.text:
                    self.journal.record_gap(part.standalone, areas=own.areas, nearest=[], reason="part not answered")
        answer.question = question
        answer.text = privacy.redact(answer.text)
        answer.retrieved = [ref for a in answers for ref in a.retrieved]
        answer.timings = {"total": time.perf_counter() - started}
        if self.journal is not None and (self.settings.audit if audit is None else audit):
            self.journal.record_audit(answer.id, question, build_record(self.settings, answer, history=[], filters=filters))
        return answer

    def _expand(self, question: str) -> str:
        """The question with the long forms of the acronyms and informal terms it uses appended."""
        if not self.settings.expand_vocabulary:
            return question
        return self.kb.keyword.vocabulary.expand(question)

    def _reading(self, passages: list[Passage], vector: np.ndarray) -> list[Passage]:
        """The passages the composer reads: the retrieved ones, with the neighbouring chunks the best run into."""
        depth = self.settings.compose_context
        if not depth or not passages:
            return passages
        return with_context(self.kb, passages, depth=depth, share=self.settings.compose_context_share,
                            query_vector=vector)

    def _sides(self, question: str, reading: list[Passage], *, filters: Filters | None,
               vector: np.ndarray) -> list[Passage]:
        """For a comparison, the passage stating each side that the question's retrieval missed (``compare``)."""
        if not self.settings.compose_compare_sides:
            return []
        return side_passages(self.kb, question_shape(question), reading, filters=filters, query_vector=vector,
                             expansion_weight=self.settings.expansion_weight)

    def _probe(self, question: str, passages: list[Passage], vector: np.ndarray) -> Draft | None:
        """The extractive draft: the answer itself offline, and the sentences the abstention model reads."""
        if not passages:
            return None
        return self.probe_composer.compose(question, passages, question_vector=vector)

    def _list_start(self, question: str, reading: list[Passage], probe: Draft,
                    vector: np.ndarray) -> tuple[list[Passage], Draft]:
        """For a steps or priorities question whose draft opens on a numbered list part-way through, the
        passages with the chunk the list begins in, and the draft composed again from them; else as they were."""
        lead = probe.lead[0] if probe.lead else None
        if (lead is None or lead.kind != "step" or (lead.number or 1) <= 1 or len(lead.sources) != 1
                or question_shape(question).shape not in (Shape.STEPS, Shape.PRIORITY)):
            return reading, probe
        more = list_start(self.kb, reading, lead.sources[0], share=self.settings.compose_context_share,
                          query_vector=vector)
        again = None if more is None else self._probe(question, more, vector)
        return (reading, probe) if more is None or again is None else (more, again)

    def _decide(self, features: dict[str, float]) -> tuple[float, bool]:
        """(evidence, answer?): the trained model's probability, or the one-score threshold gate."""
        model = load_model() if self.settings.abstention == "model" else None
        if model is not None:
            probability = model.probability(features)
            return probability, probability >= model.threshold
        required = self.settings.min_relevance_unknown_names if features["missing"] else self.settings.min_relevance
        return features["evidence"], features["evidence"] >= required

    def _standalone(self, question: str, history: list[str]) -> str:
        """The follow-up made standalone by the composer (an LLM composer falls back to the rule itself)."""
        return self.composer.rewrite(question, history) if history else question

    def _empty(self, question: str, message: str) -> Answer:
        return Answer(question=question, standalone_question=question, text=message, citations=[], areas=[],
                      abstained=True, id=uuid.uuid4().hex[:12])

    def _abstain(self, question: str, standalone: str, *, areas: list[str], passages: list[Passage],
                 evidence: float, filters: Filters | None, notices: list[str]) -> Answer:
        topics: list[str] = []
        for passage in passages:
            if passage.chunk.title not in topics:
                topics.append(passage.chunk.title)
        topics = topics[:3]
        if not self.kb.done_docs():
            text = render("empty_library")
        else:
            text = render("abstain", topics="\n".join(f"- {t}" for t in topics) or "- (none close)",
                          areas=", ".join(area_label(a) for a in areas) or "none recognised")
            if filters is not None and filters.active:
                text += "\n\n" + render("abstain_filters")
        return Answer(question=question, standalone_question=standalone, text=text, citations=[], areas=areas,
                      abstained=True, nearest_topics=topics, notices=notices, evidence=evidence, id=uuid.uuid4().hex[:12])

    def _render(self, question: str, standalone: str, *, areas: list[str], passages: list[Passage], draft: Draft,
                evidence: float, notices: list[str]) -> Answer:
        claims = [c for c in draft.lead + draft.points if c.sources]
        if not claims:
            return self._abstain(question, standalone, areas=areas, passages=passages, evidence=evidence, filters=None,
                                notices=notices)
        numbers: dict[int, int] = {}
        for claim in claims:
            for source in claim.sources:
                numbers.setdefault(source, len(numbers) + 1)
        citations = [self._citation(numbers[i], passages[i], [c.text for c in claims if i in c.sources])
                     for i in sorted(numbers, key=lambda n: numbers[n])]
        text = privacy.redact(render_answer(draft, lambda c: self._mark(c, numbers)))
        notices = notices + draft.notices + self._currency_notices(citations)
        renumbered = [replace(c, sources=[numbers[s] for s in c.sources]) for c in claims]
        return Answer(question=question, standalone_question=standalone, text=text, citations=citations,
                      areas=areas, abstained=False, claims=renumbered, notices=notices, composer=draft.composer or "",
                      evidence=evidence, id=uuid.uuid4().hex[:12])

    @staticmethod
    def _mark(claim: Claim, numbers: dict[int, int]) -> str:
        marks = "".join(f"[{numbers[s]}]" for s in claim.sources)
        flag = "" if claim.supported else " (unverified)"
        return f"{claim.text} {marks}{flag}"

    def _citation(self, n: int, passage: Passage, supporting: list[str]) -> Citation:
        chunk = passage.chunk
        return Citation(
            n=n, doc_id=chunk.doc_id, chunk_id=chunk.id, title=chunk.title, source=chunk.source, page=chunk.page,
            section=chunk.section, date=chunk.date, snippet=privacy.redact(chunk.text), score=round(passage.score, 4),
            content_hash=content_hash(chunk.text), link=deep_link(chunk, supporting[0] if supporting else None),
            supporting=supporting,
            areas=chunk.areas, authority=chunk.extra.get("authority"),
            place=chunk.extra.get("place"), ocr=bool(chunk.extra.get("ocr")),
        )

    def _currency_notices(self, citations: list[Citation]) -> list[str]:
        """Notices for cited sources that are superseded, expired, or all old (the rules live in kb.core.metadata)."""
        notices: list[str] = []
        today = date.today()
        docs = self.kb.done_docs()
        seen: set[str] = set()
        for c in citations:
            if c.doc_id in seen:
                continue
            seen.add(c.doc_id)
            state = currency(stored_meta(docs[c.doc_id].meta) if c.doc_id in docs else {}, today=today)
            if state.superseded_by:
                successor = state.superseded_by
                newer = next((d.title for d in docs.values() if successor in (d.doc_id, d.title) or d.source.endswith(successor)), None)
                notices.append(render("superseded", n=c.n, title=c.title, successor=newer or successor,
                                      held="" if newer else " (not in the library)"))
            elif state.expired is not None:
                notices.append(render("expired", n=c.n, title=c.title, expires=state.expired.isoformat()))
        dated = [day for c in citations if (day := stored_date(c.date)) is not None]
        if dated:
            age = years_old(max(dated), today=today)
            if age > self.settings.stale_after_years:
                notices.append(render("stale", year=max(dated).year, years=int(age)))
        return notices
