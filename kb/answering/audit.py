"""The answer audit trail: what exactly an answer was built from, and whether that still holds.

A record keeps the question, conversation, filters, the answer, the exact chunk ids and
content hashes it cited and considered, the model (with its weights' hash), composer,
prompt versions and the settings that shaped it. ``replay`` asks again and reports
what changed in the sources since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kb.answering.retrieval import Filters
from kb.core import prompts
from kb.core.answer import Answer
from kb.core.documents import content_hash, is_current
from kb.version import __version__

if TYPE_CHECKING:
    from kb.answering.assistant import Assistant

__all__ = ["build_record", "replay", "Replay", "SHAPING_SETTINGS"]

SHAPING_SETTINGS = ("embedding_model", "embedding_sha256", "chunk_size", "chunk_overlap", "top_k", "fetch_k", "fusion",
                    "rrf_k", "dense_weight", "mmr", "mmr_lambda", "area_boost", "min_relevance", "max_answer_chars",
                    "stale_after_years", "llm_backend", "llm_model")
PROMPTS = ("abstain", "stale", "superseded", "expired", "llm_system", "llm_user")


def _prompt_versions() -> dict[str, str]:
    versions = {}
    for name in PROMPTS:
        try:
            versions[name] = prompts.version(name)
        except FileNotFoundError:
            continue
    return versions


def build_record(assistant: Assistant, answer: Answer, history: list[str], filters: Filters | None) -> dict[str, Any]:
    """Everything needed to show and replay an answer (no secrets)."""
    s = assistant.settings
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
        "settings": {k: getattr(s, k) for k in SHAPING_SETTINGS},
    }


@dataclass
class Replay:
    """What changed between a recorded answer and the same question asked now."""

    answer: Answer
    changed: list[str] = field(default_factory=list)  # cited chunks whose text changed
    missing: list[str] = field(default_factory=list)  # cited chunks no longer in the knowledge base
    new_citations: list[str] = field(default_factory=list)  # chunks cited now but not then
    settings_changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    same_text: bool = True

    @property
    def sources_changed(self) -> bool:
        return bool(self.changed or self.missing or self.new_citations)


def replay(assistant: Assistant, record: dict[str, Any]) -> Replay:
    """Ask the recorded question again (same history and filters) and compare the sources."""
    saved: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in (record.get("filters") or {}).items()}
    filters = Filters(**saved) if saved else None
    answer = assistant.ask(record["question"], history=record.get("history") or [], filters=filters, audit=False,
                             log_gap=False)
    then = {c["chunk_id"]: c["content_hash"] for c in record.get("cited", [])}
    chunks, _ = assistant.kb.store.get_chunks(list(then))
    now_hashes = {c.id: content_hash(c.text) for c in chunks}
    result = Replay(answer=answer, same_text=answer.text == record.get("answer"))
    moved = _current_hashes(assistant, [c.get("doc_id", "") for c in record.get("cited", []) if c["chunk_id"] not in now_hashes])
    for chunk_id, old_hash in then.items():
        if chunk_id not in now_hashes:
            if old_hash not in moved:  # an update re-wrote the document: the same passage under a new id is not lost
                result.missing.append(chunk_id)
        elif now_hashes[chunk_id] != old_hash:
            result.changed.append(chunk_id)
    result.new_citations = [c.chunk_id for c in answer.citations if c.chunk_id not in then]
    current = {k: getattr(assistant.settings, k) for k in SHAPING_SETTINGS}
    result.settings_changed = {k: (v, current.get(k)) for k, v in (record.get("settings") or {}).items() if current.get(k) != v}
    return result


def _current_hashes(assistant: Assistant, doc_ids: list[str]) -> set[str]:
    """Content hashes of the current chunks of these documents."""
    if not doc_ids:
        return set()
    done = assistant.kb.done_docs()
    chunks = assistant.kb.store.chunks_of(sorted({d for d in doc_ids if d in done}))
    return {content_hash(c.text) for c in chunks if is_current(c, done.get(c.doc_id))}
