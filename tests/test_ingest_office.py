"""PowerPoint, spreadsheets (.xlsx, .csv), e-mail (.eml) and EPUB, from files the tests generate (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import LoadOptions, load_file
from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from tests import format_files as ff
from tests.ingest_support import assert_consistent, hash_kb

SLIDES = [
    ("Wi-Fi refresh proposal", ["Replace 48 access points in three buildings", "Wi-Fi 6E for the high school"],
     "Ask the board for approval in November."),
    ("Costs and funding", ["Total project cost: $41,280", "E-Rate Category Two covers 80 percent"],
     "The district share is about eight thousand dollars, paid from the capital fund."),
    ("Timeline", ["Install during winter break", "Survey coverage in January"], ""),
]


def test_pptx_slide_is_a_page_with_title_heading_and_notes(tmp_path: Path) -> None:
    doc = load_file(ff.deck(tmp_path / "wifi.pptx", SLIDES, title="Wi-Fi Refresh 2026"))
    assert doc.title == "Wi-Fi Refresh 2026" and doc.source_type == "pptx"
    assert [(s.page, s.heading, s.place) for s in doc.sections] == [
        (1, "Wi-Fi refresh proposal", "slide 1"), (2, "Costs and funding", "slide 2"), (3, "Timeline", "slide 3")]
    second = doc.sections[1].text
    assert "- Total project cost: $41,280" in second and "- E-Rate Category Two covers 80 percent" in second
    assert "Speaker notes: The district share is about eight thousand dollars" in second
    assert "Speaker notes" not in doc.sections[2].text
    assert doc.health == {"slides": 3, "slides_with_text": 3}


def test_xlsx_rows_keep_their_headers_and_are_cited_by_sheet_and_row(tmp_path: Path) -> None:
    doc = load_file(ff.e_rate_workbook(tmp_path / "e-rate-471.xlsx"))
    rows = {s.place: s for s in doc.sections}
    line14 = rows["sheet Form 471, row 5"]  # the header is row 1, line 11 is row 2
    assert line14.text == ("Line: 14 | Description: Core switch, Cisco Catalyst 9300 | Category: Category Two | "
                           "Quantity: 2 | Pre-discount cost: 23650.")  # a row reads as one statement
    assert line14.heading == "Form 471" and line14.atomic
    assert rows["sheet Summary, row 2"].text == "Funding year: 2026-27 | Discount rate: 0.8 | Requested: 110264."
    assert doc.health == {"sheets": {"Form 471": 6, "Summary": 1}} and doc.warnings == []


def test_a_very_long_or_wide_sheet_is_bounded_with_a_warning(tmp_path: Path) -> None:
    path = ff.e_rate_workbook(tmp_path / "big.xlsx", extra_rows=300, extra_cols=10)
    doc = load_file(path, options=LoadOptions(sheet_max_rows=100, sheet_max_cols=8))
    form = [s for s in doc.sections if s.heading == "Form 471"]
    assert len(form) == 100
    assert all(s.text.count(": ") <= 8 for s in form)
    assert any("'Form 471' has 306 rows; only the first 100 were read (CTO_SHEET_MAX_ROWS)" in w for w in doc.warnings)
    assert any("'Form 471' is wider than 8 columns" in w for w in doc.warnings)


def test_csv_is_one_sheet_named_after_the_file(tmp_path: Path) -> None:
    doc = load_file(ff.csv_file(tmp_path / "inventory.csv"))
    assert doc.source_type == "csv" and doc.title == "inventory"
    assert [s.place for s in doc.sections] == ["sheet inventory, row 2", "sheet inventory, row 3", "sheet inventory, row 4"]
    assert doc.sections[1].text == "Asset tag: A-1002 | Building: Roosevelt Middle | Device: Projector Epson 1781W | Purchased: 2019-01-10."


def test_eml_forwarded_memo_keeps_both_messages(tmp_path: Path) -> None:
    doc = load_file(ff.state_memo_eml(tmp_path / "memo.eml"))
    assert doc.title == "Fwd: State guidance on cellphone-free instruction" and doc.date == "2025-09-03"
    headings = [s.heading for s in doc.sections]
    assert headings == ["Fwd: State guidance on cellphone-free instruction",
                        "Forwarded: State guidance on cellphone-free instruction"]
    assert "draft our policy for the October board meeting" in doc.sections[0].text
    assert "limiting student cellphone use during instructional time by January 1, 2026" in doc.sections[1].text


def test_epub_chapters_in_spine_order(tmp_path: Path) -> None:
    chapters = [("Why digital citizenship", "Students judge sources and protect their information online every day."),
                ("Teaching it in grades K-5", "Short weekly lessons on passwords, kindness and asking an adult for help.")]
    doc = load_file(ff.epub_book(tmp_path / "citizenship.epub", chapters, "Digital Citizenship Handbook"))
    assert doc.title == "Digital Citizenship Handbook" and doc.date == "2024-05-01" and doc.source_type == "epub"
    assert [s.heading for s in doc.sections] == ["Why digital citizenship", "Teaching it in grades K-5"]


@pytest.mark.parametrize("name, message", [
    ("deck.pptx", "is not a PowerPoint file (not a zip archive)"),
    ("book.xlsx", "is not an Excel workbook (not a zip archive)"),
    ("story.epub", "is not an EPUB book (not a zip archive)"),
])
def test_mislabelled_office_files_fail_with_one_line(hash_settings: Settings, tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is plain text, not an archive" * 10)
    kb, _ = hash_kb(hash_settings)
    [result] = run_ingest(kb, [str(path)]).results
    assert result.status == "failed" and message in result.reason and "\n" not in result.reason


def test_every_new_format_through_the_pipeline_with_citable_places(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    ff.deck(folder / "wifi.pptx", SLIDES)
    ff.e_rate_workbook(folder / "e-rate-471.xlsx")
    ff.csv_file(folder / "inventory.csv")
    ff.state_memo_eml(folder / "memo.eml")
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(folder)])
    assert report.counts() == {"added": 4}, report.to_dict()
    chunks = list(kb.store.iter_chunks())
    by_place = {c.extra.get("place"): c for c in chunks}
    assert "Line: 14 | Description: Core switch" in by_place["sheet Form 471, row 5"].text  # one row, one passage
    assert by_place["slide 2"].page == 2 and by_place["slide 2"].section == "Costs and funding"
    assert {c.source_type for c in chunks} == {"pptx", "xlsx", "csv", "eml"}
    assert_consistent(kb.store)
    again = run_ingest(kb, [str(folder)])
    assert again.counts() == {"unchanged": 4}
