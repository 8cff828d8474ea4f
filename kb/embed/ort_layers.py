"""The numpy encoder's transformer layers run by ONNX Runtime: the same float32 vectors, in about half the time.

A question is some 17 tokens. Multiplying 17 rows by each of the model's weight matrices is
where numpy loses: OpenBLAS packs the whole matrix for so few rows and reached 37 GFLOPS
here, while ONNX Runtime's kernels (MLAS) are made for such shapes. So the question's
embeddings, mask and pooling stay in numpy (``kb.embed.numpy_model``) and its six layers run
as an ONNX graph built here, at load, from the same checked weights: no torch, no export, no
file. The graph computes what ``Bert._block`` computes (float32, exact GELU through Erf);
its vectors agree with numpy's to cosine 1.0000 (``tests/test_embed_ort.py``).

ONNX Runtime splits a product's rows and columns between its threads, never a sum, so one
and two threads give the same bytes; that is checked the first time the machine is busy, and
only then does a question take one thread while other processes keep the cores busy
(``kb.embed.base.choose_threads``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import ModelError
from kb.embed.base import SMALL_THREADS, choose_threads
from kb.embed.numpy_model import Bert, NumpyEmbedder, attention_bias, encode_texts

__all__ = ["OrtLayersEmbedder", "ort_available"]

logger = logging.getLogger(__name__)
_OPSET = 17  # LayerNormalization is an operator from opset 17 on
_PROBE = ("Multi-factor authentication protects staff accounts.", "Category Two covers internal connections.")


def ort_available() -> bool:
    """Whether ONNX Runtime and the ONNX graph builder can be imported (without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class OrtLayersEmbedder(NumpyEmbedder):
    """The numpy encoder with its transformer layers on ONNX Runtime (thread-safe)."""

    def __init__(self, model: str, *, expected_sha256: str = "", verified_cache: Path | None = None,
                 small_threads: int = SMALL_THREADS):
        super().__init__(model, expected_sha256=expected_sha256, verified_cache=verified_cache,
                         small_threads=small_threads)
        self._layers: _Layers | None = None
        self._layers_lock = threading.Lock()

    @property
    def invariant(self) -> bool:
        """Whether one thread gives the same bytes as the usual count (checked the first time it is asked)."""
        return self._layers is not None and self._layers.one_thread_agrees()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        bert, tokenizer = self._load()
        layers = self._ready(bert, tokenizer)
        # the count an invariant encoder may take at this load; one thread only if it gives the usual count's bytes
        threads = choose_threads(len(texts), os.cpu_count() or 1, self._small_threads, invariant=True)
        if threads < layers.usual and not layers.one_thread_agrees():
            threads = layers.usual

        def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return layers.run(bert.embeddings(ids), attention_bias(mask), threads=threads)

        return encode_texts(forward, tokenizer, texts, dimension=bert.dimension)

    def _ready(self, bert: Bert, tokenizer: Any) -> _Layers:
        with self._layers_lock:
            if self._layers is None:
                self._layers = _Layers(bert, usual=self.usual_threads, probe=_probe_input(bert, tokenizer))
            return self._layers


def _probe_input(bert: Bert, tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    encoded = tokenizer.encode_batch(list(_PROBE))
    ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encoded], dtype=np.float32)
    return bert.embeddings(ids), attention_bias(mask)


class _Layers:
    """ONNX Runtime sessions over the graph of a ``Bert``'s layers: the usual thread count's, made at load, and
    one thread's, made the first time the machine is busy (a one-shot question on free cores never needs it)."""

    def __init__(self, bert: Bert, *, usual: int, probe: tuple[np.ndarray, np.ndarray]):
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelError(f"the onnxruntime query encoder needs ONNX Runtime ({exc}): install the `model` extra "
                             "(`pip install -e .[model]`) or set CTO_QUERY_ENCODER=numpy") from exc
        self._ort = onnxruntime
        self._bert = bert
        self._probe = probe
        self.usual = usual
        self._sessions = {usual: _session(onnxruntime, layer_graph(bert), usual)}
        self._agrees: bool | None = None if usual > 1 else True
        self._lock = threading.Lock()

    def one_thread_agrees(self) -> bool:
        """Whether one thread gives the same bytes as the usual count, on a probe; its session is made to check."""
        with self._lock:
            if self._agrees is None:
                one = _session(self._ort, layer_graph(self._bert), 1)
                x, bias = self._probe
                usual = self._sessions[self.usual].run(None, {"x": x, "bias": bias})[0]
                self._agrees = np.array_equal(one.run(None, {"x": x, "bias": bias})[0], usual)
                if self._agrees:
                    self._sessions[1] = one
                else:
                    logger.info("onnxruntime query encoder: 1 and %d threads round differently; keeping %d",
                                self.usual, self.usual)
            return self._agrees

    def run(self, x: np.ndarray, bias: np.ndarray, *, threads: int) -> np.ndarray:
        """The last hidden state for embedded tokens ``x`` (batch, tokens, hidden) and their attention bias, on
        ``threads`` threads (1 once checked, else the usual count: a batch over 64 texts takes the usual too)."""
        session = self._sessions.get(threads) or self._sessions[self.usual]
        return session.run(None, {"x": x, "bias": bias})[0]


