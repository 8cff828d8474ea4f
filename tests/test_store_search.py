"""The vector index's search breadth (CTO_SEARCH_EF): the exact nearest chunks, the same in every process.

At Chroma's default breadth (ef 100) the 40 candidates a question takes from the vector index
missed some of the exact 40 nearest and differed from process to process, so the app and
`kb ask` could answer the same question differently (the fused scores are normalised by the
40th candidate's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.gold import load_gold
from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase


@pytest.mark.model
def test_the_vector_search_finds_the_exact_nearest_40_for_every_library_question(library_kb: Any) -> None:
    store = library_kb.store
    assert store.search_breadth == library_kb.settings.search_ef == 400
    everything = store._chunks.get(include=["embeddings"])
    ids, vectors = everything["ids"], np.asarray(everything["embeddings"], dtype=np.float32)
    questions = [item.question for item in load_gold("library")]
    query_vectors = library_kb.embedder.embed_batch(questions)
    missed = {}
    for question, vector in zip(questions, query_vectors, strict=True):
        exact = {ids[i] for i in np.argsort(-(vectors @ vector))[:40]}
        found = {cid for cid, _ in store.nearest(vector, 40)}
        if found != exact:
            missed[question] = len(exact - found)
    assert not missed, missed


def _ingest(settings: Settings, docs: Path) -> KnowledgeBase:
    kb = KnowledgeBase(settings)
    assert not run_ingest(kb, [str(docs)]).failed
    return kb


def test_a_store_made_with_another_breadth_takes_the_setting_on_its_next_ingest(hash_settings: Settings,
                                                                                tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mfa.md").write_text("# MFA\n\nMulti-factor authentication protects staff accounts from phishing.\n")
    old = hash_settings.with_overrides(data_dir=tmp_path / "data", search_ef=100)
    assert _ingest(old, docs).store.search_breadth == 100
    current = old.with_overrides(search_ef=400)
    assert KnowledgeBase(current).store.search_breadth == 100  # opening alone writes nothing (readers never write)
    (docs / "sso.md").write_text("# SSO\n\nSingle sign-on gives each student one account for every app.\n")
    _ingest(current, docs)
    assert KnowledgeBase(current).store.search_breadth == 400
