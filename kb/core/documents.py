"""Data types shared by ingestion, the store and answering."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.core.metadata import is_outdated  # the currency rule lives with the other metadata rules

__all__ = ["Section", "LoadedDocument", "Chunk", "DocRecord", "content_hash", "file_sha256", "slugify", "is_outdated",
           "is_current", "REV"]

REV = "rev"  # chunk and record metadata key: which write of a document a chunk belongs to


def content_hash(text: str | bytes) -> str:
    """Hex sha256 of text (UTF-8) or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def slugify(text: str, limit: int = 48) -> str:
    """Lower-case ASCII slug of letters, digits and single dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug[:limit].rstrip("-")) or "doc"


@dataclass
class Section:
    """A unit of extracted text that a citation can point at: a PDF page or a heading's section."""

    text: str
    page: int | None = None
    heading: str | None = None
    anchor: str | None = None
    place: str | None = None  # how a citation names it when "p. N" would be wrong: "slide 3", "sheet Budget, row 14"
    ocr: bool = False  # the text was recognised from an image of the page
    atomic: bool = False  # never folded into a neighbour (a spreadsheet row is cited on its own)


@dataclass
class LoadedDocument:
    """A parsed, cleaned document before chunking."""

    source: str
    source_type: str
    title: str
    sections: list[Section]
    date: str | None = None
    areas: list[str] = field(default_factory=list)
    summary: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def text_length(self) -> int:
        return sum(len(s.text) for s in self.sections)


@dataclass
class Chunk:
    """A passage as stored: text plus everything a citation needs."""

    id: str
    doc_id: str
    index: int
    text: str
    title: str
    source: str
    source_type: str
    page: int | None = None
    section: str | None = None
    anchor: str | None = None
    date: str | None = None
    areas: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        """What is embedded and keyword-indexed: the passage under its title and heading."""
        header = self.title if not self.section else f"{self.title} - {self.section}"
        return f"{header}\n{self.text}"


@dataclass
class DocRecord:
    """One manifest row: a document known to the knowledge base."""

    doc_id: str
    source: str
    source_type: str
    title: str
    content_hash: str
    status: str
    chunk_count: int = 0
    date: str | None = None
    areas: list[str] = field(default_factory=list)
    ingested_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def is_current(chunk: Chunk, record: DocRecord | None) -> bool:
    """True when ``chunk`` belongs to the version of its document that ``record`` describes.

    An update writes the new version's chunks beside the old ones under a new revision and
    switches the manifest row afterwards, so until the old chunks are deleted (or after a
    crash, until the next run's repair) a document may have chunks of two revisions: only
    the row's revision is shown. Stores written before revisions existed have none on either side.
    """
    if record is None or record.doc_id != chunk.doc_id:
        return False
    meta = record.meta if isinstance(record.meta, dict) else {}
    return chunk.extra.get(REV) == meta.get(REV)
