"""Backups of the knowledge base: one file out (``kb export``), the same knowledge base back (``kb import``).

The file is gzip-compressed JSON lines:

1. a header: format and version, the settings the vectors depend on (embedding model and
   its weights hash, chunk size and overlap, store schema, vector dimension) and counts;
2. one ``doc`` line per completely indexed document (its manifest record);
3. one ``chunk`` line per chunk: id, text, metadata exactly as stored, and its vector as
   base64 of little-endian float32, bit for bit as the store returned it (Chroma's cosine
   index renormalises every vector it stores, so after an import a value may differ from
   the exported one in its last bit; texts, ids and metadata are identical);
4. an ``end`` line with the counts and the sha256 of every line before it, so a truncated
   or edited file is refused.

Import checks the whole file before it changes anything, refuses a file built with another
embedding model or chunking, and refuses a knowledge base that is not empty unless asked to
replace it (merging is not offered: a backup is a whole knowledge base). The documents are
written as ``indexing`` and marked ``done`` only once every chunk is in, so readers see all
of the backup or none of it; a failure removes what was written.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from kb.core.documents import REV, DocRecord
from kb.core.errors import BackupError, StoreMismatchError
from kb.core.metadata import SOURCE_TYPES, MetadataError, parse_areas, parse_date, validate_fields
from kb.core.settings import Settings
from kb.embed import Embedder
from kb.index.store import DONE, INDEXING, SCHEMA, Store, manifest_fingerprint
from kb.version import __version__

__all__ = ["BackupSummary", "export_backup", "import_backup", "import_interrupted", "read_header", "FORMAT", "VERSION"]

logger = logging.getLogger(__name__)


class KnowledgeBase(Protocol):
    """What a backup needs of a knowledge base (kb.index.knowledge.KnowledgeBase, which calls back into this module)."""

    settings: Settings

    @property
    def store(self) -> Store: ...

    @property
    def embedder(self) -> Embedder: ...

    def refresh(self, max_age_s: float = 1.0, force: bool = False) -> bool: ...

    def reconcile(self) -> Any: ...
FORMAT = "cto-assistant-kb-backup"
VERSION = 1
_WRITE_BATCH = 500


@dataclass
class BackupSummary:
    """What an export wrote or an import restored."""

    path: Path
    documents: int
    chunks: int
    header: dict[str, Any] = field(default_factory=dict)
    replaced: int = 0  # documents that were in the knowledge base before an import --replace


# ----- encoding --------------------------------------------------------------------------------
def _encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _decode_vector(text: str, where: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise BackupError(f"{where}: the vector is not valid base64") from exc
    if len(raw) % 4:
        raise BackupError(f"{where}: the vector has {len(raw)} bytes, not a whole number of float32 values")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _settings_header(kb: KnowledgeBase) -> dict[str, Any]:
    s = kb.settings
    return {"schema": SCHEMA, "embedding_model": s.embedding_identity, "embedding_sha256": s.embedding_sha256,
            "chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap}


# ----- export ----------------------------------------------------------------------------------
class _LineWriter:
    """Writes JSON lines into a gzip stream and keeps the running checksum."""

    def __init__(self, handle: IO[str]):
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n"
        self.digest.update(line.encode("utf-8"))
        self.handle.write(line)


def _chunk_rows(store: Store, docs: list[DocRecord]) -> Iterator[tuple[DocRecord, list[dict[str, Any]]]]:
    for doc in docs:
        rev = doc.meta.get(REV) if isinstance(doc.meta, dict) else None
        rows = [r for r in store.export_rows(doc.doc_id) if r["meta"].get(REV) == rev]  # not an update's leftovers
        if len(rows) != doc.chunk_count:
            raise BackupError(f"document {doc.doc_id} has {len(rows)} chunks in the store but its record says "
                              f"{doc.chunk_count}: the knowledge base is changing or damaged; wait for ingest to "
                              "finish (or run `ingest` once to repair it) and export again")
        yield doc, rows


def export_backup(kb: KnowledgeBase, path: Path, overwrite: bool = False) -> BackupSummary:
    """Write every completely indexed document of the knowledge base to one backup file.

    Args:
        kb: the knowledge base to back up.
        path: the file to write (conventionally ``*.jsonl.gz``); written whole or not at all.
        overwrite: replace ``path`` if it exists.

    Raises:
        BackupError: the file exists, cannot be written, or the knowledge base changed meanwhile.
    """
    path = Path(path)
    _check_target(path, overwrite)
    store = kb.store
    docs = sorted((d for d in store.docs() if d.status == DONE), key=lambda d: d.doc_id)
    before = manifest_fingerprint(docs)
    try:
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}; check the folder exists and is writable") from exc
    handle.close()
    tmp = Path(handle.name)
    try:
        summary = _write_file(kb, store, docs, tmp)
        after = manifest_fingerprint([d for d in store.docs() if d.status == DONE])
        if after != before:
            raise BackupError("the knowledge base changed while it was being exported (an ingest or removal ran); "
                              "export again when it has finished")
        _check_target(path, overwrite)  # still a regular file (or nothing) just before the switch
        os.replace(tmp, path)  # atomic: the old file or the new one, never half of either
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}; check the folder exists and is writable") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    summary.path = path
    logger.info("exported documents=%d chunks=%d path=%s", summary.documents, summary.chunks, path)
    return summary


def _check_target(path: Path, overwrite: bool) -> None:
    """Refuse a target that is not a regular file (a FIFO, device, folder...) or sits under something that is no folder."""
    parent = path.parent
    try:
        if not parent.exists() and not parent.is_symlink():
            parent.mkdir(parents=True)  # `kb export backups/kb.jsonl.gz` makes backups/
        if not parent.is_dir():
            problem = "does not exist" if not parent.exists() and not parent.is_symlink() else "is not a folder"
            raise BackupError(f"cannot write {path}: {parent} {problem}; give a path in an existing folder")
        info = path.lstat() if path.is_symlink() else (path.stat() if path.exists() else None)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}; give a path in an existing folder") from exc
    if info is None:
        return
    if path.is_symlink() or not stat.S_ISREG(info.st_mode):
        raise BackupError(f"{path} exists and is not a regular file (a link, pipe, device or folder): it is left "
                          "alone; choose another file name")
    if not overwrite:
        raise BackupError(f"{path} already exists: choose another file name or pass --force to overwrite it")


def _write_file(kb: KnowledgeBase, store: Store, docs: list[DocRecord], tmp: Path) -> BackupSummary:
    path_header = {"format": FORMAT, "version": VERSION, "app_version": __version__,
                   "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   **_settings_header(kb), "documents": len(docs), "chunks": sum(d.chunk_count for d in docs)}
    dimension: int | None = None
    chunks = 0
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        out = _LineWriter(handle)
        out.write({"type": "header", **path_header})
        for doc in docs:
            out.write({"type": "doc", "record": doc.__dict__})
        for _, rows in _chunk_rows(store, docs):
            for row in rows:
                dimension = dimension or int(row["embedding"].shape[0])
                out.write({"type": "chunk", "id": row["id"], "text": row["text"], "meta": row["meta"],
                           "embedding": _encode_vector(row["embedding"])})
                chunks += 1
        out.write({"type": "end", "documents": len(docs), "chunks": chunks, "dimension": dimension,
                   "sha256": out.digest.hexdigest()})
    return BackupSummary(tmp, len(docs), chunks, {**path_header, "dimension": dimension})


# ----- reading and checking --------------------------------------------------------------------------
def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    try:
        with gzip.open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    obj = json.loads(raw)
                except ValueError as exc:
                    raise BackupError(f"{path}, line {number}: not JSON; the file is damaged") from exc
                if not isinstance(obj, dict):
                    raise BackupError(f"{path}, line {number}: not a JSON object; the file is damaged")
                yield number, obj, raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BackupError(f"cannot read {path} as a backup ({exc}); give a file written by `kb export`") from exc


def _header_of(obj: dict[str, Any], path: Path) -> dict[str, Any]:
    if obj.get("type") != "header" or obj.get("format") != FORMAT:
        raise BackupError(f"{path} is not a CTO Assistant backup; give a file written by `kb export`")
    if obj.get("version") != VERSION:
        raise BackupError(f"{path} is a backup of format version {obj.get('version')}; this version reads "
                          f"{VERSION}: import it with the release that wrote it ({obj.get('app_version')})")
    return obj


def read_header(path: Path) -> dict[str, Any]:
    """The header of a backup file (format, settings, counts)."""
    for _, obj, _ in _lines(Path(path)):
        return _header_of(obj, path)
    raise BackupError(f"{path} is empty; give a file written by `kb export`")


def check_settings(header: dict[str, Any], kb: KnowledgeBase) -> None:
    """Refuse a backup whose vectors or chunks were made with other settings than this knowledge base's."""
    ours = _settings_header(kb)
    keys = ["schema", "embedding_model", "chunk_size", "chunk_overlap"]
    if header.get("embedding_sha256") and ours["embedding_sha256"]:
        keys.append("embedding_sha256")
    diffs = [f"{k}: backup has {header.get(k)!r}, this knowledge base uses {ours[k]!r}" for k in keys if header.get(k) != ours[k]]
    if diffs:
        fix = " ".join(f"CTO_{k.upper()}={header.get(k)}" for k in keys[1:] if header.get(k) != ours[k])
        raise StoreMismatchError(
            "the backup was made with other settings (" + "; ".join(diffs) + "). Its vectors only fit a knowledge base "
            f"built the same way: import it with {fix or 'the settings of the release that wrote it'} into an empty "
            "knowledge base (a new CTO_DATA_DIR or CTO_COLLECTION), or re-ingest the original documents with the "
            "current settings instead."
        )


