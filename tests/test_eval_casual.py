"""The casual-wording slice of the gold sets: well-formed, verifiable, and reported as its own row.

Key facts are checked against the sources the way the gold files promise: verbatim (case-insensitive,
whitespace collapsed) in a listed library brief, on a listed physical PDF page (pypdf text), or in
the raw Markdown/HTML file of the k12docs corpus. The check covers every gold item, not only the
slice, so a typo in any reference fails here rather than as a silent zero in `python -m eval run`.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from eval.gold import GoldItem, load_gold
from eval.run import TABLE_METRICS, _table, run_gold
from kb.core.areas import area_ids
from tests.conftest import LIBRARY, SHARED_DATA

K12DOCS = SHARED_DATA / "k12docs"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def _found(fact: str, texts: list[str]) -> bool:
    if fact.startswith("re:"):
        return any(re.search(fact[3:], t, re.I) for t in texts)
    return any(_norm(fact) in t for t in texts)


@cache
def _pdf_pages(name: str) -> tuple[object, int]:
    from pypdf import PdfReader

    reader = PdfReader(str(K12DOCS / name))
    return reader, len(reader.pages)


@cache
def _pdf_page_text(name: str, page: int) -> str:
    reader, _ = _pdf_pages(name)
    return _norm(reader.pages[page - 1].extract_text() or "")  # type: ignore[attr-defined]


@cache
def _file_text(path: Path) -> str:
    return _norm(path.read_text(encoding="utf-8"))


def _casual(items: list[GoldItem]) -> list[GoldItem]:
    return [i for i in items if "casual" in i.tags]


def test_casual_slice_is_large_varied_and_tagged() -> None:
    library, k12 = _casual(load_gold("library")), _casual(load_gold("k12docs"))
    both = library + k12
    covered = [i for i in both if not i.abstain]
    assert len(covered) >= 60 and sum(i.abstain for i in both) >= 15
    for part in (library, k12):  # roughly half and half, with uncovered questions over each corpus
        assert len([i for i in part if not i.abstain]) >= 25 and sum(i.abstain for i in part) >= 7
    assert set(Counter(i.area for i in covered)) == set(area_ids()), "the slice spreads over the five areas"
    assert min(Counter(i.area for i in covered).values()) >= 8
    assert sum(bool(i.history) for i in both) >= 4, "pronoun follow-ups carry their history"
    for item in both:
        assert item.id.startswith("casual-") and item.tags == ("casual",), item.id
        if item.abstain:
            assert not item.refs and not item.key_facts, item.id
        else:
            assert item.refs and 2 <= len(item.key_facts) <= 4, item.id


def test_slices_are_held_out_on_request() -> None:
    for name in ("library", "k12docs"):
        everything, main = load_gold(name), load_gold(name, slices=False)
        assert not any(i.tags for i in main)
        assert len(everything) - len(main) == len(_casual(everything)) > 0
    ids = [i.id for i in load_gold("library") + load_gold("k12docs")]
    assert len(ids) == len(set(ids)), "gold ids stay unique with the slice"
    everything = load_gold("library") + load_gold("k12docs")
    casual = [_norm(i.question) for i in _casual(everything)]
    main = {_norm(i.question) for i in everything if not i.tags}
    assert len(casual) == len(set(casual)) and not main & set(casual), "no casual question repeats another"


def test_library_key_facts_are_verbatim_in_a_gold_brief() -> None:
    for item in load_gold("library"):
        if item.abstain:
            continue
        paths = [LIBRARY / f"{ref.stem}.md" for ref in item.refs]
        assert all(p.is_file() for p in paths), (item.id, paths)
        texts = [_file_text(p) for p in paths]
        missing = [f for f in item.key_facts if not _found(f, texts)]
        assert not missing, f"{item.id}: not in {[p.name for p in paths]}: {missing}"


def _check_k12docs_item(item: GoldItem) -> None:
    assert len(item.refs) == 1, item.id
    ref = item.refs[0]
    path = K12DOCS / ref.stem
    assert path.is_file(), (item.id, ref.stem)
    if path.suffix == ".pdf":
        _, count = _pdf_pages(ref.stem)
        assert ref.pages and all(1 <= p <= count for p in ref.pages), (item.id, ref.pages, count)
        texts = [_pdf_page_text(ref.stem, p) for p in ref.pages]
    else:
        assert not ref.pages, f"{item.id}: pages are for PDFs only"
        texts = [_file_text(path)]
    missing = [f for f in item.key_facts if not _found(f, texts)]
    assert not missing, f"{item.id}: not on {ref.stem} pages {list(ref.pages)}: {missing}"


@pytest.mark.skipif(not K12DOCS.is_dir(), reason="the k12docs corpus is not in ../shared/data")
def test_k12docs_casual_key_facts_are_verbatim_on_the_listed_pages() -> None:
    for item in _casual(load_gold("k12docs")):
        if not item.abstain:
            _check_k12docs_item(item)


@pytest.mark.skipif(not K12DOCS.is_dir(), reason="the k12docs corpus is not in ../shared/data")
def test_the_page_check_rejects_a_fact_on_another_page() -> None:
    from eval.gold import GoldRef

    doc = "edfi_ceds-and-ed-fi-collaboration-guidelines.pdf"
    fact = next(f for i in load_gold("k12docs") if i.refs and i.refs[0].stem == doc and 1 in i.refs[0].pages
                for f in i.key_facts if _found(f, [_pdf_page_text(doc, 1)]) and not _found(f, [_pdf_page_text(doc, 4)]))
    item = GoldItem(id="probe", question="q", area="interoperability", kind="factual", key_facts=[fact, fact])
    item.refs = [GoldRef(doc, (1,))]
    _check_k12docs_item(item)
    item.refs = [GoldRef(doc, (4,))]
    with pytest.raises(AssertionError, match="not on"):
        _check_k12docs_item(item)


@pytest.mark.slow
@pytest.mark.skipif(not K12DOCS.is_dir(), reason="the k12docs corpus is not in ../shared/data")
def test_every_k12docs_key_fact_is_verbatim_on_its_listed_pages() -> None:
    for item in load_gold("k12docs", slices=False):
        if not item.abstain:
            _check_k12docs_item(item)


def test_the_report_has_a_casual_row_and_keeps_it_out_of_overall(library_assistant) -> None:  # type: ignore[no-untyped-def]
    library_assistant.journal = None  # scoring must not write gaps into the shared fixture's journal
    items = load_gold("library")
    main = [i for i in items if not i.tags][:4]
    casual = [i for i in _casual(items) if i.abstain][:2] + [i for i in _casual(items) if not i.abstain][:3]
    rows, summary = run_gold(library_assistant, main + casual)
    assert [r["tags"] for r in rows] == [[]] * len(main) + [["casual"]] * len(casual)
    assert summary["overall"]["questions"] == len(main)
    assert sum(s["questions"] for s in summary["per_area"].values()) == len(main)
    slice_ = summary["slices"]["casual"]
    assert slice_["questions"] == len(casual)
    expected_rate = sum(not r["abstained"] for r in rows[len(main):] if not r["abstain_expected"]) / 3
    assert slice_["answer_rate"] == pytest.approx(expected_rate)
    _, main_only = run_gold(library_assistant, main)
    for metric in ("hit@5", "fact_recall", "answer_rate", "abstain_recall", "questions"):
        assert summary["overall"][metric] == pytest.approx(main_only["overall"][metric])
    table = _table(summary, TABLE_METRICS).splitlines()
    assert table[2].startswith("| overall |") and table[-1].startswith("| casual |")
    assert f"| {slice_['questions']:.0f} |" in table[-1]


def test_report_writer_and_slice_only_summaries(tmp_path: Path) -> None:
    from eval.reports import write_report
    from eval.run import summarise

    row = {"id": "casual-x", "area": "cybersecurity", "kind": "abstain", "tags": ["casual"], "question": "q",
           "abstain_expected": True, "abstained": True, "evidence": 0.0, "chars": 120, "latency": 0.01,
           "retrieval_latency": 0.0, "timings": {}}
    summary = {"overall": {}, "per_area": {}, "slices": {"casual": summarise([row])}, "gold": "library", "corpus": "library"}
    table = _table(summary, TABLE_METRICS).splitlines()
    assert len(table) == 3 and table[2].startswith("| casual |"), "a slice-only run has no empty overall row"
    folder = write_report(tmp_path / "eval", summary, [row])
    assert "| casual |" in (folder / "latest.md").read_text()
