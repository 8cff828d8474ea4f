"""Builders for the new formats' test files: scans, decks, workbooks, CSV, e-mail, EPUB (issue 18).

Everything is generated here (reportlab, Pillow, python-pptx, openpyxl, the standard
library), so each test knows exactly what text the file holds.
"""

from __future__ import annotations

import zipfile
from email.message import EmailMessage
from pathlib import Path

from eval.bench.ocr import page_image, scanned_pdf

__all__ = ["page_image", "scanned_pdf", "deck", "e_rate_workbook", "csv_file", "state_memo_eml", "epub_book",
           "mixed_folder", "E_RATE_ITEMS"]

E_RATE_ITEMS = [
    (11, "Internet access 1 Gbps", "Category One", 1, 14400),
    (12, "Wide-area network fiber lease", "Category One", 1, 36000),
    (13, "Wireless access point, Meraki MR46", "Category Two", 48, 41280),
    (14, "Core switch, Cisco Catalyst 9300", "Category Two", 2, 23650),
    (15, "Firewall, Fortinet FortiGate 200F", "Category Two", 1, 9800),
    (16, "Cabling and installation labor", "Category Two", 1, 12500),
]


def deck(path: Path, slides: list[tuple[str, list[str], str]], title: str | None = None) -> Path:
    """A PowerPoint deck: (title, bullet lines, speaker notes) per slide."""
    from pptx import Presentation

    presentation = Presentation()
    if title:
        presentation.core_properties.title = title
    layout = presentation.slide_layouts[1]  # title and content
    for heading, bullets, notes in slides:
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = bullets[0] if bullets else ""
        for line in bullets[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    presentation.save(str(path))
    return path


def e_rate_workbook(path: Path, *, extra_rows: int = 0, extra_cols: int = 0) -> Path:
    """An E-Rate Form 471 item list (sheet "Form 471") and a summary sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Form 471"
    header = ["Line", "Description", "Category", "Quantity", "Pre-discount cost"]
    header += [f"Note {n}" for n in range(1, extra_cols + 1)]
    sheet.append(header)
    for line, description, category, quantity, cost in E_RATE_ITEMS:
        sheet.append([line, description, category, quantity, cost] + ["x"] * extra_cols)
    for n in range(extra_rows):
        sheet.append([100 + n, f"Spare part {n}", "Category Two", 1, 10 + n] + ["x"] * extra_cols)
    summary = book.create_sheet("Summary")
    summary.append(["Funding year", "Discount rate", "Requested"])
    summary.append(["2026-27", 0.8, 110264])
    book.save(str(path))
    return path


def csv_file(path: Path) -> Path:
    rows = ["Asset tag,Building,Device,Purchased", "A-1001,Lincoln Elementary,Chromebook cart (30),2022-08-15",
            "A-1002,Roosevelt Middle,Projector Epson 1781W,2019-01-10", "A-1003,Central High,Core switch stack,2021-06-30"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def state_memo_eml(path: Path) -> Path:
    """A forwarded state memo: the forwarding note and the memo as an attached message."""
    memo = EmailMessage()
    memo["Subject"] = "State guidance on cellphone-free instruction"
    memo["From"] = "Office of Educational Technology <edtech@state.example>"
    memo["Date"] = "Tue, 02 Sep 2025 09:15:00 -0500"
    memo.set_content("Districts must adopt a policy limiting student cellphone use during instructional time by "
                     "January 1, 2026, and post the policy on the district website.")
    forward = EmailMessage()
    forward["Subject"] = "Fwd: State guidance on cellphone-free instruction"
    forward["From"] = "Superintendent <supt@district.example>"
    forward["To"] = "CTO <cto@district.example>"
    forward["Date"] = "Wed, 03 Sep 2025 07:30:00 -0500"
    forward.set_content("Please draft our policy for the October board meeting.")
    forward.add_attachment(memo)
    path.write_bytes(bytes(forward))
    return path


def epub_book(path: Path, chapters: list[tuple[str, str]], title: str) -> Path:
    """A minimal valid EPUB 3: one XHTML file per (heading, paragraph) chapter."""
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" '
                      'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
                      'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        manifest = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters)))
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
        book.writestr("OEBPS/content.opf", f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
                      f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
                      f'<dc:date>2024-05-01</dc:date></metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>')
        for i, (heading, text) in enumerate(chapters):
            book.writestr(f"OEBPS/c{i}.xhtml", f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{heading}</title>'
                          f"</head><body><h1>{heading}</h1><p>{text}</p></body></html>")
    return path


TOPICS = [
    ("bandwidth", "Plan for at least one megabit per second per student for classroom use by 2027."),
    ("mfa", "Staff sign in to email with phishing-resistant multi-factor authentication keys."),
    ("backups", "Backups of the finance system are copied to an offline vault every Friday night."),
    ("rostering", "OneRoster CSV exports run nightly from the student information system at 2 a.m."),
    ("devices", "Chromebooks are replaced on a four-year cycle starting with grade three."),
    ("filtering", "The content filter blocks proxy sites and logs searches for self-harm terms."),
    ("accessibility", "Every new web page is checked against WCAG 2.1 AA before it is published."),
    ("training", "New teachers complete privacy training before they receive classroom accounts."),
    ("cameras", "Security camera footage is kept for thirty days unless an incident is under review."),
    ("hotspots", "Families without home internet may borrow a hotspot from the school library."),
    ("ai", "Generative AI tools are approved per tool after a data privacy review."),
    ("phones", "Students keep phones in lockers during instructional time under the new rule."),
]


def _sentence(topic: int, n: int) -> str:
    name, text = TOPICS[topic % len(TOPICS)]
    return f"{text} Document {n} on {name} was written for the technology office in the {2020 + n % 6} school year."


def mixed_folder(root: Path) -> dict[str, str]:
    """30 files of every kind a district has; returns file name -> "indexed" or the start of its refusal."""
    from tests.helpers import make_docx, make_pdf

    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    n = 0

    def next_text(extra: str = "") -> str:
        nonlocal n
        n += 1
        return _sentence(n, n) + " " + _sentence(n + 5, n) + (" " + extra if extra else "")

    for i in range(2):
        scanned_pdf(root / f"scanned-board-letter-{i}.pdf", [next_text(), next_text()])
        expected[f"scanned-board-letter-{i}.pdf"] = "indexed"
    for i in range(4):
        make_pdf(root / f"plan-{i}.pdf", [next_text() * 2, next_text() * 2], title=f"Technology plan part {i}")
        expected[f"plan-{i}.pdf"] = "indexed"
    for i in range(3):
        deck(root / f"deck-{i}.pptx", [(f"Slide about {TOPICS[i][0]}", [next_text()], next_text()),
                                       ("Next steps", [next_text()], "")])
        expected[f"deck-{i}.pptx"] = "indexed"
    for i in range(3):
        e_rate_workbook(root / f"e-rate-{i}.xlsx", extra_rows=i * 5)
        expected[f"e-rate-{i}.xlsx"] = "indexed"
    for i in range(3):
        path = root / f"inventory-{i}.csv"
        csv_file(path)
        path.write_text(path.read_text() + f"A-20{i}0,Building {i},{TOPICS[i][0]} kit,2024-0{i + 1}-01\n")
        expected[path.name] = "indexed"
    for i in range(3):
        make_docx(root / f"memo-{i}.docx", f"Memo {i}", [next_text(), next_text()], title=f"Memo {i}")
        expected[f"memo-{i}.docx"] = "indexed"
    for i in range(4):
        body = "".join(f"<h2>Part {k}</h2><p>{next_text()}</p>" for k in range(2))
        (root / f"page-{i}.html").write_text(f"<html><head><title>Page {i}</title></head><body><main>{body}</main></body></html>")
        expected[f"page-{i}.html"] = "indexed"
    for i in range(4):
        text = (f"Runbook {i}\n=========\n\n{next_text()}\n\n```bash\n# stop the service first\nsystemctl stop svc{i}\n```\n\n"
                f"Checks\n------\n\n{next_text()}\n")
        (root / f"runbook-{i}.md").write_text(text)
        expected[f"runbook-{i}.md"] = "indexed"
    state_memo_eml(root / "state-memo.eml")
    expected["state-memo.eml"] = "indexed"
    epub_book(root / "handbook.epub", [("Chapter one", next_text()), ("Chapter two", next_text())], "Handbook")
    expected["handbook.epub"] = "indexed"
    (root / "old-budget.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 600)
    expected["old-budget.xls"] = "unsupported file type .xls"
    (root / "empty-notes.txt").write_text("")
    expected["empty-notes.txt"] = "file is empty (0 bytes)"
    assert len(expected) == 30
    return expected
