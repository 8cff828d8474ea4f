"""Loaders by file type: bytes in, a cleaned LoadedDocument out.

The type is decided from the extension and checked against the content's first
bytes; anything else is reported as unsupported, never guessed.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ingest.clean import clean_text
from ingest.loaders.kinds import BINARY_KINDS, SUPPORTED, detect_type
from ingest.loaders.options import LoadOptions
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError

__all__ = ["SUPPORTED", "BINARY_KINDS", "LoadOptions", "detect_type", "load_file", "load_bytes", "decode_text"]


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


def load_bytes(data: bytes, kind: str, source: str, *, options: LoadOptions | None = None) -> LoadedDocument:
    """Parse text formats held in memory (used for downloads and files alike)."""
    options = options or LoadOptions()
    if kind == "eml":
        from ingest.loaders.mail import load_eml

        return load_eml(data, source)
    text = decode_text(data)
    if kind == "markdown":
        from ingest.loaders.markdown import load_markdown_text

        return load_markdown_text(text, source)
    if kind == "html":
        from ingest.loaders.html import load_html_text

        return load_html_text(text, source)
    if kind == "csv":
        from ingest.loaders.sheet import load_csv

        return load_csv(text, source, max_rows=options.sheet_max_rows, max_cols=options.sheet_max_cols)
    body = clean_text(text)
    if not body:
        raise IngestError("text file has no readable text")
    paragraphs = [Section(text=body)]
    title = source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ").replace("-", " ")
    return LoadedDocument(source=source, source_type="text", title=title, sections=paragraphs)


def _load_binary(path: Path, kind: str, options: LoadOptions) -> LoadedDocument:
    expand = options.max_bytes * 20  # what a zip archive may expand to
    if kind == "pdf":
        from ingest.loaders.pdf import load_pdf

        return load_pdf(path, options.max_pages, options=options)
    if kind == "docx":
        from ingest.loaders.docx import load_docx

        return load_docx(path, expand)
    if kind == "pptx":
        from ingest.loaders.pptx import load_pptx

        return load_pptx(path, expand)
    if kind == "xlsx":
        from ingest.loaders.sheet import load_xlsx

        return load_xlsx(path, expand, max_rows=options.sheet_max_rows, max_cols=options.sheet_max_cols)
    from ingest.loaders.epub import load_epub

    return load_epub(path, expand)


def load_file(path: Path, *, max_pages: int | None = None, max_bytes: int | None = None,
              options: LoadOptions | None = None) -> LoadedDocument:
    """Load one local file of a supported type."""
    options = options or LoadOptions()
    if max_pages is not None or max_bytes is not None:
        options = LoadOptions(**{**options.__dict__, "max_pages": max_pages or options.max_pages,
                                 "max_bytes": max_bytes or options.max_bytes})
    kind = detect_type(path)
    if kind in BINARY_KINDS:
        return _load_binary(path, kind, options)
    return load_bytes(path.read_bytes(), kind, str(path), options=options)