def _validate(path: Path) -> tuple[dict[str, Any], list[DocRecord]]:
    """Read the whole file once and check it is complete and consistent; return header and records."""
    header: dict[str, Any] = {}
    records: dict[str, DocRecord] = {}
    seen: dict[str, int] = {}
    chunk_ids: set[str] = set()
    dimension: int | None = None
    digest = hashlib.sha256()
    end: dict[str, Any] | None = None
    for number, obj, raw in _lines(path):
        where = f"{path}, line {number}"
        kind = obj.get("type")
        if end is not None:
            raise BackupError(f"{where}: data after the end line; the file is damaged")
        if kind == "end":
            end = obj
            continue
        digest.update(raw)
        if number == 1:
            header = _header_of(obj, path)
        elif kind == "doc":
            record = _record(obj, where)
            if record.doc_id in records:
                raise BackupError(f"{where}: document {record.doc_id} appears twice; the file is damaged")
            records[record.doc_id] = record
        elif kind == "chunk":
            doc_id, dim = _check_chunk(obj, where, records, chunk_ids)
            if dimension is not None and dim != dimension:
                raise BackupError(f"{where}: vector of {dim} values after vectors of {dimension}; the file is damaged")
            dimension = dim
            seen[doc_id] = seen.get(doc_id, 0) + 1
        else:
            raise BackupError(f"{where}: unknown line type {kind!r}; the file is damaged")
    _check_end(path, header, end, digest.hexdigest(), records, seen, len(chunk_ids), dimension)
    return {**header, "dimension": dimension}, list(records.values())


