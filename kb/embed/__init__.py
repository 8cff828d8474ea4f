"""Turning text into vectors: the Embedder protocol, the factory that picks a backend by name, and the backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kb.embed.base import Embedder

if TYPE_CHECKING:
    from kb.core.settings import Settings

__all__ = ["Embedder", "make_embedder", "bulk_encoder"]


def _hash(settings: Settings) -> Embedder:
    from kb.embed.hashing import HashEmbedder

    return HashEmbedder()


def _verified(settings: Settings) -> Path:
    """Where verified weight hashes are remembered (``kb.embed.base.verify_weights``)."""
    return settings.data_dir / "cache" / "verified-weights.json"


def _torch(settings: Settings, *, precision: str = "fp32") -> Embedder:
    from kb.embed.torch_model import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model, expected_sha256=settings.embedding_sha256,
                                       batch_size=settings.embedding_batch_size, threads=settings.embedding_threads,
                                       precision=precision, verified_cache=_verified(settings), small_threads=settings.query_threads)


def _numpy(settings: Settings) -> Embedder:
    from kb.embed.numpy_model import NumpyEmbedder

    return NumpyEmbedder(settings.embedding_model, expected_sha256=settings.embedding_sha256,
                         verified_cache=_verified(settings), small_threads=settings.query_threads)


def _small(settings: Settings) -> Embedder:
    """The encoder of questions and answer sentences: ``query_encoder`` (auto: onnxruntime when installed, else numpy)."""
    chosen = settings.query_encoder
    if chosen == "auto":
        from kb.embed.ort_layers import ort_available

        chosen = "onnxruntime" if ort_available() else "numpy"
    if chosen == "numpy":
        return _numpy(settings)
    from kb.embed.ort_layers import OrtLayersEmbedder

    return OrtLayersEmbedder(settings.embedding_model, expected_sha256=settings.embedding_sha256,
                             verified_cache=_verified(settings), small_threads=settings.query_threads)


def _torch_bf16(settings: Settings) -> Embedder:
    return _torch(settings, precision="bf16")


def _onnx(settings: Settings, *, quantize: bool = False) -> Embedder:
    from kb.embed.onnx_model import OnnxEmbedder

    return OnnxEmbedder(settings.embedding_model, settings.data_dir / "cache" / "onnx", quantize=quantize,
                        expected_sha256=settings.embedding_sha256, threads=settings.embedding_threads,
                        small_threads=settings.query_threads)


def _onnx_int8(settings: Settings) -> Embedder:
    return _onnx(settings, quantize=True)


def _openvino(settings: Settings) -> Embedder:
    from kb.embed.openvino_model import OpenVinoEmbedder, cache_folder

    return OpenVinoEmbedder(settings.embedding_model, cache_folder(),
                            expected_sha256=settings.embedding_sha256, batch_size=settings.embedding_batch_size,
                            threads=settings.embedding_threads, verified_cache=_verified(settings))


_MODELS: dict[str, Callable[[Settings], Embedder]] = {"hash": _hash}  # stand-ins named by the model setting
_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {"torch": _torch, "torch-bf16": _torch_bf16, "onnx": _onnx,
                                                       "onnx-int8": _onnx_int8, "numpy": _numpy, "openvino": _openvino}
# slow to start (torch, or OpenVINO compiling its graph): small batches go to the query encoder (the same float vectors)
_ROUTED = frozenset({"torch", "torch-bf16", "openvino"})


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: ``embedding_model=hash`` (tests), else the ``embedding_backend``
    (``auto`` picks torch-bf16 on CPUs with native bf16, else openvino when installed, else torch:
    ``kb.embed.selection``).

    Small batches, questions and answer sentences, go to the query encoder, which starts without
    importing torch (``kb.embed.routing``): the numpy model with its layers on ONNX Runtime
    (``query_encoder=auto``, the default, when onnxruntime is installed), or all in numpy.
    """
    factory = _MODELS.get(settings.embedding_model)
    if factory is not None:
        return factory(settings)
    from kb.embed.selection import pick_backend

    backend = pick_backend(settings.embedding_backend)
    large = _BACKENDS[backend](settings)
    if settings.query_encoder == "same" or backend not in _ROUTED:
        return large
    from kb.embed.routing import SizeRouted

    return SizeRouted(small=_small(settings), large=large)


def bulk_encoder(embedder: Embedder) -> Embedder:
    """The encoder for large batches (ingest): the routed one's large side, else the embedder itself.

    Ingest sends every batch here, so a document's vectors never depend on the size of the
    batch it happened to share.
    """
    from kb.embed.routing import SizeRouted

    return embedder.large if isinstance(embedder, SizeRouted) else embedder
