"""The vector store: the only code that talks to Chroma.

Two collections live side by side: ``<name>`` holds the chunks (vector, text,
citation metadata) and ``<name>_docs`` is the manifest, one record per document with
its content hash and ingest status. Keeping the manifest in Chroma means that in
server mode every app instance sees the same truth.

The chunk collection records the embedding model and chunking parameters it was
built with, and refuses to open with different ones.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from kb.core.documents import Chunk, DocRecord
from kb.core.errors import StoreError, StoreMismatchError
from kb.core.metadata import date_number, stored_date, stored_meta
from kb.core.settings import Settings
from kb.index import lock, snapshot

__all__ = ["Store", "Hit", "open_store", "DONE", "INDEXING", "manifest_fingerprint"]

logger = logging.getLogger(__name__)
SCHEMA = 1
DONE = "done"  # a manifest row whose chunks are all written: readers see the document
INDEXING = "indexing"  # a manifest row being written: readers skip it, the next run repairs it
GENERATION_ID = "__generation__"  # manifest row whose stamp changes with every manifest write
_CHUNK_FIELDS = ("doc_id", "index", "title", "source", "source_type", "page", "section", "anchor", "date")


@dataclass
class Hit:
    """A chunk found by a search, with its similarity (cosine, higher is closer)."""

    chunk: Chunk
    score: float
    vector: np.ndarray | None = None  # the chunk's stored embedding


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if v is not None and v != ""}


def chunk_to_meta(chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {f: getattr(chunk, f) for f in _CHUNK_FIELDS}
    meta["areas"] = ",".join(chunk.areas)
    for area in chunk.areas:
        meta[f"area_{area}"] = True
    meta["date_ord"] = date_number(chunk.date)
    for key, value in chunk.extra.items():
        meta[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return _clean_meta(meta)


def meta_to_chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    """A stored chunk; a value that is somehow invalid (an old store, an edited backup) is dropped with a warning."""
    known = set(_CHUNK_FIELDS) | {"areas", "date_ord"}
    extra = {k: v for k, v in meta.items() if k not in known and not k.startswith("area_")}
    date = stored_date(meta.get("date"))
    page = meta.get("page")
    index = meta.get("index", 0)
    return Chunk(
        id=chunk_id,
        doc_id=str(meta.get("doc_id", "")),
        index=index if isinstance(index, int) else 0,
        text=text,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        source_type=str(meta.get("source_type", "")),
        page=page if isinstance(page, int) and not isinstance(page, bool) else None,
        section=_text_or_none(meta.get("section")),
        anchor=_text_or_none(meta.get("anchor")),
        date=date.isoformat() if date else None,
        areas=[a for a in str(meta.get("areas", "")).split(",") if a],
        extra=extra,
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _chunks_of(got: dict[str, Any]) -> list[Chunk]:
    """The chunks of a Chroma ``get`` result (ids, documents and metadatas)."""
    return [meta_to_chunk(i, d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)]


def _doc_to_meta(doc: DocRecord) -> dict[str, Any]:
    # Every key is always written ("" for none): Chroma's upsert merges metadata, so a key
    # left out would keep the previous version's value (a date removed on re-ingest, say).
    return {
        "source": doc.source, "source_type": doc.source_type, "title": doc.title,
        "content_hash": doc.content_hash, "status": doc.status, "chunk_count": doc.chunk_count,
        "date": doc.date or "", "areas": ",".join(doc.areas), "ingested_at": doc.ingested_at,
        "meta": json.dumps(doc.meta, default=str),
    }


def _meta_to_doc(doc_id: str, meta: dict[str, Any]) -> DocRecord:
    """A manifest row; invalid stored values (a date, the metadata mapping) are dropped with a warning, never raised."""
    try:
        extra = json.loads(meta.get("meta") or "{}")
    except (TypeError, ValueError):
        extra = None
    date = stored_date(meta.get("date") or None)
    count = meta.get("chunk_count", 0)
    return DocRecord(
        doc_id=doc_id, source=str(meta.get("source", "")), source_type=str(meta.get("source_type", "")),
        title=str(meta.get("title", "")), content_hash=str(meta.get("content_hash", "")),
        status=str(meta.get("status", "")), chunk_count=count if isinstance(count, int) else 0,
        date=date.isoformat() if date else None, areas=[a for a in str(meta.get("areas", "")).split(",") if a],
        ingested_at=str(meta.get("ingested_at", "")), meta=stored_meta(extra, where=f"document {doc_id}"),
    )


F = TypeVar("F", bound=Callable[..., Any])


def _is_not_found(exc: Exception) -> bool:
    from chromadb.errors import NotFoundError  # chromadb is loaded by now: a store is open

    return isinstance(exc, NotFoundError)


def _reattaching(method: F) -> F:
    """Retry once on fresh collection handles when another process dropped and recreated them (`kb reset`).

    Without this, every app instance still running after a reset fails on each question
    until it is restarted; with it, it sees the new (empty, then re-ingested) knowledge base.
    """

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
            logger.warning("collections were recreated by another process (kb reset?); reopening collection=%s",
                           self._settings.collection)
            self.open()
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _writes(method: F) -> F:
    """Hold the data directory's write lock during a write (re-entrant: free when this process holds it).

    Commands and the app take the lock for their whole run; this makes sure that no write
    ever reaches an embedded store another process is writing, whoever calls it. It also
    removes the manifest snapshot (``kb.index.snapshot``) before anything is written.
    """

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with lock.write_lock(self._settings, "a writer"):
            snapshot.forget(self._settings)  # before the write: the copy of the manifest no longer speaks for it
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Store:
    """Chunks and manifest in Chroma, behind a small typed interface."""

    def __init__(self, client: Any, settings: Settings, embedding_model: str):
        self._client = client
        self._settings = settings
        self.embedding_model = embedding_model
        self._chunks: Any = None
        self._docs: Any = None
        self._max_batch = 5000

    # ----- opening -------------------------------------------------------------------
    def _expected_meta(self) -> dict[str, Any]:
        s = self._settings
        return {"schema": SCHEMA, "embedding_model": self.embedding_model,
                "chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap}

    def open(self) -> Store:
        """Open or create the collections and check they match the settings."""
        expected = self._expected_meta()
        try:
            self._chunks = self._client.get_or_create_collection(
                self._settings.collection, embedding_function=None, metadata=expected,
                configuration={"hnsw": {"space": "cosine", "ef_search": self._settings.search_ef}},
            )
            self._docs = self._client.get_or_create_collection(
                self._settings.collection + "_docs", embedding_function=None
            )
            self._max_batch = int(self._client.get_max_batch_size())
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many error types for connection problems
            where = (f"the Chroma server at {self._settings.chroma_host}:{self._settings.chroma_port}"
                     if self._settings.server_mode else f"the store in {self._settings.data_dir}")
            raise StoreError(f"cannot open {where}: {exc}") from exc
        self._check(expected)
        return self

    @property
    def search_breadth(self) -> int | None:
        """The vector index's search breadth (HNSW ef_search) as the store records it; None when it does not say."""
        config = getattr(self._chunks, "configuration_json", None) or {}
        value = (config.get("hnsw") or {}).get("ef_search")
        return int(value) if value is not None else None

    @_writes
    def set_search_breadth(self, ef: int) -> None:
        """Record a new search breadth (a store made before ``search_ef`` existed searched with 100)."""
        self._chunks.modify(configuration={"hnsw": {"ef_search": ef}})
        self._chunks = self._client.get_collection(self._settings.collection, embedding_function=None)

    @property
    def collection_id(self) -> str:
        """The chunk collection's id: the same wherever the server is reached from, new after ``kb reset``."""
        return str(self._chunks.id)

    def _check(self, expected: dict[str, Any]) -> None:
        found = self._chunks.metadata or {}
        diffs = [f"{k}: store has {found.get(k)!r}, settings say {v!r}" for k, v in expected.items() if found.get(k) != v]
        if diffs and self._is_empty():
            # Nothing was ever stored with the recorded settings (a first ingest that failed, say on a
            # mistyped model name): the empty store takes the current ones instead of refusing forever.
            logger.warning("empty store adopts the current settings (was: %s)", "; ".join(diffs))
            self._chunks.modify(metadata=expected)
            return
        if diffs:
            raise StoreMismatchError(
                "the knowledge base was built with other settings (" + "; ".join(diffs) + "). "
                + _backend_hint(str(found.get("embedding_model")), str(expected["embedding_model"]))
                + "Either restore those settings, or rebuild: `kb reset --yes` and then `ingest` your documents again."
            )

    def _is_empty(self) -> bool:
        if self._chunks.count():
            return False
        return not [i for i in self._docs.get(include=[], limit=2)["ids"] if i != GENERATION_ID]

    # ----- manifest ---------------------------------------------------------------------
    def put_doc(self, doc: DocRecord) -> None:
        self.put_docs([doc])

    @_writes
    @_reattaching
    def put_docs(self, docs: Sequence[DocRecord]) -> None:
        """Write manifest rows, as few calls as the server's batch limit allows (used by `kb import`)."""
        # The generation stamp rides in the last upsert: one write (on disk, one commit) instead of two.
        size = max(self._max_batch - 1, 1)
        for start in range(0, len(docs), size):
            part = docs[start:start + size]
            ids, metas = [d.doc_id for d in part], [_doc_to_meta(d) for d in part]
            titles: list[str] = [d.title for d in part]
            if start + size >= len(docs):
                ids, titles, metas = ids + [GENERATION_ID], titles + [""], metas + [{"stamp": uuid.uuid4().hex}]
            self._docs.upsert(ids=ids, embeddings=[[1.0]] * len(ids), documents=titles, metadatas=metas)
        if not docs:
            self._bump_generation()

    @_reattaching
    def docs(self) -> list[DocRecord]:
        got = self._docs.get(include=["metadatas"])
        return [_meta_to_doc(i, m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=False)
                if i != GENERATION_ID]

    @_reattaching
    def generation(self) -> str | None:
        """A stamp that changes whenever the manifest does (None for a store that never had one).

        Readers compare it before reading the whole manifest: one row instead of thousands.
        """
        got = self._docs.get(ids=[GENERATION_ID], include=["metadatas"])
        return str((got["metadatas"][0] or {}).get("stamp")) if got["ids"] else None

    def _bump_generation(self) -> None:
        """Written after every manifest change, so a reader that saw the old stamp reads again."""
        self._docs.upsert(ids=[GENERATION_ID], embeddings=[[1.0]], documents=[""],
                          metadatas=[{"stamp": uuid.uuid4().hex}])

    @_reattaching
    def doc(self, doc_id: str) -> DocRecord | None:
        got = self._docs.get(ids=[doc_id], include=["metadatas"])
        return _meta_to_doc(got["ids"][0], got["metadatas"][0] or {}) if got["ids"] else None

    @_writes
    @_reattaching
    def delete_doc(self, doc_id: str) -> None:
        """Remove a document without ever showing it half-deleted.

        The manifest row is first marked ``indexing`` (readers ignore it from then on),
        then the chunks go, then the row. A crash in between leaves an ``indexing`` row,
        which the next reconciliation finishes removing.
        """
        record = self.doc(doc_id)
        if record is not None and record.status != "indexing":
            record.status = "indexing"
            self.put_doc(record)
        self.delete_chunks(doc_id)
        self._docs.delete(ids=[doc_id])
        self._bump_generation()

    # ----- chunks -------------------------------------------------------------------------
    @_writes
    @_reattaching
    def add_chunks(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        for start in range(0, len(chunks), self._max_batch):
            part = chunks[start:start + self._max_batch]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=embeddings[start:start + len(part)],
                documents=[c.text for c in part],
                metadatas=[chunk_to_meta(c) for c in part],
            )

    @_writes
    @_reattaching
    def delete_chunks(self, doc_id: str) -> None:
        self._chunks.delete(where={"doc_id": doc_id})

    @_writes
    @_reattaching
    def delete_chunks_of(self, doc_ids: Sequence[str], batch: int = 200) -> None:
        """Delete every chunk of the given documents, a few hundred documents per call."""
        for start in range(0, len(doc_ids), batch):
            self._chunks.delete(where={"doc_id": {"$in": list(doc_ids[start:start + batch])}})

    @_reattaching
    def delete_chunk_ids(self, ids: Sequence[str]) -> None:
        """Delete chunks by id (an update's old version, once the new one is in place)."""
        snapshot.forget(self._settings)
        for start in range(0, len(ids), self._max_batch):
            self._chunks.delete(ids=list(ids[start:start + self._max_batch]))

    @_reattaching
    def chunk_ids(self, doc_id: str | None = None) -> list[str]:
        got = self._chunks.get(where={"doc_id": doc_id} if doc_id else None, include=[])
        return list(got["ids"])

    @_reattaching
    def count(self) -> int:
        return int(self._chunks.count())

    @_reattaching
    def get_chunks(self, ids: Sequence[str], with_embeddings: bool = False) -> tuple[list[Chunk], np.ndarray | None]:
        if not ids:
            return [], None
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        got = self._chunks.get(ids=list(ids), include=include)
        by_id = {c.id: c for c in _chunks_of(got)}
        order = [i for i in ids if i in by_id]
        vectors = None
        if with_embeddings:
            pos = {i: n for n, i in enumerate(got["ids"])}
            vectors = np.asarray([got["embeddings"][pos[i]] for i in order], dtype=np.float32)
        return [by_id[i] for i in order], vectors

    @_reattaching
    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunks (those that exist), read a batch at a time."""
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), self._max_batch):
            got = self._chunks.get(ids=list(ids[start:start + self._max_batch]), include=["embeddings"])
            vectors = got.get("embeddings")
            if vectors is not None and len(got["ids"]):
                matrix = np.asarray(vectors, dtype=np.float32)
                out.update({cid: matrix[n] for n, cid in enumerate(got["ids"])})
        return out

    @_reattaching
    def chunks_at(self, places: Sequence[tuple[str, int]]) -> tuple[list[Chunk], np.ndarray | None]:
        """The chunks (with their vectors) at these (document id, chunk index) places, those that exist.

        A document being updated may have chunks of two revisions at one place; the caller keeps
        the current one (:func:`kb.core.documents.is_current`).
        """
        if not places:
            return [], None
        clauses: list[dict[str, Any]] = [{"$and": [{"doc_id": doc_id}, {"index": index}]} for doc_id, index in places]
        got = self._chunks.get(where=clauses[0] if len(clauses) == 1 else {"$or": clauses},
                               include=["documents", "metadatas", "embeddings"])
        chunks = _chunks_of(got)
        vectors = got.get("embeddings")
        if vectors is None or not len(chunks):
            return chunks, None
        return chunks, np.asarray(vectors, dtype=np.float32)

    def iter_chunks(self, batch: int = 5000) -> Iterator[Chunk]:
        """Every chunk, in pages (used to build the keyword index and exports)."""
        offset = 0
        while True:
            got = self._chunks.get(include=["documents", "metadatas"], limit=batch, offset=offset)
            if not got["ids"]:
                return
            yield from _chunks_of(got)
            offset += len(got["ids"])

    @_reattaching
    def chunks_of(self, doc_ids: Sequence[str], batch: int = 200) -> list[Chunk]:
        """Every chunk of the given documents (used to update the keyword index)."""
        out: list[Chunk] = []
        for start in range(0, len(doc_ids), batch):
            part = list(doc_ids[start:start + batch])
            got = self._chunks.get(where={"doc_id": {"$in": part}}, include=["documents", "metadatas"])
            out.extend(_chunks_of(got))
        return out

    def export_rows(self, doc_id: str | None = None, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Chunks with their stored vectors as plain rows (for `kb export`): every chunk, or one document's.

        Each row is ``{"id", "text", "meta", "embedding"}``; the embedding is the float32
        array exactly as Chroma holds it.
        """
        offset = 0
        while True:
            got = self._chunks.get(where={"doc_id": doc_id} if doc_id else None,
                                   include=["documents", "metadatas", "embeddings"], limit=batch, offset=offset)
            if not len(got["ids"]):
                return
            for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True):
                yield {"id": i, "text": d or "", "meta": dict(m or {}), "embedding": np.asarray(e, dtype=np.float32)}
            offset += len(got["ids"])

    @_writes
    @_reattaching
    def import_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write rows shaped like :meth:`export_rows` gives them (ids, texts, metadata and vectors as they are)."""
        for start in range(0, len(rows), self._max_batch):
            part = rows[start:start + self._max_batch]
            self._chunks.upsert(ids=[r["id"] for r in part], embeddings=[r["embedding"] for r in part],
                                documents=[r["text"] for r in part], metadatas=[r["meta"] for r in part])

    @_reattaching
    def search(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        """Nearest chunks to a query vector, optionally filtered by metadata."""
        # n_results may exceed the collection's size (Chroma returns what there is), so no count() call:
        # it cost ~6 ms of every question. The stored vectors come back with the hits.
        got = self._chunks.query(query_embeddings=[vector], n_results=k, where=where or None,
                                 include=["documents", "metadatas", "distances", "embeddings"])
        vectors = got.get("embeddings")
        rows = vectors[0] if vectors is not None and len(vectors) else [None] * len(got["ids"][0])
        return [Hit(meta_to_chunk(i, d or "", m or {}), 1.0 - float(dist),
                    None if v is None else np.asarray(v, dtype=np.float32))
                for i, d, m, dist, v in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0],
                                            rows, strict=False)]

    @_reattaching
    def nearest(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the nearest chunks, best first, without their text or metadata.

        Turning 40 hits' metadata into Python took ~3 of the ~4 ms of a search; retrieval knows
        each chunk's light metadata from the keyword index and reads only the passages it returns.
        """
        got = self._chunks.query(query_embeddings=[vector], n_results=k, where=where or None, include=["distances"])
        return [(i, 1.0 - float(dist)) for i, dist in zip(got["ids"][0], got["distances"][0], strict=False)]

    @_writes
    @_reattaching
    def clear(self) -> None:
        """Delete every chunk and manifest row but keep the collections (other app instances keep working)."""
        for collection in (self._chunks, self._docs):
            while ids := list(collection.get(include=[], limit=self._max_batch)["ids"]):
                collection.delete(ids=ids)
        self._bump_generation()

    @_writes
    def reset(self) -> None:
        """Delete both collections (everything in the knowledge base)."""
        for name in (self._settings.collection, self._settings.collection + "_docs"):
            try:
                self._client.delete_collection(name)
            except Exception as exc:  # absent collections are fine; anything else is logged
                logger.info("reset: collection=%s not deleted: %s", name, exc)