def _record(obj: dict[str, Any], where: str) -> DocRecord:
    try:
        record = DocRecord(**obj["record"])
    except (KeyError, TypeError) as exc:
        raise BackupError(f"{where}: not a document record ({exc}); the file is damaged") from exc
    if record.status != DONE:
        raise BackupError(f"{where}: document {record.doc_id} has status {record.status!r}; the file is damaged")
    problem = _record_problem(record)
    if problem:
        raise BackupError(f"{where}: document {record.doc_id!r} {problem}; the file was edited or damaged, export it again")
    return record


def _record_problem(record: DocRecord) -> str | None:
    """What is wrong with a document record's types and values (as ingest writes them), or None."""
    for name in ("doc_id", "source", "source_type", "title", "content_hash", "ingested_at"):
        if not isinstance(getattr(record, name), str):
            return f"has {name} of type {type(getattr(record, name)).__name__}, not text"
    if not record.doc_id:
        return "has an empty id"
    if record.source_type not in SOURCE_TYPES:
        return f"has type {record.source_type!r}, not one of {', '.join(SOURCE_TYPES)}"
    if isinstance(record.chunk_count, bool) or not isinstance(record.chunk_count, int) or record.chunk_count < 0:
        return f"has chunk_count {record.chunk_count!r}, not a count"
    if not isinstance(record.meta, dict):
        return f"has metadata of type {type(record.meta).__name__}, not a mapping"
    try:
        if record.date is not None and (not isinstance(record.date, str) or parse_date(record.date).isoformat() != record.date):
            return f"has date {record.date!r}, not an ISO date (YYYY-MM-DD)"
        if not isinstance(record.areas, list) or parse_areas(record.areas) != (record.areas, []):
            return f"has areas {record.areas!r}, not a list of known area ids"
        fields = {k: record.meta[k] for k in ("published", "reviewed", "expires", "authority", "jurisdiction", "superseded_by")
                  if record.meta.get(k) not in (None, "")}
        if validate_fields(fields) != fields:
            return f"has metadata not in the form ingest stores ({fields!r})"
    except MetadataError as exc:
        return f"has {exc}"
    return None


_SCALARS = (str, int, float, bool)


