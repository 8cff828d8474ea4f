"""The ingest pipeline: sources -> parse (worker) -> check -> chunk -> embed -> store.

Ordering makes every document all-or-nothing: a manifest row marked ``indexing`` is
written first, then the chunks, then the row is marked ``done``. A run that dies in
between leaves an ``indexing`` row that the next run's reconciliation removes with
its chunks, and the document is ingested again. Readers only see ``done`` documents.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ingest import health
from ingest.batching import ChunkPool
from ingest.chunking import chunk_document
from ingest.fetch import fetch_url
from ingest.loaders import LoadOptions
from ingest.parse import ParseJob, ParserPool
from ingest.report import FileResult, IngestOptions, IngestReport
from ingest.sources import Source, expand_inputs
from ingest.unchanged import hash_suffix, read_local
from kb.core.areas import area_ids, classify
from kb.core.documents import REV, Chunk, DocRecord, LoadedDocument
from kb.core.errors import DocumentRejected, IngestError
from kb.core.metadata import CHUNK_EXTRA_FIELDS, MetadataError, parse_areas, read_fields
from kb.embed import bulk_encoder
from kb.embed.base import SMALL_BATCH
from kb.governance import privacy
from kb.index import snapshot
from kb.index.keyword import preload as preload_keyword
from kb.index.knowledge import DONE, INDEXING, KnowledgeBase
from kb.index.lock import write_lock
from kb.index.store import Store

__all__ = ["IngestOptions", "FileResult", "IngestReport", "run_ingest"]

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
_NOT_SCANNED = {"authority", "jurisdiction", "published", "reviewed", "expires", "source_url", "url", REV}
T = TypeVar("T")
PARSE_AHEAD = 16  # files parsed ahead of the main thread, which prepares them for the encoder meanwhile


@dataclass
class _Pending:
    source: Source
    content_hash: str
    previous: DocRecord | None
    job: ParseJob
    validators: dict[str, str] = field(default_factory=dict)  # a URL's ETag / Last-Modified


Item = tuple[DocRecord, list[Chunk], np.ndarray, FileResult]
Prepared = tuple[DocRecord, list[Chunk], FileResult]


class _Writer(threading.Thread):
    """Writes encoded batches to the store in order, beside the encoder, and tokenizes them for the keyword index.

    Each queue item is one encode batch's documents; the new ones among them are written
    together: five store writes (each a disk commit) for the batch instead of five per document.
    """

    def __init__(self, kb: KnowledgeBase, on_done: Callable[[FileResult], None]):
        super().__init__(daemon=True, name="ingest-writer")
        self.kb = kb
        self.on_done = on_done
        self.queue: queue.Queue[list[Item] | None] = queue.Queue(maxsize=2)

    def run(self) -> None:
        try:
            preload_keyword()  # while the encoder runs its first call, not at the index build after the last
        except Exception as exc:  # the build imports it again and reports what is missing
            logger.warning("keyword index library not preloaded error=%s", exc)
        while (group := self.queue.get()) is not None:
            _store_group(self.kb, group)
            for entry in group:
                self.on_done(entry[3])


def _store_group(kb: KnowledgeBase, group: list[Item]) -> None:
    """Write documents: new ones together (:func:`write_new_documents`), updates one by one; then hand their chunks
    to the keyword index. A refused group is written again one document at a time, so only a bad document fails."""
    fresh = [entry for entry in group if _is_new(kb.store.doc(entry[0].doc_id))]
    if len(fresh) > 1:
        try:
            write_new_documents(kb.store, [(record, chunks, vectors) for record, chunks, vectors, _ in fresh])
            for _, chunks, _, _ in fresh:
                kb.offer_analysis(chunks)
            written = {id(entry) for entry in fresh}
            group = [entry for entry in group if id(entry) not in written]
        except Exception as exc:  # find the document the store refused
            logger.info("group write failed, writing one by one documents=%d error=%s", len(fresh), exc)
    for entry in group:
        _store(kb, *entry)


def _is_new(previous: DocRecord | None) -> bool:
    return previous is None or previous.status != DONE


def _store(kb: KnowledgeBase, record: DocRecord, chunks: list[Chunk], vectors: np.ndarray, result: FileResult) -> None:
    """Write one document and hand its chunks to the keyword index; a refused write marks the result failed."""
    try:
        write_document(kb.store, record, chunks, vectors=vectors)
    except Exception as exc:  # the store refused this document: the previous version (if any) stays
        logger.debug("store write failed doc_id=%s", record.doc_id, exc_info=True)
        logger.warning("store write failed doc_id=%s error=%s", record.doc_id, exc)
        result.status, result.reason = "failed", f"could not be written to the knowledge base ({exc}); the previous version, if any, was kept"
        return
    kb.offer_analysis(chunks)


def write_new_documents(store: Store, items: list[tuple[DocRecord, list[Chunk], np.ndarray]]) -> None:
    """Write documents the store does not hold (complete) yet, together, with the same guarantee as one by one.

    Their rows are written as ``indexing``, any leftover chunks of theirs deleted, all their
    chunks written, then the rows marked ``done`` in one write: a crash before that leaves
    ``indexing`` rows that the next run's repair removes with their chunks. On an error the
    rows are taken out again and the error raised.
    """
    records = [record for record, _, _ in items]
    store.put_docs([DocRecord(**{**r.__dict__, "status": INDEXING}) for r in records])
    store.delete_chunks_of([r.doc_id for r in records])
    try:
        store.add_chunks([c for _, chunks, _ in items for c in chunks], np.vstack([v for _, _, v in items]))
        store.put_docs(records)
    except Exception:
        for record in records:
            _quietly(store.delete_doc, record.doc_id)
        raise


def write_document(store: Store, record: DocRecord, chunks: list[Chunk], *, vectors: np.ndarray) -> None:
    """Write one document so that readers, and a crash at any point, see the old version or the new, never neither.

    A new document: its row is written as ``indexing``, then its chunks, then the row is marked
    ``done``. An update: the new chunks are written beside the old ones under a new revision
    (the old version stays complete and is what readers see), then the row switches to the new
    revision in one write, then the old chunks are deleted. A crash leaves chunks of a revision
    no row names, which the next run's repair deletes.
    """
    previous = store.doc(record.doc_id)
    if _is_new(previous):
        store.put_doc(DocRecord(**{**record.__dict__, "status": INDEXING}))
        store.delete_chunks(record.doc_id)
        try:
            store.add_chunks(chunks, vectors)
            store.put_doc(record)
        except Exception:
            _quietly(store.delete_doc, record.doc_id)
            raise
        return
    old_ids = set(store.chunk_ids(record.doc_id))
    rev = str(record.meta.get(REV, ""))
    for chunk in chunks:  # same text at the same place: a distinct id, so the old version is not overwritten
        if chunk.id in old_ids:
            chunk.id = f"{chunk.id}-{rev[:6]}"
    new_ids = [c.id for c in chunks]
    try:
        store.add_chunks(chunks, vectors)
        store.put_doc(record)  # the switch
    except Exception:
        current = store.doc(record.doc_id)
        if current is None or current.meta.get(REV) != rev:  # not switched: take the new chunks back out
            _quietly(store.delete_chunk_ids, sorted(set(new_ids) - old_ids))
            raise
    store.delete_chunk_ids(sorted(old_ids - set(new_ids)))


def _quietly(action: Callable[..., Any], *args: Any) -> None:
    try:
        action(*args)
    except Exception as exc:  # the next run's repair finishes what this could not
        logger.warning("cleanup failed action=%s error=%s; the next ingest repairs it", action.__name__, exc)


class _Run:
    """State of one ingest run."""

    def __init__(self, kb: KnowledgeBase, options: IngestOptions, progress: Progress | None):
        self.kb = kb
        self.settings = kb.settings
        self.options = options
        self.progress = progress or (lambda stage, done, total: None)
        self.report = IngestReport(results=[])
        self.known: dict[str, DocRecord] = {}
        self.prepared: list[DocRecord] = []
        self._lock = threading.Lock()
        self._files_done = 0
        self._files_total = 0
        s = self.settings
        self.load_options = LoadOptions(max_pages=s.max_pages, max_bytes=int(s.max_file_mb * 1_000_000),
                                        sheet_max_rows=s.sheet_max_rows, sheet_max_cols=s.sheet_max_cols, ocr=s.ocr,
                                        ocr_timeout_s=s.ocr_timeout_s, ocr_dpi=s.ocr_dpi, ocr_language=s.ocr_language,
                                        pdf_outline=s.pdf_outline_headings)

    def _finish(self, result: FileResult) -> None:
        with self._lock:
            self.report.results.append(result)
            self._files_done += 1
            self.progress("files", self._files_done, self._files_total)
        log = logger.warning if result.status == "failed" else logger.info
        log("ingest source=%s status=%s chunks=%d %s", result.source, result.status, result.chunks, result.reason)

    # ----- planning --------------------------------------------------------------------
    def plan(self, sources: list[Source], known: dict[str, DocRecord]) -> list[_Pending]:
        todo: list[_Pending] = []
        max_bytes = int(self.settings.max_file_mb * 1_000_000)
        for source in sources:
            if source.error:
                self._finish(FileResult(source.location, "failed", reason=source.error))
                continue
            previous = known.get(source.doc_id)
            try:
                data, kind, digest, detected, validators = self._read(source, max_bytes, previous)
            except IngestError as exc:
                self._finish(FileResult(source.location, "failed", doc_id=source.doc_id, reason=str(exc)))
                continue
            content_hash = f"{digest}:{self._hash_suffix(kind or detected)}"
            if previous and previous.status == DONE and previous.content_hash == content_hash:
                self._finish(FileResult(source.location, "unchanged", source.doc_id, previous.title, previous.chunk_count))
                continue
            job = ParseJob(source.location, kind=kind, data=data, max_pages=self.settings.max_pages,
                           max_bytes=max_bytes, key=source.doc_id, options=self.load_options)
            todo.append(_Pending(source, content_hash, previous, job, validators))
        return todo

    def _hash_suffix(self, kind: str | None) -> str:
        """Everything but the content digest in a content hash: options, parser version, reading settings."""
        return hash_suffix(self.settings, self.options.metadata, kind)

    def _conditional(self, previous: DocRecord | None) -> dict[str, str] | None:
        """The previous download's ETag/Last-Modified, when a 304 answer would mean "unchanged" for this run."""
        if previous is None or previous.status != DONE or not isinstance(previous.meta.get("http"), dict):
            return None
        if previous.content_hash.split(":", 1)[-1] != self._hash_suffix(previous.source_type):
            return None  # other options or a newer parser: the page must be read again in any case
        return {k: str(v) for k, v in previous.meta["http"].items()}

    def _read(self, source: Source, max_bytes: int,
              previous: DocRecord | None) -> tuple[bytes | None, str | None, str, str, dict[str, str]]:
        """(downloaded bytes or None, forced loader or None, content digest, detected kind, HTTP validators)."""
        if source.is_url:
            saved = self._conditional(previous)
            download = self.options.prefetched.get(source.location) or fetch_url(
                source.location, self.settings.url_timeout_s, max_bytes, validators=saved)
            if download.not_modified and previous is not None:  # 304: one request, nothing downloaded
                return None, previous.source_type, previous.content_hash.split(":", 1)[0], previous.source_type, download.validators
            return download.data, download.kind, hashlib.sha256(download.data).hexdigest(), download.kind, download.validators
        digest, kind = read_local(Path(source.location), self.settings)
        return None, None, digest, kind, {}

    # ----- turning a parsed document into chunks -----------------------------------------------
    def prepare(self, pending: _Pending, doc: LoadedDocument) -> tuple[DocRecord, list[Chunk], FileResult]:
        meta, warnings = self._fields(doc, pending.source.doc_id)
        _limit_chars(doc, self.settings.max_chars, warnings)
        self._privacy(doc, meta, warnings)
        extra = {k: str(meta[k]) for k in CHUNK_EXTRA_FIELDS if meta.get(k)}
        extra[REV] = uuid.uuid4().hex[:12]
        if doc.url:
            extra["url"] = doc.url
        chunks = chunk_document(doc, pending.source.doc_id, size=self.settings.chunk_size,
                                overlap=self.settings.chunk_overlap, extra=extra)
        if not chunks:
            raise IngestError("no text left after cleaning")
        minhash = self._health(doc, pending.source.doc_id, warnings)
        record = DocRecord(
            doc_id=pending.source.doc_id, source=pending.source.location, source_type=doc.source_type,
            title=doc.title, content_hash=pending.content_hash, status=DONE, chunk_count=len(chunks),
            date=doc.date, areas=doc.areas, ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            meta={**meta, "summary": doc.summary, "url": doc.url, "health": doc.health, "warnings": warnings,
                  "minhash": minhash, REV: extra[REV], "ingest_options": dict(self.options.metadata),
                  **({"http": pending.validators} if pending.validators else {})},
        )
        self.prepared.append(record)
        status = "updated" if pending.previous else "added"
        result = FileResult(pending.source.location, status, record.doc_id, record.title, len(chunks), warnings=warnings)
        return record, chunks, result

    def _fields(self, doc: LoadedDocument, doc_id: str) -> tuple[dict[str, Any], list[str]]:
        """The document's own metadata with the run's options over it, checked and normalised once, here.

        Sets the document's title, date and areas; returns the other fields and the warnings so far.
        The options were checked where they entered (IngestOptions); a value of the document's own
        (front matter, a page's date tag) that cannot be read is left out, with a warning that
        quotes it and the accepted forms, and so is a rule across fields that fails
        (``expires`` before the date, ``superseded_by`` naming the document itself).
        """
        overrides = self.options.metadata
        warnings = list(doc.warnings)
        own = dict(doc.meta)
        if doc.date and not own.get("date"):
            own["date"] = doc.date  # the loader's own date (PDF or DOCX properties, a page's tags)
        title = overrides.get("title") or doc.title
        doc.title = " ".join(str(title).split()) if isinstance(title, (str, int, float)) else doc.title
        read = read_fields({**own, **{k: v for k, v in overrides.items() if k not in {"areas", "title"}}},
                           title=doc.title, doc_id=doc_id)
        warnings += read.notes + [f"{problem}; the value was left out" for problem in read.problems]
        meta = read.clean
        doc.date = meta.pop("date", None) or meta.get("published")
        try:
            areas, unknown = parse_areas(overrides.get("areas") or doc.areas)
        except MetadataError as exc:
            areas, unknown = [], []
            warnings.append(f"{exc}; the areas were detected from the text instead")
        if unknown:
            warnings.append(f"unknown area(s) ignored: {', '.join(unknown)} (valid: {', '.join(area_ids())})")
        doc.areas = areas or classify(doc.title + "\n" + " ".join(s.text for s in doc.sections)[:30000])
        return meta, warnings

    def _health(self, doc: LoadedDocument, doc_id: str, warnings: list[str]) -> list[int]:
        """Add near-duplicate and flattened-table findings to the document's health; return its signature."""
        minhash = health.signature("\n".join(s.text for s in doc.sections)[:300_000])
        duplicates = health.near_duplicates(minhash, [*self.known.values(), *self.prepared], exclude=doc_id)
        if duplicates:
            doc.health["near_duplicates"] = [d.doc_id for d, _ in duplicates]
            other, similarity = duplicates[0]
            warnings.append(f"near-duplicate of {other.title!r} ({other.doc_id}, ~{similarity:.0%} the same text)")
        tables = health.flattened_table_sections(doc)
        if tables:
            doc.health["flattened_tables"] = tables
            warnings.append(f"{len(tables)} section(s) look like flattened tables, answers from them may be garbled: {', '.join(tables[:6])}")
        return minhash

    def _privacy(self, doc: LoadedDocument, meta: dict[str, Any], warnings: list[str]) -> None:
        mode = self.settings.privacy_mode
        if mode == "allow":
            return
        fields = [k for k, v in meta.items() if isinstance(v, str) and k not in _NOT_SCANNED]
        findings = privacy.scan("\n".join([doc.title, doc.summary or ""] + [str(meta[k]) for k in fields]
                                          + [s.text for s in doc.sections]))
        if not findings:
            return
        found = ", ".join(f.describe() for f in findings)
        if mode == "refuse":
            raise DocumentRejected(f"refused: holds student personal data ({found}); remove it, or set CTO_PRIVACY_MODE=redact")
        for section in doc.sections:  # the whole document's findings decide, so a list split over pages is still caught
            section.text = privacy.redact(section.text, findings)
        doc.title = privacy.redact(doc.title, findings)
        doc.summary = privacy.redact(doc.summary, findings) if doc.summary else doc.summary
        for key in fields:  # front-matter notes, superseded_by...: shown on citation cards, so scanned like the body
            meta[key] = privacy.redact(meta[key], findings)
        warnings.append(f"redacted student personal data ({found})")


