"""The sentence-transformers (torch) embedder: the default backend, loaded offline on first use.

The model is loaded with the Hugging Face hub switched off, so nothing is ever downloaded;
torch itself is imported only when the first text is embedded.
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
from kb.embed.base import PAD_TO, SMALL_THREADS, choose_threads, length_batches, resolve_model_dir, verify_weights

__all__ = ["SentenceTransformerEmbedder"]

logger = logging.getLogger(__name__)



class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline on first use (thread-safe)."""

    def __init__(self, model: str, *, expected_sha256: str = "", batch_size: int = 64, threads: int = 0,
                 precision: str = "fp32", verified_cache: Path | None = None, small_threads: int = SMALL_THREADS):
        self.name = model
        self.precision = precision  # fp32, or bf16: weights and activations in bfloat16 (2x less memory traffic)
        self._expected = expected_sha256
        self._verified_cache = verified_cache
        self._batch_size = batch_size
        self._threads = threads
        self._model: object | None = None
        self._batch_threads = threads or 1
        self._small_threads = small_threads
        self._lock = threading.Lock()
        self._counters = threading.local()  # each thread's own tokenizer for counting (see token_counts)

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                model_dir = resolve_model_dir(self.name)
                verify_weights(model_dir, self._expected, cache=self._verified_cache)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError as missing:
                    raise ModelError(
                        f"the embedding model needs torch and sentence-transformers ({missing.name} is not installed): "
                        "run `make setup`, which installs a CPU build of torch and the `model` extra, or install "
                        "them yourself (README, Install without make)"
                    ) from missing

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
    def bulk_threads(self) -> int:
        """Threads a full ingest batch encodes with (torch's default, or CTO_EMBEDDING_THREADS); loads the model."""
        self._load()
        return self._batch_threads

    def warm_up(self) -> None:
        """Import torch and load the model now (ingest does it while its parser starts), not on the first batch."""
        self._load()

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in the model's tokens (truncated as encoding truncates): ingest groups chunks by it.

        Counted with a copy of the model's tokenizer owned by the calling thread. The model's own tokenizer
        keeps its padding and truncation as state that every call sets: counting with it (no padding) while
        another thread encodes (padding) left that encode a ragged batch, "Unable to create tensor" (CI:
        ingest's preparing thread counted a parsed document while its encoder thread encoded).
        """
        if not texts:
            return []
        counter = getattr(self._counters, "tokenizer", None)
        if counter is None:
            from tokenizers import Tokenizer

            model: Any = self._load()
            counter = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
            counter.enable_truncation(model.max_seq_length)
            counter.no_padding()
            self._counters.tokenizer = counter
        return [len(encoding.ids) for encoding in counter.encode_batch(list(texts))]

    @property
    def dimension(self) -> int:
        model = self._load()
        return int(model.get_sentence_embedding_dimension())  # type: ignore[attr-defined]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_counted(texts, None)

    def embed_counted(self, texts: Sequence[str], counts: Sequence[int] | None) -> np.ndarray:
        """Like ``embed_batch``, given each text's token count when the caller has it (ingest's pool counted
        them to choose the call), so that the texts are not tokenized once more just to be batched."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self._load()
        import torch

        torch.set_num_threads(choose_threads(len(texts), self._batch_threads, self._small_threads))
        if len(texts) == 1:
            parts = [[0]]
        else:  # ingest's pool hands in the counts it chose the call by; others are counted here
            parts = length_batches(counts if counts is not None else self.token_counts(texts), self._batch_size)
        encoded = [model.encode(  # type: ignore[attr-defined]
            [texts[i] for i in part],
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            processing_kwargs={"text": {"pad_to_multiple_of": PAD_TO}},
        ) for part in parts]
        vectors = np.empty((len(texts), encoded[0].shape[1]), dtype=np.float32)
        for part, block in zip(parts, encoded, strict=True):
            vectors[part] = block
        out = np.asarray(vectors, dtype=np.float32)
        if self.precision != "fp32":  # normalised in bf16: renormalise in float32 so cosines stay <= 1
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
