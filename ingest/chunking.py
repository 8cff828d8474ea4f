"""Structure-aware chunking: chunks never cross a page or section, and break at
paragraphs, then sentences, with a sentence-aligned overlap."""

from __future__ import annotations

from kb.core.documents import Chunk, LoadedDocument, Section, content_hash
from kb.core.text import paragraphs, split_sentences

__all__ = ["chunk_document", "split_text"]

SMALL_SECTION = 160  # characters: shorter sections are folded into the next one


def _hard_split(sentence: str, size: int) -> list[str]:
    words, parts, current = sentence.split(" "), [], ""
    for word in words:
        while len(word) > size:  # one "word" longer than a chunk (a URL, base64, a run of symbols): cut it
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:size])
            word = word[size:]
        if current and len(current) + 1 + len(word) > size:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        parts.append(current)
    return parts


def _units(text: str, size: int) -> list[str]:
    units: list[str] = []
    for para in paragraphs(text):
        if len(para) <= size:
            units.append(para)
            continue
        for sentence in split_sentences(para):
            units.extend(_hard_split(sentence, size) if len(sentence) > size else [sentence])
    return units


def _tail(units: list[str], overlap: int) -> list[str]:
    kept: list[str] = []
    total = 0
    for unit in reversed(units):
        if total + len(unit) > overlap:
            break
        kept.insert(0, unit)
        total += len(unit) + 1
    return kept


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """Pack paragraphs (or sentences of long ones) into pieces of at most ``size`` characters."""
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for unit in _units(text, size):
        if current and length + len(unit) + 1 > size:
            pieces.append("\n".join(current))
            current = _tail(current, overlap) if overlap else []
            if sum(len(u) + 1 for u in current) + len(unit) > size:
                current = []
            length = sum(len(u) + 1 for u in current)
        current.append(unit)
        length += len(unit) + 1
    if current:
        pieces.append("\n".join(current))
    return pieces


def _fold_small(sections: list[Section]) -> list[Section]:
    """Fold very short sections (a heading with one line) into the following one on the same page."""
    folded: list[Section] = []
    carry: Section | None = None
    for section in sections:
        if carry is not None and carry.page == section.page and not section.atomic:
            prefix = f"{carry.heading}\n{carry.text}" if carry.heading and carry.heading != section.heading else carry.text
            section = Section(text=f"{prefix}\n\n{section.text}", page=section.page,
                              heading=section.heading or carry.heading, anchor=section.anchor or carry.anchor,
                              place=section.place or carry.place, ocr=section.ocr or carry.ocr)
        elif carry is not None:
            folded.append(carry)
        carry = section if len(section.text) < SMALL_SECTION and not section.atomic else None
        if carry is None:
            folded.append(section)
    if carry is not None:
        folded.append(carry)
    return folded


def chunk_document(doc: LoadedDocument, doc_id: str, size: int, overlap: int, extra: dict | None = None) -> list[Chunk]:
    """Cut a document into chunks carrying everything a citation needs."""
    chunks: list[Chunk] = []
    for section in _fold_small(doc.sections):
        where = {**({"place": section.place} if section.place else {}), **({"ocr": True} if section.ocr else {})}
        for piece in split_text(section.text, size, overlap):
            index = len(chunks)
            chunk_id = f"{doc_id}-{index:05d}-{content_hash(piece)[:10]}"
            chunks.append(Chunk(
                id=chunk_id, doc_id=doc_id, index=index, text=piece, title=doc.title, source=doc.source,
                source_type=doc.source_type, page=section.page, section=section.heading,
                anchor=section.anchor, date=doc.date, areas=list(doc.areas), extra={**(extra or {}), **where},
            ))
    return chunks
