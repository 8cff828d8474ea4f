"""PowerPoint loader: one section per slide (its title as heading, its speaker notes included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.clean import clean_text
from ingest.loaders.archive import check_zip
from kb.core.documents import LoadedDocument, Section
from kb.core.errors import IngestError

__all__ = ["load_pptx"]


def _shape_texts(shapes: Any, skip: Any) -> Iterator[str]:
    """Text of a slide's shapes in reading order; tables row by row, groups opened."""
    for shape in shapes:
        if shape is skip:
            continue
        if getattr(shape, "shape_type", None) == 6 or hasattr(shape, "shapes"):  # a group of shapes
            yield from _shape_texts(shape.shapes, skip)
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [" | ".join(c.text.strip() for c in row.cells) for row in shape.table.rows]
            yield "\n".join(r for r in rows if r.strip(" |"))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            lines = [p.text.strip() for p in shape.text_frame.paragraphs]
            yield "\n".join(("- " if shape.is_placeholder and len(lines) > 1 else "") + ln for ln in lines if ln)


def _slide_section(slide: Any, number: int) -> Section | None:
    title_shape = slide.shapes.title
    title = clean_text(title_shape.text) if title_shape is not None and title_shape.has_text_frame else ""
    body = [t for t in _shape_texts(slide.shapes, title_shape) if t.strip()]
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.text.strip()
        if notes:
            body.append(f"Speaker notes: {notes}")
    text = clean_text("\n\n".join(body))
    if not text and not title:
        return None
    return Section(text=text or title, page=number, heading=title or f"Slide {number}", place=f"slide {number}")


def load_pptx(path: Path, max_bytes: int) -> LoadedDocument:
    """Read a PowerPoint deck: a slide is a page of the document."""
    check_zip(path, max_bytes, member="ppt/presentation.xml", kind="PowerPoint file")
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as exc:  # python-pptx raises many types for damaged parts
        raise IngestError(f"PowerPoint file could not be read ({type(exc).__name__}); re-save it as .pptx") from exc
    sections = [s for n, slide in enumerate(deck.slides, start=1) if (s := _slide_section(slide, n)) is not None]
    if not sections:
        raise IngestError("PowerPoint file has no text on any slide")
    props = deck.core_properties
    title = (props.title or "").strip() or next((s.heading for s in sections if s.heading and not s.heading.startswith("Slide ")),
                                                 path.stem.replace("_", " ").replace("-", " "))
    date = props.created.date().isoformat() if props.created else None
    health = {"slides": len(deck.slides), "slides_with_text": len(sections)}
    return LoadedDocument(source=str(path), source_type="pptx", title=title, sections=sections, date=date, health=health)
