"""The Composer protocol (the contract every answer composer keeps) and the factory that picks one by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from kb.answering.retrieval import Passage
from kb.core.answer import Draft
from kb.core.settings import Settings
from kb.embed import Embedder

__all__ = ["Composer", "make_composer"]


class Composer(Protocol):
    """Turns a question and its passages into a draft answer, and a follow-up into a standalone question.

    The Assistant calls every composer the same way; nothing is probed. A composer without a
    model rewrites follow-ups by the deterministic rule (``kb.answering.conversation``).
    """

    name: str

    def compose(self, question: str, passages: Sequence[Passage], *, question_vector: np.ndarray | None = None,
                on_token: Callable[[str], None] | None = None) -> Draft:
        """Draft the answer from the passages (best first; claims cite them by 0-based index).

        Args:
            question: the standalone question.
            passages: the retrieved passages.
            question_vector: the question's embedding, computed once by the caller (None: compute it).
            on_token: called with each piece of text as a streaming composer writes it.
        """
        ...

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """The question made standalone, given the earlier user turns (oldest first)."""
        ...


def make_composer(settings: Settings, embedder: Embedder) -> Composer:
    """The offline extractive composer, or an LLM composer (falling back to it) when one is configured."""
    from kb.answering.extractive import ExtractiveComposer

    extractive = ExtractiveComposer(embedder, max_chars=settings.max_answer_chars,
                                    shortlist=settings.compose_shortlist,
                                    fused_relevance=settings.compose_fused_relevance,
                                    fill=settings.compose_fill, list_lead=settings.compose_list_lead)
    if settings.llm_backend == "none":
        return extractive
    from kb.answering.llm.composer import LLMComposer

    return LLMComposer(settings, fallback=extractive)
