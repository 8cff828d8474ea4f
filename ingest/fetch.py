"""Download an http(s) URL for ingestion, bounded in time and size."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from kb.core.errors import IngestError

__all__ = ["Download", "fetch_url"]

_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
          "text/markdown": "markdown", "text/plain": "text"}


@dataclass(frozen=True)
class Download:
    url: str
    data: bytes
    kind: str


def _kind(content_type: str, url: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base in _TYPES:
        kind = _TYPES[base]
        if kind == "text" and url.lower().endswith((".md", ".markdown")):
            return "markdown"
        return kind
    if url.lower().split("?", 1)[0].endswith(".pdf"):
        return "pdf"
    raise IngestError(f"URL returned {base or 'no content type'}; only HTML pages, PDFs, Markdown and text can be ingested")


def fetch_url(url: str, timeout_s: float, max_bytes: int) -> Download:
    """Fetch a URL; raise IngestError with a one-line reason when it cannot be used."""
    request = urllib.request.Request(url, headers={"User-Agent": "CTO-Assistant-ingest/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (http/https only, checked by caller)
            data = response.read(max_bytes + 1)
            kind = _kind(response.headers.get("Content-Type", ""), response.geturl())
    except urllib.error.HTTPError as exc:
        raise IngestError(f"URL answered HTTP {exc.code} {exc.reason}; check the address") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IngestError(f"URL unreachable ({reason}); check the address and the network") from exc
    if len(data) > max_bytes:
        raise IngestError(f"download is larger than {max_bytes // 1_000_000} MB (CTO_MAX_FILE_MB)")
    if not data:
        raise IngestError("URL returned an empty body")
    return Download(url=url, data=data, kind=kind)
