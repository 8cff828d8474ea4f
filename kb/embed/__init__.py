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


def _torch(settings: Settings, *, precision: str = "fp32") -> Embedder:
    from kb.embed.torch_model import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model, expected_sha256=settings.embedding_sha256,
                                       batch_size=settings.embedding_batch_size, threads=settings.embedding_threads,
                                       precision=precision)


def _torch_bf16(settings: Settings) -> Embedder:
    return _torch(settings, precision="bf16")


def _onnx(settings: Settings, *, quantize: bool = False) -> Embedder:
    from kb.embed.onnx_model import OnnxEmbedder

    return OnnxEmbedder(settings.embedding_model, settings.data_dir / "cache" / "onnx", quantize=quantize,
                        expected_sha256=settings.embedding_sha256, threads=settings.embedding_threads)


def _onnx_int8(settings: Settings) -> Embedder:
    return _onnx(settings, quantize=True)


_MODELS: dict[str, Callable[[Settings], Embedder]] = {"hash": _hash}  # stand-ins named by the model setting
_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {"torch": _torch, "torch-bf16": _torch_bf16, "onnx": _onnx,
                                                       "onnx-int8": _onnx_int8}


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: ``embedding_model=hash`` (tests), else the ``embedding_backend``
    (``auto`` picks torch-bf16 on CPUs with native bf16, else torch: ``kb.embed.selection``)."""
    factory = _MODELS.get(settings.embedding_model)
    if factory is None:
        from kb.embed.selection import pick_backend

        factory = _BACKENDS[pick_backend(settings.embedding_backend)]
    return factory(settings)
