"""``python -m eval beir``: BEIR (SciFact) nDCG@10 and recall@100 of our retrieval, beside published baselines.

The corpus goes through our own pieces: the chunker, the embedder, the Chroma store
with its manifest, the BM25 keyword index and :class:`kb.answering.retrieval.Retriever`. Chunk
hits are folded into a document ranking by each document's best chunk (its first
appearance in the ranked list, which for score-ordered lists is the max score).

Corpus vectors are cached on disk under ``data_dir/cache/beir/<key>``, keyed by the
embedding model, the corpus sha256 and the chunking parameters, together with the
built store, so a repeated run takes seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from eval.beir.data import BeirData, beir_chunks, load_beir
from eval.metrics_ir import first_occurrence, mean_over_queries
from kb.answering.retrieval import Retriever
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.core.documents import Chunk, DocRecord
from kb.core.settings import REPO_ROOT, Settings
from kb.embed import Embedder, make_embedder
from kb.index.keyword import KeywordIndex
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.store import Hit, Store

__all__ = ["BeirConfig", "BeirIndex", "DEFAULT_CONFIGS", "build_index", "evaluate", "run_beir", "COMMANDS"]

logger = logging.getLogger(__name__)
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "beir" / "scifact"
BASELINES = {  # published nDCG@10 on the SciFact test split (see shared/data/SOURCES.md, A.3)
    "BM25 (BEIR paper, Table 2)": 0.665,
    "all-MiniLM-L6-v2 (MTEB, exact cosine)": 0.64508,
}
ENCODE_BLOCK = 1024


@dataclass(frozen=True)
class BeirConfig:
    """One retrieval configuration: settings overrides plus keyword-index parameters."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    k1: float = 1.2
    b: float = 0.75
    title_weight: int = 1  # how many times the title counts in a chunk's BM25 text
    exact: bool = False  # brute-force cosine over all chunk vectors instead of the store (sanity check)

    @property
    def keyword_key(self) -> tuple[float, float, int]:
        return (self.k1, self.b, self.title_weight)


