"""DOCX loader: paragraphs and tables under their Word headings; zip bombs refused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.clean import SectionBuilder
from ingest.loaders.archive import check_zip
from kb.core.documents import LoadedDocument
from kb.core.errors import IngestError

if TYPE_CHECKING:
    from docx.table import Table


def _check_zip(path: Path, max_bytes: int) -> None:
    check_zip(path, max_bytes, member="word/document.xml", kind="Word document")


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
