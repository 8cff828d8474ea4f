"""Small batches to a quick-starting encoder, large ones to the fast one: one Embedder for both.

A question (one text) or an answer's sentences (a few dozen) are encoded by the numpy
encoder, which is ready in a fraction of a second; ingest batches go to the configured
backend (torch in bf16 on this kind of CPU), which only then is imported and loaded. The
numpy vectors are the float32 reference the bf16 ones approximate (cosine >= 0.9999), so
both belong to one index. Which one encodes a batch depends only on its size, never on
what happens to be loaded, so the same question always gets the same vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.embed.base import SMALL_BATCH, Embedder

__all__ = ["SizeRouted"]


SMALL_CHARS = 16_000  # about 4,000 tokens: a fraction of a second in numpy on one core; more goes to the large encoder


class SizeRouted:
    """Batches of at most ``threshold`` texts and ``max_chars`` characters go to ``small``, others to ``large``."""

    def __init__(self, *, small: Embedder, large: Embedder, threshold: int = SMALL_BATCH, max_chars: int = SMALL_CHARS):
        self.name = large.name
        self.small = small
        self.large = large
        self.threshold = threshold
        self.max_chars = max_chars

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        small = len(texts) <= self.threshold and sum(len(t) for t in texts) <= self.max_chars
        return (self.small if small else self.large).embed_batch(texts)
