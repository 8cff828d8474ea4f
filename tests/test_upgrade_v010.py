"""A data directory built by release 0.1.0 opens with this code: every document, chunk, vector and answer kept.

0.1.0's own code (a git worktree of the tag ``v0.1.0``, or of its commit when a clone lacks the tag)
ingests library briefs and generated PDFs, records what it stored and how it answers, and then
this code opens the same folder: it is upgraded in place after a backup, and holds the same
documents, chunk ids, texts and vectors. Answers are compared with this code's answers over a
copy restored from the upgrade's backup into an empty folder (same text, same citations), and
with 0.1.0's (the same questions answered, citing the same documents: the composer itself changed
between the releases, so the wording may differ).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kb.core.settings import REPO_ROOT
from kb.index.datadir import DATA_SCHEMA, STAMP_FILE
from tests.helpers import make_pdf

pytestmark = pytest.mark.slow

V010_TAG, V010_COMMIT = "v0.1.0", "674289b"
BRIEFS = ["cyber-backups-3-2-1.md", "budget-after-esser.md", "budget-e-rate-category-one-and-two.md"]
QUESTIONS = ["What is the 3-2-1 backup rule?", "What does E-Rate Category Two cover?",
             "How often are the badge readers at the bus depot serviced?"]
# Runs under either release: 0.1.0 kept the modules at kb.knowledge and kb.settings.
DUMP = """
import hashlib, json, os, sys
import numpy as np
import kb
# Chosen by the files of the checkout, not by trying imports: an editable install's finder would fill a
# module missing from 0.1.0's flat layout (kb.index...) with today's code and mix the two releases.
if os.path.exists(os.path.join(os.path.dirname(kb.__file__), "index", "knowledge.py")):
    from kb.index.knowledge import KnowledgeBase
    from kb.core.settings import Settings
else:
    from kb.knowledge import KnowledgeBase
    from kb.settings import Settings
store = KnowledgeBase(Settings()).store
docs = sorted([d.doc_id, d.title, d.source, d.content_hash, d.chunk_count, d.status] for d in store.docs())
rows = sorted([r["id"], r["meta"].get("doc_id"), r["text"], hashlib.sha256(np.asarray(r["embedding"], "<f4").tobytes()).hexdigest()]
              for r in store.export_rows())
print(json.dumps({"code": sys.modules[KnowledgeBase.__module__].__file__, "docs": docs, "chunks": rows}))
"""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def v010(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A checkout of 0.1.0 in a temporary git worktree, removed afterwards."""
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode:
        pytest.fail("the upgrade test needs git and a clone of the repository (it checks out release 0.1.0)")
    ref = next((r for r in (V010_TAG, V010_COMMIT) if not _git("rev-parse", "--verify", f"{r}^{{commit}}").returncode), None)
    if ref is None:
        pytest.fail(f"neither the tag {V010_TAG} nor the commit {V010_COMMIT} is in this clone: fetch the full "
                    "history (`git fetch --unshallow --tags`) and run the test again")
    folder = tmp_path_factory.mktemp("v010") / "checkout"
    added = _git("worktree", "add", "--detach", str(folder), ref)
    assert added.returncode == 0, added.stderr
    try:
        yield folder
    finally:
        _git("worktree", "remove", "--force", str(folder))
        _git("worktree", "prune")


def _env(code: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data), CTO_REPORTS_DIR=str(data.parent / "reports"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(code), **extra)
    return env


def _run(code: Path, data: Path, args: list[str], cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, *args], env=_env(code, data), cwd=cwd, capture_output=True, text=True,
                          input=stdin, timeout=900)
    assert done.returncode == 0, f"{args} under {code}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _dump(code: Path, data: Path, cwd: Path) -> dict[str, Any]:
    found = json.loads(_run(code, data, ["-c", DUMP], cwd))
    assert Path(found.pop("code")).is_relative_to(code), "the code under test is the one asked for"
    return found


def _answers(code: Path, data: Path, cwd: Path) -> list[dict[str, Any]]:
    out = _run(code, data, ["-m", "kb", "ask", "--batch", "-"], cwd, stdin="\n".join(QUESTIONS) + "\n")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _corpus(folder: Path, checkout: Path) -> Path:
    folder.mkdir()
    for name in BRIEFS:
        shutil.copy(checkout / "library" / name, folder / name)
    make_pdf(folder / "depot-security.pdf", [
        "Bus depot security plan. The badge readers at the bus depot are serviced every quarter by the facilities "
        "team, and the service log is kept in the transportation office.",
        "Cameras at the depot gate record for thirty days. Footage requests go through the district's records officer."],
        title="Bus depot security plan")
    make_pdf(folder / "printer-lease.pdf", ["The copier and printer lease runs for sixty months and includes toner, "
                                            "service visits and a refresh of every device in year four."],
             title="Printer lease summary")
    return folder


def _same_run(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between two runs of the same question (its id and timings)."""
    return {k: v for k, v in answer.items() if k not in ("id", "timings")}


def test_a_data_dir_built_by_v010_opens_with_everything_preserved(v010: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    corpus = _corpus(tmp_path / "corpus", v010)
    _run(v010, data, ["-m", "ingest", str(corpus)], tmp_path)
    old = _dump(v010, data, tmp_path)
    old_answers = _answers(v010, data, tmp_path)
    assert len(old["docs"]) == 5 and len(old["chunks"]) > 10
    assert not (data / STAMP_FILE).exists(), "0.1.0 wrote no stamp"

    new = _dump(REPO_ROOT, data, tmp_path)  # the first open upgrades the folder
    assert json.loads((data / STAMP_FILE).read_text())["schema"] == DATA_SCHEMA
    assert new["docs"] == old["docs"]
    assert new["chunks"] == old["chunks"], "same chunk ids, texts and vectors (bit for bit)"
    backups = list((data / "backups").glob("before-upgrade-schema1-to-*.jsonl.gz"))
    assert len(backups) == 1

    new_answers = _answers(REPO_ROOT, data, tmp_path)
    restored = tmp_path / "restored"
    _run(REPO_ROOT, restored, ["-m", "kb", "import", str(backups[0])], tmp_path)
    copy = _dump(REPO_ROOT, restored, tmp_path)  # vectors may differ in their last bit: Chroma renormalises them
    assert copy["docs"] == new["docs"] and [c[:3] for c in copy["chunks"]] == [c[:3] for c in new["chunks"]]
    assert [_same_run(a) for a in _answers(REPO_ROOT, restored, tmp_path)] == [_same_run(a) for a in new_answers]
    kept = {c[0] for c in new["chunks"]}
    for before, after in zip(old_answers, new_answers, strict=True):
        assert not before["abstained"] and not after["abstained"], (before["question"], after["text"])
        assert after["citations"][0]["doc_id"] == before["citations"][0]["doc_id"], before["question"]
        assert {c["chunk_id"] for c in before["citations"]} <= kept, "every passage 0.1.0 cited is still there"
