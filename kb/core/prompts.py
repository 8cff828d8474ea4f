"""Prompts and user-facing canned texts live as files in ``prompts/``; loaded by name."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from string import Template

from kb.core.paths import bundled

__all__ = ["PROMPTS_DIR", "load", "render", "version"]

PROMPTS_DIR: Path = bundled("prompts")


@lru_cache(maxsize=64)
def load(name: str) -> str:
    """The text of ``prompts/<name>.md`` (trailing newline removed)."""
    path = PROMPTS_DIR / f"{name}.md"
    return path.read_text(encoding="utf-8").rstrip("\n")


def render(name: str, **values: object) -> str:
    """Fill ``$placeholders`` of a prompt; unknown placeholders are left as they are."""
    return Template(load(name)).safe_substitute({k: str(v) for k, v in values.items()})


def version(name: str) -> str:
    """Short content hash of a prompt, recorded in the audit trail."""
    return hashlib.sha256(load(name).encode()).hexdigest()[:10]
