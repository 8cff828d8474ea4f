"""Knowledge bases of a chosen size for the benchmark, built without re-encoding.

Encoding 100,000 chunks would take hours on two cores, and the latency and memory
of retrieval do not depend on what the vectors mean, only on how they are spread. So:

* up to the size of the real (ingested) benchmark corpus, a scale holds whole real
  documents with their real chunks and vectors, copied from that corpus;
* beyond it, the real documents are kept and synthetic documents of 50 chunks each
  are added. Their texts come from the same generator as the corpus (so BM25 sees the
  same vocabulary), and each vector is a real chunk vector plus Gaussian noise
  (sigma 0.03 per dimension, about cosine 0.85 to its origin), re-normalised, so the
  vectors form the same kind of clusters as real ones.

Synthetic rows go through the public store interface (``Store.add_chunks`` and
``Store.put_docs`` with status ``done``), exactly as the ingest writer stores them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.bench.corpus import TERMS, paragraph
from kb.core.documents import Chunk, DocRecord, content_hash
from kb.core.settings import Settings
from kb.index.knowledge import DONE
from kb.index.store import Store, open_store

__all__ = ["RealCorpus", "ScaleBuild", "build_scale", "synthetic_part", "NOISE_SIGMA", "SYNTHETIC_DOC_CHUNKS"]

NOISE_SIGMA = 0.03
SYNTHETIC_DOC_CHUNKS = 50


@dataclass
class RealCorpus:
    """The ingested benchmark corpus: its manifest rows, chunks (in document order) and vectors."""

    docs: list[DocRecord]
    chunks: list[Chunk]
    vectors: np.ndarray

    @classmethod
    def read(cls, store: Store) -> RealCorpus:
        docs = sorted(store.docs(), key=lambda d: d.doc_id)
        ids = [cid for d in docs for cid in sorted(store.chunk_ids(d.doc_id))]
        chunks, vectors = store.get_chunks(ids, with_embeddings=True)
        assert vectors is not None
        return cls(docs, chunks, vectors)


@dataclass
class ScaleBuild:
    settings: Settings
    chunks: int
    real_chunks: int
    write_s: float


def _real_part(real: RealCorpus, n: int) -> tuple[list[DocRecord], list[int]]:
    docs: list[DocRecord] = []
    rows: list[int] = []
    by_doc: dict[str, list[int]] = {}
    for row, chunk in enumerate(real.chunks):
        by_doc.setdefault(chunk.doc_id, []).append(row)
    for doc in real.docs:
        if len(rows) >= n:
            break
        docs.append(doc)
        rows.extend(by_doc.get(doc.doc_id, []))
    return docs, rows


def synthetic_part(real: RealCorpus, count: int, rng: random.Random, np_rng: np.random.Generator,
                   start: int = 0) -> tuple[list[DocRecord], list[Chunk], np.ndarray]:
    """``count`` synthetic chunks in 50-chunk documents, numbered from chunk ``start`` (a multiple of 50) on."""
    docs: list[DocRecord] = []
    chunks: list[Chunk] = []
    start -= start % SYNTHETIC_DOC_CHUNKS
    for d in range(start, start + count, SYNTHETIC_DOC_CHUNKS):
        doc_id = f"synthetic-{d // SYNTHETIC_DOC_CHUNKS:06d}"
        title = f"{rng.choice(TERMS).title()} handbook {d // SYNTHETIC_DOC_CHUNKS + 1}"
        n = min(SYNTHETIC_DOC_CHUNKS, start + count - d)
        for i in range(n):
            text = paragraph(rng, 700)
            chunks.append(Chunk(id=f"{doc_id}-{i:05d}-{content_hash(text)[:10]}", doc_id=doc_id, index=i, text=text, title=title,
                                source=f"/synthetic/{doc_id}.md", source_type="markdown", page=None, section=None,
                                date="2024-01-01", areas=[]))
        docs.append(DocRecord(doc_id=doc_id, source=f"/synthetic/{doc_id}.md", source_type="markdown", title=title,
                              content_hash=f"synthetic-{doc_id}", status=DONE, chunk_count=n, date="2024-01-01"))
    origins = np_rng.integers(0, len(real.vectors), size=len(chunks))
    vectors = real.vectors[origins] + np_rng.normal(0.0, NOISE_SIGMA, size=(len(chunks), real.vectors.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return docs, chunks, vectors.astype(np.float32)


def build_scale(real: RealCorpus, n: int, base: Settings, folder: Path, seed: int = 5) -> ScaleBuild:
    """Write a knowledge base of about ``n`` chunks into ``folder`` and return its settings.

    The store-write time (chunks and manifest rows) is measured; the keyword index is
    left to be built by the first process that opens the knowledge base.
    """
    settings = base.with_overrides(data_dir=folder, collection="bench", chroma_host=None)
    docs, rows = _real_part(real, n)
    chunks = [real.chunks[r] for r in rows]
    vectors = real.vectors[rows] if rows else np.zeros((0, real.vectors.shape[1]), np.float32)
    if n > len(rows):
        s_docs, s_chunks, s_vectors = synthetic_part(real, n - len(rows), random.Random(seed), np.random.default_rng(seed))
        docs, chunks, vectors = docs + s_docs, chunks + s_chunks, np.concatenate([vectors, s_vectors])
    store = open_store(settings)
    started = time.perf_counter()
    store.add_chunks(chunks, vectors)
    store.put_docs(docs)
    return ScaleBuild(settings, len(chunks), len(rows), time.perf_counter() - started)
