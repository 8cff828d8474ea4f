"""Turning text into vectors: the Embedder protocol, the factory that picks a backend by name, and the backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kb.embed.base import Embedder

if TYPE_CHECKING:
    from kb.core.settings import Settings

__all__ = ["Embedder", "make_embedder"]


def _hash(settings: Settings) -> Embedder:
    from kb.embed.hashing import HashEmbedder

    return HashEmbedder()


def _torch(settings: Settings) -> Embedder:
    from kb.embed.torch_model import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model, expected_sha256=settings.embedding_sha256,
                                       batch_size=settings.embedding_batch_size, threads=settings.embedding_threads)


def _onnx(settings: Settings) -> Embedder:
    from kb.embed.onnx_model import OnnxEmbedder

    return OnnxEmbedder(settings.embedding_model, settings.data_dir / "cache" / "onnx",
                        quantize=settings.embedding_backend == "onnx-int8",
                        expected_sha256=settings.embedding_sha256, threads=settings.embedding_threads)


_MODELS: dict[str, Callable[[Settings], Embedder]] = {"hash": _hash}  # stand-ins named by the model setting
_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {"torch": _torch, "onnx": _onnx, "onnx-int8": _onnx}


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: ``embedding_model=hash`` (tests), else the ``embedding_backend``."""
    factory = _MODELS.get(settings.embedding_model) or _BACKENDS[settings.embedding_backend]
    return factory(settings)
