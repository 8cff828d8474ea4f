"""Extraction-quality measures for the ingest health report.

- near-duplicates: a MinHash signature of word 5-shingles per document, compared with
  the signatures already in the manifest (estimated Jaccard similarity);
- flattened tables: sections whose lines are mostly short cells and numbers, the
  typical residue of a PDF table read as text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

from kb.core.documents import DocRecord, LoadedDocument

__all__ = ["signature", "near_duplicates", "flattened_table_sections", "NEAR_DUPLICATE"]

PERMUTATIONS = 64
NEAR_DUPLICATE = 0.8
_MERSENNE = (1 << 61) - 1
_rng = np.random.default_rng(20261128)
_A = _rng.integers(1, _MERSENNE, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)  # odd: a bijection modulo 2**64
_B = _rng.integers(0, _MERSENNE, PERMUTATIONS, dtype=np.uint64)
_WORD = re.compile(r"[a-z0-9]+")
_BASE = np.uint64(1_000_003)
_BLOCK = 20_000  # shingles per step of the signature


def _word_hashes(words: list[str]) -> np.ndarray:
    """A 64-bit hash per word (each distinct word hashed once)."""
    distinct: dict[str, int] = {}
    codes = np.fromiter((distinct.setdefault(w, len(distinct)) for w in words), dtype=np.int64, count=len(words))
    table = np.fromiter((int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "big") for w in distinct),
                        dtype=np.uint64, count=len(distinct))
    return table[codes]


def signature(text: str, shingle: int = 5) -> list[int]:
    """MinHash signature (64 values) of a text's word shingles; empty for very short texts.

    Vectorised: a shingle's hash is a polynomial of its words' hashes (arithmetic modulo
    2**64), and each of the 64 hash functions is a multiply-add of it, also modulo 2**64.
    """
    words = _WORD.findall(text.lower())
    if len(words) < shingle:
        return []
    word_hashes = _word_hashes(words)
    count = len(words) - shingle + 1
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(shingle):
        hashes = hashes * _BASE + word_hashes[offset:offset + count]
    mins = np.full(PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, count, _BLOCK):  # bounded memory for very long documents
        block = hashes[start:start + _BLOCK, None] * _A[None, :] + _B[None, :]
        np.minimum(mins, block.min(axis=0), out=mins)
    return [int(v) for v in mins]


def near_duplicates(sig: list[int], docs: Iterable[DocRecord], exclude: str = "") -> list[tuple[DocRecord, float]]:
    """Documents whose stored signature is estimated to overlap this one by NEAR_DUPLICATE or more."""
    if not sig:
        return []
    mine = np.asarray(sig, dtype=np.uint64)
    found = []
    for doc in docs:
        other = doc.meta.get("minhash") if doc.doc_id != exclude else None
        if other and len(other) == len(sig):
            similarity = float(np.mean(mine == np.asarray(other, dtype=np.uint64)))
            if similarity >= NEAR_DUPLICATE:
                found.append((doc, similarity))
    return sorted(found, key=lambda pair: -pair[1])


def flattened_table_sections(doc: LoadedDocument) -> list[str]:
    """Pages or sections that look like a table flattened into lines of short cells."""
    flagged = []
    for section in doc.sections:
        lines = [ln for ln in section.text.split("\n") if ln.strip()]
        if len(lines) < 12:
            continue
        short = sum(1 for ln in lines if len(ln) < 25)
        numeric = sum(1 for ln in lines if sum(ch.isdigit() for ch in ln) >= max(1, len(ln) // 3))
        if short / len(lines) > 0.6 and (numeric / len(lines) > 0.2 or short / len(lines) > 0.8):
            flagged.append(f"p. {section.page}" if section.page else (section.heading or "a section"))
    return flagged
