"""The keyword (BM25) index over the same chunks as the vector store.

Built with bm25s, persisted under ``data_dir/keyword/<fingerprint>``, and rebuilt only
when the knowledge base's fingerprint changes (never per question). Each entry keeps
the light metadata that filters need, so filtered keyword search needs no store call.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.documents import REV, Chunk
from kb.core.metadata import date_number
from kb.core.text import STOPWORDS
from kb.index.vocabulary import Vocabulary, find_terms, load_glossary, load_plain_words

__all__ = ["KeywordIndex", "tokenize", "analyse", "Analysis", "FILTER_FIELDS", "preload"]

logger = logging.getLogger(__name__)
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'.][a-z0-9]+)*")
FILTER_FIELDS = ("doc_id", "areas", "date_ord", "source_type", "authority", "jurisdiction")
FORMAT = 2  # what a saved index's entries hold; 2: each chunk's number and revision too (retrieval reads them)
_stemmer: Any = None
_CHUNK_PLACE = re.compile(r"-(\d{5,})-[0-9a-f]{10}$")  # a chunk id's position in its document (ingest.chunking)


def _bm25s():  # type: ignore[no-untyped-def]
    """Import bm25s, undoing its import-time ``setLevel(DEBUG)`` on its own logger."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def preload() -> None:
    """Import the BM25 library now (with scipy, about a quarter of a second): ingest's writer calls it beside the
    encoder, so that the index build ending the run does not wait for the import."""
    _bm25s()


def _stem(words: list[str]) -> list[str]:
    global _stemmer
    if _stemmer is None:
        import Stemmer

        _stemmer = Stemmer.Stemmer("english")
    return list(_stemmer.stemWords(words))


def tokenize(text: str) -> list[str]:
    """Lower-case, split, keep compounds (``e-rate`` gives ``erate``, ``e`` and ``rate``), drop stop words, stem."""
    words: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        token = token.strip(".'")
        if any(sep in token for sep in "-'."):
            parts = [p for p in re.split(r"[-'.]", token) if p]
            words.append("".join(parts))
            words.extend(p for p in parts if len(p) > 1 and p not in STOPWORDS)
        elif len(token) > 1 and token not in STOPWORDS:
            words.append(token)
    return _stem(words)


Analysis = tuple[list[str], dict[str, list[str]]]  # a chunk's tokens and the terms it defines


def analyse(chunk: Chunk) -> Analysis:
    """What the index keeps of one chunk: its tokens (never empty) and its acronyms and numbered terms.

    Ingest calls this beside the encoder as chunks are written, so the index build at the end
    of a run only counts (``KeywordIndex.build`` with ``analysed``).
    """
    return tokenize(chunk.embed_text) or ["_empty_"], find_terms(chunk.text)