def _check_chunk(obj: dict[str, Any], where: str, records: dict[str, DocRecord], ids: set[str]) -> tuple[str, int]:
    chunk_id, meta = obj.get("id"), obj.get("meta")
    if not isinstance(chunk_id, str) or not isinstance(meta, dict) or not isinstance(obj.get("text"), str):
        raise BackupError(f"{where}: a chunk needs an id, a text and metadata; the file is damaged")
    doc_id = meta.get("doc_id")
    if not isinstance(doc_id, str) or doc_id not in records:
        raise BackupError(f"{where}: chunk {chunk_id} belongs to no document in the file; the file is damaged")
    if chunk_id in ids:
        raise BackupError(f"{where}: chunk {chunk_id} appears twice; the file is damaged")
    ids.add(chunk_id)
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, _SCALARS)]
    if bad:
        raise BackupError(f"{where}: chunk {chunk_id} has metadata {', '.join(map(str, bad))} that is not text or a "
                          "number; the file was edited or damaged, export it again")
    if isinstance(meta.get("index"), bool) or not isinstance(meta.get("index", 0), int):
        raise BackupError(f"{where}: chunk {chunk_id} has index {meta.get('index')!r}, not a number; the file is damaged")
    try:
        if meta.get("date") is not None and parse_date(meta["date"]).isoformat() != meta["date"]:
            raise MetadataError("date", meta["date"], "an ISO date (YYYY-MM-DD)")
        fields = {k: meta[k] for k in ("published", "reviewed", "expires", "authority", "jurisdiction") if meta.get(k) not in (None, "")}
        if validate_fields(fields) != fields:
            raise MetadataError("metadata", fields, "in the form ingest stores")
    except MetadataError as exc:
        raise BackupError(f"{where}: chunk {chunk_id}: {exc}; the file was edited or damaged, export it again") from exc
    vector = _decode_vector(str(obj.get("embedding", "")), where)
    if not vector.size or not np.all(np.isfinite(vector)):
        raise BackupError(f"{where}: chunk {chunk_id} has an empty or non-finite vector; the file is damaged")
    return doc_id, int(vector.size)


def _check_end(path: Path, header: dict[str, Any], end: dict[str, Any] | None, digest: str,
               records: dict[str, DocRecord], seen: dict[str, int], chunks: int, dimension: int | None) -> None:
    if end is None:
        raise BackupError(f"{path} ends early (no end line): it is truncated; export it again")
    if end.get("sha256") != digest:
        raise BackupError(f"{path} does not match its checksum: it was damaged or edited; export it again")
    expected = (header.get("documents"), header.get("chunks"))
    if (len(records), chunks) != expected or (end.get("documents"), end.get("chunks")) != expected:
        raise BackupError(f"{path} holds {len(records)} documents and {chunks} chunks but says {expected[0]} and "
                          f"{expected[1]}; the file is damaged")
    short = [d.doc_id for d in records.values() if seen.get(d.doc_id, 0) != d.chunk_count]
    if short:
        raise BackupError(f"{path}: documents with missing chunks ({', '.join(short[:5])}); the file is damaged")
    if end.get("dimension") != dimension:
        raise BackupError(f"{path}: vectors have {dimension} values but the file says {end.get('dimension')}")


# ----- import ----------------------------------------------------------------------------------------
def import_backup(kb: KnowledgeBase, path: Path, replace: bool = False) -> BackupSummary:
    """Restore a backup into this knowledge base, all or nothing.

    The whole file is checked first (checksum, counts, settings, vector dimension, every
    field's type and value); only then is the store touched. A replace first saves what is
    there to ``<data_dir>/import-rollback.jsonl.gz`` and leaves a marker: a failure puts the
    saved documents back at once, and a crash (even SIGKILL) is rolled back by the next
    ``ingest`` or ``kb import`` (their start-of-run repair), so the knowledge base ends up
    with the old documents or the new ones, never neither.

    Args:
        kb: the knowledge base to fill; it must be empty unless ``replace``.
        path: a file written by :func:`export_backup`.
        replace: replace the current documents (only after the file has been checked).

    Raises:
        BackupError: the file is damaged, or the knowledge base is not empty and ``replace`` is false.
        StoreMismatchError: the backup was made with another embedding model, chunking or vector size.
    """
    from kb.index.lock import write_lock

    path = Path(path)
    check_settings(read_header(path), kb)
    header, records = _validate(path)
    _check_dimension(kb, header, path)
    with write_lock(kb.settings, "kb import"):
        store = kb.store
        kb.reconcile()
        existing = store.docs()
        if (existing or store.count()) and not replace:
            raise BackupError(f"the knowledge base already holds {len(existing)} documents: import into an empty one "
                              "(`kb reset --yes` first), or pass --replace to replace its contents with the backup")
        if existing or store.count():
            _replace(kb, path, records)
        else:
            try:
                _write_backup(store, path, records)
            except Exception as exc:  # take the partial import back out, then report
                _undo(store, records)
                raise BackupError(f"import of {path} failed and was undone ({exc}); the knowledge base is empty, "
                                  "as it was") from exc
    kb.refresh(force=True)
    logger.info("imported documents=%d chunks=%d path=%s replaced=%d", len(records), header.get("chunks"), path, len(existing))
    return BackupSummary(path, len(records), int(header.get("chunks") or 0), header, replaced=len(existing))


