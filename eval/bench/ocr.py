"""``python -m eval ocr``: OCR word accuracy and speed on scans rendered from known text.

Pages of known text are drawn as images (Pillow, a TrueType font, letter size at the
chosen dpi, as a flatbed scan of a printed page would be), put in an image-only PDF
(reportlab), and read back by the ingest PDF loader with OCR on. Word accuracy is
1 - word error rate (Levenshtein distance over words, case and punctuation folded).
"""

from __future__ import annotations

import re
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["page_image", "scanned_pdf", "word_accuracy", "measure", "COMMANDS"]

FONT_CANDIDATES = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"]
SAMPLE = [
    "Board Policy 6:235 Access to Electronic Networks. The superintendent shall maintain an acceptable use procedure "
    "for staff and students. Every user signs the authorization form before receiving network access.",
    "Records retention. Emails that concern students are kept for five years after the student leaves the district. "
    "Backups of the student information system are kept offline for ninety days and tested every quarter.",
    "E-Rate Form 471 was filed on February 12 for funding year 2026, requesting $110,264 for internet access, "
    "wide-area fiber, 48 wireless access points, two core switches and one firewall.",
    "Signed on behalf of the Board of Education, March 14, 2025. Questions about this policy go to the office of the "
    "chief technology officer, who reviews it every two years with the policy committee.",
]


def _font(size: int) -> Any:
    from PIL import ImageFont

    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size)


def page_image(text: str, *, dpi: int = 300, font_pt: int = 12, width_chars: int = 70) -> Any:
    """A letter-size grayscale page image of ``text`` at ``dpi``."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (int(8.5 * dpi), int(11 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    font = _font(int(font_pt * dpi / 72))
    y = dpi
    line_height = int(font_pt * 1.5 * dpi / 72)
    for para in text.split("\n\n"):
        for line in textwrap.wrap(para, width_chars):
            draw.text((dpi, y), line, fill=0, font=font)
            y += line_height
        y += line_height // 2
    return image


def scanned_pdf(path: Path, pages: list[str], *, dpi: int = 300, text_pages: dict[int, str] | None = None) -> Path:
    """An image-only PDF of the texts; ``text_pages`` adds real text-layer pages by index."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    width, height = letter
    for index, text in enumerate(pages):
        if text_pages and index in text_pages:
            y = height - 72
            c.setFont("Helvetica", 11)
            for line in textwrap.wrap(text_pages[index], 90):
                c.drawString(72, y, line)
                y -= 15
        else:
            c.drawImage(ImageReader(page_image(text, dpi=dpi)), 0, 0, width=width, height=height)
        c.showPage()
    c.save()
    return path


def word_accuracy(expected: str, got: str) -> float:
    """1 - word error rate (Levenshtein distance over words, case and punctuation folded)."""
    ref = re.findall(r"[a-z0-9]+", expected.lower())
    hyp = re.findall(r"[a-z0-9]+", got.lower())
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return max(0.0, 1 - previous[-1] / max(1, len(ref)))


def measure(*, pages: int, dpi: int, scan_dpi: int) -> dict[str, float]:
    """Word accuracy (mean and worst page) and pages per second of OCR over ``pages`` generated scans."""
    from ingest.loaders import LoadOptions, load_file

    texts = [SAMPLE[i % len(SAMPLE)] for i in range(pages)]
    with tempfile.TemporaryDirectory() as folder:
        pdf = scanned_pdf(Path(folder) / "scan.pdf", texts, dpi=scan_dpi)
        started = time.perf_counter()
        doc = load_file(pdf, options=LoadOptions(ocr=True, ocr_dpi=dpi))
        seconds = time.perf_counter() - started
    got = {s.page: s.text for s in doc.sections}
    scores = [word_accuracy(t, got.get(i + 1, "")) for i, t in enumerate(texts)]
    return {"pages": pages, "scan_dpi": scan_dpi, "ocr_dpi": dpi, "word_accuracy": round(sum(scores) / len(scores), 4),
            "worst_page": round(min(scores), 4), "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 3)}


@click.command("ocr")
@click.option("--pages", type=click.IntRange(1, 200), default=8, show_default=True, help="Scanned pages to generate.")
@click.option("--dpi", "dpis", type=click.IntRange(72, 600), multiple=True, help="OCR rendering dpi (repeatable; default 300).")
def ocr_command(pages: int, dpis: tuple[int, ...]) -> None:
    """OCR word accuracy and pages per second on scans rendered from known text (needs tesseract)."""
    rows = [measure(pages=pages, dpi=dpi, scan_dpi=300) for dpi in (dpis or (300,))]
    click.echo("| scan dpi | OCR dpi | pages | word accuracy | worst page | seconds | pages/s |")
    click.echo("|---|---|---|---|---|---|---|")
    for r in rows:
        click.echo(f"| {r['scan_dpi']} | {r['ocr_dpi']} | {r['pages']} | {r['word_accuracy']:.4f} | {r['worst_page']:.4f} "
                   f"| {r['seconds']} | {r['pages_per_s']} |")


COMMANDS = [ocr_command]
