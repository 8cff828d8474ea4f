"""Loaders by file type: bytes in, a cleaned LoadedDocument out.

The type is decided from the extension and checked against the content's first
bytes; anything else is reported as unsupported, never guessed.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ingest.clean import clean_text
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html_text
from ingest.loaders.markdown import load_markdown_text
from ingest.loaders.pdf import load_pdf
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError, UnsupportedFormatError

__all__ = ["SUPPORTED", "detect_type", "load_file", "decode_text"]

SUPPORTED = {
    ".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".txt": "text", ".text": "text", ".docx": "docx",
}


def detect_type(path: Path) -> str:
    """Return the loader name for a path, checking magic bytes against the extension."""
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFormatError(
            f"unsupported file type {path.suffix or '(no extension)'}; supported: "
            + ", ".join(sorted(SUPPORTED))
        )
    with path.open("rb") as handle:
        head = handle.read(2048)
    if not head:
        raise IngestError("file is empty (0 bytes)")
    if kind == "pdf" and not head.lstrip().startswith(b"%PDF"):
        raise IngestError("file is named .pdf but is not a PDF (no %PDF header)")
    if kind == "docx" and not head.startswith(b"PK"):
        raise IngestError("file is named .docx but is not a Word document (not a zip archive)")
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # Windows "Unicode" text has NUL bytes
    if kind in {"text", "markdown", "html"} and ((b"\x00" in head and not utf16) or head.startswith((b"%PDF", b"PK\x03\x04"))):
        raise IngestError(f"file is named {path.suffix} but holds binary data")
    return kind


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or UTF-16 with a BOM; explain exactly where it is not."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError("text starts like UTF-16 but does not decode; save the file as UTF-8 and ingest it again") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"text is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 and ingest it again"
        ) from exc


def load_bytes(data: bytes, kind: str, source: str) -> LoadedDocument:
    """Parse text formats held in memory (used for downloads and files alike)."""
    text = decode_text(data)
    if kind == "markdown":
        return load_markdown_text(text, source)
    if kind == "html":
        return load_html_text(text, source)
    body = clean_text(text)
    if not body:
        raise IngestError("text file has no readable text")
    paragraphs = [Section(text=body)]
    title = source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ").replace("-", " ")
    return LoadedDocument(source=source, source_type="text", title=title, sections=paragraphs)


def load_file(path: Path, max_pages: int, max_bytes: int) -> LoadedDocument:
    """Load one local file of a supported type."""
    kind = detect_type(path)
    if kind == "pdf":
        return load_pdf(path, max_pages)
    if kind == "docx":
        return load_docx(path, max_bytes * 20)
    return load_bytes(path.read_bytes(), kind, str(path))
