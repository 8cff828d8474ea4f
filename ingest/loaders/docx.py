"""DOCX loader: paragraphs and tables under their Word headings; zip bombs refused."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.clean import SectionBuilder
from kb.core.documents import LoadedDocument
from kb.core.errors import IngestError

if TYPE_CHECKING:
    from docx.table import Table

MAX_RATIO = 100  # uncompressed/compressed; real documents stay far below


def _check_zip(path: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError("not a valid DOCX (the file is not a zip archive); re-save it from Word") from exc
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > max_bytes or total / packed > MAX_RATIO:
        raise IngestError(
            f"DOCX expands to {total // 1_000_000} MB from {packed // 1000} KB (a zip bomb?); refused"
        )
    if "word/document.xml" not in {i.filename for i in infos}:
        raise IngestError("not a Word document (word/document.xml is missing)")


def _table_text(table: Table) -> str:
    """A table as one line per row, cells joined by `` | ``."""
    rows = [" | ".join(c.text.strip() for c in row.cells) for row in table.rows]
    return "\n".join(r for r in rows if r.strip(" |"))


def load_docx(path: Path, max_bytes: int) -> LoadedDocument:
    """Read a Word document; headings start sections."""
    _check_zip(path, max_bytes)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises many types for damaged parts
        raise IngestError(f"DOCX could not be read ({type(exc).__name__}); re-save it from Word") from exc
    builder = SectionBuilder()

    # Paragraphs and tables in document order, so that a table is cited under its own heading.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.add(_table_text(block))
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        if not text:
            continue
        if style.lower().startswith(("heading", "title")):
            builder.start(text)
        else:
            builder.add(("- " if "list" in style.lower() else "") + text)
    builder.flush()
    if not builder.sections:
        raise IngestError("DOCX has no text")
    props = document.core_properties
    title = (props.title or "").strip() or path.stem.replace("_", " ").replace("-", " ")
    date = props.created.date().isoformat() if props.created else None
    return LoadedDocument(source=str(path), source_type="docx", title=title, sections=builder.sections, date=date)
