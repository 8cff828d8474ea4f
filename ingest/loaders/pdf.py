"""PDF loader: one section per page, via pypdf, with running headers and footers removed.

Pages without a text layer (scans) are recognised by OCR when CTO_OCR is on; their
sections are marked ``ocr`` so that citations and the health report say so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.clean import clean_text, is_contents_page, strip_repeated_lines
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError

if TYPE_CHECKING:
    from ingest.loaders.options import LoadOptions

logger = logging.getLogger(__name__)

MIN_PAGE_CHARS = 40  # below this a page counts as empty or image-only


def _reader(path: Path):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path), strict=False)
    except (PdfReadError, ValueError, OSError, KeyError, TypeError) as exc:
        raise IngestError(f"not a readable PDF ({type(exc).__name__}: {exc}); re-export or re-download it") from exc
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except Exception as exc:  # pypdf raises several types for unsupported ciphers
            raise IngestError("PDF is encrypted; save an unprotected copy and ingest that") from exc
        if not ok:
            raise IngestError("PDF is password-protected; save an unprotected copy and ingest that")
    return reader


def _title(reader, path: Path) -> str:  # type: ignore[no-untyped-def]
    try:
        meta = reader.metadata
        title = (meta.title or "").strip() if meta else ""
    except Exception:  # broken info dictionaries are common; the file name is a fine title
        title = ""
    placeholder = title.lower() in {"document title", "title", "document", "presentation title"}
    if len(title) < 4 or placeholder or title.lower().startswith(("microsoft word", "untitled")):
        title = path.stem.replace("_", " ").replace("-", " ").strip()
    return title


def _has_image(page: Any, depth: int = 0) -> bool:
    """True when the page draws an image (a scan), looked up in its resources without decoding anything.

    Pages of vector drawings, or empty pages, have no image to recognise; OCR skips them
    (and a page whose content stream is a decompression bomb is never rendered for nothing).
    """
    try:
        resources = page.get("/Resources") if depth == 0 else page
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources is not None else None
        xobjects = xobjects.get_object() if xobjects is not None else None
        for ref in (xobjects or {}).values():
            obj = ref.get_object()
            subtype = obj.get("/Subtype")
            if subtype == "/Image":
                return True
            if subtype == "/Form" and depth < 3 and _has_image(obj.get("/Resources"), depth + 1):
                return True
    except Exception:  # broken resource dictionaries: treat as no image rather than lose the document
        return False
    return False


def _ocr(path: Path, texts: list[str], empty: list[int], options: LoadOptions, warnings: list[str]) -> list[int]:
    """Replace the text of image-only pages by their OCR; return the pages that got text."""
    from ingest.loaders.ocr import ocr_pages

    try:
        result = ocr_pages(path, empty, dpi=options.ocr_dpi, language=options.ocr_language, timeout_s=options.ocr_timeout_s)
    except IngestError as exc:
        warnings.append(f"{len(empty)} image-only page(s) not read: {exc}")
        return []
    recognised = []
    for number, raw in result.texts.items():
        text = clean_text(raw)
        if len(text) >= MIN_PAGE_CHARS:
            texts[number - 1] = text
            recognised.append(number)
    if result.failed:
        reasons = sorted(set(result.failed.values()))
        warnings.append(f"OCR could not read {len(result.failed)} page(s): {_page_list(sorted(result.failed))} ({'; '.join(reasons)[:200]})")
    return sorted(recognised)


def load_pdf(path: Path, max_pages: int, *, options: LoadOptions | None = None) -> LoadedDocument:
    """Read a PDF's pages (OCR for scanned ones); raise IngestError for corrupt, encrypted or text-less files."""
    from ingest.loaders.options import LoadOptions

    options = options or LoadOptions(ocr=False)
    reader = _reader(path)
    try:
        total = len(reader.pages)
    except Exception as exc:
        raise IngestError(f"PDF page tree is broken ({exc}); re-export the file") from exc
    if total == 0:
        raise IngestError("PDF has no pages")
    warnings = []
    if total > max_pages:
        warnings.append(f"only the first {max_pages} of {total} pages were read (CTO_MAX_PAGES)")
    raw: list[str] = []
    failed = 0
    for page in reader.pages[: min(total, max_pages)]:
        try:
            raw.append(page.extract_text() or "")
        except Exception as exc:  # one broken page must not lose the document
            logger.warning("pdf page unreadable file=%s error=%s", path.name, exc)
            raw.append("")
            failed += 1
    texts = [clean_text(t) for t in strip_repeated_lines([clean_text(t) for t in raw])]
    empty = [i + 1 for i, t in enumerate(texts) if len(t) < MIN_PAGE_CHARS]
    scans = [p for p in empty if _has_image(reader.pages[p - 1])] if options.ocr else []
    ocr = _ocr(path, texts, scans, options, warnings) if scans else []
    if ocr:
        warnings.append(f"OCR: {len(ocr)} scanned page(s) read by text recognition, check them for misread words: {_page_list(ocr)}")
        empty = [p for p in empty if p not in set(ocr)]
    if len(empty) == len(texts):
        if not options.ocr:
            hint = "turn OCR on (CTO_OCR=true) or run OCR on it first, then ingest the result"
        elif scans:
            hint = "OCR found no text in its images either; re-scan it at 300 dpi in black and white"
        else:
            hint = "its pages hold no scanned images either (drawings only?); export it again with its text"
        raise IngestError(f"PDF has no text layer (scanned or image-only); {hint}")
    headings = _outline_headings(reader, len(texts)) if options.pdf_outline else {}
    contents = [i + 1 for i, t in enumerate(texts) if is_contents_page(t)]
    sections = [Section(text=t, page=i + 1, heading=headings.get(i + 1), ocr=(i + 1) in set(ocr))
                for i, t in enumerate(texts) if len(t) >= MIN_PAGE_CHARS and i + 1 not in contents]
    if empty:
        warnings.append(f"{len(empty)} empty or image-only page(s): {_page_list(empty)}")
    if failed:
        warnings.append(f"{failed} page(s) could not be decoded")
    chars = sum(len(t) for t in texts)
    health = {
        "pages": total,
        "pages_read": len(texts),
        "empty_pages": empty,
        "ocr_pages": ocr,
        "contents_pages": contents,  # tables of contents: not indexed, they answer nothing
        "pages_failed": failed,
        "chars_per_page": round(chars / max(1, len(texts))),
    }
    return LoadedDocument(
        source=str(path), source_type="pdf", title=_title(reader, path),
        sections=sections, warnings=warnings, health=health,
    )