def _limit_chars(doc: LoadedDocument, limit: int, warnings: list[str]) -> None:
    """Keep at most ``limit`` characters of text (CTO_MAX_CHARS), so one huge file cannot stall a run."""
    total = 0
    for index, section in enumerate(doc.sections):
        if total + len(section.text) > limit:
            section.text = section.text[: limit - total]
            doc.sections = [s for s in doc.sections[: index + 1] if s.text.strip()]
            warnings.append(f"only the first {limit:,} characters were kept (CTO_MAX_CHARS)")
            return
        total += len(section.text)


def run_ingest(kb: KnowledgeBase, inputs: list[str], *, options: IngestOptions | None = None,
               progress: Progress | None = None) -> IngestReport:
    """Ingest files, folders and URLs into the knowledge base; never stops on one bad input.

    A real run holds the embedded store's write lock throughout (``kb.index.lock``): a
    second writer is refused before anything is read or changed.

    Raises:
        WriteLockBusy: another process is writing the same knowledge base (the app, or a command).
    """
    options = options or IngestOptions()
    if options.dry_run:
        return _run_ingest(kb, inputs, options, progress)
    with write_lock(kb.settings, "ingest"):  # one writer per data dir: the repair below only meets dead runs' leftovers
        return _run_ingest(kb, inputs, options, progress)


