"""The hash embedder: deterministic bag-of-words vectors, a fast stand-in for unit tests (``CTO_EMBEDDING_MODEL=hash``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["HashEmbedder"]


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