def _check_dimension(kb: KnowledgeBase, header: dict[str, Any], path: Path) -> None:
    dimension = header.get("dimension")
    if dimension is None:
        return
    ours = int(np.asarray(kb.embedder.embed_batch(["dimension probe"])).shape[-1])
    if int(dimension) != ours:
        raise StoreMismatchError(f"{path} holds vectors of {dimension} values but this knowledge base's model "
                                 f"({kb.settings.embedding_identity}) makes {ours}: questions could not be searched "
                                 "against them. Import it with the model that wrote it, or re-ingest the documents")


def _rollback_paths(kb: KnowledgeBase) -> tuple[Path, Path]:
    return _marker_path(kb.settings.data_dir), kb.settings.data_dir / "import-rollback.jsonl.gz"


def _marker_path(data_dir: Path) -> Path:
    return data_dir / "import-in-progress.json"


def import_interrupted(settings: Settings) -> bool:
    """True when a ``kb import --replace`` began and has not finished (running now, or killed)."""
    return _marker_path(settings.data_dir).is_file()


def _replace(kb: KnowledgeBase, path: Path, records: list[DocRecord]) -> None:
    """Replace the store's contents with the backup's; put the old contents back on any failure."""
    marker, rollback = _rollback_paths(kb)
    saved = export_backup(kb, rollback, overwrite=True)  # what is there now, complete, before anything changes
    _write_marker(marker, {"backup": str(path), "rollback": str(rollback), "documents": saved.documents})
    store = kb.store
    try:
        store.clear()
        _write_backup(store, path, records)
    except BaseException as exc:
        logger.warning("import failed, restoring the previous contents error=%s", exc)
        restore_interrupted_import(kb)
        if not isinstance(exc, Exception):
            raise
        raise BackupError(f"import of {path} failed ({exc}); the {saved.documents} documents that were there have "
                          "been restored, nothing else changed") from exc
    marker.unlink()  # the switch is complete: from here on the new contents stay
    with contextlib.suppress(OSError):
        rollback.unlink()


def _write_marker(marker: Path, data: dict[str, Any]) -> None:
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, marker)


def restore_interrupted_import(kb: KnowledgeBase) -> bool:
    """Put back what an interrupted ``kb import --replace`` replaced; True when there was one.

    Called with the write lock held (by the start-of-run repair and by a failing import).
    """
    marker, rollback = _rollback_paths(kb)
    if not marker.is_file():
        return False
    store = kb.store
    logger.warning("an import --replace was interrupted; restoring the documents it replaced from %s", rollback)
    _, records = _validate(rollback)
    store.clear()
    _write_backup(store, rollback, records)
    marker.unlink()
    with contextlib.suppress(OSError):
        rollback.unlink()
    return True


def _write_backup(store: Store, path: Path, records: list[DocRecord]) -> None:
    store.put_docs([DocRecord(**{**r.__dict__, "status": INDEXING}) for r in records])
    batch: list[dict[str, Any]] = []
    for _, obj, _ in _lines(path):
        if obj.get("type") != "chunk":
            continue
        batch.append({"id": obj["id"], "text": obj["text"], "meta": obj["meta"],
                      "embedding": _decode_vector(obj["embedding"], str(path))})
        if len(batch) >= _WRITE_BATCH:
            store.import_rows(batch)
            batch = []
    if batch:
        store.import_rows(batch)
    store.put_docs(records)  # the switch: every document becomes visible together


def _undo(store: Store, records: list[DocRecord]) -> None:
    for record in records:
        try:
            store.delete_doc(record.doc_id)
        except Exception:  # keep undoing the others; `ingest` repairs what is left
            logger.warning("undo failed doc_id=%s; run `ingest` once to repair", record.doc_id)
