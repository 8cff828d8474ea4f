"""The knowledge base: store, embedder and keyword index kept in step.

Ingest writes through it and the assistant reads through it. Readers never see a
document that is not completely indexed: the keyword index and dense results are
limited to documents whose manifest status is ``done``. The keyword index is tied to
a fingerprint of the manifest and is rebuilt only when that fingerprint changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.core.documents import Chunk, DocRecord, is_current
from kb.core.settings import Settings
from kb.embed import Embedder, make_embedder
from kb.index.exact import ExactVectors
from kb.index.keyword import Analysis, KeywordIndex, analyse
from kb.index.store import DONE, INDEXING, Store, manifest_fingerprint, open_store

__all__ = ["KnowledgeBase", "Repair", "DONE", "INDEXING"]

logger = logging.getLogger(__name__)


@dataclass
class Repair:
    """What reconciliation fixed after an interrupted ingest."""

    partial_docs: list[str]
    orphan_chunks: int
    restored_import: bool = False  # an interrupted `kb import --replace` was rolled back to what it replaced

    @property
    def changed(self) -> bool:
        return bool(self.partial_docs or self.orphan_chunks or self.restored_import)


class KnowledgeBase:
    """Everything the answering path and ingest share; heavy parts open on first use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, store: Store | None = None):
        self.settings = settings
        self._embedder = embedder
        self._store = store
        self._lock = threading.RLock()
        self._keyword: KeywordIndex | None = None
        self._fingerprint: str | None = None
        self._generation: str | None = None
        self._done: dict[str, DocRecord] = {}
        self._checked_at = 0.0
        self._analysed: dict[str, Analysis] = {}
        self._exact: ExactVectors | None = None  # the keyword snapshot's vectors (exact dense search), when kept

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
                if not self.settings.server_mode:
                    try:  # a folder written by another release is upgraded (after a backup) or refused here
                        _ensure_current(self)
                    except BaseException:
                        self._store = None
                        raise
            return self._store

    # ----- manifest views ---------------------------------------------------------------
    def done_docs(self) -> dict[str, DocRecord]:
        """Completely indexed documents by id (as of the last refresh)."""
        self.refresh()
        return self._done

    @staticmethod
    def fingerprint_of(docs: list[DocRecord]) -> str:
        return manifest_fingerprint(docs)

    def refresh(self, max_age_s: float = 1.0, force: bool = False) -> bool:
        """Pick up changes made by other processes; return True when the index changed.

        At most once per ``max_age_s`` the manifest's generation stamp is read (one row);
        the whole manifest is read only when the stamp moved (or the store has none).
        """
        with self._lock:
            now = time.monotonic()
            if not force and self._fingerprint is not None and now - self._checked_at < max_age_s:
                return False
            self._checked_at = now
            if self._fingerprint is None:
                _finish_abandoned_import(self)
            generation = self.store.generation()
            if not force and generation is not None and generation == self._generation:
                return False
            self._generation = generation
            docs = [d for d in self.store.docs() if d.status == DONE]
            fingerprint = self.fingerprint_of(docs)
            if fingerprint == self._fingerprint:
                return False
            self._done = {d.doc_id: d for d in docs}
            self._keyword = self._load_or_build_keyword(fingerprint)
            self._fingerprint = fingerprint
            self._exact = self._load_or_build_exact(self._keyword, self._keyword_dir(fingerprint))
            return True

    def offer_analysis(self, chunks: list[Chunk]) -> None:
        """Tokenize chunks just written, for the next keyword index build (ingest calls it beside the encoder).

        Keyed by chunk id: a stored chunk's id names its text, so the build uses these only for
        the very chunks it reads back; it forgets them once it ran.
        """
        analysed = {c.id: analyse(c) for c in chunks}
        with self._lock:
            self._analysed.update(analysed)

    @property
    def exact(self) -> ExactVectors | None:
        """The current snapshot's vectors for exact dense search; None when the collection is searched by Chroma's graph."""
        self.refresh()
        return self._exact

    def _load_or_build_exact(self, index: KeywordIndex, folder: Path) -> ExactVectors | None:
        """The vectors of ``index``'s entries: saved beside it, or gathered (the snapshot before, then the store) and saved.

        Always the vectors as the store holds them, never as ingest encoded them: Chroma's cosine
        index renormalises what it stores, which moves last bits, and a process that read them back
        must search the very vectors the ingesting process does. None above ``exact_search_max_chunks``
        entries, or when the store cannot give them (then retrieval uses Chroma's graph search, as
        for a large collection).
        """
        if not len(index) or len(index) > self.settings.exact_search_max_chunks:
            return None
        if (saved := ExactVectors.load(folder, index.ids)) is not None:
            return saved
        known = self._exact.by_id() if self._exact is not None else {}
        try:
            exact = ExactVectors.build(index.ids, known=known, fetch=self.store.vectors_of)
        except ValueError as exc:  # a chunk vanished between the snapshot and this read: the graph search answers
            logger.warning("exact search off for this snapshot error=%s", exc)
            return None
        try:
            exact.save(folder)
        except OSError as exc:  # a read-only data dir still searches exactly, from memory
            logger.warning("vectors not saved folder=%s error=%s", folder, exc)
        return exact

    @property
    def keyword(self) -> KeywordIndex:
        self.refresh()
        assert self._keyword is not None
        return self._keyword

    def _keyword_dir(self, fingerprint: str):  # type: ignore[no-untyped-def]
        # Keyed by the collection's own id, not by the server's address: a Chroma server restarted on another
        # port (or reached by another name) is the same knowledge base, and its saved index stays valid.
        scope = f"{self.settings.collection}-{self.store.collection_id}"
        return self.settings.data_dir / "keyword" / hashlib.sha1(scope.encode()).hexdigest()[:8] / fingerprint

    @staticmethod
    def _load_saved(folder: Path) -> KeywordIndex | None:
        if (folder / "entries.json").is_file():
            try:
                return KeywordIndex.load(folder)
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("keyword index unreadable, rebuilding folder=%s error=%s", folder, exc)
        return None

    def _load_or_build_keyword(self, fingerprint: str) -> KeywordIndex:
        folder = self._keyword_dir(fingerprint)
        if (saved := self._load_saved(folder)) is not None:
            return saved
        with _build_lock(folder.parent):  # several workers opening at once: one builds, the others load its index
            if (saved := self._load_saved(folder)) is not None:
                return saved
            return self._build_keyword(folder)

    def _build_keyword(self, folder: Path) -> KeywordIndex:
        started = time.perf_counter()
        hashes = {doc_id: d.content_hash for doc_id, d in self._done.items()}
        previous = self._keyword or self._saved_keyword(folder.parent)
        keep: set[str] = set()
        if previous is not None and previous.tokens is not None:
            keep = {doc_id for doc_id, h in previous.doc_hashes.items() if hashes.get(doc_id) == h}
        if keep:  # only new and changed documents are read and tokenized again
            fresh = sorted(set(hashes) - keep)
            chunks = [c for c in self.store.chunks_of(fresh) if is_current(c, self._done.get(c.doc_id))]
            index = KeywordIndex.build(chunks, doc_hashes=hashes, reuse=previous, keep=keep, analysed=self._analysed)
        else:
            index = KeywordIndex.build((c for c in self.store.iter_chunks() if is_current(c, self._done.get(c.doc_id))),
                                       doc_hashes=hashes, analysed=self._analysed)
        self._analysed = {}
        try:
            index.save(folder)
            for old in folder.parent.iterdir():
                if old.is_dir() and old.name != folder.name and not old.name.endswith(".tmp"):
                    _remove_tree(old)
        except OSError as exc:  # a read-only data dir still answers, from memory
            logger.warning("keyword index not saved folder=%s error=%s", folder, exc)
        logger.info("keyword index built chunks=%d reused_docs=%d seconds=%.2f", len(index), len(keep),
                    time.perf_counter() - started)
        return index

    @staticmethod
    def _saved_keyword(parent: Path) -> KeywordIndex | None:
        """The newest complete keyword index saved in ``parent`` (another fingerprint's), if any."""
        saved = [f for f in parent.iterdir() if (f / "entries.json").is_file()] if parent.is_dir() else []
        for folder in sorted(saved, key=lambda f: f.stat().st_mtime, reverse=True):
            try:
                return KeywordIndex.load(folder)
            except (OSError, ValueError, KeyError):
                continue
        return None

    # ----- repair -------------------------------------------------------------------------
    def reconcile(self) -> Repair:
        """Undo what an interrupted write left: partial documents, and chunks no done row's revision names.

        Callers hold the write lock (:func:`kb.index.lock.write_lock`), so whatever is found
        here was left by a writer that is gone, never by one still running.
        """
        with self._lock:
            store = self.store
            restored = _finish_interrupted_import(self)
            docs = store.docs()
            partial = [d.doc_id for d in docs if d.status != DONE]
            for doc_id in partial:
                store.delete_doc(doc_id)
            done = {d.doc_id: d for d in docs if d.status == DONE}
            if store.count() == sum(d.chunk_count for d in done.values()):
                return Repair(partial_docs=partial, orphan_chunks=0, restored_import=restored)  # the common, cheap case
            stale: list[str] = []
            current: dict[str, int] = {}
            for chunk in store.iter_chunks():
                if is_current(chunk, done.get(chunk.doc_id)):
                    current[chunk.doc_id] = current.get(chunk.doc_id, 0) + 1
                else:
                    stale.append(chunk.id)
            store.delete_chunk_ids(stale)
            short = [d for d in done.values() if current.get(d.doc_id, 0) != d.chunk_count]
            for doc in short:
                store.delete_doc(doc.doc_id)
            repair = Repair(partial_docs=partial + [d.doc_id for d in short], orphan_chunks=len(stale),
                            restored_import=restored)
            if repair.changed:
                logger.warning("repaired interrupted write partial_docs=%d orphan_chunks=%d",
                               len(repair.partial_docs), repair.orphan_chunks)
            return repair


