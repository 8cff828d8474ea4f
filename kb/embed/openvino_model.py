"""The encoder on OpenVINO: torch's float32 vectors, computed faster on CPUs without native bf16.

The model is converted here, offline, from the same checked weights the torch backend
loads (``openvino.convert_model`` traces the Hugging Face module once, about 5 s with torch's
import), saved as OpenVINO IR in the user's cache folder (``$XDG_CACHE_HOME/cto-assistant``,
by default ``~/.cache/cto-assistant``: one conversion serves every data folder, and it is
always safe to delete) under the weights' hash and OpenVINO's version, and compiled for the
CPU with float32 inference precision: OpenVINO would otherwise pick bf16 on CPUs that have it,
which is a different backend's choice (``torch-bf16``). Once converted, the model is ready in
about a second (1.2 s in a fresh process), without importing torch. Where the cache cannot be written the model is
converted in memory at every start.

Texts are tokenized with the model's own ``tokenizer.json`` and batched the way the torch
backend batches them (``kb.embed.base.length_batches``): every batch holds texts padded to
one multiple of 16 tokens, so a text's vector depends on the text alone, bit for bit. Each batch
runs as its own single-threaded stream, one per core (``embed_counted`` says why).
``python -m eval encoders`` measures it against the other backends.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.documents import file_sha256
from kb.core.errors import ModelError
from kb.embed.base import (
    PAD_TO,
    length_batches,
    mean_pool_normalized,
    model_tokenizer,
    resolve_model_dir,
    verify_weights,
)

__all__ = ["OpenVinoEmbedder", "openvino_available", "cache_folder"]

logger = logging.getLogger(__name__)
_COMPILED: dict[tuple[str, int], Any] = {}  # (IR path, threads) -> compiled model, shared by this process's embedders
_CONVERTED: dict[str, Any] = {}  # IR path -> model converted in memory where the cache could not be written
_SHARED = threading.Lock()


def cache_folder() -> Path:
    """Where converted models are kept: ``$XDG_CACHE_HOME/cto-assistant/openvino`` (``~/.cache`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "cto-assistant" / "openvino"


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (looked up, not imported)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


class OpenVinoEmbedder:
    """A sentence-transformers model (BERT family, mean pooling) run by OpenVINO's CPU plugin in float32."""

    def __init__(self, model: str, cache_dir: Path, *, expected_sha256: str = "", batch_size: int = 64,
                 threads: int = 0, verified_cache: Path | None = None):
        self.name = model
        self._cache_dir = cache_dir
        self._expected = expected_sha256
        self._verified_cache = verified_cache
        self._batch_size = batch_size
        self._threads = threads or (os.cpu_count() or 1)
        self._model: Any = None
        self._path = Path()
        self._tokenizer: Any = None
        self._dimension = 0
        self._lock = threading.Lock()
        self._counters = threading.local()  # each thread's own counting tokenizer (see token_counts)

    # ----- loading -------------------------------------------------------------------------
    def _load(self) -> None:
        with self._lock:
            if self._tokenizer is not None:
                return
            try:
                import openvino as ov
            except ImportError as missing:
                raise ModelError(
                    f"the OpenVINO encoder needs the 'openvino' package ({missing.name} is not installed): "
                    "`pip install -e .[model]`, or set CTO_EMBEDDING_BACKEND=torch"
                ) from missing
            model_dir = resolve_model_dir(self.name)
            verify_weights(model_dir, self._expected, cache=self._verified_cache)
            logger.info("loading embedding model dir=%s backend=openvino", model_dir)
            self._path = self._ir_path(model_dir, ov.__version__)
            self._model = self._read(ov, model_dir)
            self._dimension = int(self._model.outputs[0].get_partial_shape()[2].get_length())
            self._tokenizer = model_tokenizer(model_dir, pad_to_multiple_of=PAD_TO)

    def _ir_path(self, model_dir: Path, version: str) -> Path:
        """The cached IR for these weights and this OpenVINO (converted on first use)."""
        digest = (self._expected or file_sha256(model_dir / "model.safetensors"))[:16]
        path = self._cache_dir / f"{digest}-ov{version.split('-')[0]}-fp32.xml"
        with _SHARED:
            if str(path) not in _CONVERTED and not (path.is_file() and path.with_suffix(".bin").is_file()):
                converted = _convert(model_dir)
                try:
                    _save(converted, path)
                except OSError as exc:
                    logger.warning("could not keep the converted encoder in %s (%s): converting at every start",
                                   path.parent, exc)
                    _CONVERTED[str(path)] = converted
        return path

    def _read(self, ov: Any, model_dir: Path) -> Any:
        """The converted model: from memory, or read from the cache (converted again when the file is unreadable)."""
        with _SHARED:
            if (converted := _CONVERTED.get(str(self._path))) is not None:
                return converted
            try:
                return ov.Core().read_model(str(self._path))
            except RuntimeError as exc:  # a damaged file: never kept, since the .xml is written last
                logger.warning("the cached OpenVINO encoder %s is unreadable (%s): converting it again", self._path, exc)
                self._path.unlink(missing_ok=True)
        self._path = self._ir_path(model_dir, ov.__version__)
        with _SHARED:
            return _CONVERTED.get(str(self._path)) or ov.Core().read_model(str(self._path))

    def _compiled(self) -> Any:
        """The model compiled as one single-threaded stream per thread (see ``embed_counted``)."""
        with _SHARED:
            key = (str(self._path), self._threads)
            if key not in _COMPILED:
                import openvino as ov

                _COMPILED[key] = ov.Core().compile_model(self._model, "CPU", {
                    "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": self._threads,
                    "INFERENCE_NUM_THREADS": self._threads})
            return _COMPILED[key]

    @property
    def bulk_threads(self) -> int:
        """Threads ingest encodes with, one batch on each (every core, or CTO_EMBEDDING_THREADS)."""
        return self._threads

    def warm_up(self) -> None:
        """Load (and on first use convert) the model and compile it for ingest's batches now."""
        self._load()
        self._compiled()

    def converted_model(self) -> Any:
        """The float32 ``openvino.Model`` this encoder compiles (``eval.bench.int8`` quantizes a copy of it)."""
        self._load()
        return self._model

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in the model's tokens, truncated as encoding truncates (ingest groups chunks by it).

        Counted with a tokenizer owned by the calling thread: the encoding one pads, and its settings are state.
        """
        if not texts:
            return []
        counter = getattr(self._counters, "tokenizer", None)
        if counter is None:
            self._load()
            from tokenizers import Tokenizer

            counter = Tokenizer.from_str(self._tokenizer.to_str())
            counter.no_padding()
            self._counters.tokenizer = counter
        return [len(encoding.ids) for encoding in counter.encode_batch(list(texts))]

    @property
    def dimension(self) -> int:
        self._load()
        return self._dimension

    # ----- encoding ------------------------------------------------------------------------
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_counted(texts, None)

    def embed_counted(self, texts: Sequence[str], counts: Sequence[int] | None) -> np.ndarray:
        """Like ``embed_batch``, given each text's token count when the caller has it (ingest's pool counted them)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self._load()
        import openvino as ov

        parts = [[0]] if len(texts) == 1 else length_batches(
            counts if counts is not None else self.token_counts(texts), self._batch_size)
        # Each batch runs on one thread, as many batches at once as there are threads: when the parser or the
        # writer takes a core, one batch waits instead of every thread of one batch (at a competing load of 17%
        # of one core, 552 chunks took 17.2 s this way against 21.2 s with both threads on each batch, and 18.5
        # against 18.3 s on free cores), and a text's vector never depends on how many batches the call has.
        queue = ov.AsyncInferQueue(self._compiled(), max(1, min(self._threads, len(parts))))
        hidden: dict[int, np.ndarray] = {}
        queue.set_callback(lambda request, at: hidden.__setitem__(at, request.get_output_tensor(0).data.copy()))
        masks = []
        for at, part in enumerate(parts):
            encoded = self._tokenizer.encode_batch([texts[i] for i in part])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            masks.append(np.asarray([e.attention_mask for e in encoded], dtype=np.int64))
            queue.start_async({"input_ids": ids, "attention_mask": masks[at], "token_type_ids": np.zeros_like(ids)}, at)
        queue.wait_all()
        vectors = np.empty((len(texts), self._dimension), dtype=np.float32)
        for at, part in enumerate(parts):
            vectors[part] = mean_pool_normalized(hidden[at], masks[at])
        return vectors


def _convert(model_dir: Path) -> Any:
    """The checked weights as an OpenVINO model (float32), traced from the Hugging Face module."""
    try:
        import openvino as ov
        import torch
        import transformers  # noqa: F401  (traceable loads the model with it)
    except ImportError as missing:
        raise ModelError(
            f"converting the model for OpenVINO needs torch and transformers ({missing.name} is not installed): "
            "run `make setup`, or set CTO_EMBEDDING_BACKEND=torch"
        ) from missing
    from kb.embed.tracing import traceable

    module, example = traceable(model_dir)
    logger.info("converting the encoder for OpenVINO model_dir=%s", model_dir)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings are not the user's business
        return ov.convert_model(module, example_input=example)


def _save(converted: Any, path: Path) -> None:
    """Write the model as IR (float32 weights), so that no half-written file is ever read."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.stem}.{os.getpid()}.{threading.get_ident()}"
    staging.mkdir()
    try:
        ov.save_model(converted, str(staging / "model.xml"), compress_to_fp16=False)
        os.replace(staging / "model.bin", path.with_suffix(".bin"))  # the weights first: the .xml marks it complete
        os.replace(staging / "model.xml", path)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
