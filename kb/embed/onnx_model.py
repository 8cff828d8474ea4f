"""The encoder on ONNX Runtime instead of torch, in full precision or with int8 weights.

The ONNX file is made here, offline, from the same checked weights the torch backend
loads: exported with ``torch.onnx``, its attention and layer-norm operators fused by
ONNX Runtime's transformer optimizer, and for ``onnx-int8`` its weights quantized
dynamically with one scale per output channel (VNNI kernels on CPUs that have them), each
layer's feed-forward output product kept in float32. The result is cached under ``data_dir/cache/onnx`` by weights hash, so the
export runs once. Tokenizing uses the model's own ``tokenizer.json``; pooling and
normalisation match the sentence-transformers model (mean over tokens, L2).

Whether this is faster depends on the CPU: ``python -m eval encoders`` measures it. Note
that dynamic int8 quantizes activations per batch, so with ``onnx-int8`` a text's vector
moves slightly with the other texts of its batch.
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
    SMALL_BATCH,
    SMALL_THREADS,
    choose_threads,
    mean_pool_normalized,
    model_tokenizer,
    resolve_model_dir,
    verify_weights,
)

__all__ = ["OnnxEmbedder"]

logger = logging.getLogger(__name__)
_BATCH = SMALL_BATCH  # texts per ONNX Runtime call


class OnnxEmbedder:
    """A sentence-transformers model (BERT family, mean pooling) run by ONNX Runtime."""

    def __init__(self, model: str, cache_dir: Path, *, quantize: bool = False, expected_sha256: str = "",
                 threads: int = 0, small_threads: int = SMALL_THREADS):
        self.name = model
        self._small_threads = small_threads
        self.quantize = quantize
        self._cache_dir = cache_dir
        self._expected = expected_sha256
        self._threads = threads or (os.cpu_count() or 1)
        self._sessions: dict[int, Any] = {}
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    # ----- loading -------------------------------------------------------------------------
    def _onnx_path(self, model_dir: Path) -> Path:
        """The cached ONNX file for these weights and precision (made on first use)."""
        verify_weights(model_dir, self._expected)
        digest = (self._expected or file_sha256(model_dir / "model.safetensors"))[:16]
        path = self._cache_dir / f"{digest}-{'int8pc' if self.quantize else 'fp32'}.onnx"
        if not path.is_file():
            _export(model_dir, path, self.quantize)
        return path

    def _load(self) -> None:
        with self._lock:
            if self._tokenizer is not None:
                return

            model_dir = resolve_model_dir(self.name)
            path = self._onnx_path(model_dir)
            self._path = path
            self._tokenizer = model_tokenizer(model_dir)

    def _session(self, threads: int) -> Any:
        import onnxruntime as ort

        if threads not in self._sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._sessions[threads] = ort.InferenceSession(str(self._path), options, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    # ----- encoding ------------------------------------------------------------------------
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self._load()
        session = self._session(choose_threads(len(texts), self._threads, self._small_threads))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad least
        rows: list[np.ndarray] = []
        for start in range(0, len(order), _BATCH):
            part = [texts[i] for i in order[start:start + _BATCH]]
            encoded = self._tokenizer.encode_batch(part)
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            rows.append(mean_pool_normalized(hidden, mask))
        ordered = np.vstack(rows).astype(np.float32)
        out = np.empty_like(ordered)
        out[order] = ordered
        return out



def _sensitive_nodes(raw: Path) -> list[str]:
    """The matrix products kept in float32 when quantizing: each layer's feed-forward output.

    Their inputs come out of GELU with a few large outliers, so one int8 scale per tensor (or
    even per channel) crushes the many small values; quantizing them cost most of the fidelity.
    """
    import onnx

    graph = onnx.load(str(raw), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name]


def _export(model_dir: Path, path: Path, quantize: bool) -> None:
    """Export the checked weights to ONNX (fused; int8 when asked), written atomically."""
    try:
        import onnx  # noqa: F401  (torch.onnx and the quantizer need it)
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers import optimizer
        from transformers import AutoConfig
    except ImportError as exc:
        raise ModelError(
            f"the ONNX encoder needs the 'onnx' package ({exc}): `pip install -e .[onnx]`, "
            "or set CTO_EMBEDDING_BACKEND=torch"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    from kb.embed.tracing import traceable

    module, example = traceable(model_dir)
    raw = path.with_suffix(".raw.tmp")
    fused = path.with_suffix(".fused.tmp")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "token_type_ids": {0: "batch", 1: "tokens"}, "last_hidden_state": {0: "batch", 1: "tokens"}}
    logger.info("exporting the encoder to ONNX path=%s int8=%s", path, quantize)
    try:
        # The TorchScript exporter: the newer dynamo one needs onnxscript, one more package to ship.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice and tracer warnings are not the user's business
            torch.onnx.export(module, example, str(raw),
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
        optimized = optimizer.optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                             hidden_size=config.hidden_size, opt_level=1)
        optimized.save_model_to_file(str(fused))
        if quantize:
            # quantize the plain export: the fused graph's custom operators defeat the quantizer's type inference
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # its advice to pre-process the model is logged on the root logger
            try:
                quantize_dynamic(str(raw), str(fused), weight_type=QuantType.QInt8, per_channel=True,
                                 nodes_to_exclude=_sensitive_nodes(raw))
            finally:
                root.setLevel(level)
        fused.replace(path)
    finally:
        for tmp in (raw, fused):
            tmp.unlink(missing_ok=True)
