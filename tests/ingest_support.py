"""Support for the ingest tests: consistency checks, raw Chroma reads, a local web server, PDF writers."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.settings import Settings
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.store import Store


def assert_consistent(store: Store) -> dict[str, int]:
    """Every done manifest row has exactly chunk_count chunks; no chunk lacks a done row.

    Returns the chunk count per document, for further checks.
    """
    rows = {d.doc_id: d for d in store.docs()}
    per_doc = Counter(c.doc_id for c in store.iter_chunks())
    for doc in rows.values():
        if doc.status == DONE:
            assert per_doc.get(doc.doc_id, 0) == doc.chunk_count, (
                f"{doc.doc_id}: manifest says {doc.chunk_count} chunks, store has {per_doc.get(doc.doc_id, 0)}")
    orphans = {d: n for d, n in per_doc.items() if d not in rows or rows[d].status != DONE}
    assert not orphans, f"chunks without a done manifest row: {orphans}"
    assert store.count() == sum(per_doc.values())
    return dict(per_doc)


def raw_chunk_rows(settings: Settings) -> dict[str, tuple[str, dict[str, Any]]]:
    """What Chroma itself holds for the chunks: id -> (text, metadata), read without our Store."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(settings.data_dir / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    got = client.get_collection(settings.collection).get(include=["documents", "metadatas"])
    return {i: (d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}


class CountingEmbedder:
    """Wraps an embedder and counts the texts it is asked to embed (proves "no embedding")."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed_batch(texts)


def hash_kb(settings: Settings) -> tuple[KnowledgeBase, CountingEmbedder]:
    """A knowledge base on the fast hash embedder, with a counter on the embedder."""
    from kb.embed.hashing import HashEmbedder

    embedder = CountingEmbedder(HashEmbedder())
    return KnowledgeBase(settings, embedder=embedder), embedder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        return


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pdf_with_lines(path: Path, pages: list[list[str]], header: str | None = None, footer: str | None = None,
                   outline: dict[int, list[tuple[str, int]]] | None = None) -> Path:
    """Write a PDF whose pages hold exactly these lines (for line-break cases such as hyphenation).

    ``outline`` maps a 1-based page to the bookmarks that point at it, each (title, level).
    """
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    width, height = letter
    for number, lines in enumerate(pages, start=1):
        for n, (title, level) in enumerate((outline or {}).get(number, [])):
            c.bookmarkPage(f"p{number}-{n}")
            c.addOutlineEntry(title, f"p{number}-{n}", level=level)
        c.setFont("Helvetica", 9)
        if header:
            c.drawString(72, height - 40, header)
        if footer:
            c.drawString(72, 30, f"{footer} - {number}")
        c.setFont("Helvetica", 11)
        y = height - 80
        for line in lines:
            c.drawString(72, y, line)
            y -= 15
        c.showPage()
    c.save()
    return path