def make_client(settings: Settings) -> Any:
    """Create the Chroma client the settings ask for (telemetry off)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.server_mode:
            return chromadb.HttpClient(host=str(settings.chroma_host), port=settings.chroma_port, settings=chroma_settings)
        path = settings.data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        target = f"{settings.chroma_host}:{settings.chroma_port}" if settings.server_mode else str(settings.data_dir)
        raise StoreError(
            f"cannot reach the knowledge base at {target}: {exc}. "
            + ("Start the server with `chroma run --host 127.0.0.1 --port PORT --path DIR`." if settings.server_mode else "Check that the folder is writable.")
        ) from exc


def _backend_hint(stored: str, wanted: str) -> str:
    """What to set when only the encoder's precision differs (int8 vectors are an index of their own)."""
    if stored.removesuffix("+int8") != wanted.removesuffix("+int8") or stored == wanted:
        return ""
    if stored.endswith("+int8"):
        return "It holds int8 vectors: query it with CTO_EMBEDDING_BACKEND=onnx-int8. "
    return "It holds full-precision vectors: query it with CTO_EMBEDDING_BACKEND=auto (or torch, torch-bf16, onnx). "


def open_store(settings: Settings, embedding_model: str | None = None) -> Store:
    """Open the store configured by the settings."""
    return Store(make_client(settings), settings, embedding_model or settings.embedding_identity).open()


def manifest_fingerprint(docs: Sequence[DocRecord]) -> str:
    """A short hash of the manifest rows (ids, content hashes, chunk counts, states): changes with any write."""
    rows = sorted(f"{d.doc_id}:{d.content_hash}:{d.chunk_count}:{d.status}" for d in docs)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