def _session(onnxruntime: Any, model: bytes, threads: int) -> Any:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def layer_graph(bert: Bert) -> bytes:
    """An ONNX model of ``bert``'s transformer layers: inputs ``x`` (batch, tokens, hidden) and ``bias``
    (batch, 1, 1, tokens), output ``hidden``; each layer is ``Bert._block`` written as ONNX operators."""
    from onnx import TensorProto, helper

    graph = _Graph(bert)
    x = "x"
    for number, layer in enumerate(bert.layers):
        x = graph.layer(f"layer{number}", {key: graph.constant(f"layer{number}.{key}", value) for key, value in layer.items()}, x)
    graph.nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
    width = bert.dimension
    model = helper.make_model(helper.make_graph(
        graph.nodes, "bert_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", width]),
         helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 1, 1, "tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", width])], graph.weights),
        opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="cto-assistant")
    model.ir_version = 8  # readable by every onnxruntime the `model` extra allows
    return bytes(model.SerializeToString())


class _Graph:
    """The nodes and weights of the layer graph as it is built."""

    def __init__(self, bert: Bert):
        self.weights: list[Any] = []
        self.nodes: list[Any] = []
        self.eps = bert.eps
        heads, width = bert.heads, bert.dimension
        size = width // heads
        self.split5 = self.constant("shape.qkv", np.array([0, 0, 3, heads, size], dtype=np.int64))
        self.merge3 = self.constant("shape.hidden", np.array([0, 0, width], dtype=np.int64))
        self.first = self.constant("axis.0", np.array([0], dtype=np.int64))
        self.scale = self.constant("attention.scale", np.array(1.0 / np.sqrt(size), dtype=np.float32))
        self.half = self.constant("gelu.half", np.array(0.5, dtype=np.float32))
        self.one = self.constant("gelu.one", np.array(1.0, dtype=np.float32))
        self.root_half = self.constant("gelu.root_half", np.array(0.7071067811865476, dtype=np.float32))

    def constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], out: str, **attributes: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attributes))
        return out

    def layer(self, p: str, w: dict[str, str], x: str) -> str:
        """One encoder layer named ``p`` over input ``x`` with weights ``w``: attention, then the feed-forward block."""
        from onnx import helper

        op = self.op

        def dense(inputs: str, key: str) -> str:
            return op("Add", [op("MatMul", [inputs, w[key]], f"{p}/{key}.product"), w[f"{key}_b"]], f"{p}/{key}.out")

        heads = op("Transpose", [op("Reshape", [dense(x, "qkv"), self.split5], f"{p}/qkv.split")], f"{p}/qkv.heads",
                   perm=[2, 0, 3, 1, 4])
        stacked = [f"{p}/{part}.stacked" for part in "qkv"]
        self.nodes.append(helper.make_node("Split", [heads], stacked, name=f"{p}/split", axis=0))  # equal parts: one per output
        q, k, v = (op("Squeeze", [name, self.first], f"{p}/{part}") for name, part in zip(stacked, "qkv", strict=True))
        keys = op("Transpose", [k], f"{p}/k.transposed", perm=[0, 1, 3, 2])
        scores = op("Add", [op("Mul", [op("MatMul", [q, keys], f"{p}/scores.raw"), self.scale], f"{p}/scores.scaled"), "bias"],
                    f"{p}/scores")
        probs = op("Softmax", [scores], f"{p}/probs", axis=-1)
        context = op("Reshape", [op("Transpose", [op("MatMul", [probs, v], f"{p}/context.heads")], f"{p}/context.tokens",
                                    perm=[0, 2, 1, 3]), self.merge3], f"{p}/context")
        attended = op("LayerNormalization", [op("Add", [dense(context, "out"), x], f"{p}/attention.residual"),
                                             w["ln1"], w["ln1_b"]], f"{p}/attention.normed", axis=-1, epsilon=self.eps)
        up = dense(attended, "up")
        erf = op("Erf", [op("Mul", [up, self.root_half], f"{p}/gelu.scaled")], f"{p}/gelu.erf")
        gelu = op("Mul", [op("Mul", [up, self.half], f"{p}/gelu.half_x"), op("Add", [erf, self.one], f"{p}/gelu.one_plus")],
                  f"{p}/gelu")
        return op("LayerNormalization", [op("Add", [dense(gelu, "down"), attended], f"{p}/output.residual"),
                                         w["ln2"], w["ln2_b"]], f"{p}/output.normed", axis=-1, epsilon=self.eps)
