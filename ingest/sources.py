"""Turn the command line's inputs into a list of sources: files found in folders, and URLs."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from kb.core.documents import slugify

__all__ = ["Source", "expand_inputs", "doc_id_for"]


@dataclass(frozen=True)
class Source:
    """One thing to ingest: a local file or a URL."""

    location: str
    is_url: bool = False
    error: str | None = None  # set when the input itself is unusable

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.location, self.is_url)


def doc_id_for(location: str, is_url: bool) -> str:
    """A stable document id: a readable slug plus a hash of the canonical source."""
    if is_url:
        parsed = urllib.parse.urlparse(location)
        stem = parsed.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or parsed.netloc
    else:
        stem = Path(location).stem
    return f"{slugify(stem)}-{hashlib.sha1(location.encode('utf-8')).hexdigest()[:8]}"


def _matches(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _walk(root: Path, include: list[str], exclude: list[str]) -> list[Source]:
    found: list[Source] = []
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if include and not _matches(rel, include):
                continue
            if exclude and _matches(rel, exclude):
                continue
            target = _resolve(path)
            if target is None or (path.is_symlink() and not target.is_file()):
                found.append(Source(str(path.absolute()), error="broken or looping symbolic link"))
                continue
            found.append(Source(str(target)))
    return found


def _resolve(path: Path) -> Path | None:
    """The canonical path, or None for a symbolic-link loop (which ``resolve`` reports by raising)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def expand_inputs(inputs: list[str], include: list[str] | None = None, exclude: list[str] | None = None) -> list[Source]:
    """Expand files, folders (recursively, hidden entries skipped) and http(s) URLs into sources."""
    include, exclude = include or [], exclude or []
    sources: list[Source] = []
    for raw in inputs:
        if raw.startswith(("http://", "https://")):
            sources.append(Source(raw, is_url=True))
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            sources.extend(_walk(path, include, exclude))
        elif path.is_file():
            if exclude and _matches(path.as_posix(), exclude):
                continue  # --exclude applies to files named on the command line too
            sources.append(Source(str(path.resolve())))
        elif raw.startswith(("ftp://", "file://", "s3://")):
            sources.append(Source(raw, error="only http(s) URLs, files and folders can be ingested"))
        elif path.is_symlink():
            sources.append(Source(str(path.absolute()), error="broken or looping symbolic link"))
        elif path.exists():
            sources.append(Source(str(path.absolute()), error="not a regular file (a pipe, socket or device); only files, folders and URLs can be ingested"))
        else:
            sources.append(Source(str(path), error="no such file or folder"))
    unique: dict[str, Source] = {}
    for source in sources:
        unique.setdefault(source.location, source)
    return list(unique.values())
