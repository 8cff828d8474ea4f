"""BEIR loader, IR metrics (hand-computed) and the `eval beir` runner on a tiny generated BEIR folder."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.beir.data import beir_chunks, load_beir
from eval.beir.evaluate import build_index, run_beir
from eval.metrics_ir import first_occurrence, mean_over_queries, ndcg_at_k, recall_at_k
from kb.core.errors import ConfigError
from kb.core.settings import Settings
from kb.embed.hashing import HashEmbedder

DOCS = {
    "d1": ("Ransomware recovery", "Immutable backups and an offline copy let a district restore servers after ransomware."),
    "d2": ("E-Rate funding", "Category Two E-Rate discounts pay for Wi-Fi access points and internal connections."),
    "d3": ("Student privacy", "FERPA governs directory information and parents' rights to inspect education records."),
    "d4": ("Teacher coaching", "Instructional coaches model lessons and run professional learning communities weekly."),
    "d5": ("Broadband at home", "Hotspots and low-cost plans close the homework gap for families without internet."),
    "d6": ("Rostering standards", "OneRoster moves class rosters from the student information system into learning tools."),
}
QUERIES = {"q1": "restore servers after ransomware", "q2": "E-Rate discounts for Wi-Fi access points",
           "q3": "OneRoster class rosters", "train1": "an unjudged training query"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d6", 1), ("q3", "d4", 0)]


def make_beir(folder: Path, docs: dict[str, tuple[str, str]] = DOCS, gz: bool = True) -> Path:
    """A BEIR folder like the official one: gzipped corpus, CRLF qrels with a header row."""
    (folder / "qrels").mkdir(parents=True)
    corpus = "".join(json.dumps({"_id": i, "title": t, "text": x, "metadata": {}}) + "\n" for i, (t, x) in docs.items())
    if gz:
        (folder / "corpus.jsonl.gz").write_bytes(gzip.compress(corpus.encode()))
    else:
        (folder / "corpus.jsonl").write_text(corpus)
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t, "metadata": {}}) + "\n" for i, t in QUERIES.items()))
    rows = "".join(f"{q}\t{d}\t{s}\r\n" for q, d, s in QRELS)
    (folder / "qrels" / "test.tsv").write_bytes(("query-id\tcorpus-id\tscore\r\n" + rows).encode())
    return folder


# ----- metrics -------------------------------------------------------------------------------
def test_ndcg_binary_by_hand() -> None:
    # relevant at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], {"a": 1}, 10) == 0.0


def test_ndcg_graded_and_cutoff() -> None:
    # grades 2 (a) and 1 (b) retrieved in the wrong order: DCG = 1 + 2/log2(3); ideal = 2 + 1/log2(3)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # the relevant document just past the cut-off earns nothing
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0
    # grade 0 judgments are not relevant and do not enter the ideal ranking
    assert ndcg_at_k(["a"], {"a": 1, "z": 0}, 10) == pytest.approx(1.0)


def test_duplicates_count_once_at_their_best_rank() -> None:
    assert first_occurrence(["a", "a", "b", "a", "c"]) == ["a", "b", "c"]
    assert ndcg_at_k(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(1 / math.log2(3))


def test_recall_and_mean_over_queries() -> None:
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a"], {"z": 0}, 10) == 0.0
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    # q2 has no run at all and scores 0; the mean is over the judged queries
    assert mean_over_queries({"q1": ["a"]}, qrels, metric="ndcg", k=10) == pytest.approx(0.5)
    assert mean_over_queries({"q1": ["a"], "q2": ["x", "b"]}, qrels, metric="recall", k=1) == pytest.approx(0.5)


# ----- loader ----------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_loader_reads_crlf_qrels_with_header_and_keeps_judged_queries(tmp_path: Path, gz: bool) -> None:
    data = load_beir(make_beir(tmp_path / "tiny", gz=gz))
    assert data.name == "tiny"
    assert set(data.queries) == {"q1", "q2", "q3"}  # the train query is not judged
    assert data.qrels["q3"] == {"d6": 1, "d4": 0}  # ints, no stray "\r"
    assert data.corpus["d2"][0] == "E-Rate funding"
    assert len(data.corpus_sha256) == 64
    assert list(data.limit(2).queries) == ["q1", "q2"]


def test_loader_rejects_qrels_naming_unknown_documents(tmp_path: Path) -> None:
    folder = make_beir(tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\nq1\tnope\t1\r\n")
    with pytest.raises(ConfigError, match="unknown documents"):
        load_beir(folder)
    with pytest.raises(ConfigError, match="not a BEIR folder"):
        load_beir(tmp_path)


def test_long_documents_become_several_chunks_carrying_the_beir_id(tmp_path: Path) -> None:
    long = {"big": ("A long abstract", " ".join(f"Sentence number {i} talks about network switches." for i in range(80)))}
    chunks = beir_chunks(load_beir(make_beir(tmp_path / "long", {**DOCS, **long})), 900, 120)
    big = [c for c in chunks if c.doc_id == "big"]
    assert len(big) > 2
    assert all(c.extra["beir_id"] == "big" and c.embed_text.startswith("A long abstract\n") for c in big)
    assert len(chunks) == len(DOCS) + len(big)


# ----- runner -----------------------------------------------------------------------------------
class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting how many texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().embed_batch(texts)


def test_runner_end_to_end_with_cache(tmp_path: Path, hash_settings: Settings) -> None:
    folder = make_beir(tmp_path / "tiny")
    first = CountingEmbedder()
    names = ["dense-exact", "dense", "bm25", "bm25 k1=0.9 b=0.4", "bm25 title x2", "rrf", "weighted w=0.5", "rrf+mmr", "defaults as deployed"]
    summary = run_beir(hash_settings, folder, config_names=names, embedder=first)
    assert first.texts == len(DOCS) + 3  # every chunk once, then the three judged queries
    rows = {r["config"]: r for r in summary["results"]}
    assert set(rows) == set(names)
    # the tiny queries share distinctive words with their one relevant document
    assert rows["bm25"]["ndcg@10"] == pytest.approx(1.0)
    assert rows["rrf"]["recall@100"] == pytest.approx(1.0)
    assert rows["rrf+mmr"]["recall@100"] is None  # MMR only reorders the head
    assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in rows.values())
    assert summary["baselines"]["BM25 (BEIR paper, Table 2)"] == 0.665
    report = hash_settings.reports_dir / "beir"
    assert json.loads((report / "latest.json").read_text())["queries"] == 3
    assert "| bm25 | 1.0000 |" in (report / "latest.md").read_text()
    assert (report / "ndcg.png").read_bytes()[:4] == b"\x89PNG"
    again = CountingEmbedder()
    index = build_index(load_beir(folder), hash_settings, embedder=again)
    assert again.texts == 0  # vectors and the store come from the cache
    assert index.kb.store.count() == len(DOCS)


def test_cli_lists_and_runs_configs(tmp_path: Path, hash_settings: Settings) -> None:
    from eval.cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["beir", "--list"])
    assert listed.exit_code == 0 and "weighted w=0.5" in listed.output
    folder = make_beir(tmp_path / "tiny")
    result = runner.invoke(main, ["beir", "--data", str(folder), "--configs", "bm25,rrf", "--limit-queries", "2"])
    assert result.exit_code == 0, result.output
    assert "| rrf |" in result.output and "published: BM25" in result.output
    bad = runner.invoke(main, ["beir", "--data", str(folder), "--configs", "nope"])
    assert bad.exit_code != 0 and "unknown configuration" in bad.output
