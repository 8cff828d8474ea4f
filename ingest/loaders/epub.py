"""EPUB loader: the book's chapters in reading order (the OPF spine), each read by the HTML loader.

An EPUB is a zip of XHTML files; the standard library's zipfile and lxml are enough.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

from ingest.loaders.archive import check_zip
from ingest.loaders.html import load_html_text
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError

__all__ = ["load_epub"]

_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "o": "http://www.idpf.org/2007/opf",
       "dc": "http://purl.org/dc/elements/1.1/"}


def _xml(data: bytes):  # type: ignore[no-untyped-def]
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(data, parser)


def load_epub(path: Path, max_bytes: int) -> LoadedDocument:
    """Read an EPUB book: chapters in spine order, headings as sections."""
    check_zip(path, max_bytes, member="META-INF/container.xml", kind="EPUB book")
    with zipfile.ZipFile(path) as book:
        try:
            container = _xml(book.read("META-INF/container.xml"))
            opf_path = container.find(".//c:rootfile", _NS).get("full-path")
            opf = _xml(book.read(opf_path))
        except (KeyError, AttributeError, ValueError) as exc:
            raise IngestError("EPUB has no readable package file (content.opf); re-export the book") from exc
        base = posixpath.dirname(opf_path)
        items = {i.get("id"): i.get("href") for i in opf.iterfind(".//o:manifest/o:item", _NS)}
        spine = [items[r.get("idref")] for r in opf.iterfind(".//o:spine/o:itemref", _NS) if r.get("idref") in items]
        sections: list[Section] = []
        for href in spine:
            try:
                html = book.read(posixpath.normpath(posixpath.join(base, href))).decode("utf-8", "replace")
                sections.extend(load_html_text(html, href, extract=False).sections)
            except (KeyError, IngestError):
                continue  # a missing or empty chapter (a cover image page) is skipped
    if not sections:
        raise IngestError("EPUB has no readable text")
    title_el = opf.find(".//dc:title", _NS)
    title = (title_el.text or "").strip() if title_el is not None else ""
    date_el = opf.find(".//dc:date", _NS)
    date = (date_el.text or "")[:10] if date_el is not None and date_el.text and len(date_el.text) >= 10 else None
    return LoadedDocument(source=str(path), source_type="epub", title=title or path.stem, sections=sections, date=date)