@dataclass
class KeywordIndex:
    """BM25 over chunk texts, with per-chunk filter metadata.

    It also keeps every chunk's tokens (as ids into ``vocab``) and the content hash of each
    document it holds, so that after a change only new or changed documents are read and
    tokenized again (:meth:`build` with ``reuse``); the BM25 statistics are recomputed
    from the token ids, which is fast.
    """

    ids: list[str]
    meta: list[dict[str, Any]]
    retriever: Any
    tokens: list[np.ndarray] | None = None  # per chunk: ids into vocab (None for an index saved before they were kept)
    vocab: list[str] = field(default_factory=list)
    doc_hashes: dict[str, str] = field(default_factory=dict)
    terms: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per document: its acronyms and numbered terms

    @classmethod
    def build(cls, chunks: Iterable[Chunk], *, k1: float = 1.2, b: float = 0.75, doc_hashes: dict[str, str] | None = None,
              reuse: KeywordIndex | None = None, keep: Collection[str] = (),
              analysed: dict[str, Analysis] | None = None) -> KeywordIndex:
        """Index the chunks, plus the entries of ``reuse`` whose document is in ``keep``.

        Args:
            chunks: the chunks to tokenize (the new and changed documents' when reusing).
            doc_hashes: content hash of every document the index will hold (for later reuse).
            reuse: an earlier index whose tokens are kept for the documents in ``keep``.
            analysed: :func:`analyse` results by chunk id, made earlier (by ingest); others are analysed here.
        """
        analysed = analysed or {}
        ids: list[str] = []
        meta: list[dict[str, Any]] = []
        rows: list[np.ndarray] = []
        vocab: list[str] = []
        terms: dict[str, dict[str, list[str]]] = {}
        kept_rows = reuse.tokens if reuse is not None and keep else None
        if reuse is not None and kept_rows is not None:
            wanted = set(keep)
            vocab = list(reuse.vocab)
            for cid, entry, row in zip(reuse.ids, reuse.meta, kept_rows, strict=True):
                if entry.get("doc_id") in wanted:
                    ids.append(cid)
                    meta.append(entry)
                    rows.append(row)
            terms = {doc_id: found for doc_id, found in reuse.terms.items() if doc_id in wanted}
        positions = {word: n for n, word in enumerate(vocab)}
        for chunk in chunks:
            ids.append(chunk.id)
            meta.append(_filter_meta(chunk))
            words, found = analysed.get(chunk.id) or analyse(chunk)
            rows.append(np.fromiter((positions.setdefault(w, len(positions)) for w in words), dtype=np.int32, count=len(words)))
            _merge_terms(terms.setdefault(chunk.doc_id, {}), found)
        vocab = list(positions)  # insertion order: old words first, then new ones
        if kept_rows is not None:  # words of documents no longer kept would otherwise stay in the vocabulary
            rows, vocab = _compact(rows, vocab)
        retriever = _bm25s().BM25(k1=k1, b=b)
        if rows:
            retriever.index((rows, {word: n for n, word in enumerate(vocab)}), show_progress=False)
        return cls(ids=ids, meta=meta, retriever=retriever, tokens=rows, vocab=vocab, doc_hashes=dict(doc_hashes or {}),
                   terms=terms)

    @property
    def vocabulary(self) -> Vocabulary:
        """The acronyms and numbered terms the indexed documents define, the standard acronyms
        (``glossary.txt``) they never write but whose long forms they use, and the everyday phrases
        (``plain_words.txt``) for terms they write (built once per index).

        An acronym the documents write themselves keeps their meaning (a medical corpus's "ED" is
        not the Department of Education) and is searched as written.
        """
        if not hasattr(self, "_vocabulary"):
            known = self.retriever.vocab_dict if self.ids else {}

            def written(text: str) -> bool:  # the indexed documents use every word of it
                return bool(words := tokenize(text)) and all(w in known for w in words)

            standard = {short: entry for short, entry in load_glossary().items()
                        if not any(t in known for t in tokenize(short)) and written(entry[0])}
            plain = {phrases: kept for phrases, terms in load_plain_words().items()
                     if (kept := tuple(t for t in terms if written(t)))}
            self._vocabulary = Vocabulary.from_terms(self.terms, standard=standard, plain=plain)
        return self._vocabulary

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (tokenized) term; unseen terms get the maximum."""
        n = max(1, len(self.ids))
        position = self.retriever.vocab_dict.get(token) if self.ids else None
        df = 0
        if position is not None:
            indptr = self.retriever.scores["indptr"]
            df = int(indptr[position + 1] - indptr[position])
        return float(np.log((n - df + 0.5) / (df + 0.5) + 1.0))

    def meta_of(self, chunk_id: str) -> dict[str, Any]:
        """Filter metadata of one chunk (empty when unknown)."""
        if not hasattr(self, "_positions"):
            self._positions = {cid: n for n, cid in enumerate(self.ids)}
        position = self._positions.get(chunk_id)
        return self.meta[position] if position is not None else {}

    def neighbour_id(self, chunk_id: str, step: int) -> str | None:
        """The id of the chunk ``step`` places from this one in its document, when the index holds it beside it.

        Chunks are indexed in document order, with ids ending in their position and a content hash
        ("<doc>-00012-<hash>"), so the neighbour is found without a store query. None when there is
        none there (the document's first or last chunk), or when :meth:`places` is false.
        """
        if not self.places(chunk_id):
            return None
        here = self._positions[chunk_id]
        there = here + step
        if not 0 <= there < len(self.ids) or self.meta[there].get("doc_id") != self.meta[here].get("doc_id"):
            return None
        mine, theirs = _CHUNK_PLACE.search(chunk_id), _CHUNK_PLACE.search(self.ids[there])
        if mine is None or theirs is None or int(theirs.group(1)) != int(mine.group(1)) + step:
            return None
        return self.ids[there]

    def places(self, chunk_id: str) -> bool:
        """True when the index holds the chunk under an id that carries its position, so it can name its neighbours."""
        if not hasattr(self, "_positions"):
            self._positions = {cid: n for n, cid in enumerate(self.ids)}
        return chunk_id in self._positions and _CHUNK_PLACE.search(chunk_id) is not None

    def __len__(self) -> int:
        return len(self.ids)

    def codes(self, name: str) -> tuple[np.ndarray, dict[Any, int]]:
        """One filter field of every entry as integer codes and the code of each value (built once per field).

        ``areas`` is a list per entry: its codes are those of the entry's first area, so filters
        on areas use :meth:`has_area` instead.
        """
        cache: dict[str, tuple[np.ndarray, dict[Any, int]]] = self.__dict__.setdefault("_codes", {})
        if name not in cache:
            values: dict[Any, int] = {}
            column = np.fromiter((values.setdefault(_hashable(m.get(name)), len(values)) for m in self.meta),
                                 dtype=np.int32, count=len(self.meta))
            cache[name] = (column, values)
        return cache[name]

    def has_area(self, area: str) -> np.ndarray:
        """Which entries are tagged with the area (built once per area)."""
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_areas", {})
        if area not in cache:
            cache[area] = np.fromiter((area in m.get("areas", ()) for m in self.meta), dtype=bool, count=len(self.meta))
        return cache[area]

    def dates(self) -> np.ndarray:
        """Every entry's date as a day number, NaN where it has none (built once)."""
        if not hasattr(self, "_dates"):
            self._dates = np.fromiter((m.get("date_ord", np.nan) for m in self.meta), dtype=np.float64, count=len(self.meta))
        return self._dates

    def search(self, query: str, k: int, allow: Callable[[dict[str, Any]], bool] | None = None, *,
               mask: np.ndarray | None = None, extra: str = "", extra_weight: float = 1.0) -> list[tuple[str, float]]:
        """Top-k (chunk id, BM25 score) pairs; ``allow`` (per entry) or ``mask`` (0/1 per entry) filters them.

        ``extra`` holds words added to the query (the long forms of its acronyms): their BM25
        scores count ``extra_weight`` times, so added words never outweigh the user's own.
        """
        if not self.ids:
            return []
        vocab = self.retriever.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        added = [t for t in dict.fromkeys(tokenize(extra)) if t in vocab and t not in tokens]
        if added and extra_weight == 1.0:
            tokens, added = tokens + added, []
        if not tokens and not added:
            return []
        if allow is not None:
            mask = np.fromiter((1.0 if allow(m) else 0.0 for m in self.meta), dtype=np.float32, count=len(self.meta))
        if mask is not None:
            mask = mask.astype(np.float32, copy=False)
            if not mask.any():
                return []
        k = min(k, len(self.ids))
        if added:
            return self._weighted_search(tokens, added, k=k, weight=extra_weight, mask=mask)
        docs, scores = self.retriever.retrieve([tokens], k=k, show_progress=False, weight_mask=mask, n_threads=1)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]

    def _weighted_search(self, tokens: list[str], added: list[str], *, k: int, weight: float,
                         mask: np.ndarray | None) -> list[tuple[str, float]]:
        """BM25 of the own tokens plus ``weight`` times BM25 of the added ones (BM25 sums over query terms)."""
        scores = self.retriever.get_scores(tokens, weight_mask=mask) if tokens else np.zeros(len(self.ids), np.float32)
        if weight > 0:
            scores = scores + weight * self.retriever.get_scores(added, weight_mask=mask)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by position, as bm25s orders them
        return [(self.ids[int(d)], float(scores[d])) for d in top if scores[d] > 0]

    # ----- persistence ------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # one per writer
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self.retriever.save(str(tmp / "bm25"), show_progress=False)
        entries: dict[str, Any] = {"format": FORMAT, "ids": self.ids, "meta": self.meta, "vocab": self.vocab,
                                   "doc_hashes": self.doc_hashes, "terms": self.terms}
        if self.tokens is not None:
            lengths = np.fromiter((len(row) for row in self.tokens), dtype=np.int64, count=len(self.tokens))
            flat = np.concatenate(self.tokens) if self.tokens else np.zeros(0, dtype=np.int32)
            np.savez(tmp / "tokens.npz", flat=flat.astype(np.int32), lengths=lengths)
        (tmp / "entries.json").write_text(json.dumps(entries))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)  # readers never see a half-written index
        except OSError:  # another process saved the same index first: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / "entries.json").is_file():
                raise

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        bm25s = _bm25s()
        entries = json.loads((folder / "entries.json").read_text())
        if "terms" not in entries:  # saved before the vocabulary was kept: the caller rebuilds it
            raise ValueError(f"keyword index in {folder} has no vocabulary")
        if entries.get("format", 1) < FORMAT:  # entries without what retrieval reads from them: rebuilt once
            raise ValueError(f"keyword index in {folder} was saved by an older release (format {entries.get('format', 1)}, "
                             f"this one reads {FORMAT}: chunk numbers and revisions)")
        retriever = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if entries["ids"] else bm25s.BM25()
        tokens: list[np.ndarray] | None = None
        if (folder / "tokens.npz").is_file():
            with np.load(folder / "tokens.npz") as saved:
                bounds = np.cumsum(saved["lengths"])[:-1]
                tokens = list(np.split(saved["flat"], bounds)) if len(saved["lengths"]) else []
            if len(tokens) != len(entries["ids"]):
                tokens = None  # not this index's tokens: the next change rebuilds from the texts
        return cls(ids=entries["ids"], meta=entries["meta"], retriever=retriever, tokens=tokens,
                   vocab=entries.get("vocab", []), doc_hashes=entries.get("doc_hashes", {}), terms=entries["terms"])


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _merge_terms(into: dict[str, list[str]], found: dict[str, list[str]]) -> None:
    for kind, values in found.items():
        if values:
            into[kind] = sorted(set(into.get(kind, [])) | set(values))


def _compact(rows: list[np.ndarray], vocab: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """Renumber token ids to 0..n-1 over the words the rows use (dropping removed documents' words)."""
    if not rows:
        return [], []
    lengths = [len(row) for row in rows]
    used, inverse = np.unique(np.concatenate(rows), return_inverse=True)
    renumbered = np.split(inverse.astype(np.int32), np.cumsum(lengths)[:-1])
    return list(renumbered), [vocab[int(i)] for i in used]


def _filter_meta(chunk: Chunk) -> dict[str, Any]:
    # the chunk's number: retrieval's neighbour support finds a candidate's neighbours without reading the store
    meta: dict[str, Any] = {"doc_id": chunk.doc_id, "index": chunk.index, "areas": chunk.areas, "source_type": chunk.source_type}
    if (number := date_number(chunk.date)) is not None:
        meta["date_ord"] = number
    for key in ("authority", "jurisdiction", "expires", "superseded_by", REV):  # REV: retrieval checks a hit is current
        if chunk.extra.get(key):
            meta[key] = chunk.extra[key]
    return meta
