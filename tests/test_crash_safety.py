"""Crash safety: the real `ingest` command killed with SIGKILL at random moments, again and again.

After every kill the store is opened by a fresh process and checked: no document is marked
done with chunks missing, and after reconciliation no chunk lacks a done manifest row. The
final, uninterrupted run must leave exactly what a clean ingest of the same files leaves.
Stores are only ever opened by one process at a time (Chroma's embedded mode is single-process).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import IngestOptions, run_ingest
from kb.core.settings import Settings
from tests.conftest import LIBRARY
from tests.helpers import child_env, make_docx, make_pdf
from tests.ingest_support import assert_consistent, hash_kb

ROUNDS = 20

CHECKER = """
import json, sys
from collections import Counter
import hashlib
from kb.core.documents import is_current
from kb.index.knowledge import KnowledgeBase
from kb.core.settings import Settings

kb = KnowledgeBase(Settings())

def state():
    rows = kb.store.docs()
    by_id = {d.doc_id: d for d in rows}
    chunks = [c for c in kb.store.iter_chunks() if is_current(c, by_id.get(c.doc_id))]  # an update's other revision is not the row's
    return {"rows": {d.doc_id: [d.status, d.chunk_count] for d in rows},
            "per_doc": dict(Counter(c.doc_id for c in chunks)),
            "ids": sorted(c.id for c in chunks), "count": kb.store.count(),
            "content": sorted([c.doc_id, c.index, hashlib.sha256(c.text.encode()).hexdigest()] for c in chunks)}

before = state()
repair = kb.reconcile() if "--reconcile" in sys.argv else None
print(json.dumps({"before": before, "after": state(),
                  "repaired": repair.partial_docs if repair else [], "orphans": repair.orphan_chunks if repair else 0}))