def _run_ingest(kb: KnowledgeBase, inputs: list[str], options: IngestOptions, progress: Progress | None) -> IngestReport:
    started = time.perf_counter()
    run = _Run(kb, options, progress)
    sources = expand_inputs(inputs, options.include, options.exclude)
    s = kb.settings
    parser = ParserPool(s.parse_timeout_s, window=PARSE_AHEAD if s.ingest_overlap else 1, ocr_page_s=s.ocr_timeout_s)
    if sources and not options.dry_run:  # its imports (about a second) overlap opening the store and planning
        parser.start_soon()
    try:
        return _plan_and_ingest(run, sources, parser, started=started)
    finally:
        parser.discard()  # started for files that needed no parsing, or left by an error


def _plan_and_ingest(run: _Run, sources: list[Source], parser: ParserPool, *, started: float) -> IngestReport:
    kb, options = run.kb, run.options
    if not options.dry_run:
        run.report.repaired = kb.reconcile().partial_docs
        if kb.store.search_breadth not in (None, kb.settings.search_ef):  # a store made with another breadth
            kb.store.set_search_breadth(kb.settings.search_ef)
    known = {d.doc_id: d for d in kb.store.docs()}
    run.known = known
    run._files_total = len(sources)
    todo = run.plan(sources, known)
    if options.prune or options.prune_under:
        _prune(run, known, {s.doc_id for s in sources})
    if not todo:
        parser.discard()  # now, not after the index refresh below
    if options.dry_run:
        for pending in todo:
            run.report.results.append(FileResult(pending.source.location, "would-update" if pending.previous else "would-add", pending.source.doc_id))
        for result in run.report.results:
            if result.status in {"removed"}:
                result.status = "would-remove"
    else:
        if todo:
            _embed_and_write(run, todo, parser)
        kb.refresh(force=True)  # removals and repairs change what readers may see, too
        snapshot.save(kb.settings, kb.store)  # the next run over unchanged files needs neither the store nor the model
    run.report.seconds = time.perf_counter() - started
    return run.report


