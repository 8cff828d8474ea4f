"""Find the quoted words in an original document: for the in-app viewer's highlights.

- ``library_file``: the only way the app turns a document's source into a file to serve;
  the file must lie (after resolving symbolic links) under one of the library's own folders.
- ``pdf_page_words``: the words of a PDF page with their boxes, from the text layer
  (pdfium), or from Tesseract for a page that was OCR'd.
- ``matched_words``: which of those words make up the quoted sentences (robust to line
  breaks, hyphenation and the odd misread word: word 4-grams are matched).
- ``highlight_pdf_page``: the page rendered as an image with the quoted words boxed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Word", "library_file", "pdf_page_words", "matched_words", "highlight_pdf_page", "highlighted_pdf", "PageImage",
           "norm_words"]

_WORD = re.compile(r"[a-z0-9]+")
NGRAM = 4
HIGHLIGHT = (255, 200, 0, 110)  # translucent amber, like a highlighter pen
OUTLINE = (214, 120, 0, 255)


@dataclass(frozen=True)
class Word:
    """A word on a page and its box in page pixels of the rendering (left, top, right, bottom)."""

    text: str
    box: tuple[float, float, float, float]


@dataclass
class PageImage:
    """A rendered page with the quoted words boxed."""

    png: bytes
    page: int
    pages: int
    highlighted: int  # words boxed
    boxes: list[tuple[int, int, int, int]]


def library_file(source: str, roots: Iterable[Path]) -> Path | None:
    """The file of a local source when it lies inside one of ``roots``, else None.

    The path is resolved first, so ``..`` segments and symbolic links that lead out of the
    library's folders are refused, as are web addresses, folders and missing files.
    """
    if not source or source.startswith(("http://", "https://", "file:")) or "\x00" in source:
        return None
    try:
        path = Path(source).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_file():
        return None
    for root in roots:
        try:
            if path.is_relative_to(Path(root).resolve(strict=True)):
                return path
        except (OSError, RuntimeError):
            continue
    return None


def norm_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def matched_words(words: Sequence[Word], targets: Sequence[str]) -> list[int]:
    """Indexes of the page words that belong to any target sentence (shared word 4-grams)."""
    tokens = [norm_words(w.text) for w in words]
    flat: list[tuple[str, int]] = [(t, i) for i, ts in enumerate(tokens) for t in ts]
    grams: set[tuple[str, ...]] = set()
    for target in targets:
        t = norm_words(target)
        n = min(NGRAM, len(t))
        grams.update(tuple(t[k:k + n]) for k in range(len(t) - n + 1))
    hit: set[int] = set()
    sizes = {len(g) for g in grams}
    for n in sizes:
        for k in range(len(flat) - n + 1):
            if tuple(tok for tok, _ in flat[k:k + n]) in grams:
                hit.update(i for _, i in flat[k:k + n])
    return sorted(hit)


def _text_layer_words(page: Any, scale: float, height: float) -> list[Word]:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        words: list[Word] = []
        chars: list[str] = []
        box: list[float] = []
        for index in range(count):
            ch = textpage.get_text_range(index, 1)
            if not ch or ch.isspace():
                if chars:
                    words.append(Word("".join(chars), (box[0], box[1], box[2], box[3])))
                chars, box = [], []
                continue
            left, bottom, right, top = textpage.get_charbox(index)
            rect = [left * scale, (height - top) * scale, right * scale, (height - bottom) * scale]
            box = rect if not box else [min(box[0], rect[0]), min(box[1], rect[1]), max(box[2], rect[2]), max(box[3], rect[3])]
            chars.append(ch)
        if chars:
            words.append(Word("".join(chars), (box[0], box[1], box[2], box[3])))
        return words
    finally:
        textpage.close()


def _ocr_words(image: Any, language: str, timeout_s: float) -> list[Word]:
    import pytesseract

    data = pytesseract.image_to_data(image, lang=language, timeout=timeout_s, output_type=pytesseract.Output.DICT)
    return [Word(text, (left, top, left + width, top + height))
            for text, left, top, width, height in zip(data["text"], data["left"], data["top"], data["width"],
                                                      data["height"], strict=True) if text.strip()]


def pdf_page_words(path: Path, page_number: int, *, dpi: int = 110, ocr: bool = False,
                   language: str = "eng", timeout_s: float = 30.0) -> tuple[Any, list[Word], int]:
    """(rendered page image, its words with boxes in image pixels, page count) for a 1-based page."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        pages = len(pdf)
        if not 1 <= page_number <= pages:
            raise ValueError(f"page {page_number} is not in this PDF (it has {pages} pages)")
        page = pdf[page_number - 1]
        try:
            image = page.render(scale=dpi / 72).to_pil().convert("RGB")
            if ocr:
                ocr_image = page.render(scale=300 / 72, grayscale=True).to_pil()
                factor = dpi / 300
                words = [Word(w.text, tuple(v * factor for v in w.box))  # type: ignore[arg-type]
                         for w in _ocr_words(ocr_image, language, timeout_s)]
            else:
                words = _text_layer_words(page, dpi / 72, page.get_height())
        finally:
            page.close()
    finally:
        pdf.close()
    return image, words, pages


