"""OCR of scanned (image-only) PDF pages: render with pdfium, recognise with Tesseract.

A page is rendered at ``dpi`` by pypdfium2 and read by the ``tesseract`` program
(Debian's tesseract-ocr, installed by scripts/setup.sh) through pytesseract, which kills
it after ``timeout_s``: one bad page costs at most that long and is reported, never hangs
the run. Before each page the parser worker sends a heartbeat, so the parse time limit
grows with the pages actually recognised (see ingest.parse).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kb.core.errors import IngestError

__all__ = ["OcrResult", "ocr_pages", "tesseract_available", "set_heartbeat"]

logger = logging.getLogger(__name__)
_heartbeat: Callable[[], None] | None = None  # set in the parser worker process only


def set_heartbeat(beat: Callable[[], None] | None) -> None:
    """Called before every page is recognised (the parser worker tells its parent it is still working)."""
    global _heartbeat
    _heartbeat = beat


@dataclass
class OcrResult:
    """Recognised text per page number, pages that failed (with why), and the time spent."""

    texts: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def tesseract_available() -> bool:
    """True when the ``tesseract`` program is on the PATH."""
    return shutil.which("tesseract") is not None


def _render(pdf, index: int, dpi: int):  # type: ignore[no-untyped-def]
    page = pdf[index]
    try:
        return page.render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        page.close()


def ocr_pages(path: Path, pages: list[int], *, dpi: int, language: str, timeout_s: float) -> OcrResult:
    """Recognise the text of the given 1-based pages of a PDF.

    Raises:
        IngestError: Tesseract or pdfium is missing (the message says how to install it).
    """
    if not tesseract_available():
        raise IngestError("OCR needs the tesseract program: run `apt-get install tesseract-ocr tesseract-ocr-eng` "
                          "(scripts/setup.sh does), or set CTO_OCR=false")
    if _heartbeat is not None:  # importing pytesseract (it imports pandas) takes seconds on a busy machine
        _heartbeat()
    import pypdfium2 as pdfium
    import pytesseract

    result = OcrResult()
    started = time.perf_counter()
    pdf = pdfium.PdfDocument(str(path))
    try:
        for number in pages:
            if _heartbeat is not None:  # each page gets its own time budget, announced before it starts
                _heartbeat()
            try:
                image = _render(pdf, number - 1, dpi)
                result.texts[number] = pytesseract.image_to_string(image, lang=language, timeout=timeout_s)
            except RuntimeError as exc:  # pytesseract raises RuntimeError when it kills a slow tesseract
                reason = f"OCR took longer than {timeout_s:g} s" if "timeout" in str(exc).lower() else f"OCR failed ({exc})"
                result.failed[number] = reason
            except (pytesseract.TesseractError, pdfium.PdfiumError, OSError, ValueError) as exc:
                result.failed[number] = f"OCR failed ({type(exc).__name__}: {str(exc)[:120]})"
    finally:
        pdf.close()
    result.seconds = time.perf_counter() - started
    logger.info("ocr file=%s pages=%d failed=%d seconds=%.1f", path.name, len(pages), len(result.failed), result.seconds)
    return result
