"""PDF bookmarks (the outline) become the headings of the pages they cover, and are searched with them."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.options import LoadOptions
from ingest.loaders.pdf import load_pdf
from ingest.pipeline import run_ingest
from kb.answering.retrieval import Retriever
from kb.core.settings import Settings
from tests.ingest_support import hash_kb, pdf_with_lines

PAGES = [
    ["Cover page of the district incident response plan, adopted by the board in 2025."],
    ["The plan names an incident commander and a communications lead for every incident.",
     "Both roles have a named deputy who steps in when the lead is away."],
    ["Isolate the affected machines from the network before anything else is changed.",
     "Keep the disk images for the investigators and the insurer."],
    ["Restore from the offline backups once the machines are rebuilt from clean images."],
]


def _outlined_pdf(path: Path) -> Path:
    """A four-page PDF with bookmarks: a chapter on page 2 with sections on pages 2 and 3, another chapter on page 4."""
    outline = {2: [("Incident Response", 0), ("Roles and Responsibilities", 1)], 3: [("Containment", 1)],
               4: [("Recovery", 0)]}
    return pdf_with_lines(path, PAGES, outline=outline)


def test_each_page_gets_the_bookmark_it_falls_under(tmp_path: Path) -> None:
    doc = load_pdf(_outlined_pdf(tmp_path / "ir-plan.pdf"), 100, options=LoadOptions(ocr=False))
    headings = {s.page: s.heading for s in doc.sections}
    assert headings == {1: None, 2: "Incident Response > Roles and Responsibilities",
                        3: "Incident Response > Containment", 4: "Recovery"}
    plain = load_pdf(tmp_path / "ir-plan.pdf", 100, options=LoadOptions(ocr=False, pdf_outline=False))
    assert {s.heading for s in plain.sections} == {None}


def test_a_pdf_without_bookmarks_reads_as_before(tmp_path: Path) -> None:
    from tests.ingest_support import pdf_with_lines

    doc = load_pdf(pdf_with_lines(tmp_path / "plain.pdf", PAGES), 100, options=LoadOptions(ocr=False))
    assert [s.page for s in doc.sections] == [1, 2, 3, 4] and {s.heading for s in doc.sections} == {None}


def test_a_question_in_the_headings_words_finds_the_page(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Page 3 never says "containment": only its bookmark does, and keyword search finds it by that word."""
    folder = tmp_path / "docs"
    folder.mkdir()
    _outlined_pdf(folder / "ir-plan.pdf")
    question = "What does our plan say about containment?"
    found = {}
    for outline in (True, False):
        monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
        settings = Settings(data_dir=tmp_path / f"data-{outline}", reports_dir=tmp_path / "reports",
                            pdf_outline_headings=outline, fusion="bm25")
        kb, _ = hash_kb(settings)
        assert run_ingest(kb, [str(folder)]).counts() == {"added": 1}
        passages = Retriever(kb, settings).retrieve(question, k=3)
        found[outline] = [p.chunk.page for p in passages]
    assert found[True][:1] == [3]
    assert 3 not in found[False]
    chunk = next(c for c in kb.store.iter_chunks() if c.page == 3)
    assert chunk.section is None  # without the outline the page has no heading


def test_a_library_read_without_headings_is_read_again_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PDFs ingested before pages took their bookmark's heading get it on the next ingest, then stay unchanged."""
    folder = tmp_path / "docs"
    folder.mkdir()
    _outlined_pdf(folder / "ir-plan.pdf")
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    statuses = []
    for outline in (False, True, True):
        settings = Settings(data_dir=tmp_path / "data", reports_dir=tmp_path / "reports", pdf_outline_headings=outline)
        kb, _ = hash_kb(settings)
        statuses.append(run_ingest(kb, [str(folder)]).counts())
    assert statuses == [{"added": 1}, {"updated": 1}, {"unchanged": 1}]
    assert {c.page: c.section for c in kb.store.iter_chunks()}[3] == "Incident Response > Containment"
