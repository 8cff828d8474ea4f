"""A copy of the manifest beside the embedded store, valid until the next write.

It lets a command see that nothing changed without importing chromadb (a second and a
half of a fresh process) or loading the model: ``ingest ./library`` on an unchanged folder
compares the files' content hashes with this copy and is done (``ingest.unchanged``).

Validity is kept by one rule: every store write removes the copy first
(``Store``'s write decorator calls :func:`forget` before it touches Chroma), and a
finished ingest run writes a fresh one while it still holds the write lock. So a copy
that exists describes the store as it is. It also records the store's settings (model,
chunking, collection) and the identity of Chroma's database file, so a changed setting,
or a data directory replaced behind our back, is never answered from the copy. Server
mode never uses it: other machines write to a Chroma server without touching this folder.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kb.core.documents import DocRecord
from kb.core.settings import Settings

__all__ = ["Snapshot", "load", "save", "forget", "snapshot_path"]

logger = logging.getLogger(__name__)
VERSION = 1
FILE_NAME = "manifest-snapshot.json"
DONE = "done"  # the manifest status of a completely written document (kb.index.store.DONE)


class _Manifest(Protocol):
    """What :func:`save` reads from the store."""

    def docs(self) -> list[DocRecord]: ...

    def count(self) -> int: ...


@dataclass(frozen=True)
class Snapshot:
    """The manifest rows as of the last finished ingest, by document id."""

    docs: dict[str, DocRecord]


def snapshot_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def _database_file(settings: Settings) -> Path:
    return settings.data_dir / "chroma" / "chroma.sqlite3"


def _identity(settings: Settings) -> dict[str, Any]:
    """What must be the same for the copy to speak for the store: its settings and its database file."""
    try:
        info = _database_file(settings).stat()
    except OSError:
        return {}
    return {"collection": settings.collection, "embedding_model": settings.embedding_identity,
            "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
            "database": [info.st_dev, info.st_ino]}


def forget(settings: Settings) -> None:
    """Remove the copy before a write; the removal is made durable, so a crash cannot bring it back."""
    path = snapshot_path(settings)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:  # a copy that cannot be removed must not be trusted again: say so loudly
        logger.error("manifest snapshot could not be removed path=%s error=%s; delete it by hand", path, exc)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot sync a folder; the unlink itself has happened
    finally:
        os.close(handle)


def save(settings: Settings, store: _Manifest) -> bool:
    """Write the copy of a consistent embedded store (called at the end of an ingest run, under the write lock).

    Nothing is written in server mode, or when the store holds unfinished rows or chunks no
    finished row accounts for (the next run's repair must see those). Returns whether a copy
    was written.
    """
    if settings.server_mode:
        return False
    docs = store.docs()
    if any(d.status != DONE for d in docs) or store.count() != sum(d.chunk_count for d in docs):
        forget(settings)
        return False
    identity = _identity(settings)
    if not identity:
        return False
    rows = {d.doc_id: {"source": d.source, "source_type": d.source_type, "title": d.title,
                       "content_hash": d.content_hash, "chunk_count": d.chunk_count} for d in docs}
    path = snapshot_path(settings)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"version": VERSION, "store": identity, "docs": rows}), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old copy or the new one, never half of either
    except OSError as exc:  # a read-only data dir: commands just take the long way
        logger.warning("manifest snapshot not written path=%s error=%s", path, exc)
        return False
    return True


def load(settings: Settings) -> Snapshot | None:
    """The copy, when it speaks for the store as it is now; None means "open the store and look"."""
    if settings.server_mode:
        return None
    try:
        saved = json.loads(snapshot_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("version") != VERSION or saved.get("store") != _identity(settings):
        return None
    try:
        docs = {doc_id: DocRecord(doc_id=doc_id, source=str(row["source"]), source_type=str(row["source_type"]),
                                  title=str(row["title"]), content_hash=str(row["content_hash"]), status=DONE,
                                  chunk_count=int(row["chunk_count"]))
                for doc_id, row in saved["docs"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return Snapshot(docs=docs)