def _prune(run: _Run, known: dict[str, DocRecord], current: set[str]) -> None:
    roots = [Path(p).resolve() for p in run.options.prune_under]
    for doc in known.values():
        if doc.source.startswith(("http://", "https://")) or doc.doc_id in current or Path(doc.source).exists():
            continue
        if roots and not run.options.prune and not any(Path(doc.source).is_relative_to(r) for r in roots):
            continue
        if not run.options.dry_run:
            run.kb.store.delete_doc(doc.doc_id)  # never leaves a "done" row without its chunks
        run.report.results.append(FileResult(doc.source, "removed", doc.doc_id, doc.title, doc.chunk_count, reason="source no longer exists"))


def _parsed(run: _Run, todo: list[_Pending], parser: ParserPool,
            stalled: Callable[[bool], None] = lambda waiting: None) -> Iterator[tuple[DocRecord, list[Chunk], FileResult]]:
    """Each document parsed (in the worker) and prepared (here), in order; failures are reported and skipped.

    ``stalled(True)`` is called before waiting for the parser, ``stalled(False)`` once it answered.
    """
    by_id = {p.source.doc_id: p for p in todo}
    for parsed in _telling(parser.map(p.job for p in todo), stalled):
        pending = by_id[str(parsed.job.key)]
        if parsed.document is None:
            run._finish(FileResult(pending.source.location, "failed", pending.source.doc_id, reason=parsed.error or "unknown error"))
            continue
        try:
            yield run.prepare(pending, parsed.document)
        except IngestError as exc:
            run._finish(FileResult(pending.source.location, "failed", pending.source.doc_id, parsed.document.title, reason=str(exc)))


