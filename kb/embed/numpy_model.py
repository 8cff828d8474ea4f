"""The encoder in plain numpy: a BERT forward pass that starts without torch or transformers.

Importing sentence-transformers pulls in torch, transformers and scikit-learn: several
seconds of CPU before the first question can be encoded, most of a one-shot ``kb ask``.
A question or a handful of answer sentences needs a few million multiply-adds, which
numpy does in milliseconds; so small batches are encoded here (``kb.embed`` routes them),
reading the same checked ``model.safetensors`` and ``tokenizer.json``. The forward pass is
the BERT of the sentence-transformers model in float32 (exact GELU, mean pooling over
tokens, L2 normalisation): its vectors match the torch float32 ones to cosine 1.0000
(``tests/test_embed_numpy.py``), so both query one index.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import ModelError
from kb.embed.base import SMALL_THREADS, choose_threads, mean_pool_normalized, model_tokenizer, resolve_model_dir, verify_weights

__all__ = ["NumpyEmbedder", "Bert", "encode_texts", "attention_bias"]

logger = logging.getLogger(__name__)

_BATCH = 16  # texts per forward pass, sorted by length so that each pass pads little
_PROBE_ROWS = (1, 9, 64)  # rows of a probed product: one token up to a short question batch (threaded)


class NumpyEmbedder:
    """A BERT-family sentence-transformers model with mean pooling, run by numpy (thread-safe)."""

    def __init__(self, model: str, *, expected_sha256: str = "", verified_cache: Path | None = None,
                 small_threads: int = SMALL_THREADS):
        self.name = model
        self._small_threads = small_threads
        self._expected = expected_sha256
        self._verified_cache = verified_cache
        self._bert: Bert | None = None
        self._tokenizer: Any = None
        self._blas: Any = None
        self._blas_invariant: bool | None = None  # vectors do not depend on the BLAS thread count (probed once)
        self._lock = threading.Lock()

    def _load(self) -> tuple[Bert, Any]:
        with self._lock:
            if self._bert is None:
                from threadpoolctl import ThreadpoolController

                self._blas = ThreadpoolController()
                model_dir = resolve_model_dir(self.name)
                verify_weights(model_dir, self._expected, cache=self._verified_cache)
                bert = Bert.read(model_dir)
                self._bert, self._tokenizer = bert, model_tokenizer(model_dir)
        assert self._bert is not None
        return self._bert, self._tokenizer

    @property
    def usual_threads(self) -> int:
        """Threads of a query-sized encode on free cores: CTO_QUERY_THREADS, at most the CPUs (``choose_threads``)."""
        return choose_threads(1, os.cpu_count() or 1, self._small_threads)  # not invariant: the load does not count

    @property
    def invariant(self) -> bool:
        """Whether a text's vector is the same on one thread as on more (probed the first time it is asked: every encode asks)."""
        if self._blas_invariant is None:
            bert, _ = self._load()
            with self._lock:
                if self._blas_invariant is None:
                    self._blas_invariant = self._same_on_any_threads(bert)
        return self._blas_invariant

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        bert, tokenizer = self._load()
        # a fixed count, never the load's: the same text gets the same vector and takes the same time on free cores
        threads = choose_threads(len(texts), os.cpu_count() or 1, self._small_threads, invariant=self.invariant)
        with self._blas.limit(limits=threads, user_api="blas"):
            return encode_texts(bert.forward, tokenizer, texts, dimension=bert.dimension)

    def _same_on_any_threads(self, bert: Bert) -> bool:
        """Whether one BLAS thread gives the same bytes as the usual count (CTO_QUERY_THREADS), on a probe of the
        model's own products: the first layer's four weight matrices times rows from one token to a batch, and the
        attention's batched products.

        Measured, not assumed from the BLAS's name: OpenBLAS's SkylakeX kernels split only rows and columns between
        threads, but its Haswell kernels (an AVX2-only CPU) round every product of the model differently on one
        thread than on two, so a question encoded while the cores were busy got other vectors than on free cores.
        The probe takes about 16 ms on an AVX2 CPU, once per process, at its first encode.
        """
        usual = self.usual_threads
        if usual == 1:
            return True
        rng = np.random.default_rng(0)
        layer = bert.layers[0]
        size = bert.dimension // bert.heads
        products = [(rng.standard_normal((rows, layer[name].shape[0]), dtype=np.float32), layer[name])
                    for rows in _PROBE_ROWS for name in ("qkv", "out", "up", "down")]
        products += [(rng.standard_normal((4, bert.heads, tokens, size), dtype=np.float32),
                      rng.standard_normal((4, bert.heads, size, tokens), dtype=np.float32)) for tokens in (9, 64)]
        for a, b in products:
            with self._blas.limit(limits=1, user_api="blas"):
                one = a @ b
            with self._blas.limit(limits=usual, user_api="blas"):
                many = a @ b
            if not np.array_equal(one, many):
                blas = [f"{lib.internal_api} {getattr(lib, 'architecture', '')}".strip() for lib in self._blas.lib_controllers if lib.user_api == "blas"]
                logger.info("numpy encoder: BLAS %s rounds differently on 1 and %d threads; small encodes keep %d",
                            blas, usual, usual)
                return False
        return True


