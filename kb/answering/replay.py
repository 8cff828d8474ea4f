"""Replaying an audited answer: the recorded question asked again, and what changed in its sources since."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kb.answering.assistant import Assistant
from kb.answering.audit import shaping_settings
from kb.answering.retrieval import Filters
from kb.core.answer import Answer
from kb.core.documents import content_hash, is_current

__all__ = ["replay", "Replay"]


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
    current = shaping_settings(assistant.settings)
    result.settings_changed = {k: (v, current.get(k)) for k, v in (record.get("settings") or {}).items() if current.get(k) != v}
    return result


def _current_hashes(assistant: Assistant, doc_ids: list[str]) -> set[str]:
    """Content hashes of the current chunks of these documents."""
    if not doc_ids:
        return set()
    done = assistant.kb.done_docs()
    chunks = assistant.kb.store.chunks_of(sorted({d for d in doc_ids if d in done}))
    return {content_hash(c.text) for c in chunks if is_current(c, done.get(c.doc_id))}
