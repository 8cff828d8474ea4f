"""Keeping sources in step: re-check URL sources (``ingest --refresh``) and watch folders (``ingest --watch``)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.pipeline import IngestOptions, IngestReport, Progress, run_ingest
from kb.core.errors import IngestError
from kb.index.knowledge import DONE, KnowledgeBase

__all__ = ["refresh_urls", "watch_folders", "merge_reports"]

logger = logging.getLogger(__name__)


def merge_reports(reports: list[IngestReport]) -> IngestReport:
    """One report of several runs (results in order, times and counts added up)."""
    merged = IngestReport(results=[])
    for report in reports:
        merged.results.extend(report.results)
        merged.seconds += report.seconds
        merged.chunks_embedded += report.chunks_embedded
        merged.repaired.extend(report.repaired)
    return merged


def refresh_urls(kb: KnowledgeBase, *, progress: Progress | None = None) -> IngestReport:
    """Re-check every URL source with a conditional request; re-ingest only the changed ones.

    Each URL is refreshed with the metadata options it was first ingested with, so a
    refresh never strips ``--area`` or ``--authority`` from a document. An unchanged
    page costs one request (``304 Not Modified``, or the same bytes again when the
    server sends no validators).
    """
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for doc in kb.store.docs():
        if doc.status != DONE or not doc.source.startswith(("http://", "https://")):
            continue
        raw = doc.meta.get("ingest_options")
        saved: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        key = json.dumps(saved, sort_keys=True, default=str)
        groups.setdefault(key, (saved, []))[1].append(doc.source)
    reports = [run_ingest(kb, urls, IngestOptions(metadata=dict(meta)), progress=progress) for meta, urls in groups.values()]
    return merge_reports(reports) if reports else IngestReport(results=[])


def _observer(folders: list[Path], on_change: Callable[[], None]) -> Any:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class _Changed(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in {"created", "modified", "deleted", "moved"}:
                name = Path(str(event.src_path)).name
                if not name.startswith("."):  # editors' swap and lock files
                    on_change()

    observer = Observer()
    for folder in folders:
        observer.schedule(_Changed(), str(folder), recursive=True)
    return observer


def watch_folders(kb: KnowledgeBase, folders: list[str], options: IngestOptions, *,
                  on_report: Callable[[IngestReport], None], stop: threading.Event | None = None,
                  quiet_s: float = 1.0) -> None:
    """Ingest the folders, then again after every burst of changes, until ``stop`` is set (or Ctrl-C).

    New and changed files are added or updated, and documents whose files were removed from
    these folders are removed (only from these folders: other documents are never pruned).
    A burst of changes (a copy of many files) waits until the folder has been quiet for
    ``quiet_s`` seconds, then runs once.
    """
    roots = [Path(f).expanduser().resolve() for f in folders]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise IngestError(f"--watch needs folders; not a folder: {', '.join(missing)}")
    stop = stop or threading.Event()
    changed = threading.Event()
    last_change = [time.monotonic()]

    def on_change() -> None:
        last_change[0] = time.monotonic()
        changed.set()

    run_options = IngestOptions(include=options.include, exclude=options.exclude, metadata=options.metadata,
                                prune_under=[str(r) for r in roots])
    observer = _observer(roots, on_change)
    observer.start()
    try:
        on_report(run_ingest(kb, [str(r) for r in roots], run_options))
        while not stop.is_set():
            if not changed.wait(0.2):
                continue
            if time.monotonic() - last_change[0] < quiet_s:
                continue
            changed.clear()
            logger.info("watch change folders=%s", ",".join(str(r) for r in roots))
            on_report(run_ingest(kb, [str(r) for r in roots], run_options))
    finally:
        observer.stop()
        observer.join(5)