def encode_texts(forward: Callable[[np.ndarray, np.ndarray], np.ndarray], tokenizer: Any, texts: Sequence[str], *,
                 dimension: int) -> np.ndarray:
    """Mean-pooled, normalised vectors of the texts, ``forward`` giving the last hidden state of a padded batch."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), dimension), dtype=np.float32)
    for start in range(0, len(order), _BATCH):
        part = order[start:start + _BATCH]
        encoded = tokenizer.encode_batch([texts[i] for i in part])
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.float32)
        out[part] = mean_pool_normalized(forward(ids, mask), mask)
    return out


def _check_supported(model_dir: Path) -> dict[str, Any]:
    """The model's config, when this forward pass computes what the model means (BERT, mean pooling)."""
    config = json.loads((model_dir / "config.json").read_text())
    pooling_file = model_dir / "1_Pooling" / "config.json"
    pooling = json.loads(pooling_file.read_text()) if pooling_file.is_file() else {}
    problems = []
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        problems.append(f"model type {config.get('model_type')!r} with {config.get('hidden_act')!r}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"{config.get('position_embedding_type')!r} positions")
    if not pooling.get("pooling_mode_mean_tokens") or any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"):
        problems.append("pooling other than the mean of the tokens")
    if problems:
        raise ModelError(f"the numpy encoder runs BERT models with mean pooling, not {', '.join(problems)} "
                         f"({model_dir}); set CTO_QUERY_ENCODER=same to encode questions with CTO_EMBEDDING_BACKEND")
    return config


def attention_bias(mask: np.ndarray) -> np.ndarray:
    """The additive attention mask, shape (batch, 1, 1, tokens): 0 for tokens, float32's lowest for padding."""
    return ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :].astype(np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz and Stegun 7.1.26), below float32 rounding after GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))).astype(np.float32)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return (centred / np.sqrt(var + np.float32(eps)) * weight + bias).astype(np.float32)


class Bert:
    """BERT's encoder with weights as numpy arrays; ``forward`` gives the last hidden state."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any]):
        self.heads = int(config["num_attention_heads"])
        self.dimension = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.embed = {k.removeprefix("embeddings."): v for k, v in weights.items() if k.startswith("embeddings.")}
        self.layers = [self._layer(weights, f"encoder.layer.{n}.") for n in range(int(config["num_hidden_layers"]))]

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> dict[str, np.ndarray]:
        a = p + "attention."
        qkv = np.concatenate([w[a + f"self.{n}.weight"] for n in ("query", "key", "value")], axis=0)
        return {
            "qkv": np.ascontiguousarray(qkv.T), "qkv_b": np.concatenate([w[a + f"self.{n}.bias"] for n in ("query", "key", "value")]),
            "out": np.ascontiguousarray(w[a + "output.dense.weight"].T), "out_b": w[a + "output.dense.bias"],
            "ln1": w[a + "output.LayerNorm.weight"], "ln1_b": w[a + "output.LayerNorm.bias"],
            "up": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T), "up_b": w[p + "intermediate.dense.bias"],
            "down": np.ascontiguousarray(w[p + "output.dense.weight"].T), "down_b": w[p + "output.dense.bias"],
            "ln2": w[p + "output.LayerNorm.weight"], "ln2_b": w[p + "output.LayerNorm.bias"],
        }

    @classmethod
    def read(cls, model_dir: Path) -> Bert:
        from safetensors.numpy import load_file

        config = _check_supported(model_dir)
        raw = load_file(str(model_dir / "model.safetensors"))
        weights = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in raw.items()
                   if v.dtype.kind == "f"}
        return cls(weights, config)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden state, shape (batch, tokens, hidden), for token ids and a 0/1 attention mask."""
        batch, tokens = ids.shape
        x = self.embeddings(ids).reshape(batch * tokens, self.dimension)
        bias = attention_bias(mask)
        for layer in self.layers:
            x = self._block(x, layer, bias, batch=batch, tokens=tokens)
        return x.reshape(batch, tokens, self.dimension)

    def embeddings(self, ids: np.ndarray) -> np.ndarray:
        """The normalised sum of word, position and token-type embeddings, shape (batch, tokens, hidden)."""
        e = self.embed
        x = e["word_embeddings.weight"][ids] + e["position_embeddings.weight"][:ids.shape[1]][None] + e["token_type_embeddings.weight"][0]
        return _layer_norm(x, e["LayerNorm.weight"], e["LayerNorm.bias"], self.eps)

    def _block(self, x: np.ndarray, w: dict[str, np.ndarray], bias: np.ndarray, *, batch: int, tokens: int) -> np.ndarray:
        heads, size = self.heads, self.dimension // self.heads
        qkv = (x @ w["qkv"] + w["qkv_b"]).reshape(batch, tokens, 3, heads, size).transpose(2, 0, 3, 1, 4)
        scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(size)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(batch * tokens, self.dimension)
        x = _layer_norm(context @ w["out"] + w["out_b"] + x, w["ln1"], w["ln1_b"], self.eps)
        return _layer_norm(_gelu(x @ w["up"] + w["up_b"]) @ w["down"] + w["down_b"] + x, w["ln2"], w["ln2_b"], self.eps)