"""


def _env(data_dir: Path) -> dict[str, str]:
    return child_env(data_dir)


def _check(data_dir: Path, workdir: Path, reconcile: bool) -> dict[str, Any]:
    """Open the store in a fresh process and report its state (and, if asked, reconcile first)."""
    script = workdir / "check_store.py"
    script.write_text(CHECKER, encoding="utf-8")
    args = [sys.executable, str(script)] + (["--reconcile"] if reconcile else [])
    done = subprocess.run(args, env=_env(data_dir), cwd=workdir, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _assert_done_rows_complete(state: dict[str, Any]) -> None:
    """No document marked done with chunks missing (holds even before any repair)."""
    for doc_id, (status, count) in state["rows"].items():
        if status == "done":
            assert state["per_doc"].get(doc_id, 0) == count, f"{doc_id}: done with {state['per_doc'].get(doc_id, 0)}/{count} chunks"


def _assert_reconciled(state: dict[str, Any]) -> None:
    """After reconciliation: only done rows, each with exactly its chunks, and no chunk without one."""
    assert {status for status, _ in state["rows"].values()} <= {"done"}
    assert state["per_doc"] == {d: count for d, (_, count) in state["rows"].items() if count}, "orphan or missing chunks"
    assert state["count"] == len(state["ids"]) == sum(state["per_doc"].values())


def _corpus(folder: Path) -> list[Path]:
    """Half the starter library plus a PDF and a DOCX: real documents, a few hundred chunks in all."""
    folder.mkdir()
    for source in sorted(LIBRARY.glob("*.md"))[::2]:
        shutil.copy2(source, folder / source.name)
    pages = [f"Page {word}: district incident response runbook, contacts, and restore order for {word} systems. " * 4
             for word in ("finance", "student information", "email", "phones", "cameras")]
    make_pdf(folder / "runbook.pdf", pages, header="Incident runbook", footer="Internal")
    make_docx(folder / "board-brief.docx", "Board brief", ["The refresh plan replaces a quarter of devices each year."] * 6)
    return sorted(p for p in folder.iterdir() if p.suffix == ".md")


def _revise(paths: list[Path], rng: random.Random, round_no: int) -> None:
    """Change about half the Markdown files so that every run has real work (updates) to do."""
    for path in rng.sample(paths, len(paths) // 2):
        text = path.read_text(encoding="utf-8").split("\n\n<!-- revision -->", 1)[0]
        addition = f"Revision {round_no}: reviewed by the technology committee, with notes on what changed. " * (1 + round_no % 4)
        path.write_text(f"{text}\n\n<!-- revision -->\n\n## Revision notes\n\n{addition}\n", encoding="utf-8")


def _start(corpus: Path, data_dir: Path, workdir: Path, prune: bool, *, serial: bool = False) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "ingest", str(corpus), "--json"] + (["--prune"] if prune else [])
    env = {**_env(data_dir), **({"CTO_INGEST_OVERLAP": "false"} if serial else {})}
    # a session of its own, so that the kill takes the parser worker with it, like a power cut
    return subprocess.Popen(args, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _kill(process: subprocess.Popen[str]) -> bool:
    """SIGKILL the run's process group; True when it was still running."""
    running = process.poll() is None
    if running:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    return running


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_the_knowledge_base(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    corpus, data_dir = tmp_path / "corpus", tmp_path / "data-crash"
    markdown = _corpus(corpus)
    # how long an uninterrupted run takes here, under this machine's load: kills are spread over it
    started = time.perf_counter()
    first = _start(corpus, tmp_path / "data-timing", tmp_path, prune=False)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    window = time.perf_counter() - started
    assert json.loads(out)["counts"]["added"] == len(markdown) + 2

    killed_mid_run = caught_partial = 0
    # at least ROUNDS rounds; more (up to twice as many, on the serial path) until a kill has caught a document
    # half-written, since whether one lands inside a write is chance and the overlapped path's writes are short
    for round_no in range(2 * ROUNDS):
        if round_no >= ROUNDS and caught_partial:
            break
        _revise(markdown, rng, round_no)
        if round_no % 5 == 4:  # a file disappears: the run prunes it
            vanished = markdown.pop(rng.randrange(len(markdown)))
            vanished.unlink()
        # Every third run takes the serial path: it writes new documents one by one, so a random kill often
        # catches one half-written; the overlapped path writes a batch's new documents in one short group.
        process = _start(corpus, data_dir, tmp_path, prune=round_no % 5 == 4,
                         serial=round_no % 3 == 0 or round_no >= ROUNDS)
        time.sleep(rng.uniform(0.15, 0.8) * window)
        killed_mid_run += _kill(process)
        report = _check(data_dir, tmp_path, reconcile=round_no % 2 == 0)
        _assert_done_rows_complete(report["before"])
        if any(status != "done" for status, _ in report["before"]["rows"].values()):
            caught_partial += 1
        if round_no % 2 == 0:
            _assert_reconciled(report["after"])
            assert set(report["repaired"]) == {d for d, (s, _) in report["before"]["rows"].items() if s != "done"}
        # odd rounds leave the damage for the next `ingest` run to repair on start

    print(f"window={window:.1f}s killed_mid_run={killed_mid_run} caught_partial={caught_partial}")
    assert killed_mid_run >= ROUNDS // 4, f"only {killed_mid_run} kills landed while the run was working"
    assert caught_partial >= 1, "no kill caught a document half-written; the test did not exercise recovery"

    final = subprocess.run([sys.executable, "-m", "ingest", str(corpus), "--json", "--prune"], env=_env(data_dir),
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    assert json.loads(final.stdout)["counts"].get("failed", 0) == 0
    repaired = _check(data_dir, tmp_path, reconcile=True)
    assert repaired["repaired"] == [] and repaired["orphans"] == 0, "the final run left something to repair"
    _assert_reconciled(repaired["after"])

    clean_settings = Settings(data_dir=tmp_path / "data-clean", embedding_model="hash")
    clean_kb, _ = hash_kb(clean_settings)
    clean = run_ingest(clean_kb, [str(corpus)], options=IngestOptions())
    assert not clean.failed
    clean_counts = assert_consistent(clean_kb.store)
    assert {d: c for d, (_, c) in repaired["after"]["rows"].items()} == clean_counts
    # the same passages as a clean ingest (ids may differ: an update writes changed ones under a new revision)
    assert repaired["after"]["content"] == sorted([c.doc_id, c.index, hashlib.sha256(c.text.encode()).hexdigest()]
                                                  for c in clean_kb.store.iter_chunks())


class _PowerCut(BaseException):
    """Stands for the process dying at this exact point (not an error anything may catch)."""


def test_prune_cut_off_between_chunks_and_row_never_shows_a_done_document_without_chunks(
        hash_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.index.store import Store

    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("keep.md", "drop.md"):
        (folder / name).write_text(f"# {name}\n\nOffline backups are tested every term by the network team.", encoding="utf-8")
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    dropped = next(d for d in kb.store.docs() if d.source.endswith("drop.md"))
    (folder / "drop.md").unlink()

    real_delete_chunks = Store.delete_chunks

    def delete_chunks_then_die(self: Store, doc_id: str) -> None:
        real_delete_chunks(self, doc_id)
        raise _PowerCut  # the power goes after the chunks, before the manifest row

    with monkeypatch.context() as patch, pytest.raises(_PowerCut):
        patch.setattr(Store, "delete_chunks", delete_chunks_then_die)
        run_ingest(kb, [str(folder)], options=IngestOptions(prune=True))
    row = kb.store.doc(dropped.doc_id)
    assert row is not None and row.status != "done", "a done row without its chunks would be served to readers"
    assert kb.store.chunk_ids(dropped.doc_id) == []
    fresh, _ = hash_kb(hash_settings)
    report = run_ingest(fresh, [str(folder)], options=IngestOptions(prune=True))
    assert report.repaired == [dropped.doc_id] and report.counts() == {"unchanged": 1}
    assert [d.source for d in fresh.store.docs()] == [str((folder / "keep.md").resolve())]
    assert_consistent(fresh.store)