def _line_boxes(words: Sequence[Word], indexes: list[int]) -> list[tuple[int, int, int, int]]:
    """Boxes of consecutive highlighted words on the same line merged into one."""
    boxes: list[list[float]] = []
    previous = -2
    for i in indexes:
        left, top, right, bottom = words[i].box
        last = boxes[-1] if boxes else None
        same_line = last is not None and i == previous + 1 and abs(top - last[1]) < (bottom - top) * 0.6
        if last is not None and same_line:
            last[:] = [min(last[0], left), min(last[1], top), max(last[2], right), max(last[3], bottom)]
        else:
            boxes.append([left, top, right, bottom])
        previous = i
    return [(int(b[0]) - 2, int(b[1]) - 2, int(b[2]) + 2, int(b[3]) + 2) for b in boxes]


def highlight_pdf_page(path: Path, page_number: int, targets: Sequence[str], *, dpi: int = 110, ocr: bool = False,
                       language: str = "eng") -> PageImage:
    """The cited page as a PNG with the target sentences' words boxed in amber."""
    import io

    from PIL import Image, ImageDraw

    image, words, pages = pdf_page_words(path, page_number, dpi=dpi, ocr=ocr, language=language)
    indexes = matched_words(words, targets)
    boxes = _line_boxes(words, indexes)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, fill=HIGHLIGHT, outline=OUTLINE, width=2)
    marked = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    ImageDraw.Draw(marked).rectangle((0, 0, marked.width - 1, marked.height - 1), outline=(150, 150, 150), width=2)  # the page's edge
    buffer = io.BytesIO()
    marked.save(buffer, format="PNG", optimize=True)
    return PageImage(png=buffer.getvalue(), page=page_number, pages=pages, highlighted=len(indexes), boxes=boxes)


def highlighted_pdf(path: Path, page_number: int, boxes: Sequence[tuple[int, int, int, int]], *, dpi: int = 110) -> bytes:
    """A copy of the PDF with ``boxes`` (pixels of a rendering at ``dpi``) drawn in translucent amber on one page.

    For a PDF viewer that shows the whole document (``st.pdf``): the highlight is part of
    the page's drawing, so any viewer shows it, with no annotation layer needed. The
    original file is not changed. A rotated page keeps no boxes (they would land askew).
    """
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ContentStream, DictionaryObject, FloatObject, NameObject

    writer = PdfWriter(clone_from=PdfReader(str(path)))
    if not 1 <= page_number <= len(writer.pages):
        raise ValueError(f"page {page_number} is not in this PDF (it has {len(writer.pages)} pages)")
    page = writer.pages[page_number - 1]
    if boxes and not page.rotation % 360:
        box = page.mediabox
        scale = 72 / dpi
        r, g, b, alpha = (c / 255 for c in HIGHLIGHT)
        ops = [f"q /CtoHighlight gs {r:.3f} {g:.3f} {b:.3f} rg {OUTLINE[0] / 255:.3f} {OUTLINE[1] / 255:.3f} "
               f"{OUTLINE[2] / 255:.3f} RG 1 w"]
        for left, top, right, bottom in boxes:
            x, y = float(box.left) + left * scale, float(box.top) - bottom * scale
            ops.append(f"{x:.2f} {y:.2f} {(right - left) * scale:.2f} {(bottom - top) * scale:.2f} re B")
        ops.append("Q")
        overlay = PdfWriter().add_blank_page(width=float(box.width), height=float(box.height))
        state = DictionaryObject({NameObject("/Type"): NameObject("/ExtGState"), NameObject("/ca"): FloatObject(alpha),
                                  NameObject("/CA"): FloatObject(1)})
        overlay[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/ExtGState"): DictionaryObject({NameObject("/CtoHighlight"): state})})
        stream = ContentStream(None, None)
        stream.set_data("\n".join(ops).encode("ascii"))
        overlay.replace_contents(stream)
        page.merge_page(overlay)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