def _telling(results: Iterator[T], waiting: Callable[[bool], None]) -> Iterator[T]:
    """The results, calling ``waiting(True)`` while the next one is awaited and ``waiting(False)`` once it came."""
    try:
        while True:
            waiting(True)
            try:
                result = next(results, None)
            finally:
                waiting(False)
            if result is None:
                return
            yield result
    finally:
        close: Callable[[], None] | None = getattr(results, "close", None)
        if close is not None:  # a consumer that stops early stops the parser worker now, not when collected
            close()


def _one_after_another(run: _Run, todo: list[_Pending], parser: ParserPool) -> None:
    """The serial path (CTO_INGEST_OVERLAP=false): parse, prepare, encode, write each document in turn.

    Slower, and the reference the overlapped path must reproduce (tests/test_ingest_overlap.py).
    """
    encoder = bulk_encoder(run.kb.embedder)
    for record, chunks, result in _parsed(run, todo, parser):
        vectors = encoder.embed_batch([c.embed_text for c in chunks])
        run.report.chunks_embedded += len(chunks)
        run.progress("chunks", run.report.chunks_embedded, 0)
        _store(run.kb, record, chunks, vectors, result)
        run._finish(result)


def _embed_and_write(run: _Run, todo: list[_Pending], parser: ParserPool) -> None:
    if not run.settings.ingest_overlap:
        _one_after_another(run, todo, parser)
        return
    # Three threads: this one prepares parsed documents (the parser worker runs PARSE_AHEAD files ahead) and pools
    # their chunks; the encoder takes calls of similar-length chunks across documents (torch releases the GIL);
    # the writer stores and tokenizes each document once its last chunk is encoded (ingest.batching).
    cap = max(run.settings.embedding_batch_size * 8, 4 * SMALL_BATCH)  # 8 batches of 64: one call's batches pad alike
    # Held: at most two calls' worth, so that documents complete (and are written) while later ones encode.
    pool: ChunkPool[Prepared] = ChunkPool(limit=2 * cap, cap=cap, least=SMALL_BATCH + 1)  # fewer: SMALL_THREADS only
    bulk = bulk_encoder(run.kb.embedder)
    measure: Callable[[list[str]], list[int]] = getattr(bulk, "token_counts", None) or _char_counts
    writer = _Writer(run.kb, run._finish)
    writer.start()
    encoder = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-encoder")
    encoding = encoder.submit(_encode_all, run, pool, writer)
    encoding.add_done_callback(lambda done: pool.fail(done.exception() or RuntimeError("the encoder stopped")))
    try:
        for prepared in _parsed(run, todo, parser, stalled=pool.stalled):
            texts = [c.embed_text for c in prepared[1]]
            if not pool.put(prepared, texts, measure(texts)):
                break  # the encoder failed: its error is raised below
        pool.close()
        encoding.result()  # re-raises an encoder error here
    finally:
        pool.close()
        encoder.shutdown(wait=True)  # a call still encoding reaches the writer before it stops
        writer.queue.put(None)
        writer.join()


def _char_counts(texts: list[str]) -> list[int]:
    """Lengths in characters: the order of token counts, near enough, for an encoder that does not count tokens."""
    return [len(t) for t in texts]


def _encode_all(run: _Run, pool: ChunkPool[Prepared], writer: _Writer) -> None:
    """The encoder thread: load the model (while the parser worker starts), then encode call after call, handing
    each document to the writer once its last chunk is encoded."""
    bulk = bulk_encoder(run.kb.embedder)
    warm_up: Callable[[], None] | None = getattr(bulk, "warm_up", None)
    if warm_up is not None:
        warm_up()
    counted: Callable[[list[str], list[int]], np.ndarray] | None = getattr(bulk, "embed_counted", None)
    while (taken := pool.take()) is not None:  # the pool's token counts spare the encoder counting them again
        vectors = counted(taken.texts, taken.tokens) if counted is not None else bulk.embed_batch(taken.texts)
        run.report.chunks_embedded += len(vectors)
        run.progress("chunks", run.report.chunks_embedded, 0)
        done = pool.encoded(taken, vectors)
        if done:
            writer.queue.put([(record, chunks, vectors, result) for (record, chunks, result), vectors in done])
