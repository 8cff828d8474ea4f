"""Zip-based Office formats (DOCX, PPTX, XLSX, EPUB): refuse zip bombs and wrong contents before parsing."""

from __future__ import annotations

import zipfile
from pathlib import Path

from kb.core.errors import IngestError

__all__ = ["check_zip", "MAX_RATIO"]

MAX_RATIO = 100  # uncompressed/compressed; real documents stay far below


def check_zip(path: Path, max_bytes: int, *, member: str, kind: str) -> None:
    """Raise IngestError unless ``path`` is a sane zip archive holding ``member``.

    Args:
        path: the file.
        max_bytes: the most it may expand to.
        member: a path every archive of this kind holds (``word/document.xml``).
        kind: what the user calls it, for messages ("Word document").
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"not a valid {kind} (the file is not a zip archive); save it again and re-try") from exc
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > max_bytes or total / packed > MAX_RATIO:
        raise IngestError(f"{kind} expands to {total // 1_000_000} MB from {packed // 1000} KB (a zip bomb?); refused")
    if member not in {i.filename for i in infos}:
        raise IngestError(f"not a {kind} ({member} is missing)")
