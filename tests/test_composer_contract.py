"""The Composer protocol is the contract: one call shape for every composer, the question embedded once."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.answering.composers import Composer, make_composer
from kb.answering.extractive import ExtractiveComposer
from kb.answering.llm.composer import LLMComposer
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase
from tests.helpers import write
from tests.ingest_support import closed_port

QUESTION = "How often should district backups be tested?"
BODY = ("Test restores of district backups every quarter. Keep one backup copy offline and immutable. "
        "Document who may start a restore and how long it takes. ") * 3


class RecordingEmbedder:
    """Records every batch it embeds (to count how often the question itself is embedded)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "hash")
        self.batches: list[list[str]] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.embed_batch(texts)  # type: ignore[attr-defined]


@pytest.fixture
def backup_kb(tmp_path: Path, hash_settings: Settings):  # type: ignore[no-untyped-def]
    from kb.embed.base import HashEmbedder

    recorder = RecordingEmbedder(HashEmbedder())
    kb = KnowledgeBase(hash_settings, embedder=recorder)
    write(tmp_path / "docs" / "backups.md", f"---\ntitle: Backups\n---\n# Backups\n\n{BODY}")
    assert not run_ingest(kb, [str(tmp_path / "docs")]).failed
    return kb, recorder


@pytest.mark.parametrize("backend", ["none", "openai"])
def test_the_question_is_embedded_once_whatever_the_composer(backup_kb, backend: str) -> None:  # type: ignore[no-untyped-def]
    """The extractive composer, and an LLM composer falling back to it, reuse the Assistant's question vector."""
    kb, recorder = backup_kb
    settings = kb.settings.with_overrides(llm_backend=backend, llm_base_url=f"http://127.0.0.1:{closed_port()}",
                                          llm_timeout_s=2.0)
    assistant = Assistant(settings, kb=kb)
    answer = assistant.ask(QUESTION)
    assert not answer.abstained and answer.citations, answer.text
    assert isinstance(assistant.composer, LLMComposer if backend == "openai" else ExtractiveComposer)
    assert answer.composer == "extractive"
    assert sum(batch == [QUESTION] for batch in recorder.batches) == 1, recorder.batches


def test_follow_ups_are_rewritten_by_the_composer(backup_kb) -> None:  # type: ignore[no-untyped-def]
    kb, _ = backup_kb

    class Shouting(ExtractiveComposer):
        name = "shouting"

        def rewrite(self, question: str, history: Sequence[str]) -> str:
            return f"{history[-1]} {question}".upper()

    assistant = Assistant(kb.settings, kb=kb, composer=Shouting(kb.embedder))
    answer = assistant.ask("And offline copies?", history=[QUESTION])
    assert answer.standalone_question == f"{QUESTION} And offline copies?".upper()
    assert Assistant(kb.settings, kb=kb).ask("Offline copies?").standalone_question == "Offline copies?"


def test_both_composers_keep_the_protocol(hash_settings: Settings) -> None:
    """mypy checks the assignments; at run time both offer the same two methods with the same keywords."""
    from kb.embed.base import HashEmbedder

    offline: Composer = make_composer(hash_settings, HashEmbedder())
    online: Composer = make_composer(hash_settings.with_overrides(llm_backend="ollama"), HashEmbedder())

    for composer in (offline, online):
        params = inspect.signature(composer.compose).parameters
        assert params["question_vector"].kind is params["on_token"].kind is inspect.Parameter.KEYWORD_ONLY
        assert list(inspect.signature(composer.rewrite).parameters) == ["question", "history"]
