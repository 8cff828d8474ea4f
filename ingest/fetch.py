"""Download an http(s) URL for ingestion, bounded in time and size, conditionally when it was seen before.

A URL that answered with an ``ETag`` or ``Last-Modified`` header is asked again with
``If-None-Match`` / ``If-Modified-Since``; a ``304 Not Modified`` answer costs one
request and no download (``Download.not_modified``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from kb.core.errors import IngestError

__all__ = ["Download", "fetch_url", "USER_AGENT"]

USER_AGENT = "CTO-Assistant-ingest/1.0"

_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
          "text/markdown": "markdown", "text/plain": "text", "text/csv": "csv", "message/rfc822": "eml",
          "application/epub+zip": "epub",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
          "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
_SUFFIXES = {".pdf": "pdf", ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv", ".eml": "eml", ".epub": "epub"}


@dataclass(frozen=True)
class Download:
    url: str
    data: bytes
    kind: str
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # the server answered 304 to a conditional request

    @property
    def validators(self) -> dict[str, str]:
        """What to remember for the next conditional request."""
        return {k: v for k, v in (("etag", self.etag), ("last_modified", self.last_modified)) if v}


def _kind(content_type: str, url: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base in _TYPES:
        kind = _TYPES[base]
        if kind == "text" and url.lower().endswith((".md", ".markdown")):
            return "markdown"
        return kind
    path = url.lower().split("?", 1)[0]
    for suffix, kind in _SUFFIXES.items():  # servers often say application/octet-stream for Office files
        if path.endswith(suffix):
            return kind
    raise IngestError(f"URL returned {base or 'no content type'}; only web pages and the file types `ingest --help` lists can be ingested")


def fetch_url(url: str, timeout_s: float, max_bytes: int, *, validators: dict[str, str] | None = None) -> Download:
    """Fetch a URL; raise IngestError with a one-line reason when it cannot be used.

    Args:
        url: an http(s) address.
        timeout_s: seconds to wait for the server.
        max_bytes: the largest body accepted.
        validators: ``etag`` and ``last_modified`` from the previous download, for a conditional request.
    """
    headers = {"User-Agent": USER_AGENT}
    if validators and validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators and validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (http/https only, checked by caller)
            data = response.read(max_bytes + 1)
            kind = _kind(response.headers.get("Content-Type", ""), response.geturl())
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and validators:
            return Download(url=url, data=b"", kind="", not_modified=True, **_validators(validators))
        raise IngestError(f"URL answered HTTP {exc.code} {exc.reason}; check the address") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IngestError(f"URL unreachable ({reason}); check the address and the network") from exc
    if len(data) > max_bytes:
        raise IngestError(f"download is larger than {max_bytes // 1_000_000} MB (CTO_MAX_FILE_MB)")
    if not data:
        raise IngestError("URL returned an empty body")
    return Download(url=url, data=data, kind=kind, etag=etag, last_modified=modified)


def _validators(saved: dict[str, str]) -> dict[str, str | None]:
    return {"etag": saved.get("etag"), "last_modified": saved.get("last_modified")}
