"""Parsing in a separate process: bounded in time and memory, off the encoder's path.

A hostile or broken file can hang a parser or eat memory; in a worker process it
can be killed without taking the ingest run down. Jobs are prefetched so that the
next documents are parsed while the current ones are being embedded.

OCR is slow by nature (a second or two per scanned page), so the worker sends a
heartbeat after each recognised page and every heartbeat extends the waiting job's time
limit by the per-page OCR bound: CTO_PARSE_TIMEOUT_S bounds the parsing, CTO_OCR_TIMEOUT_S
each recognised page.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import queue as queue_module
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.loaders import BINARY_KINDS, LoadOptions
from kb.core.documents import LoadedDocument
from kb.core.errors import IngestError

__all__ = ["ParseJob", "ParseResult", "ParserPool", "parse_job"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseJob:
    location: str
    kind: str | None = None  # forced loader (downloads); None: decided from the file
    data: bytes | None = None  # downloaded bytes, for URLs
    max_pages: int = 2000
    max_bytes: int = 50_000_000
    key: object = None  # caller's handle, returned unchanged
    options: LoadOptions | None = None  # limits and OCR switches; None: max_pages and max_bytes with defaults

    def load_options(self) -> LoadOptions:
        base = self.options or LoadOptions(ocr=False)
        return LoadOptions(**{**base.__dict__, "max_pages": self.max_pages, "max_bytes": self.max_bytes})


@dataclass
class ParseResult:
    job: ParseJob
    document: LoadedDocument | None
    error: str | None


def parse_job(job: ParseJob) -> tuple[LoadedDocument | None, str | None]:
    """Parse one job; return (document, None) or (None, one-line reason)."""
    from ingest.loaders import load_bytes, load_file

    options = job.load_options()
    try:
        if job.data is None:
            return load_file(Path(job.location), options=options), None
        if job.kind in BINARY_KINDS:
            with tempfile.NamedTemporaryFile(suffix=f".{job.kind}") as tmp:
                tmp.write(job.data)
                tmp.flush()
                doc = load_file(Path(tmp.name), options=options)
            doc.source = job.location
            return doc, None
        return load_bytes(job.data, job.kind or "html", job.location, options=options), None
    except IngestError as exc:
        return None, str(exc)
    except FileNotFoundError:
        return None, "file disappeared before it could be read; it was skipped"
    except OSError as exc:
        return None, f"file cannot be read ({exc.strerror or exc})"
    except RecursionError:
        return None, "document is nested too deeply to parse"
    except MemoryError:
        return None, "document needs more memory than the parse limit allows"
    except Exception as exc:  # a parser bug on one file must not stop the run
        logger.debug("parser failed location=%s", job.location, exc_info=True)  # the traceback with --verbose only
        return None, f"could not be parsed ({type(exc).__name__}: {str(exc)[:160]})"


def _warm_up() -> bool:
    """Import every loader once, before any timed job (trafilatura alone takes a second).

    Not pytesseract: it imports pandas, seconds on a busy machine that the encoder would
    spend waiting for the first parsed file. OCR imports it when a scanned page needs it,
    after announcing the page (its time limit covers the import).
    """
    import importlib

    for name in ("markdown", "html", "pdf", "docx", "pptx", "sheet", "mail", "epub", "ocr"):
        importlib.import_module(f"ingest.loaders.{name}")
    import pypdfium2  # noqa: F401 (OCR renders with it)
    import trafilatura  # noqa: F401

    return True


def _start_worker(megabytes: int, beats: object) -> None:
    """Worker initializer: bound its memory; heartbeats to the parent before each OCR page.

    Tesseract runs one thread per page (OMP_THREAD_LIMIT=1 unless set): on a small server the
    encoder is using the cores meanwhile, and one thread read 1.2x more pages per second than
    Tesseract's default in an A-B-B-A measurement on a busy two-core machine.
    """
    import os
    import resource

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    from ingest.loaders.ocr import set_heartbeat

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    set_heartbeat(lambda: beats.put_nowait(1))  # type: ignore[attr-defined]


class ParserPool:
    """One worker process parsing ahead of the consumer, with a per-file time limit."""

    def __init__(self, timeout_s: float, memory_mb: int = 3072, window: int = 4, *, ocr_page_s: float = 30.0):
        self._timeout = timeout_s
        self._memory = memory_mb
        self._window = window
        self._ocr_page_s = ocr_page_s + 5.0  # the page bound plus rendering
        self._pool: cf.ProcessPoolExecutor | None = None
        self._beats: Any = None  # a spawn-context Queue of heartbeats
        self._warming: cf.Future[bool] | None = None  # the worker's start: loaders imported

    def start_soon(self) -> None:
        """Start the worker without waiting for it: it imports the loaders while the caller opens the store and plans.

        ``map`` waits for it then; :meth:`discard` stops it when there is nothing to parse after all.
        """
        if self._pool is None:
            self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._beats = context.Queue()
        self._pool = cf.ProcessPoolExecutor(
            max_workers=1, mp_context=context,
            initializer=_start_worker, initargs=(self._memory, self._beats),
        )
        self._warming = self._pool.submit(_warm_up)

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._spawn()
        assert self._pool is not None and self._warming is not None
        # Wait for the worker to start and import the loaders, so that the time limit measures
        # parsing only: a short CTO_PARSE_TIMEOUT_S must not fail the first file on a busy machine.
        try:
            self._warming.result(timeout=max(60.0, self._timeout))
        except (cf.TimeoutError, cf.process.BrokenProcessPool) as exc:
            self._kill()
            raise IngestError("the parser process did not start; check free memory and run the command again") from exc
        return self._pool

    def discard(self) -> None:
        """Stop the worker now, whatever it is doing (a pool started by :meth:`start_soon` and not needed)."""
        self._kill()

    def _kill(self) -> None:
        if self._pool is None:
            return
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self._warming = None

    def map(self, jobs: Iterable[ParseJob]) -> Iterator[ParseResult]:
        """Parse jobs in order, yielding each result as soon as it is ready."""
        pending = list(jobs)
        if not pending:
            return
        queue: deque[tuple[ParseJob, cf.Future]] = deque()
        position = 0
        pool = self._start()
        try:
            while position < len(pending) or queue:
                while position < len(pending) and len(queue) < self._window:
                    queue.append((pending[position], pool.submit(parse_job, pending[position])))
                    position += 1
                job, future = queue.popleft()
                try:
                    document, error = self._result(future)
                    yield ParseResult(job, document, error)
                    continue
                except cf.TimeoutError:
                    reason = f"parsing took longer than {self._timeout:g} s (CTO_PARSE_TIMEOUT_S); the file was skipped"
                except cf.process.BrokenProcessPool:
                    reason = "the parser ran out of memory or crashed on this file; it was skipped"
                yield ParseResult(job, None, reason)
                retry = [j for j, _ in queue]
                queue.clear()
                self._kill()
                pool = self._start()
                for again in retry:
                    queue.append((again, pool.submit(parse_job, again)))
        finally:
            self.close()

    def _heard(self) -> bool:
        """True when the worker sent heartbeats since the last look (drains them)."""
        heard = False
        while self._beats is not None:
            try:
                self._beats.get_nowait()
            except (queue_module.Empty, OSError, ValueError):
                break
            heard = True
        return heard

    def _result(self, future: cf.Future) -> tuple[LoadedDocument | None, str | None]:
        """The job's result; the time limit is the parse limit, extended by each OCR page's bound."""
        deadline = time.monotonic() + self._timeout
        self._heard()  # beats of earlier jobs do not extend this one
        while True:
            try:
                return future.result(timeout=max(0.0, min(1.0, deadline - time.monotonic())))  # type: ignore[no-any-return]
            except cf.TimeoutError:
                if self._heard():
                    deadline = max(deadline, time.monotonic() + self._ocr_page_s)
                if time.monotonic() >= deadline:
                    raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._warming = None
