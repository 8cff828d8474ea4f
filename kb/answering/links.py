"""Deep links: every citation opens at its place (PDF page, heading anchor, quoted words)."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from kb.core.documents import Chunk

__all__ = ["deep_link", "text_fragment"]

_LIST_MARK = re.compile(r"^(?:[-*]|\d{1,3}[.)])\s+")
FRAGMENT_WORDS = 4  # words at each end of a long quote: `text=start,end` survives small edits in the middle


def text_fragment(quote: str) -> str:
    """A URL text fragment (``:~:text=...``) that makes a browser scroll to and highlight the quote.

    A short quote is matched whole; a long one by its first and last words
    (``text=start,end``), which browsers match across line breaks and markup.
    """
    words = _LIST_MARK.sub("", quote.strip()).split()
    if not words:
        return ""

    def enc(text: str) -> str:
        return urllib.parse.quote(text, safe="").replace("-", "%2D")

    if len(words) <= 2 * FRAGMENT_WORDS:
        return ":~:text=" + enc(" ".join(words))
    return ":~:text=" + enc(" ".join(words[:FRAGMENT_WORDS])) + "," + enc(" ".join(words[-FRAGMENT_WORDS:]))


def deep_link(chunk: Chunk, quote: str | None = None) -> str | None:
    """A link to the cited place.

    ``#page=N`` for PDFs and ``#anchor`` for headed HTML/Markdown; a web page (not a PDF)
    also gets a text fragment for ``quote`` so the browser highlights the quoted words.
    """
    url = chunk.extra.get("url") or (chunk.source if chunk.source.startswith(("http://", "https://")) else None)
    base = url or (Path(chunk.source).as_uri() if chunk.source.startswith("/") else None)
    if base is None:
        return None
    base = base.split("#", 1)[0]
    if chunk.source_type == "pdf" and chunk.page:
        return f"{base}#page={chunk.page}"
    anchor = chunk.anchor if chunk.anchor and chunk.source_type in {"html", "markdown", "docx"} else ""
    fragment = text_fragment(quote) if quote and url else ""
    return f"{base}#{anchor}{fragment}" if anchor or fragment else base
