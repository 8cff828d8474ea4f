"""Nothing changed? Answer it without opening the store or loading the model.

A re-run of ``ingest ./library`` over unchanged files used to spend its seconds
importing chromadb and the pipeline in a fresh process, only to find every content
hash equal. :func:`unchanged_report` reads the files' content hashes the same way the
pipeline does and compares them with the manifest snapshot (``kb.index.snapshot``)
that the last run left; when every file is unchanged (or refused for a reason that
needs no store, such as an unsupported type), the report is complete and nothing else
is imported. Anything new, changed, to prune or not a local file: None, and the
pipeline runs as before. The content-hash rules (``hash_suffix``, ``read_local``) live
here so that the pipeline and this shortcut cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import stat
import time
from pathlib import Path
from typing import Any

from ingest.clean import PARSER_VERSION
from ingest.loaders.kinds import detect_type
from ingest.report import FileResult, IngestOptions, IngestReport
from ingest.sources import expand_inputs
from kb.core.documents import file_sha256
from kb.core.errors import IngestError
from kb.core.settings import Settings
from kb.index import snapshot

__all__ = ["unchanged_report", "hash_suffix", "read_local"]

logger = logging.getLogger(__name__)
SHEET_ROWS_VERSION = 2  # how a row becomes a passage; a change re-reads spreadsheets only, not the whole library
MARKDOWN_VERSION = 2  # 2: Mermaid diagrams read as their labels (ingest.loaders.markdown); re-reads Markdown only


def hash_suffix(settings: Settings, metadata: dict[str, Any], kind: str | None) -> str:
    """Everything but the content digest in a content hash: the run's metadata, the parser version, reading settings.

    Settings that change what a parser reads from a kind of file are part of it (OCR for PDFs,
    the size bounds for sheets), so toggling one re-reads only that kind.
    """
    options_hash = hashlib.sha256(json.dumps(metadata, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{options_hash}:p{PARSER_VERSION}{_read_key(settings, kind)}"


def _read_key(settings: Settings, kind: str | None) -> str:
    if kind == "pdf":  # ":outline": pages read before they took their bookmark's heading are read again once
        outline = ":outline" if settings.pdf_outline_headings else ""
        return (f":ocr{int(settings.ocr)}-{settings.ocr_dpi}-{settings.ocr_language}" if settings.ocr else "") + outline
    if kind in {"xlsx", "csv"}:
        return f":rows{settings.sheet_max_rows}-cols{settings.sheet_max_cols}-r{SHEET_ROWS_VERSION}"
    if kind == "markdown":
        return f":md{MARKDOWN_VERSION}"
    return ""


def read_local(path: Path, settings: Settings) -> tuple[str, str]:
    """(content digest, detected kind) of a local file; a file that cannot be ingested raises with the reason.

    Raises:
        IngestError: not a regular file, over the size limit, unreadable, empty, or of an unsupported type.
    """
    max_bytes = int(settings.max_file_mb * 1_000_000)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a pipe or device would block or never end when read
            raise IngestError("not a regular file (a pipe, socket or device); only files, folders and URLs can be ingested")
        if info.st_size > max_bytes:
            raise IngestError(f"file is {info.st_size / 1e6:.1f}".rstrip("0").rstrip(".")
                              + f" MB, over the {settings.max_file_mb:g} MB limit (CTO_MAX_FILE_MB)")
        kind = detect_type(path)  # unsupported or mislabelled files fail here, in dry runs too, without a parser
        return file_sha256(path), kind
    except PermissionError as exc:
        raise IngestError("file is not readable (permission denied); check its permissions") from exc
    except OSError as exc:
        raise IngestError(f"file cannot be read ({exc.strerror or exc})") from exc


def unchanged_report(settings: Settings, inputs: list[str], options: IngestOptions) -> IngestReport | None:
    """The run's report when none of the local files changed since the last run, else None (run the pipeline).

    Only plain runs over files and folders qualify (no URLs, no site crawl, no watch);
    with ``prune``, also only when no document's file is gone. Nothing is written.
    """
    started = time.perf_counter()
    if options.prefetched or options.prune_under or any(i.startswith(("http://", "https://")) for i in inputs):
        return None
    saved = snapshot.load(settings)
    if saved is None:
        return None
    sources = expand_inputs(inputs, options.include, options.exclude)
    results: list[FileResult] = []
    for source in sources:
        if source.error:
            results.append(FileResult(source.location, "failed", reason=source.error))
            continue
        try:
            digest, kind = read_local(Path(source.location), settings)
        except IngestError as exc:
            results.append(FileResult(source.location, "failed", doc_id=source.doc_id, reason=str(exc)))
            continue
        previous = saved.docs.get(source.doc_id)
        if previous is None or previous.content_hash != f"{digest}:{hash_suffix(settings, options.metadata, kind)}":
            return None  # new or changed: the pipeline's work
        results.append(FileResult(source.location, "unchanged", source.doc_id, previous.title, previous.chunk_count))
    if options.prune and _gone(saved, {s.doc_id for s in sources}):
        return None
    for result in results:
        log = logger.warning if result.status == "failed" else logger.info
        log("ingest source=%s status=%s chunks=%d %s", result.source, result.status, result.chunks, result.reason)
    logger.info("nothing changed since the last run: answered from the manifest snapshot without opening the store")
    return IngestReport(results=results, seconds=time.perf_counter() - started)


def _gone(saved: snapshot.Snapshot, current: set[str]) -> bool:
    """Whether a prune would remove something: a document, not named in this run, whose file no longer exists."""
    return any(not d.source.startswith(("http://", "https://")) and doc_id not in current and not Path(d.source).exists()
               for doc_id, d in saved.docs.items())
