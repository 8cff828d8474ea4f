"""Spreadsheet loader (.xlsx, .csv): each sheet a section, each row a passage that keeps its column headers.

A row reads ``Line: 14 | Item: Access switch | Cost: 4200.``, so a question about "line 14"
finds it and the citation names the sheet and the row ("sheet Form 471, row 15": the row
number staff see in Excel). Sheets wider or longer than the limits are cut, with a warning.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ingest.clean import clean_text
from ingest.loaders.archive import check_zip
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError

__all__ = ["load_xlsx", "load_csv", "rows_to_sections"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).split())


def _record(text: str) -> str:
    """A row as a statement: ended with a full stop, so the answer composer can quote it like a sentence
    (text that ends without one reads to it as a heading or a label, and a row was never quoted)."""
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def rows_to_sections(sheet: str, rows: Iterable[tuple[int, Sequence[Any]]], *, max_rows: int, max_cols: int,
                     warnings: list[str]) -> tuple[list[Section], int]:
    """Sections for one sheet's ``(row number, cells)``: the first non-empty row is the header.

    Returns:
        (sections, data rows seen), so the caller can report how much was cut.
    """
    header: list[str] | None = None
    sections: list[Section] = []
    seen = 0
    wide = False
    for number, raw in rows:
        cells = [_cell(v) for v in raw]
        if not any(cells):
            continue
        if len(cells) > max_cols and any(cells[max_cols:]):
            wide = True
        cells = cells[:max_cols]
        if header is None:
            header = [c or f"Column {i + 1}" for i, c in enumerate(cells)]
            continue
        seen += 1
        if seen > max_rows:
            continue
        pairs = [f"{header[i] if i < len(header) else f'Column {i + 1}'}: {c}" for i, c in enumerate(cells) if c]
        sections.append(Section(text=_record(clean_text(" | ".join(pairs))), heading=sheet,
                                place=f"sheet {sheet}, row {number}", atomic=True))
    if wide:
        warnings.append(f"sheet {sheet!r} is wider than {max_cols} columns; only the first {max_cols} were read (CTO_SHEET_MAX_COLS)")
    if seen > max_rows:
        warnings.append(f"sheet {sheet!r} has {seen:,} rows; only the first {max_rows:,} were read (CTO_SHEET_MAX_ROWS)")
    if header is not None and not sections and seen == 0:
        sections.append(Section(text=clean_text(" | ".join(header)), heading=sheet, place=f"sheet {sheet}", atomic=True))
    return sections, seen


def _document(path_or_source: str, kind: str, sections: list[Section], warnings: list[str],
              health: dict[str, Any], title: str | None = None) -> LoadedDocument:
    if not sections:
        raise IngestError("spreadsheet has no filled-in cells")
    stem = path_or_source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ").replace("-", " ")
    return LoadedDocument(source=path_or_source, source_type=kind, title=title or stem, sections=sections,
                          warnings=warnings, health=health)


def load_xlsx(path: Path, max_bytes: int, *, max_rows: int, max_cols: int) -> LoadedDocument:
    """Read every sheet of an Excel workbook (values, not formulas)."""
    check_zip(path, max_bytes, member="xl/workbook.xml", kind="Excel workbook")
    import openpyxl

    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged parts
        raise IngestError(f"Excel workbook could not be read ({type(exc).__name__}); re-save it as .xlsx") from exc
    sections: list[Section] = []
    warnings: list[str] = []
    rows_per_sheet: dict[str, int] = {}
    try:
        for sheet in book.worksheets:
            numbered = ((n, row) for n, row in enumerate(sheet.iter_rows(values_only=True), start=sheet.min_row or 1))
            found, seen = rows_to_sections(sheet.title, numbered, max_rows=max_rows, max_cols=max_cols, warnings=warnings)
            sections.extend(found)
            rows_per_sheet[sheet.title] = seen
        title = (book.properties.title or "").strip() or None
    finally:
        book.close()
    return _document(str(path), "xlsx", sections, warnings, {"sheets": rows_per_sheet}, title)


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    yield from enumerate(csv.reader(io.StringIO(text), dialect), start=1)


def load_csv(text: str, source: str, *, max_rows: int, max_cols: int) -> LoadedDocument:
    """Read a CSV (comma, semicolon, tab or bar separated) as one sheet named after the file."""
    name = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    warnings: list[str] = []
    try:
        sections, seen = rows_to_sections(name, _csv_rows(text), max_rows=max_rows, max_cols=max_cols, warnings=warnings)
    except csv.Error as exc:
        raise IngestError(f"CSV could not be read ({exc}); check its quoting and save it again") from exc
    return _document(source, "csv", sections, warnings, {"sheets": {name: seen}})
