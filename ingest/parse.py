"""Parsing in a separate process: bounded in time and memory, off the encoder's path.

A hostile or broken file can hang a parser or eat memory; in a worker process it
can be killed without taking the ingest run down. Jobs are prefetched so that the
next documents are parsed while the current ones are being embedded.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class ParseResult:
    job: ParseJob
    document: LoadedDocument | None
    error: str | None


def parse_job(job: ParseJob) -> tuple[LoadedDocument | None, str | None]:
    """Parse one job; return (document, None) or (None, one-line reason)."""
    from ingest.loaders import load_bytes, load_file
    from ingest.loaders.pdf import load_pdf

    try:
        if job.data is None:
            return load_file(Path(job.location), job.max_pages, job.max_bytes), None
        if job.kind == "pdf":
            with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
                tmp.write(job.data)
                tmp.flush()
                doc = load_pdf(Path(tmp.name), job.max_pages)
            doc.source = job.location
            return doc, None
        return load_bytes(job.data, job.kind or "html", job.location), None
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
    import ingest.loaders  # noqa: F401 (imported for its side effect: loaded once, before any timed job)

    return True


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class ParserPool:
    """One worker process parsing ahead of the consumer, with a per-file time limit."""

    def __init__(self, timeout_s: float, memory_mb: int = 3072, window: int = 4):
        self._timeout = timeout_s
        self._memory = memory_mb
        self._window = window
        self._pool: cf.ProcessPoolExecutor | None = None

    def _start(self) -> cf.ProcessPoolExecutor:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_limit_memory, initargs=(self._memory,),
        )
        # Wait for the worker to start and import the loaders, so that the time limit measures
        # parsing only: a short CTO_PARSE_TIMEOUT_S must not fail the first file on a busy machine.
        try:
            self._pool.submit(_warm_up).result(timeout=max(60.0, self._timeout))
        except (cf.TimeoutError, cf.process.BrokenProcessPool) as exc:
            self._kill()
            raise IngestError("the parser process did not start; check free memory and run the command again") from exc
        return self._pool

    def _kill(self) -> None:
        if self._pool is None:
            return
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def map(self, jobs: Iterable[ParseJob]) -> Iterator[ParseResult]:
        """Parse jobs in order, yielding each result as soon as it is ready."""
        pending = list(jobs)
        if not pending:
            return
        queue: deque[tuple[ParseJob, cf.Future]] = deque()
        position = 0
        pool = self._pool or self._start()
        try:
            while position < len(pending) or queue:
                while position < len(pending) and len(queue) < self._window:
                    queue.append((pending[position], pool.submit(parse_job, pending[position])))
                    position += 1
                job, future = queue.popleft()
                try:
                    document, error = future.result(timeout=self._timeout)
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
