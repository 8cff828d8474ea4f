"""Keeping sources in step: --refresh with conditional requests, --watch, --site (issue 18).

Every server here is a real HTTP server the test starts on 127.0.0.1.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ingest.crawl import crawl_site, scope_of
from ingest.pipeline import IngestOptions, IngestReport, run_ingest
from ingest.sync import refresh_urls, watch_folders
from kb.core.settings import Settings
from tests.helpers import write
from tests.ingest_support import hash_kb

PAGE = ("<html><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{body}</p>{links}</main></body></html>")
BODY = "The district reviews its acceptable use policy every spring with principals, teachers and the student council."


class _Site(http.server.SimpleHTTPRequestHandler):
    """A static site with ETag / Last-Modified and 304 answers; it counts requests per path."""

    hits: dict[str, int]
    validators = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        etag = '"' + hashlib.sha1(data).hexdigest()[:12] + '"'
        modified = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
        if self.validators and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(len(data)))
        if self.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def site(folder: Path, validators: bool = True) -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}
    handler = type("Handler", (_Site,), {"hits": hits, "validators": validators})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _page(path: Path, title: str, body: str = BODY, links: list[str] | None = None) -> Path:
    anchors = "".join(f'<p><a href="{href}">{href}</a></p>' for href in links or [])
    return write(path, PAGE.format(title=title, body=body, links=anchors))


def test_refresh_costs_one_request_per_unchanged_url_and_reingests_changed_ones(hash_settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "www"
    _page(root / "aup.html", "Acceptable use")
    _page(root / "privacy.html", "Data privacy", body="Vendors sign the state data privacy agreement before any student data is shared.")
    kb, embedder = hash_kb(hash_settings)
    with site(root) as (base, hits):
        urls = [f"{base}/aup.html", f"{base}/privacy.html"]
        first = run_ingest(kb, urls, IngestOptions(metadata={"authority": "district policy"}))
        assert first.counts() == {"added": 2}
        assert all(d.meta["http"]["etag"] for d in kb.store.docs())
        hits.clear()
        embedded = embedder.texts
        again = refresh_urls(kb)
        assert again.counts() == {"unchanged": 2} and hits == {"/aup.html": 1, "/privacy.html": 1}
        assert embedder.texts == embedded  # nothing parsed or embedded
        _page(root / "privacy.html", "Data privacy", body="Vendors now sign the national data privacy agreement, version two.")
        hits.clear()
        changed = refresh_urls(kb)
    by_source = {r.source: r.status for r in changed.results}
    assert by_source == {urls[0]: "unchanged", urls[1]: "updated"} and hits == {"/aup.html": 1, "/privacy.html": 1}
    docs = {d.source: d for d in kb.store.docs()}
    assert docs[urls[1]].meta["authority"] == "district policy"  # the refresh kept the options it was ingested with
    assert any("national data privacy agreement" in c.text for c in kb.store.iter_chunks())


def test_refresh_without_validators_compares_content(hash_settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "www"
    _page(root / "aup.html", "Acceptable use")
    kb, _ = hash_kb(hash_settings)
    with site(root, validators=False) as (base, hits):
        run_ingest(kb, [f"{base}/aup.html"])
        hits.clear()
        assert refresh_urls(kb).counts() == {"unchanged": 1} and hits == {"/aup.html": 1}


def test_site_crawl_stays_in_host_and_prefix_honours_robots_depth_and_limit(hash_settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "www"
    write(root / "robots.txt", "User-agent: *\nDisallow: /policies/drafts/\n")
    _page(root / "policies" / "index.html", "Policies", links=["aup.html", "privacy.html", "drafts/new.html", "/news/x.html",
                                                                "http://other.example/policies/y.html", "board.pdf"])
    _page(root / "policies" / "aup.html", "Acceptable use", links=["deep/one.html"])
    _page(root / "policies" / "privacy.html", "Privacy", body="Student data stays in the United States under every contract.")
    _page(root / "policies" / "deep" / "one.html", "Deep one", links=["two.html"], body="Depth two page about bandwidth targets per student.")
    _page(root / "policies" / "deep" / "two.html", "Deep two", body="Depth three page about wireless access points per classroom.")
    _page(root / "policies" / "drafts" / "new.html", "Draft", body="A draft that robots.txt keeps out of every crawler.")
    _page(root / "news" / "x.html", "News", body="News pages are outside the policies folder and are not followed.")
    from tests.helpers import make_pdf

    make_pdf(root / "policies" / "board.pdf", ["Board policy on technology purchasing and the approval thresholds for contracts."])
    with site(root) as (base, hits):
        assert scope_of(f"{base}/policies/index.html") == (base.split("//")[1], "/policies/")
        found = crawl_site(f"{base}/policies/index.html", depth=2, limit=50, timeout_s=5, max_bytes=10_000_000)
        paths = [u.removeprefix(base) for u in found.urls]
        assert paths == ["/policies/index.html", "/policies/aup.html", "/policies/privacy.html", "/policies/board.pdf",
                         "/policies/deep/one.html"]
        assert [u.removeprefix(base) for u in found.disallowed] == ["/policies/drafts/new.html"]
        assert "/news/x.html" not in hits and "/policies/drafts/new.html" not in hits
        limited = crawl_site(f"{base}/policies/index.html", depth=5, limit=3, timeout_s=5, max_bytes=10_000_000)
        assert len(limited.urls) == 3 and limited.truncated
        # through the command: the same per-page report, each page fetched once by crawl and ingest together
        hits.clear()
        result = CliRunner().invoke(_cli(), ["--site", f"{base}/policies/index.html", "--depth", "2", "--json"],
                                    env={"CTO_DATA_DIR": str(hash_settings.data_dir), "CTO_EMBEDDING_MODEL": "hash"})
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    statuses = {r["source"].removeprefix(base): r["status"] for r in report["results"]}
    assert statuses == {"/policies/index.html": "added", "/policies/aup.html": "added", "/policies/privacy.html": "added",
                        "/policies/board.pdf": "added", "/policies/deep/one.html": "added",
                        "/policies/drafts/new.html": "skipped"}
    assert hits["/policies/aup.html"] == 1 and hits["/policies/board.pdf"] == 1


def _cli() -> Any:
    from ingest.cli import main

    return main


def test_watch_ingests_new_changed_and_removed_files(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    write(folder / "a.md", f"# Alpha\n\n{BODY}")
    other = write(tmp_path / "elsewhere" / "keep.md", "# Kept\n\nA document outside the watched folder is never pruned by a watch.")
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(other)])
    other.unlink()  # gone, but outside the watched folder: the watch must leave it alone
    reports: list[IngestReport] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch_folders, args=(kb, [str(folder)], IngestOptions()),
                              kwargs={"on_report": reports.append, "stop": stop, "quiet_s": 0.3}, daemon=True)
    thread.start()

    def wait_for(count: int) -> IngestReport:
        deadline = time.monotonic() + 60
        while len(reports) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(reports) >= count, [r.counts() for r in reports]
        return reports[count - 1]

    try:
        assert wait_for(1).counts() == {"added": 1}
        write(folder / "b.md", "# Beta\n\nThe second document arrives while the watch runs, and is added.")
        assert wait_for(2).counts() == {"added": 1, "unchanged": 1}
        write(folder / "a.md", "# Alpha\n\nThe first document changes: it is updated, not added again.")
        assert wait_for(3).counts() == {"updated": 1, "unchanged": 1}
        (folder / "b.md").unlink()
        report = wait_for(4)
        assert report.counts() == {"removed": 1, "unchanged": 1}
    finally:
        stop.set()
        thread.join(10)
    assert sorted(Path(d.source).name for d in kb.store.docs()) == ["a.md", "keep.md"]
