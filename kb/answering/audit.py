"""The answer audit trail: what exactly an answer was built from, and whether that still holds.

A record keeps the question, conversation, filters, the answer, the exact chunk ids and
content hashes it cited and considered, the model (with its weights' hash), composer,
prompt versions and the settings that shaped it. ``kb.answering.replay`` asks again and
reports what changed in the sources since.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kb.answering.retrieval import Filters
from kb.core import prompts
from kb.core.answer import Answer
from kb.core.settings import Settings
from kb.version import __version__

__all__ = ["build_record", "shaping_settings", "SHAPING_SETTINGS"]

SHAPING_SETTINGS = ("embedding_model", "embedding_sha256", "chunk_size", "chunk_overlap", "top_k", "fetch_k", "fusion",
                    "rrf_k", "dense_weight", "mmr", "mmr_lambda", "area_boost", "min_relevance", "max_answer_chars", "compose_context",
                    "stale_after_years", "llm_backend", "llm_model", "compose_compare_sides")
PROMPTS = ("abstain", "stale", "superseded", "expired", "llm_system", "llm_user")


def _prompt_versions() -> dict[str, str]:
    versions = {}
    for name in PROMPTS:
        try:
            versions[name] = prompts.version(name)
        except FileNotFoundError:
            continue
    return versions


def shaping_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape an answer (recorded with it, compared on replay)."""
    return {k: getattr(settings, k) for k in SHAPING_SETTINGS}


def build_record(settings: Settings, answer: Answer, *, history: list[str], filters: Filters | None) -> dict[str, Any]:
    """Everything needed to show and replay an answer (no secrets)."""
    return {
        "version": __version__,
        "question": answer.question,
        "history": history,
        "filters": asdict(filters) if filters else None,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "composer": answer.composer,
        "cited": [{"n": c.n, "chunk_id": c.chunk_id, "content_hash": c.content_hash, "doc_id": c.doc_id,
                   "title": c.title, "page": c.page, "section": c.section} for c in answer.citations],
        "retrieved": answer.retrieved,
        "prompts": _prompt_versions(),
        "settings": shaping_settings(settings),
    }
