"""Choosing the answer composer named by the settings."""

from __future__ import annotations

from kb.answering.extractive import Composer, ExtractiveComposer
from kb.core.settings import Settings
from kb.embed.base import Embedder

__all__ = ["make_composer"]


def make_composer(settings: Settings, embedder: Embedder) -> Composer:
    """The offline extractive composer, or an LLM composer when one is configured."""
    extractive = ExtractiveComposer(embedder, max_chars=settings.max_answer_chars,
                                    shortlist=settings.compose_shortlist)
    if settings.llm_backend == "none":
        return extractive
    from kb.answering.llm.composer import LLMComposer

    return LLMComposer(settings, fallback=extractive)