def _configs() -> list[BeirConfig]:
    off = {"mmr": False}
    deployed = {"fetch_k": Settings.model_fields["fetch_k"].default}
    out = [
        BeirConfig("defaults as deployed", deployed),  # every setting at its default (weighted 0.4, no MMR)
        BeirConfig("dense-exact", {"fusion": "dense", **off}, exact=True),
        BeirConfig("dense", {"fusion": "dense", **off}),
        BeirConfig("bm25", {"fusion": "bm25", **off}),
        BeirConfig("bm25 k1=0.9 b=0.4", {"fusion": "bm25", **off}, k1=0.9, b=0.4),
        BeirConfig("bm25 k1=1.5 b=0.75", {"fusion": "bm25", **off}, k1=1.5, b=0.75),
        BeirConfig("bm25 b=0.9", {"fusion": "bm25", **off}, b=0.9),
        BeirConfig("bm25 title x2", {"fusion": "bm25", **off}, title_weight=2),
        BeirConfig("rrf", {"fusion": "rrf", **off}),
        BeirConfig("rrf fetch_k=40", {"fusion": "rrf", **off, **deployed}),
        BeirConfig("rrf fetch_k=100", {"fusion": "rrf", "fetch_k": 100, **off}),
    ]
    out += [BeirConfig(f"rrf k={k}", {"fusion": "rrf", "rrf_k": k, **off}) for k in (10, 30, 100)]
    out += [
        BeirConfig("rrf bm25 k1=0.9 b=0.4", {"fusion": "rrf", **off}, k1=0.9, b=0.4),
        BeirConfig("rrf bm25 title x2", {"fusion": "rrf", **off}, title_weight=2),
        BeirConfig("rrf+mmr", {"fusion": "rrf", "mmr": True}),
        BeirConfig("rrf+mmr lambda=0.85", {"fusion": "rrf", "mmr": True, "mmr_lambda": 0.85}),
    ]
    out += [BeirConfig(f"weighted w={w}", {"fusion": "weighted", "dense_weight": w, **off}) for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
    out += [
        BeirConfig("weighted w=0.5 fetch_k=40", {"fusion": "weighted", "dense_weight": 0.5, **off, **deployed}),
        BeirConfig("weighted w=0.5+mmr", {"fusion": "weighted", "dense_weight": 0.5, "mmr": True}),
    ]
    # the deployed defaults with one thing changed: what switching a default back would give
    out += [
        BeirConfig("deployed, rrf", {**deployed, "fusion": "rrf"}),
        BeirConfig("deployed, with mmr", {**deployed, "mmr": True}),
        BeirConfig("deployed without expansion", {**deployed, "expand_vocabulary": False}),
        BeirConfig("deployed expansion weight 1", {**deployed, "expansion_weight": 1.0}),
        BeirConfig("deployed without neighbour support", {**deployed, "neighbour_support": 0.0}),
    ]
    return out


DEFAULT_CONFIGS = _configs()


class BeirIndex:
    """A knowledge base holding one BEIR corpus, with BM25 variants built on demand."""

    def __init__(self, kb: KnowledgeBase, chunks: list[Chunk], *, vectors: np.ndarray, embedder: Embedder):
        self.kb = kb
        self.chunks = chunks
        self.vectors = vectors
        self.embedder = embedder
        self._keyword: dict[tuple[float, float, int], KeywordIndex] = {}

    def keyword(self, config: BeirConfig) -> KeywordIndex:
        """The store's own index for the default parameters, a fresh in-memory one otherwise; searches remembered."""
        if config.keyword_key not in self._keyword:
            if config.keyword_key == (1.2, 0.75, 1):
                index = self.kb.keyword
            else:
                chunks = self.chunks if config.title_weight == 1 else [
                    dataclasses.replace(c, title=" ".join([c.title] * config.title_weight)) for c in self.chunks]
                index = KeywordIndex.build(chunks, k1=config.k1, b=config.b)
            self._keyword[config.keyword_key] = _MemoKeyword(index)  # type: ignore[assignment]
        return self._keyword[config.keyword_key]


class _MemoKeyword:
    """A keyword index whose unfiltered searches are remembered (configurations repeat them)."""

    def __init__(self, index: KeywordIndex):
        self._index = index
        self._searches: dict[tuple[str, int, str, float], list[tuple[str, float]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def search(self, query: str, k: int, allow: Callable[[dict[str, Any]], bool] | None = None, *,
               mask: np.ndarray | None = None, extra: str = "", extra_weight: float = 1.0) -> list[tuple[str, float]]:
        if allow is not None or mask is not None:
            return self._index.search(query, k, allow, mask=mask, extra=extra, extra_weight=extra_weight)
        key = (query, k, extra, extra_weight)
        if key not in self._searches:
            self._searches[key] = self._index.search(query, k, extra=extra, extra_weight=extra_weight)
        return self._searches[key]


class _MemoryStore:
    """The BEIR store, with chunk reads served from memory and dense searches remembered per query.

    Every configuration asks the same dense question for the same query; answering it once
    (and reading chunk texts and vectors from the arrays already in memory) keeps a sweep over
    many configurations fast without changing what :class:`Retriever` does with the answers.
    """

    def __init__(self, store: Store, chunks: list[Chunk], vectors: np.ndarray):
        self._store = store
        self._rows = {c.id: (c, vectors[n]) for n, c in enumerate(chunks)}
        self._searches: dict[tuple[bytes, int, str], list[Hit]] = {}
        self._nearest: dict[tuple[bytes, int, str], list[tuple[str, float]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def search(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        key = (np.asarray(vector, dtype=np.float32).tobytes(), k, json.dumps(where, sort_keys=True))
        if key not in self._searches:
            self._searches[key] = self._store.search(vector, k, where)
        return self._searches[key]

    def nearest(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        key = (np.asarray(vector, dtype=np.float32).tobytes(), k, json.dumps(where, sort_keys=True))
        if key not in self._nearest:
            self._nearest[key] = self._store.nearest(vector, k, where)
        return self._nearest[key]

    def get_chunks(self, ids: Sequence[str], with_embeddings: bool = False) -> tuple[list[Chunk], np.ndarray | None]:
        found = [self._rows[i] for i in ids if i in self._rows]
        vectors = np.stack([v for _, v in found]) if with_embeddings and found else None
        return [c for c, _ in found], vectors


class _EvalKB(KnowledgeBase):
    """The BEIR knowledge base with a swappable keyword index (for BM25 parameter variants)."""

    keyword_override: KeywordIndex | None = None

    def refresh(self, max_age_s: float = 1.0, force: bool = False) -> bool:
        """The corpus does not change during a run: re-read the manifest only when forced."""
        return super().refresh(max_age_s=float("inf"), force=force)

    @property
    def keyword(self) -> KeywordIndex:
        return self.keyword_override if self.keyword_override is not None else KnowledgeBase.keyword.fget(self)  # type: ignore[attr-defined]


def _cache_key(data: BeirData, embedder: Embedder, settings: Settings) -> str:
    parts = [data.name, data.corpus_sha256, embedder.name, str(settings.chunk_size), str(settings.chunk_overlap)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _encode(embedder: Embedder, texts: list[str], label: str, echo: Callable[[str], None]) -> np.ndarray:
    parts: list[np.ndarray] = []
    started = time.perf_counter()
    for start in range(0, len(texts), ENCODE_BLOCK):
        parts.append(embedder.embed_batch(texts[start:start + ENCODE_BLOCK]))
        done = min(start + ENCODE_BLOCK, len(texts))
        echo(f"encoded {label} {done}/{len(texts)} ({done / (time.perf_counter() - started):.1f}/s)")
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def _cached_vectors(path: Path, texts: list[str], embedder: Embedder, label: str, echo: Callable[[str], None]) -> np.ndarray:
    if path.is_file():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    vectors = _encode(embedder, texts, label, echo)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def _fill_store(kb: KnowledgeBase, data: BeirData, chunks: list[Chunk], vectors: np.ndarray) -> None:
    store = kb.store
    store.reset()
    store.open()  # fresh, empty collections
    store.add_chunks(chunks, vectors)
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
    store.put_docs([DocRecord(doc_id=doc_id, source=f"beir:{data.name}/{doc_id}", source_type="beir", title=title,
                              content_hash=data.corpus_sha256[:16], status=DONE, chunk_count=counts.get(doc_id, 0))
                    for doc_id, (title, _) in data.corpus.items()])
    kb.refresh(force=True)


def build_index(data: BeirData, settings: Settings, *, embedder: Embedder | None = None,
                echo: Callable[[str], None] = logger.info) -> BeirIndex:
    """Chunk, embed (or load cached vectors) and store a BEIR corpus; reuse a complete cached store."""
    embedder = embedder or make_embedder(settings)
    key = _cache_key(data, embedder, settings)
    folder = settings.data_dir / "cache" / "beir" / key
    chunks = beir_chunks(data, settings.chunk_size, settings.chunk_overlap)
    texts = [c.embed_text for c in chunks]
    # the chunker may change between versions: cached vectors and store are those of these very texts
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    kb_settings = settings.with_overrides(data_dir=folder / "kb", collection=f"beir_{key}_{digest}", chroma_host=None)
    vectors = _cached_vectors(folder / f"corpus_vectors-{digest}.npy", texts, embedder, "chunks", echo)
    kb = _EvalKB(kb_settings, embedder=embedder)
    if kb.store.count() != len(chunks) or len(kb.done_docs()) != len(data.corpus):
        started = time.perf_counter()
        _fill_store(kb, data, chunks, vectors)
        echo(f"stored {len(chunks)} chunks of {len(data.corpus)} documents in {time.perf_counter() - started:.1f} s")
    kb._store = _MemoryStore(kb.store, chunks, vectors)  # type: ignore[assignment]
    return BeirIndex(kb, chunks, vectors=vectors, embedder=embedder)


def _query_vectors(index: BeirIndex, data: BeirData, settings: Settings, echo: Callable[[str], None]) -> dict[str, np.ndarray]:
    ids = list(data.queries)
    digest = hashlib.sha256("\n".join(f"{q}\t{data.queries[q]}" for q in ids).encode()).hexdigest()[:12]
    path = settings.data_dir / "cache" / "beir" / _cache_key(data, index.embedder, settings) / f"queries_{digest}.npy"
    vectors = _cached_vectors(path, [data.queries[q] for q in ids], index.embedder, "queries", echo)
    return dict(zip(ids, vectors, strict=True))


def _exact_ranking(index: BeirIndex, vector: np.ndarray, depth: int) -> list[str]:
    scores = index.vectors @ vector
    order = np.argsort(-scores)[: depth * 4]
    return first_occurrence([index.chunks[int(i)].doc_id for i in order])[:depth]


def _ranker(index: BeirIndex, config: BeirConfig, fetch_k: int, depth: int) -> Callable[[str, np.ndarray], list[str]]:
    """A function from (query, query vector) to a document ranking under one configuration."""
    if config.exact:
        return lambda query, vector: _exact_ranking(index, vector, depth)
    run_settings = index.kb.settings.with_overrides(**{"fetch_k": fetch_k, **config.settings})
    k = 30 if run_settings.mmr else depth * 3  # MMR only reorders a short head; its cost grows with k squared
    retriever = Retriever(index.kb, run_settings)

    def rank(query: str, vector: np.ndarray) -> list[str]:
        passages = retriever.retrieve(query, k=k, query_vector=vector)
        return first_occurrence([p.chunk.doc_id for p in passages])[:depth]

    return rank


def evaluate(index: BeirIndex, data: BeirData, configs: list[BeirConfig], *, settings: Settings,
             fetch_k: int = 300, echo: Callable[[str], None] = logger.info) -> list[dict[str, Any]]:
    """Score each configuration over the judged queries; one result row per configuration."""
    vectors = _query_vectors(index, data, settings, echo)
    rows: list[dict[str, Any]] = []
    assert isinstance(index.kb, _EvalKB)
    for config in configs:
        started = time.perf_counter()
        index.kb.keyword_override = index.keyword(config)
        rank = _ranker(index, config, fetch_k, depth=100)
        runs = {q: rank(text, vectors[q]) for q, text in data.queries.items()}
        index.kb.keyword_override = None
        mmr = config.settings.get("mmr", settings.mmr) and not config.exact
        row = {"config": config.name, "ndcg@10": round(mean_over_queries(runs, data.qrels, metric="ndcg", k=10), 4),
               "recall@100": None if mmr else round(mean_over_queries(runs, data.qrels, metric="recall", k=100), 4),
               "settings": config.settings, "bm25": {"k1": config.k1, "b": config.b, "title_weight": config.title_weight},
               "seconds": round(time.perf_counter() - started, 1)}
        echo(f"{row['config']:<24} nDCG@10 {row['ndcg@10']:.4f}  recall@100 {row['recall@100']}  ({row['seconds']} s)")
        rows.append(row)
    return rows


def run_beir(settings: Settings, data_dir: Path, *, config_names: list[str] | None = None, limit_queries: int | None = None,
             fetch_k: int = 300, embedder: Embedder | None = None, echo: Callable[[str], None] = logger.info) -> dict[str, Any]:
    """Load, index, evaluate and write the report; return the summary that was written."""
    from eval.beir.report import write_beir_report

    configs = select_configs(config_names)
    data = load_beir(data_dir).limit(limit_queries)
    started = time.perf_counter()
    index = build_index(data, settings, embedder=embedder, echo=echo)
    index_seconds = time.perf_counter() - started
    rows = evaluate(index, data, configs, settings=settings, fetch_k=fetch_k, echo=echo)
    summary = {
        "dataset": data.name, "split": "test", "queries": len(data.qrels), "documents": len(data.corpus),
        "chunks": len(index.chunks), "embedding_model": index.embedder.name, "fetch_k": fetch_k,
        "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
        "index_seconds": round(index_seconds, 1), "baselines": BASELINES, "results": rows,
        "method": {
            "documents": "each BEIR document is one document (title + abstract) cut by our chunker; chunks carry the BEIR id",
            "ranking": "Retriever.retrieve over the chunks; a document ranks at its best chunk (first appearance)",
            "fetch_k": "candidates per retriever, unless a configuration sets its own (the deployed default is 40)",
            "mmr": "MMR configurations return 30 chunks (MMR reorders a short head), so recall@100 is not reported for them",
        },
    }
    summary["report"] = str(write_beir_report(settings.reports_dir / "beir", summary))
    return summary


def select_configs(names: list[str] | None) -> list[BeirConfig]:
    """The named configurations (all when none are named)."""
    if not names:
        return list(DEFAULT_CONFIGS)
    by_name = {c.name: c for c in DEFAULT_CONFIGS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise click.BadParameter(f"unknown configuration(s) {unknown}; choose from: {', '.join(by_name)}", param_hint="--configs")
    return [by_name[n] for n in names]


@click.command("beir")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATA, show_default=True,
              help="BEIR-format folder (corpus.jsonl[.gz], queries.jsonl, qrels/test.tsv).")
@click.option("--configs", default="", help="Comma-separated configuration names (default: all; see --list).")
@click.option("--list", "list_only", is_flag=True, help="List the configurations and exit.")
@click.option("--limit-queries", type=int, default=None, help="Evaluate only the first N judged queries.")
@click.option("--fetch-k", type=int, default=300, show_default=True, help="Candidates per retriever (recall@100 needs many chunks).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@friendly_errors
def beir_command(data_dir: Path, configs: str, list_only: bool, limit_queries: int | None, fetch_k: int, as_json: bool) -> None:
    """BEIR SciFact nDCG@10 / recall@100 per retrieval configuration, beside published baselines.

    \b
    Examples:
      python -m eval beir
      python -m eval beir --configs "bm25,rrf,weighted w=0.5" --limit-queries 50
    """
    from eval.beir.report import markdown_table

    if list_only:
        click.echo("\n".join(c.name for c in DEFAULT_CONFIGS))
        return
    settings = load_settings()
    configure_logging(settings.log_level)
    names = [n.strip() for n in configs.split(",") if n.strip()]
    summary = run_beir(settings, data_dir, config_names=names, limit_queries=limit_queries, fetch_k=fetch_k,
                       echo=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(summary, indent=2) if as_json else markdown_table(summary))
    if not as_json:
        click.echo(f"\nreport: {summary['report']}")


COMMANDS = [beir_command]
