"""Follow a district site's links (``ingest --site URL``): same host, same path prefix, robots.txt honoured.

The crawl is breadth-first from the start page: pages ``depth`` links away at most,
``limit`` pages and documents at most. A link is followed when it stays on the start
page's host and under its folder (``https://district.example/policies/`` for a start at
``.../policies/index.html``), and robots.txt allows our user agent to fetch it. Pages
read while crawling are handed to the ingest run, so each is downloaded once.
"""

from __future__ import annotations

import logging
import urllib.parse
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field

from ingest.fetch import USER_AGENT, Download, fetch_url
from ingest.loaders import SUPPORTED
from kb.core.errors import IngestError

__all__ = ["CrawlResult", "crawl_site", "scope_of"]

logger = logging.getLogger(__name__)
_DOCUMENT_SUFFIXES = tuple(s for s in SUPPORTED if s not in {".html", ".htm"})


@dataclass
class CrawlResult:
    """What a crawl found: URLs to ingest (in crawl order), downloads already made, links not followed."""

    urls: list[str] = field(default_factory=list)
    downloads: dict[str, Download] = field(default_factory=dict)
    disallowed: list[str] = field(default_factory=list)  # robots.txt said no
    failed: dict[str, str] = field(default_factory=dict)  # URL -> one-line reason
    truncated: bool = False  # the limit stopped the crawl


def scope_of(start: str) -> tuple[str, str]:
    """(host, path prefix) a crawl from ``start`` stays within."""
    parts = urllib.parse.urlsplit(start)
    path = parts.path or "/"
    prefix = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
    return parts.netloc.lower(), prefix


def _normal(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _in_scope(url: str, host: str, prefix: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in {"http", "https"} and parts.netloc.lower() == host and (parts.path or "/").startswith(prefix)


def _links(html: bytes, base: str) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html.decode("utf-8", "replace"), "lxml")
    found = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if href and not href.startswith(("mailto:", "tel:", "javascript:", "#")):
            found.append(_normal(urllib.parse.urljoin(base, href)))
    return found


def _robots(start: str, timeout_s: float) -> urllib.robotparser.RobotFileParser:
    parts = urllib.parse.urlsplit(start)
    address = f"{parts.scheme}://{parts.netloc}/robots.txt"
    robots = urllib.robotparser.RobotFileParser(address)
    try:
        download = fetch_url(address, timeout_s, 1_000_000)
        robots.parse(download.data.decode("utf-8", "replace").splitlines())
    except IngestError:
        robots.parse([])  # no robots.txt (404) or none readable: everything is allowed
    return robots


def crawl_site(start: str, *, depth: int, limit: int, timeout_s: float, max_bytes: int) -> CrawlResult:
    """Breadth-first crawl of ``start``'s site section; see the module docstring."""
    if not start.startswith(("http://", "https://")):
        raise IngestError("--site needs an http(s) address, for example https://district.example/policies/")
    host, prefix = scope_of(start)
    robots = _robots(start, timeout_s)
    result = CrawlResult()
    start = _normal(start)
    queue: deque[tuple[str, int]] = deque([(start, 0)])
    seen = {start}
    while queue:
        url, level = queue.popleft()
        if not robots.can_fetch(USER_AGENT, url):
            result.disallowed.append(url)
            continue
        if len(result.urls) >= limit:
            result.truncated = True
            break
        result.urls.append(url)
        if urllib.parse.urlsplit(url).path.lower().endswith(_DOCUMENT_SUFFIXES):
            continue  # a linked document: the ingest run downloads it
        try:
            download = fetch_url(url, timeout_s, max_bytes)
        except IngestError as exc:
            result.failed[url] = str(exc)
            continue
        result.downloads[url] = download
        if download.kind != "html" or level >= depth:
            continue
        for link in _links(download.data, url):
            if link not in seen and _in_scope(link, host, prefix):
                seen.add(link)
                queue.append((link, level + 1))
    logger.info("crawl start=%s pages=%d disallowed=%d truncated=%s", start, len(result.urls), len(result.disallowed), result.truncated)
    return result