def _ensure_current(kb: KnowledgeBase) -> None:
    from kb.index.datadir import ensure_current  # datadir imports backup, which imports this module's neighbours

    ensure_current(kb)


def _finish_interrupted_import(kb: KnowledgeBase) -> bool:
    from kb.index.backup import restore_interrupted_import  # backup imports this module

    return restore_interrupted_import(kb)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.build.lock`` for the block (none when the folder is read-only)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".build.lock").open("a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _finish_abandoned_import(kb: KnowledgeBase) -> None:
    """On first read, put back what a killed ``kb import --replace`` replaced, if its writer is gone.

    Without this a reader (the app, ``kb ask``, the API) would see an empty or partial library
    until the next writing command ran the repair. The check is one ``stat``; the restore runs
    only when no other process holds the write lock (a running import is left to finish).
    """
    from kb.index import lock
    from kb.index.backup import import_interrupted  # backup imports this module

    if not import_interrupted(kb.settings):
        return
    try:
        with lock.write_lock(kb.settings, "the restore of an interrupted import", wait_s=0.0):
            if _finish_interrupted_import(kb):
                logger.warning("restored the documents a killed `kb import --replace` had removed")
    except lock.WriteLockBusy:
        logger.info("an import --replace is running; the library is shown as it stands until it finishes")
    except Exception as exc:  # a read-only data dir or damaged rollback file: read what is there, say so
        logger.warning("could not restore after an interrupted import (%s); run `ingest` or `kb import` "
                       "once to repair", exc)


def _remove_tree(path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    shutil.rmtree(path, ignore_errors=True)
