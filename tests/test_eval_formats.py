"""The `formats` gold set: each key fact sits on the listed scanned page, slide or spreadsheet row (issue 18)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from eval.formats import build_corpus
from eval.gold import load_gold
from ingest.loaders import LoadOptions, load_file

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract (apt-get install tesseract-ocr)")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("formats"))


def test_the_corpus_is_written_once_per_version(corpus: Path) -> None:
    files = sorted(p.name for p in corpus.iterdir() if not p.name.startswith("."))
    assert files == ["camera-and-badge-review.pdf", "device-cart-inventory.xlsx", "network-refresh.pptx"]
    stamps = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    build_corpus(corpus)
    assert {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()} == stamps  # unchanged files: nothing re-ingested


@needs_tesseract
def test_every_key_fact_is_only_on_the_listed_page_slide_or_row(corpus: Path) -> None:
    docs = {name: load_file(corpus / name, options=LoadOptions(ocr=True)) for name in
            ("camera-and-badge-review.pdf", "network-refresh.pptx", "device-cart-inventory.xlsx")}
    assert {s.page for s in docs["camera-and-badge-review.pdf"].sections if s.ocr} == {1, 2}  # read by OCR, a scan
    items = load_gold("formats")
    assert len(items) == 7 and sum(i.abstain for i in items) == 1
    for item in (i for i in items if not i.abstain):
        (ref,) = item.refs
        sections = docs[ref.stem].sections
        for fact in item.key_facts:
            where = [s for s in sections if _norm(fact) in _norm(s.text)]
            assert where, (item.id, fact)
            if ref.pages:
                assert {s.page for s in where} == set(ref.pages), (item.id, fact, [s.page for s in where])
            else:  # a row: the fact is in one row only, and the question can only be answered there
                assert len(where) == 1 and (where[0].place or "").startswith("sheet Carts, row "), (item.id, fact)
