"""LangChain-native faces of the knowledge base: a retriever over our hybrid retrieval, and the answering path as a Runnable.

Plug them into your own chains::

    from kb.langchain import AnswerRunnable, KnowledgeBaseRetriever, format_documents

    retriever = KnowledgeBaseRetriever.from_settings(k=4)        # Documents with citation metadata
    docs = retriever.invoke("How should we prepare for ransomware?")
    answer = AnswerRunnable.from_settings().invoke({"question": "And for a small district?",
                                                    "history": ["How should we prepare for ransomware?"]})

See docs/langchain.md for a chain that answers with your own model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig

from kb.answering.assistant import Assistant
from kb.answering.links import deep_link
from kb.answering.retrieval import Filters, Passage, Retriever
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase

__all__ = ["KnowledgeBaseRetriever", "AnswerRunnable", "passage_document", "format_documents", "parse_request"]

AnswerInput = str | dict[str, Any]


def passage_document(passage: Passage) -> Document:
    """A retrieved passage as a LangChain Document: the text, and everything a citation needs in ``metadata``."""
    chunk = passage.chunk
    metadata = {
        "doc_id": chunk.doc_id, "chunk_id": chunk.id, "title": chunk.title, "source": chunk.source,
        "source_type": chunk.source_type, "page": chunk.page, "heading": chunk.section, "anchor": chunk.anchor,
        "url": chunk.extra.get("url"), "link": deep_link(chunk), "date": chunk.date, "areas": list(chunk.areas),
        "authority": chunk.extra.get("authority"), "jurisdiction": chunk.extra.get("jurisdiction"),
        "score": passage.score, "dense": passage.dense, "keyword": passage.keyword,
    }
    return Document(page_content=chunk.text, metadata=metadata, id=chunk.id)


def format_documents(documents: Sequence[Document]) -> str:
    """Documents as a numbered passage block (``[1] Title (page 3)``), for a prompt that asks for [n] citations."""
    blocks = []
    for n, doc in enumerate(documents, start=1):
        meta = doc.metadata
        where = f"page {meta['page']}" if meta.get("page") else (meta.get("heading") or "")
        blocks.append(f"[{n}] {meta.get('title', '')}" + (f" ({where})" if where else "") + f"\n{doc.page_content}")
    return "\n\n".join(blocks)


class KnowledgeBaseRetriever(BaseRetriever):
    """Our hybrid retrieval (dense + BM25, fused, filtered) as a LangChain retriever."""

    retriever: Retriever
    k: int | None = None  # passages per query (default: the top_k setting)
    filters: Filters | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, kb: KnowledgeBase | None = None, k: int | None = None,
                      filters: Filters | None = None) -> KnowledgeBaseRetriever:
        """A retriever over the knowledge base the settings name (the environment's when none are given)."""
        settings = settings or (kb.settings if kb is not None else Settings())
        return cls(retriever=Retriever(kb or KnowledgeBase(settings), settings), k=k, filters=filters)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [passage_document(p) for p in self.retriever.retrieve(query, self.filters, k=self.k)]


def parse_request(value: AnswerInput) -> tuple[str, list[str], Filters | None, int | None]:
    """(question, history, filters, k) from a question string or a dict with ``question`` and optional
    ``history`` (earlier user questions, oldest first), ``filters`` (a Filters or its fields as a dict) and ``k``.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(value, str):
        return value, [], None, None
    if not isinstance(value, dict) or not isinstance(value.get("question"), str):
        raise ValueError("give a question string, or a dict with a 'question' string (and optional history, filters, k)")
    raw = value.get("filters")
    fields: dict[str, Any] = {} if isinstance(raw, Filters) or raw is None else dict(raw)
    filters = raw if isinstance(raw, Filters) or raw is None else Filters(
        **{key: tuple(v) if isinstance(v, list | tuple) else v for key, v in fields.items()})
    return value["question"], [str(t) for t in value.get("history") or []], filters, value.get("k")


class AnswerRunnable(Runnable[AnswerInput, dict[str, Any]]):
    """The whole answering path (``Assistant.ask``) as a Runnable; the output is the Answer as a dict.

    ``invoke`` and ``batch`` return ``Answer.to_dict()``; ``stream`` yields ``{"token": piece}`` while an LLM
    composer writes, then the answer dict (the extractive composer yields the answer dict only).
    """

    def __init__(self, assistant: Assistant, *, audit: bool | None = None):
        self.assistant = assistant
        self.audit = audit

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, kb: KnowledgeBase | None = None,
                      audit: bool | None = None) -> AnswerRunnable:
        """An answering runnable over the knowledge base the settings name."""
        settings = settings or (kb.settings if kb is not None else Settings())
        return cls(Assistant(settings, kb=kb), audit=audit)

    def _ask(self, value: AnswerInput, on_token: Any = None) -> dict[str, Any]:
        question, history, filters, k = parse_request(value)
        answer = self.assistant.ask(question, history=history, filters=filters, k=k, on_token=on_token, audit=self.audit)
        return answer.to_dict()

    def invoke(self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:  # noqa: A002
        return self._call_with_config(self._ask, input, config, run_type="chain")

    def stream(self, input: AnswerInput, config: RunnableConfig | None = None,  # noqa: A002
               **kwargs: Any | None) -> Iterator[dict[str, Any]]:
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                answer = self._call_with_config(lambda v: self._ask(v, lambda t: pieces.put(("token", t))), input,
                                                config, run_type="chain")
                pieces.put(("answer", answer))
            except BaseException as exc:  # handed to the caller's thread below
                pieces.put(("error", exc))

        worker = threading.Thread(target=work, name="cto-answer-stream", daemon=True)
        worker.start()
        while True:
            kind, value = pieces.get()
            if kind == "token":
                yield {"token": value}
            elif kind == "error":
                worker.join()
                raise value
            else:
                worker.join()
                yield value
                return
