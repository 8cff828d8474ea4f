"""The ``formats`` evaluation corpus: a scanned letter, a slide deck and a workbook, generated from the text here.

Questions in ``eval/gold/formats.yaml`` are answered only by a scanned page (read by OCR),
a slide, or a spreadsheet row. The files are built from this module's own text (a fictional
district, Harbor View), never copied from elsewhere, and written once per corpus version:
regenerated files would differ in their zip and PDF timestamps and be re-ingested each run.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

__all__ = ["VERSION", "LETTER", "SLIDES", "INVENTORY", "build_corpus"]

VERSION = 2
LETTER = [  # the scanned board letter: page 1, then page 2 (the one questions are about)
    "Harbor View School District, Office of Technology. To the members of the Board of Education. "
    "This letter reports on the review of camera systems and visitor badges that the board asked for in the spring.",
    "Recordings from the cameras on school buses are kept for thirty days and then erased, unless a principal "
    "files an incident report that asks for them. Visitor badges are printed at the front office of every school "
    "and must be returned when the visitor signs out.",
]
SLIDES = [  # (title, bullets, speaker notes)
    ("Harbor View network refresh", ["A plan for the board, fall meeting"], ""),
    ("Wireless upgrade", ["Every classroom gets a Wi-Fi 7 access point", "Gymnasiums get two access points each"],
     "The access points are bought with Category Two funds."),
    ("Core switch replacement", ["The core switch is replaced in the July 2027 maintenance window",
                                 "The old switch is kept as a spare for one year"],
     "Network staff will work nights during that window."),
]
INVENTORY = [  # sheet "Carts": one laptop cart per row
    ("Cart", "Building", "Devices", "Purchased"),
    ("Cart 10", "Lincoln Elementary", "30 Chromebooks", "2022"),
    ("Cart 11", "Harbor View Middle", "28 iPads", "2021"),
    ("Cart 12", "Maple Elementary", "32 Chromebooks", "2023"),
    ("Cart 13", "Harbor View High", "24 Windows laptops", "2020"),
]


def _deck(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = "Harbor View network refresh"
    deck.core_properties.created = datetime(2026, 9, 1)  # else the blank template's own date (2013)
    for title, bullets, notes in SLIDES:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for line in bullets[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))


def _workbook(path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Carts"
    for row in INVENTORY:
        sheet.append(list(row))
    book.save(str(path))


def build_corpus(folder: Path) -> Path:
    """Write the corpus into ``folder`` unless this version is already there; returns the folder."""
    from eval.bench.ocr import scanned_pdf

    stamp = folder / ".corpus.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("version") == VERSION:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    scanned_pdf(folder / "camera-and-badge-review.pdf", LETTER)
    _deck(folder / "network-refresh.pptx")
    _workbook(folder / "device-cart-inventory.xlsx")
    stamp.write_text(json.dumps({"version": VERSION}))
    return folder
