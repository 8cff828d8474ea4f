"""Crash consistency of updates and imports: SIGKILL before each store write, then the old or the new version.

A child process runs the real command (`ingest` of changed files, `kb import --replace`)
with every write method of the store counted; at step N it SIGKILLs its own process group
right before the write, like a power cut. A fresh process then checks what readers see
(done rows only, each with all the chunks of its revision), runs the start-of-run repair
that the next `ingest` or `kb import` runs, and checks again: every document is its old
version or its new version, complete, never neither and never a mixture of the two.
Stores are only ever opened by one process at a time (Chroma's embedded mode is single-process).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import child_env, write

WRITES = ("put_docs", "add_chunks", "delete_chunk_ids", "delete_chunks", "delete_chunks_of", "import_rows", "clear",
          "_bump_generation")

CHILD = f"""
import os, signal, sys
from kb.index.store import Store

target = int(sys.argv[1])
calls = {{"n": 0}}

def counted(name):
    real = getattr(Store, name)
    def write(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == target:
            os.killpg(os.getpgid(0), signal.SIGKILL)  # the power goes, parser worker and all
        return real(self, *args, **kwargs)
    setattr(Store, name, write)

if __name__ == "__main__":  # the parser worker is spawned and imports this file too
    for name in {WRITES!r}:
        counted(name)
    command = sys.argv[2]
    try:
        if command == "ingest":
            from ingest.cli import main
        else:
            from kb.cli import main
        main(sys.argv[3:], standalone_mode=False)
    finally:
        sys.stderr.write(f"\\nWRITES={{calls['n']}}\\n")
"""

CHECK = """
import hashlib, json, sys
from kb.core.documents import is_current
from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase

kb = KnowledgeBase(Settings())

def visible():
    done = {d.doc_id: d for d in kb.store.docs() if d.status == "done"}
    texts = {}
    for chunk in kb.store.iter_chunks():
        if is_current(chunk, done.get(chunk.doc_id)):
            texts.setdefault(chunk.doc_id, []).append(hashlib.sha256(chunk.text.encode()).hexdigest())
    return {"docs": {d: sorted(texts.get(d, [])) for d in done}, "counts": {d: r.chunk_count for d, r in done.items()},
            "total": kb.store.count()}

before = visible()
read = None
if "--read" in sys.argv:  # what a reader (the app, `kb ask`) is shown when it opens the library
    read = sorted(KnowledgeBase(Settings()).done_docs())
if "--reconcile" in sys.argv:
    kb.reconcile()
print(json.dumps({"before": before, "read": read, "read_state": visible() if read is not None else None,
                  "after": visible()}))
"""


def _env(data_dir: Path) -> dict[str, str]:
    return child_env(data_dir)


def _child(workdir: Path, data_dir: Path, kill_at: int, *command: str) -> tuple[int, int | None]:
    """Run a command that dies before store write number ``kill_at`` (0: never); (exit code, writes done)."""
    script = workdir / "crash_child.py"
    script.write_text(CHILD, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(kill_at), *command], env=_env(data_dir), cwd=workdir,
                          capture_output=True, text=True, timeout=300, start_new_session=True)
    writes = [line for line in done.stderr.splitlines() if line.startswith("WRITES=")]
    return done.returncode, int(writes[-1].split("=")[1]) if writes else None


def _check(workdir: Path, data_dir: Path, reconcile: bool = True, read: bool = False) -> dict[str, Any]:
    script = workdir / "crash_check.py"
    script.write_text(CHECK, encoding="utf-8")
    flags = (["--reconcile"] if reconcile else []) + (["--read"] if read else [])
    done = subprocess.run([sys.executable, str(script), *flags], env=_env(data_dir),
                          cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _complete(state: dict[str, Any]) -> None:
    """Every done row shows exactly its chunk count of passages (what readers rely on)."""
    for doc_id, hashes in state["docs"].items():
        assert len(hashes) == state["counts"][doc_id], f"{doc_id}: {len(hashes)} of {state['counts'][doc_id]} chunks"


def _copy(source: Path, target: Path) -> None:
    import shutil

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)


V1 = {f"policy-{i}.md": f"# Policy {i}\n\n" + f"Version one of policy {i}: staff reset passwords every term. " * 25
      for i in range(3)}


def _v2(folder: Path) -> None:
    for i in range(2):  # two of three documents change: one grows, one keeps its first passage and changes the rest
        extra = "\n\n## Added in version two\n\n" + f"Version two adds multi-factor sign-in for policy {i}. " * (20 + 15 * i)
        write(folder / f"policy-{i}.md", V1[f"policy-{i}.md"] + extra)


@pytest.mark.slow
def test_sigkill_before_each_write_of_an_update_leaves_the_old_or_the_new_version(tmp_path: Path) -> None:
    docs, base = tmp_path / "docs", tmp_path / "base"
    for name, text in V1.items():
        write(docs / name, text)
    assert _child(tmp_path, base, 0, "ingest", str(docs))[0] == 0
    old = _check(tmp_path, base)["after"]
    _v2(docs)
    clean = tmp_path / "clean"
    _copy(base, clean)
    code, total = _child(tmp_path, clean, 0, "ingest", str(docs))
    assert code == 0 and total is not None and total >= 6, total  # per changed document: new chunks, the switch, old chunks out
    new = _check(tmp_path, clean)["after"]
    assert old["docs"] != new["docs"]
    for step in range(1, total + 1):
        data = tmp_path / f"run-{step}"
        _copy(base, data)
        code, _ = _child(tmp_path, data, step, "ingest", str(docs))
        assert code == -9, f"step {step}: the child was not killed (exit {code})"
        state = _check(tmp_path, data)
        _complete(state["before"])  # readers, before any repair: complete versions only
        for when in ("before", "after"):
            for doc_id, hashes in state[when]["docs"].items():
                assert hashes in (old["docs"][doc_id], new["docs"][doc_id]), f"step {step} ({when}): {doc_id} is a mixture"
        after = state["after"]
        assert set(after["docs"]) == set(old["docs"]), f"step {step}: a document was lost"
        assert after["total"] == sum(after["counts"].values()), f"step {step}: the repair left stray chunks"
        assert _child(tmp_path, data, 0, "ingest", str(docs))[0] == 0  # and the next run finishes the update
        assert _check(tmp_path, data)["after"]["docs"] == new["docs"], f"step {step}: the rerun did not converge"


@pytest.mark.slow
def test_sigkill_before_each_write_of_a_group_of_new_documents_never_shows_one_half_written(tmp_path: Path) -> None:
    """A fresh ingest writes its new documents together (rows indexing, chunks, rows done): a kill at any write
    leaves each document complete or absent, and the next run finishes the job."""
    docs = tmp_path / "docs"
    for name, text in V1.items():
        write(docs / name, text)
    clean = tmp_path / "clean"
    code, total = _child(tmp_path, clean, 0, "ingest", str(docs))
    assert code == 0 and total is not None and total >= 4, total  # rows indexing, leftovers out, chunks, rows done
    full = _check(tmp_path, clean)["after"]
    assert len(full["docs"]) == len(V1)
    for step in range(1, total + 1):
        data = tmp_path / f"run-{step}"
        code, _ = _child(tmp_path, data, step, "ingest", str(docs))
        assert code == -9, f"step {step}: the child was not killed (exit {code})"
        state = _check(tmp_path, data)
        _complete(state["before"])
        for when in ("before", "after"):
            for doc_id, hashes in state[when]["docs"].items():
                assert hashes == full["docs"][doc_id], f"step {step} ({when}): {doc_id} is half-written"
        assert state["after"]["total"] == sum(state["after"]["counts"].values()), f"step {step}: stray chunks"
        assert _child(tmp_path, data, 0, "ingest", str(docs))[0] == 0
        assert _check(tmp_path, data)["after"]["docs"] == full["docs"], f"step {step}: the rerun did not converge"


@pytest.mark.slow
def test_sigkill_before_each_write_of_an_import_replace_leaves_the_old_or_the_new_knowledge_base(tmp_path: Path) -> None:
    docs_a, docs_b, base, other = tmp_path / "a", tmp_path / "b", tmp_path / "base", tmp_path / "other"
    for name, text in V1.items():
        write(docs_a / name, text)
    write(docs_b / "vpn.md", "# VPN\n\n" + "Staff connect to the district VPN with multi-factor sign-in. " * 30)
    write(docs_b / "policy-0.md", "# Policy 0, as restored\n\n" + "The restored policy 0 says something else. " * 30)
    assert _child(tmp_path, base, 0, "ingest", str(docs_a))[0] == 0
    assert _child(tmp_path, other, 0, "ingest", str(docs_b))[0] == 0
    backup = tmp_path / "b.jsonl.gz"
    assert _child(tmp_path, other, 0, "kb", "export", str(backup))[0] == 0
    old = _check(tmp_path, base)["after"]
    clean = tmp_path / "clean"
    _copy(base, clean)
    code, total = _child(tmp_path, clean, 0, "kb", "import", str(backup), "--replace", "--yes")
    assert code == 0 and total is not None and total >= 5, total
    new = _check(tmp_path, clean)["after"]
    assert new["docs"] == _check(tmp_path, other)["after"]["docs"] != old["docs"]
    for step in range(1, total + 1):
        data = tmp_path / f"run-{step}"
        _copy(base, data)
        code, _ = _child(tmp_path, data, step, "kb", "import", str(backup), "--replace", "--yes")
        assert code == -9, f"step {step}: the child was not killed (exit {code})"
        state = _check(tmp_path, data)
        _complete(state["before"])
        assert state["after"]["docs"] in (old["docs"], new["docs"]), f"step {step}: neither the old nor the new contents"
        assert state["after"]["total"] == sum(state["after"]["counts"].values())
        assert not (data / "import-in-progress.json").exists(), f"step {step}: the repair left the marker"


@pytest.mark.slow
def test_a_reader_after_a_killed_import_replace_sees_the_library_it_replaced(tmp_path: Path) -> None:
    """Killed after the store was emptied: the next reader (no writing command in between) restores the old library."""
    docs_a, docs_b, base = tmp_path / "a", tmp_path / "b", tmp_path / "base"
    for name, text in V1.items():
        write(docs_a / name, text)
    write(docs_b / "vpn.md", "# VPN\n\n" + "Staff connect to the district VPN with multi-factor sign-in. " * 30)
    assert _child(tmp_path, base, 0, "ingest", str(docs_a))[0] == 0
    other = tmp_path / "other"
    assert _child(tmp_path, other, 0, "ingest", str(docs_b))[0] == 0
    backup = tmp_path / "b.jsonl.gz"
    assert _child(tmp_path, other, 0, "kb", "export", str(backup))[0] == 0
    old = _check(tmp_path, base, reconcile=False)["after"]
    for step in range(1, 8):  # the first write after the store was emptied (clear counts as one or two writes)
        data = tmp_path / f"run-{step}"
        _copy(base, data)
        code, _ = _child(tmp_path, data, step, "kb", "import", str(backup), "--replace", "--yes")
        assert code == -9, f"step {step}: the child was not killed (exit {code})"
        if _check(tmp_path, data, reconcile=False)["after"]["docs"] != old["docs"]:
            break
    else:
        pytest.fail("no kill step left the store without its old documents: the test lost its point")
    state = _check(tmp_path, data, reconcile=False, read=True)
    assert state["before"]["docs"] != old["docs"]  # what the killed import left, unrepaired
    assert state["read"] == sorted(old["docs"]), "the reader was shown a library the import had half replaced"
    assert state["read_state"]["docs"] == old["docs"]
    assert not (data / "import-in-progress.json").exists()
