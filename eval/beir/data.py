"""BEIR-format data sets: loading, and turning each BEIR document into our chunks.

A BEIR folder holds ``corpus.jsonl`` (or ``corpus.jsonl.gz``), ``queries.jsonl`` and
``qrels/<split>.tsv``. The qrels files of the official distribution have CRLF line
endings and a header row, so they are read with :mod:`csv`; only the queries that the
qrels judge are evaluated (``queries.jsonl`` also holds the train queries).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.chunking import chunk_document
from kb.core.documents import Chunk, LoadedDocument, Section
from kb.core.errors import ConfigError

__all__ = ["BeirData", "load_beir", "beir_chunks", "corpus_file"]


@dataclass
class BeirData:
    """One BEIR split: documents, the judged queries, and their relevance judgments."""

    name: str
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # query id -> text (judged queries only)
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}
    corpus_sha256: str

    def limit(self, n: int | None) -> BeirData:
        """The first n judged queries (in qrels order), for quick runs."""
        if not n or n >= len(self.qrels):
            return self
        keep = list(self.qrels)[:n]
        return BeirData(self.name, self.corpus, {q: self.queries[q] for q in keep},
                        {q: self.qrels[q] for q in keep}, self.corpus_sha256)


def corpus_file(folder: Path) -> Path:
    """The corpus file of a BEIR folder (plain or gzipped)."""
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"no corpus.jsonl(.gz) in {folder}: pass --data with a BEIR-format folder (for example ../shared/data/beir/scifact)")


def _lines(path: Path) -> Iterator[str]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    for line in io.StringIO(raw.decode("utf-8")):
        if line.strip():
            yield line


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for n, row in enumerate(rows):
            if not row or (n == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or header row
            if len(row) < 3:
                raise ConfigError(f"{path} line {n + 1}: expected query-id, corpus-id, score separated by tabs")
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2].strip())
    return qrels


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; keep only the queries judged in ``qrels/<split>.tsv``.

    Raises:
        ConfigError: when a file is missing or a judged query or document is unknown.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file() or not (folder / "queries.jsonl").is_file():
        raise ConfigError(f"{folder} is not a BEIR folder (needs queries.jsonl and qrels/{split}.tsv)")
    source = corpus_file(folder)
    corpus: dict[str, tuple[str, str]] = {}
    for line in _lines(source):
        row = json.loads(line)
        corpus[str(row["_id"])] = (str(row.get("title") or ""), str(row.get("text") or ""))
    qrels = _read_qrels(qrels_path)
    all_queries = {str(r["_id"]): str(r["text"]) for r in map(json.loads, _lines(folder / "queries.jsonl"))}
    missing = [q for q in qrels if q not in all_queries]
    unknown_docs = {d for judged in qrels.values() for d in judged if d not in corpus}
    if missing or unknown_docs:
        raise ConfigError(f"{folder}: qrels name {len(missing)} unknown queries and {len(unknown_docs)} unknown documents; "
                          "check that the files come from the same BEIR data set")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return BeirData(folder.name, corpus, {q: all_queries[q] for q in qrels}, qrels, digest)


def beir_chunks(data: BeirData, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Cut every BEIR document into our chunks; each chunk's ``doc_id`` is the BEIR id.

    The document goes through the same chunker as ingested files: its title is the
    document title (so it heads every chunk's embedded and keyword-indexed text, as
    the BEIR/MTEB convention of ``title + text`` does) and its abstract is one section.
    """
    chunks: list[Chunk] = []
    for doc_id, (title, text) in data.corpus.items():
        doc = LoadedDocument(source=f"beir:{data.name}/{doc_id}", source_type="beir", title=title,
                             sections=[Section(text=text or title)])
        chunks.extend(chunk_document(doc, doc_id, size=chunk_size, overlap=chunk_overlap, extra={"beir_id": doc_id}))
    return chunks
