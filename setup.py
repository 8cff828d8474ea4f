"""Build hook: a wheel carries the files the package reads from the checkout (see kb/core/paths.py).

Everything else is in pyproject.toml. ``pip install .`` and ``python -m build`` run this; an
editable install (``pip install -e .``) skips it, since it reads the checkout's own folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("prompts", "library", "app.py", ".streamlit/config.toml")  # kept equal to kb.core.paths.BUNDLED by a test


class BuildWithBundledFiles(build_py):
    """build_py, plus a copy of BUNDLED into kb/_bundled/ of the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "kb" / "_bundled"
        for name in BUNDLED:
            source, dest = ROOT / name, target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildWithBundledFiles})
