"""Deep links: every citation opens at its place (PDF page, heading anchor)."""

from __future__ import annotations

from pathlib import Path

from kb.core.documents import Chunk

__all__ = ["deep_link"]


def deep_link(chunk: Chunk) -> str | None:
    """A link to the cited place: ``#page=N`` for PDFs, ``#anchor`` for headed HTML/Markdown."""
    url = chunk.extra.get("url") or (chunk.source if chunk.source.startswith(("http://", "https://")) else None)
    base = url or (Path(chunk.source).as_uri() if chunk.source.startswith("/") else None)
    if base is None:
        return None
    base = base.split("#", 1)[0]
    if chunk.source_type == "pdf" and chunk.page:
        return f"{base}#page={chunk.page}"
    if chunk.anchor and chunk.source_type in {"html", "markdown", "docx"}:
        return f"{base}#{chunk.anchor}"
    return base
