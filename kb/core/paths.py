"""Where CTO Assistant's own files are: in a checkout, its folders; installed, the copies the package carries.

A checkout (``pyproject.toml`` beside ``kb/``, which an editable install also is) reads
``prompts/``, ``library/``, ``app.py`` and ``.streamlit/config.toml`` where they lie. A
non-editable install (``pip install .``, a wheel) has no checkout: ``setup.py`` copies those
files into the package as ``kb/_bundled/`` and this module points there. The knowledge base
and reports go beside a checkout (``data/``, ``reports/``) or, installed, under
``$XDG_DATA_HOME/cto-assistant`` (``~/.local/share/cto-assistant``); ``CTO_DATA_DIR`` and
``CTO_REPORTS_DIR`` override both.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["BUNDLED", "BUNDLED_DIR", "CHECKOUT", "PACKAGE_ROOT", "bundled", "data_home"]

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding kb/: a checkout, or site-packages
CHECKOUT = (PACKAGE_ROOT / "pyproject.toml").is_file() and (PACKAGE_ROOT / "kb" / "__init__.py").is_file()
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "_bundled"
# What setup.py copies into the package (paths relative to the checkout's root).
BUNDLED = ("prompts", "library", "app.py", ".streamlit/config.toml")


def bundled(name: str) -> Path:
    """The path of one of ``BUNDLED`` (or a file under one): the checkout's own, or the installed copy."""
    return (PACKAGE_ROOT if CHECKOUT else BUNDLED_DIR) / name


def data_home() -> Path:
    """Where ``data/`` and ``reports/`` go by default: the checkout, or the user's data folder when installed."""
    if CHECKOUT:
        return PACKAGE_ROOT
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cto-assistant"
