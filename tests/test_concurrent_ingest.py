"""Answering while `ingest` runs in another process: the supported set-up is server mode.

Chroma's embedded PersistentClient is not process-safe: a second process that opens the
same folder gets no errors, but its vector index is the one it loaded first, so it keeps
missing vectors another process writes until it restarts (its `get` sees the new rows,
its `query` does not). So a running app plus a command-line `ingest` go through a Chroma
server (CTO_CHROMA_HOST / CTO_CHROMA_PORT); the embedded store is for one process (the app,
with ingest from its Library page, or the commands run while the app is stopped).

This test runs a real `ingest` subprocess against the session's Chroma server while four
threads of this process and one more reader process ask questions, and checks that no
question fails, that documents already there keep being cited, and that the new documents
are cited once the ingest is done. Both sides use the hash embedder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.core.settings import REPO_ROOT, Settings
from kb.index.knowledge import KnowledgeBase
from tests.helpers import write
from tests.server_fixtures import ChromaServer

pytestmark = pytest.mark.server

OLD = ["quokkaline", "marzipane", "trellisvane", "obsidrake", "fennimore", "calyptra"]
NEW = ["zephyrine", "brambleton", "kestrelwick", "mollusca", "tundrafell", "yarrowgate", "wisteron", "quillfeather",
       "saffronet", "pinnacleo", "lanternis", "hollowmere", "gossamine", "thistlewood", "emberlyn", "coralith"]
THREADS = 4
MIN_QUESTIONS = 200
TIME_LIMIT_S = 60.0


@pytest.fixture
def hash_server(server_env: ChromaServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Server mode with the fast hash embedder (its similarities are low, so the gate is lowered to match)."""
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    monkeypatch.setenv("CTO_MIN_RELEVANCE", "0.2")
    return Settings()


def _write_docs(folder: Path, words: list[str]) -> Path:
    for word in words:
        write(folder / f"{word}.md", f"---\ntitle: The {word} procedure\n---\n# The {word} procedure\n\n"
              f"The {word} procedure tells district technicians how to label network closets. Every school follows "
              f"the {word} procedure when a closet is rewired, and the {word} checklist is kept beside the rack.")
    return folder


def _question(word: str) -> str:
    return f"What does the {word} procedure tell technicians?"


@dataclass
class _Log:
    """What the reader threads saw; appended under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, float, str, list[str], list[str]]] = field(default_factory=list)  # start, end, word, docs, chunks
    errors: list[str] = field(default_factory=list)


def _reader(assistant: Assistant, words: list[str], offset: int, log: _Log, stop: threading.Event) -> None:
    n = offset
    while not stop.is_set():
        word = words[n % len(words)]
        n += 1
        started = time.monotonic()
        try:
            answer = assistant.ask(_question(word))
        except Exception as exc:  # recorded and asserted on: no question may fail
            with log.lock:
                log.errors.append(f"{word}: {type(exc).__name__}: {exc}")
            continue
        with log.lock:
            log.answers.append((started, time.monotonic(), word, [c.doc_id for c in answer.citations],
                                [c.chunk_id for c in answer.citations]))


def _start_reader_process(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path, Path]:
    stop, report = tmp_path / "stop-reader", tmp_path / "reader-report.json"
    plan = tmp_path / "reader-plan.json"
    plan.write_text(json.dumps({"questions": [_question(w) for w in OLD + NEW], "final_questions": [_question(w) for w in NEW],
                                "stop_file": str(stop), "report": str(report), "max_seconds": TIME_LIMIT_S}))
    process = subprocess.Popen([sys.executable, "-m", "tests.concurrent_reader", str(plan)], cwd=tmp_path,
                               env={**env, "CTO_DATA_DIR": str(tmp_path / "reader-data")},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, stop, report


def _doc_of(kb: KnowledgeBase, word: str) -> str:
    return next(d.doc_id for d in kb.store.docs() if d.title == f"The {word} procedure")


def test_answers_keep_coming_while_another_process_ingests(tmp_path: Path, hash_server: Settings) -> None:
    kb = KnowledgeBase(hash_server)
    assert run_ingest(kb, [str(_write_docs(tmp_path / "old", OLD))]).counts() == {"added": len(OLD)}
    old_docs = {w: _doc_of(kb, w) for w in OLD}
    assistant = Assistant(hash_server, kb=kb)
    assert old_docs[OLD[0]] in [c.doc_id for c in assistant.ask(_question(OLD[0])).citations]
    new_dir = _write_docs(tmp_path / "new", NEW)

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    reader, reader_stop, reader_report = _start_reader_process(tmp_path, env)
    log, stop = _Log(), threading.Event()
    threads = [threading.Thread(target=_reader, args=(assistant, OLD + NEW, i * 5, log, stop), daemon=True)
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    ingest_start = time.monotonic()
    ingest = subprocess.run([sys.executable, "-m", "ingest", str(new_dir), str(REPO_ROOT / "library"), "--json"],
                            cwd=tmp_path, env={**env, "CTO_DATA_DIR": str(tmp_path / "ingest-data")},
                            capture_output=True, timeout=TIME_LIMIT_S)
    ingest_end = time.monotonic()
    deadline = ingest_end + 20
    while len(log.answers) + len(log.errors) < MIN_QUESTIONS and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    reader_stop.touch()
    reader_output = reader.communicate(timeout=30)[0].decode(errors="replace")

    assert ingest.returncode == 0, ingest.stderr.decode(errors="replace")[-3000:]
    counts = json.loads(ingest.stdout)["counts"]
    assert counts == {"added": len(NEW) + len(list((REPO_ROOT / "library").glob("*.md")))}
    assert log.errors == []
    assert len(log.answers) >= MIN_QUESTIONS
    during = [a for a in log.answers if a[0] >= ingest_start and a[1] <= ingest_end]
    assert len(during) >= 40, f"only {len(during)} answers fell inside the {ingest_end - ingest_start:.1f} s ingest"

    for _, _, word, docs, _ in log.answers:  # what was there before keeps being cited, all through the ingest
        if word in old_docs:
            assert old_docs[word] in docs, (word, docs)
    chunk_ids = set(kb.store.chunk_ids())
    assert all(set(chunks) <= chunk_ids for *_, chunks in log.answers)  # nothing cited was half-written or lost

    time.sleep(1.1)  # past the one-second manifest refresh
    new_docs = {w: _doc_of(kb, w) for w in NEW}
    for word in NEW:
        assert new_docs[word] in [c.doc_id for c in assistant.ask(_question(word)).citations], word

    assert reader.returncode == 0, reader_output[-3000:]
    report = json.loads(reader_report.read_text())
    assert report["errors"] == [] and report["stopped"] and report["asked"] > 0, report
    assert [new_docs[w] in docs for w, docs in zip(NEW, report["final"], strict=True)] == [True] * len(NEW)
