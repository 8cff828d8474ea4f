"""What kind of file this is: the extension, checked against the first bytes (no parser is imported)."""

from __future__ import annotations

import codecs
from pathlib import Path

from kb.core.errors import IngestError, UnsupportedFormatError

__all__ = ["SUPPORTED", "BINARY_KINDS", "detect_type"]

SUPPORTED = {
    ".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".txt": "text", ".text": "text", ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv",
    ".eml": "eml", ".epub": "epub",
}
BINARY_KINDS = {"pdf", "docx", "pptx", "xlsx", "epub"}  # read from a file (downloads go through a temporary one)
_ZIP_KINDS = {"docx": "a Word document", "pptx": "a PowerPoint file", "xlsx": "an Excel workbook", "epub": "an EPUB book"}


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
    if kind in _ZIP_KINDS and not head.startswith(b"PK"):
        raise IngestError(f"file is named {path.suffix} but is not {_ZIP_KINDS[kind]} (not a zip archive)")
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # Windows "Unicode" text has NUL bytes
    if kind in {"text", "markdown", "html", "csv", "eml"} and ((b"\x00" in head and not utf16) or head.startswith((b"%PDF", b"PK\x03\x04"))):
        raise IngestError(f"file is named {path.suffix} but holds binary data")
    return kind