MAX_HEADING = 120  # characters of a bookmark title kept as a heading


def _outline_headings(reader: Any, pages: int) -> dict[int, str]:
    """Page number (1-based) -> the title of the last bookmark that starts on or before it.

    A bookmark under a chapter reads "Chapter > Section" (the two innermost levels), so a page
    is searched with the words of the part of the document it belongs to. A PDF without an
    outline, or with a broken one, gives no headings.
    """
    entries: list[tuple[int, int, str]] = []  # (page, order, title)

    def walk(items: Any, path: tuple[str, ...]) -> None:
        last: str | None = None
        for item in items:
            if isinstance(item, list):
                walk(item, (*path, last) if last else path)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())[:MAX_HEADING]
            if not title:
                continue
            last = title
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a bookmark pointing nowhere is skipped
                continue
            if page is not None and 0 <= page < pages:
                entries.append((page + 1, len(entries), " > ".join((*path[-1:], title))))

    try:
        walk(reader.outline, ())
    except Exception as exc:  # damaged outlines are common; the pages read fine without headings
        logger.info("pdf outline unreadable error=%s", exc)
        return {}
    entries.sort()
    headings: dict[int, str] = {}
    current: str | None = None
    position = 0
    for page in range(1, pages + 1):
        while position < len(entries) and entries[position][0] <= page:
            current = entries[position][2]
            position += 1
        if current:
            headings[page] = current
    return headings


def _page_list(pages: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(p) for p in pages[:limit])
    return shown + (f" and {len(pages) - limit} more" if len(pages) > limit else "")
