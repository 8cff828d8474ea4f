"""The in-app viewer's parts: the traversal guard, PDF highlights on the cited page, marked text (issue 18)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from ingest.loaders import load_file
from ingest.locate import highlight_pdf_page, highlighted_pdf, library_file, matched_words, pdf_page_words
from kb.core.answer import Citation
from tests import format_files as ff
from tests.helpers import make_pdf, write
from tests.test_ingest_ocr import SCANNED

PAGES = [
    "Page one is about bandwidth. Schools plan one megabit per second per student for classroom use.",
    "Page two is about backups. Keep one copy of every backup offline so that ransomware cannot encrypt it. "
    "Test restores of the student information system every quarter and report the results to the board.",
    "Page three is about devices. Chromebooks are replaced on a four-year cycle.",
]
QUOTE = "Keep one copy of every backup offline so that ransomware cannot encrypt it."


def _citation(source: Path, **kw: object) -> Citation:
    fields: dict = {"n": 1, "doc_id": "d", "chunk_id": "c", "title": "T", "source": str(source), "page": None,
                    "section": None, "date": None, "snippet": QUOTE, "score": 1.0, "supporting": [QUOTE]}
    fields.update(kw)
    return Citation(**fields)


# ----- the guard: only files under the library's own folders ---------------------------------------
def test_library_file_serves_only_files_inside_the_roots(tmp_path: Path) -> None:
    library = tmp_path / "library"
    inside = write(library / "policies" / "aup.md", "# AUP\n\ntext")
    secret = write(tmp_path / "secret" / "passwords.txt", "not for the viewer")
    (library / "link-out.txt").symlink_to(secret)
    (library / "dir-out").symlink_to(secret.parent, target_is_directory=True)
    assert library_file(str(inside), [library]) == inside.resolve()
    assert library_file(str(library / "policies" / ".." / "policies" / "aup.md"), [library]) == inside.resolve()
    for attempt in (str(library / ".." / "secret" / "passwords.txt"), str(secret), str(library / "link-out.txt"),
                    str(library / "dir-out" / "passwords.txt"), "/etc/passwd", str(library), str(library / "missing.md"),
                    "https://example.org/aup.html", "file:///etc/passwd", str(inside) + "\x00.txt", ""):
        assert library_file(attempt, [library]) is None, attempt


def test_a_symlinked_library_root_still_works(tmp_path: Path) -> None:
    real = tmp_path / "real-library"
    doc = write(real / "a.md", "# A\n\ntext")
    os.symlink(real, tmp_path / "library")
    assert library_file(str(tmp_path / "library" / "a.md"), [tmp_path / "library"]) == doc.resolve()


# ----- PDF: the quoted words boxed on the cited page -------------------------------------------------
def test_quoted_sentence_is_boxed_on_the_cited_page_only(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "plan.pdf", PAGES)
    cited = highlight_pdf_page(pdf, 2, [QUOTE])
    assert cited.page == 2 and cited.pages == 3
    assert cited.highlighted == len(QUOTE.split())  # every word of the sentence, nothing else
    assert 1 <= len(cited.boxes) <= 2  # one box per line the sentence runs over
    elsewhere = highlight_pdf_page(pdf, 1, [QUOTE])
    assert elsewhere.highlighted == 0 and elsewhere.boxes == []
    from PIL import Image

    image = Image.open(io.BytesIO(cited.png)).convert("RGB")
    left, top, right, bottom = cited.boxes[0]
    r, g, b = image.getpixel(((left + right) // 2, top + 3))
    assert r > 200 and 120 < g < 235 and b < 160, (r, g, b)  # amber, not white paper


def _amber(png_or_image) -> int:  # type: ignore[no-untyped-def]
    import numpy as np

    pixels = np.asarray(png_or_image.convert("RGB")).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((r > 220) & (g > 150) & (g < 235) & (b < 150)).sum())


def test_the_whole_pdf_for_st_pdf_carries_the_boxes_on_the_cited_page_only(tmp_path: Path) -> None:
    """st.pdf takes only a file: the highlight is drawn into a copy of the cited page, the original is untouched."""
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    pdf = make_pdf(tmp_path / "plan.pdf", PAGES)
    before = pdf.read_bytes()
    cited = highlight_pdf_page(pdf, 2, [QUOTE])
    data = highlighted_pdf(pdf, 2, cited.boxes)
    assert pdf.read_bytes() == before
    copy = pdfium.PdfDocument(data)
    amber = [_amber(copy[i].render(scale=110 / 72).to_pil()) for i in range(len(copy))]
    assert len(amber) == 3 and amber[0] == 0 and amber[2] == 0 and amber[1] > 1000, amber
    page = copy[1].render(scale=110 / 72).to_pil().convert("RGB")
    left, top, right, bottom = cited.boxes[0]
    r, g, b = page.getpixel(((left + right) // 2, top + 3))
    assert r > 200 and 120 < g < 235 and b < 160, (r, g, b)  # the box lands where the words are
    assert [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages] == [p.extract_text() for p in PdfReader(pdf).pages]
    assert highlighted_pdf(pdf, 2, []) and pytest.raises(ValueError, highlighted_pdf, pdf, 4, cited.boxes)


def test_words_and_boxes_come_from_the_text_layer(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "plan.pdf", PAGES)
    image, words, pages = pdf_page_words(pdf, 3)
    assert pages == 3 and [w.text for w in words[:4]] == ["Page", "three", "is", "about"]
    width, height = image.size
    assert all(0 <= w.box[0] < w.box[2] <= width and 0 <= w.box[1] < w.box[3] <= height for w in words)
    assert words[0].box[1] < height / 4  # the first line is near the top of the page
    with pytest.raises(ValueError, match="page 9 is not in this PDF"):
        pdf_page_words(pdf, 9)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract")
def test_ocr_page_highlights_come_from_tesseract_word_boxes(tmp_path: Path) -> None:
    pdf = ff.scanned_pdf(tmp_path / "scan.pdf", SCANNED[:2])
    quote = "Backups of the student information system are kept offline for ninety days and tested every quarter."
    marked = highlight_pdf_page(pdf, 2, [quote], ocr=True)
    assert marked.highlighted >= len(quote.split()) - 2 and marked.boxes


def test_matched_words_tolerate_line_breaks_and_one_misread_word() -> None:
    from ingest.locate import Word

    words = [Word(t, (0, 0, 1, 1)) for t in "Keep one copy of every back- up offline so that ransomvvare cannot encrypt it. Next".split()]
    hits = matched_words(words, [QUOTE])
    assert [words[i].text for i in hits][:4] == ["Keep", "one", "copy", "of"] and words[-1].text not in {words[i].text for i in hits}


# ----- text documents: scrolled to the section, quoted sentences marked --------------------------------
def test_document_html_marks_the_quote_in_the_cited_section_and_escapes_text(tmp_path: Path) -> None:
    from ui.viewer import document_html

    md = write(tmp_path / "guide.md", "# Guide\n\n## Bandwidth\n\nOne megabit per student. <script>alert(1)</script>\n\n"
                                      f"## Backups\n\nIntro sentence here. {QUOTE} Another sentence follows.\n")
    doc = load_file(md)
    page, marked = document_html(doc, _citation(md, section="Backups"))
    assert marked == 1
    assert f"<mark>{QUOTE}</mark>" in page and "Intro sentence here." in page
    assert page.index('id="cited"') < page.index("<mark>") and page.count('id="cited"') == 1
    assert "scrollIntoView" in page
    txt = write(tmp_path / "notes.txt", f"Plain notes. <script>alert(1)</script> <img src=x onerror=alert(2)> {QUOTE}")
    page, marked = document_html(load_file(txt), _citation(txt))
    assert marked == 1 and "alert(1)</script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and page.count("<script>") == 1  # ours only


def test_document_html_finds_a_spreadsheet_row_by_its_place(tmp_path: Path) -> None:
    from ui.viewer import document_html

    book = ff.e_rate_workbook(tmp_path / "471.xlsx")
    row = "Line: 14 | Description: Core switch, Cisco Catalyst 9300 | Category: Category Two | Quantity: 2 | Pre-discount cost: 23650."
    page, marked = document_html(load_file(book), _citation(book, snippet=row, supporting=[], place="sheet Form 471, row 5"))
    assert marked == 1 and page.index('id="cited"') < page.index("Line: 14") < page.index("</mark>")


def test_a_sentence_wrapped_over_two_lines_is_marked_whole(tmp_path: Path) -> None:
    from ui.viewer import document_html

    md = write(tmp_path / "g.md", "# G\n\n## Resets\n\nStaff resets require a callback to the phone number before the\n"
                                  "technician changes anything. Students reset with the teacher.\n\n- an item\n- another item\n")
    page, marked = document_html(load_file(md), _citation(md, section="Resets", snippet="x",
                                                          supporting=["Staff resets require a callback to the phone number "
                                                                      "before the technician changes anything."]))
    assert marked == 1 and "<mark>Staff resets require a callback to the phone number before the technician changes anything.</mark>" in page
    assert "- an item <br> - another item" in page


def test_web_citations_keep_page_and_text_fragment_deep_links() -> None:
    from kb.answering.links import deep_link, text_fragment
    from kb.core.documents import Chunk

    def chunk(source: str, kind: str, **kw: object) -> Chunk:
        return Chunk(id="c", doc_id="d", index=0, text="t", title="T", source=source, source_type=kind, **kw)  # type: ignore[arg-type]

    quote = "- Keep one copy of every backup offline so that ransomware cannot encrypt it."
    assert text_fragment("Rosters sync nightly.") == ":~:text=Rosters%20sync%20nightly."
    assert text_fragment(quote) == ":~:text=Keep%20one%20copy%20of,ransomware%20cannot%20encrypt%20it."
    assert text_fragment("A well-known fix") == ":~:text=A%20well%2Dknown%20fix"
    assert deep_link(chunk("https://x.example/plan.pdf", "pdf", page=3), quote) == "https://x.example/plan.pdf#page=3"
    assert deep_link(chunk("https://x.example/g.html", "html", anchor="backups"), quote) == \
        "https://x.example/g.html#backups:~:text=Keep%20one%20copy%20of,ransomware%20cannot%20encrypt%20it."
    assert deep_link(chunk("https://x.example/g.html", "html"), None) == "https://x.example/g.html"
    assert deep_link(chunk("/srv/docs/g.md", "markdown", anchor="backups"), quote) == "file:///srv/docs/g.md#backups"
