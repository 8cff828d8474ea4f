"""The overlapped ingest (parse ahead, encode in batches in a thread, write and tokenize in another) builds the same
knowledge base as the serial path that does one document after another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase
from tests.conftest import LIBRARY

VOLATILE = {"rev", "ingested_at"}  # a fresh revision id and the clock: different in every run by design


def _corpus(folder: Path) -> Path:
    """Enough documents for several encode batches and a writer queue that fills: the library plus variants."""
    folder.mkdir()
    for n, brief in enumerate(sorted(LIBRARY.glob("*.md"))[:14]):
        (folder / brief.name).write_text(brief.read_text())
        if n % 3 == 0:  # near-duplicates too: the health check compares each document with those before it
            (folder / f"copy-{brief.name}").write_text(brief.read_text().replace("district", "school system"))
    (folder / "empty.md").write_text("   \n")  # fails (no text): the order of results around it must not matter
    return folder


def _built(settings: Settings, embedder: Any, docs: Path, *, overlap: bool) -> KnowledgeBase:
    kb = KnowledgeBase(settings.with_overrides(ingest_overlap=overlap), embedder=embedder)
    report = run_ingest(kb, [str(docs)])
    assert [r.source for r in report.failed] == [str(docs / "empty.md")]
    return kb


def _snapshot(kb: KnowledgeBase) -> dict[str, Any]:
    rows = {r["id"]: r for r in kb.store.export_rows()}
    docs = {d.doc_id: d for d in kb.store.docs()}
    keyword = kb.keyword
    by_id = dict(zip(keyword.ids, keyword.tokens or [], strict=True))
    # retrieval decides from the keyword index which vector hits are current: its revisions are the store's
    assert {i: keyword.meta_of(i).get("rev") for i in keyword.ids} == {i: rows[i]["meta"].get("rev") for i in keyword.ids}
    return {
        "ids": sorted(rows),
        "texts": {i: r["text"] for i, r in rows.items()},
        "meta": {i: {k: v for k, v in r["meta"].items() if k not in VOLATILE} for i, r in rows.items()},
        "vectors": {i: r["embedding"] for i, r in rows.items()},
        "docs": {i: (d.title, d.content_hash, d.status, d.chunk_count, d.date, d.areas,
                     {k: v for k, v in d.meta.items() if k not in VOLATILE}) for i, d in docs.items()},
        "keyword_ids": sorted(keyword.ids),
        "keyword_tokens": {i: [keyword.vocab[t] for t in row] for i, row in by_id.items()},
        "keyword_meta": {i: {k: v for k, v in keyword.meta_of(i).items() if k not in VOLATILE} for i in keyword.ids},
        "terms": keyword.terms,
        "hits": [keyword.search(q, 10) for q in ("E-rate category two budget", "phishing training", "student data privacy")],
    }


@pytest.mark.slow
def test_overlapped_ingest_builds_the_same_store_as_the_serial_path(tmp_path: Path, real_embedder: Any) -> None:
    docs = _corpus(tmp_path / "docs")
    base = Settings(data_dir=tmp_path / "serial", reports_dir=tmp_path / "reports")
    serial = _snapshot(_built(base, real_embedder, docs, overlap=False))
    kb = _built(base.with_overrides(data_dir=tmp_path / "overlapped"), real_embedder, docs, overlap=True)
    overlapped = _snapshot(kb)
    assert len(serial["ids"]) > 200  # several encode batches, not one
    for key in ("ids", "texts", "meta", "docs", "keyword_ids", "keyword_tokens", "keyword_meta", "terms", "hits"):
        assert overlapped[key] == serial[key], key
    for chunk_id, vector in serial["vectors"].items():  # batched differently: equal to float32 rounding
        assert np.allclose(overlapped["vectors"][chunk_id], vector, atol=1e-5), chunk_id
    # The tokens the writer thread handed over are exactly what reading the store back gives.
    for saved in (kb.settings.data_dir / "keyword").rglob("entries.json"):
        saved.unlink()
    rebuilt = _snapshot(KnowledgeBase(kb.settings, embedder=real_embedder))
    assert rebuilt["keyword_tokens"] == overlapped["keyword_tokens"] and rebuilt["terms"] == overlapped["terms"]
