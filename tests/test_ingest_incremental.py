"""Incremental ingest: skip unchanged, replace changed, prune vanished, dry runs, and the CLI contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import main as ingest_main
from ingest.pipeline import IngestOptions, run_ingest
from kb.core.settings import REPO_ROOT, Settings
from tests.helpers import make_pdf, write
from tests.ingest_support import assert_consistent, hash_kb


def _doc(n: int, extra: str = "") -> str:
    return (f"---\ntitle: Guide {n}\nareas: [cybersecurity]\n---\n# Guide {n}\n\n"
            f"Guide {n} explains how a district rotates backup media and tests restores every term. {extra}\n\n"
            f"## Details {n}\n\nKeep one copy offline; check the restore log each month and record the result.\n")


def _corpus(folder: Path, count: int = 3) -> list[Path]:
    return [write(folder / f"guide-{n}.md", _doc(n)) for n in range(count)]


def _snapshot(kb) -> tuple[dict[str, tuple[str, int, str]], set[str]]:  # type: ignore[no-untyped-def]
    docs = {d.doc_id: (d.content_hash, d.chunk_count, d.status) for d in kb.store.docs()}
    return docs, set(kb.store.chunk_ids())


def test_second_run_skips_unchanged_without_embedding(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _corpus(folder)
    make_pdf(folder / "plan.pdf", ["Page one of the district plan covers backups and restores in detail."] * 1
             + ["Page two of the plan covers phishing drills and multi-factor authentication for staff."])
    kb, embedder = hash_kb(hash_settings)
    first = run_ingest(kb, [str(folder)])
    assert first.counts() == {"added": 4} and first.chunks_embedded == embedder.texts > 0
    before = _snapshot(kb)
    kb2, embedder2 = hash_kb(hash_settings)  # a new process would see the same store
    second = run_ingest(kb2, [str(folder)])
    assert second.counts() == {"unchanged": 4}
    assert second.chunks_embedded == 0 and embedder2.texts == 0
    assert _snapshot(kb2) == before
    assert {r.chunks for r in second.results} == {d[1] for d in before[0].values()}


def test_changed_file_replaces_its_chunks(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    paths = _corpus(folder)
    kb, embedder = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    target = kb.store.docs()
    doc_id = next(d.doc_id for d in target if d.source == str(paths[1].resolve()))
    old_ids = set(kb.store.chunk_ids(doc_id))
    others = {d: set(kb.store.chunk_ids(d)) for d in {t.doc_id for t in target} - {doc_id}}
    longer = "\n\n".join(f"## Step {k}\n\nStep {k}: label each backup drive with its date and the name of the person "
                         f"who checked it, then store it in the locked cabinet in building {k}." for k in range(12))
    write(paths[1], _doc(1, "Now with many more steps.") + longer)
    embedder.texts = 0
    report = run_ingest(kb, [str(folder)])
    assert report.counts() == {"updated": 1, "unchanged": 2}
    updated = next(r for r in report.results if r.status == "updated")
    new_ids = set(kb.store.chunk_ids(doc_id))
    assert updated.doc_id == doc_id and updated.chunks == len(new_ids) > len(old_ids)
    assert embedder.texts == len(new_ids)  # only the changed document was embedded
    assert old_ids - new_ids, "the edited text must produce new chunk ids"
    assert not (old_ids - new_ids) & set(kb.store.chunk_ids()), "old chunks must be gone"
    assert all(set(kb.store.chunk_ids(d)) == ids for d, ids in others.items())
    text = " ".join(c.text for c in kb.store.iter_chunks() if c.doc_id == doc_id)
    assert "Now with many more steps." in text and "building 11" in text
    assert kb.store.doc(doc_id).chunk_count == len(new_ids)  # type: ignore[union-attr]
    assert_consistent(kb.store)


def test_shrinking_a_file_leaves_no_stale_tail_chunks(hash_settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "long.md", "# Long\n\n" + "\n\n".join(f"## Part {k}\n\n" + f"Part {k} text about device carts. " * 12
                                                               for k in range(10)))
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(path)])
    assert kb.store.count() > 5
    write(path, "# Long\n\nNow only one short paragraph about device carts remains in this document.")
    report = run_ingest(kb, [str(path)])
    assert report.counts() == {"updated": 1}
    assert kb.store.count() == 1
    assert_consistent(kb.store)


def test_changed_metadata_options_count_as_a_change(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _corpus(folder, 1)
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    report = run_ingest(kb, [str(folder)], options=IngestOptions(metadata={"authority": "federal"}))
    assert report.counts() == {"updated": 1}
    assert {c.extra.get("authority") for c in kb.store.iter_chunks()} == {"federal"}


def test_prune_removes_vanished_sources_only_when_asked(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    paths = _corpus(folder)
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    gone = next(d for d in kb.store.docs() if d.source == str(paths[0].resolve()))
    paths[0].unlink()
    kept = run_ingest(kb, [str(folder)])
    assert kept.counts() == {"unchanged": 2} and kb.store.doc(gone.doc_id) is not None
    pruned = run_ingest(kb, [str(folder)], options=IngestOptions(prune=True))
    assert pruned.counts() == {"unchanged": 2, "removed": 1}
    removed = next(r for r in pruned.results if r.status == "removed")
    assert removed.doc_id == gone.doc_id and removed.source == gone.source
    assert kb.store.doc(gone.doc_id) is None and kb.store.chunk_ids(gone.doc_id) == []
    assert gone.doc_id not in kb.done_docs()
    assert len(kb.store.docs()) == 2
    assert_consistent(kb.store)


def test_dry_run_lists_changes_and_changes_nothing(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    paths = _corpus(folder)
    kb, embedder = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    before = _snapshot(kb)
    write(paths[1], _doc(1, "An edit."))
    paths[2].unlink()
    write(folder / "guide-new.md", _doc(9))
    embedder.texts = 0
    report = run_ingest(kb, [str(folder)], options=IngestOptions(dry_run=True, prune=True))
    statuses = {Path(r.source).name: r.status for r in report.results}
    assert statuses == {"guide-0.md": "unchanged", "guide-1.md": "would-update",
                        "guide-2.md": "would-remove", "guide-new.md": "would-add"}
    assert embedder.texts == 0 and report.chunks_embedded == 0
    assert _snapshot(kb) == before
    # and the real run does exactly what the dry run announced
    real = run_ingest(kb, [str(folder)], options=IngestOptions(prune=True))
    assert {Path(r.source).name: r.status for r in real.results} == {
        "guide-0.md": "unchanged", "guide-1.md": "updated", "guide-2.md": "removed", "guide-new.md": "added"}


def test_dry_run_does_not_repair_or_parse(hash_settings: Settings, tmp_path: Path) -> None:
    """A dry run on a store with a half-indexed document leaves it for the real run to repair."""
    from kb.index.knowledge import INDEXING

    folder = tmp_path / "docs"
    _corpus(folder, 2)
    kb, _ = hash_kb(hash_settings)
    run_ingest(kb, [str(folder)])
    row = kb.store.docs()[0]
    kb.store.put_doc(type(row)(**{**row.__dict__, "status": INDEXING}))
    dry = run_ingest(kb, [str(folder)], options=IngestOptions(dry_run=True))
    assert dry.repaired == [] and kb.store.doc(row.doc_id).status == INDEXING  # type: ignore[union-attr]
    assert {r.status for r in dry.results} == {"unchanged", "would-update"}
    real = run_ingest(kb, [str(folder)])
    assert real.repaired == [row.doc_id] and real.counts() == {"unchanged": 1, "added": 1}
    assert_consistent(kb.store)


# ----- the `ingest` command ---------------------------------------------------------------------

def test_cli_json_report_and_exit_codes(hash_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _corpus(folder, 2)
    runner = CliRunner()
    ok = runner.invoke(ingest_main, [str(folder), "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["counts"] == {"added": 2} and data["chunks_embedded"] > 0
    assert {Path(r["source"]).name for r in data["results"]} == {"guide-0.md", "guide-1.md"}
    assert all(r["doc_id"] and r["chunks"] > 0 and r["title"].startswith("Guide") for r in data["results"])

    write(folder / "broken.pdf", "this is not a pdf")
    some_failed = runner.invoke(ingest_main, [str(folder), "--json"])
    assert some_failed.exit_code == 1
    data = json.loads(some_failed.stdout)
    assert data["counts"] == {"unchanged": 2, "failed": 1}
    [failed] = [r for r in data["results"] if r["status"] == "failed"]
    assert "not a PDF" in failed["reason"]

    text = runner.invoke(ingest_main, [str(folder)])
    assert text.exit_code == 1
    assert "2 unchanged, 1 failed" in text.stdout and "broken.pdf: file is named .pdf but is not a PDF" in text.stdout

    dry = runner.invoke(ingest_main, [str(folder), "--dry-run", "--json"])
    assert dry.exit_code == 1 and json.loads(dry.stdout)["counts"] == {"unchanged": 2, "failed": 1}


@pytest.mark.parametrize("args, env, message", [
    ([], {}, "Missing argument"),
    (["--no-such-option", "x"], {}, "No such option"),
    (["docs"], {"CTO_CHUNK_SIZE": "tiny"}, "CTO_CHUNK_SIZE"),
    (["docs"], {"CTO_PRIVACY_MODE": "ignore"}, "CTO_PRIVACY_MODE"),
])
def test_cli_usage_errors_exit_2(hash_settings: Settings, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                 env: dict[str, str], message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(ingest_main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_cli_missing_input_is_a_failed_file_not_a_crash(hash_settings: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(ingest_main, [str(tmp_path / "nope.md"), "--json"])
    assert result.exit_code == 1
    [row] = json.loads(result.stdout)["results"]
    assert row["status"] == "failed" and row["reason"] == "no such file or folder"


def test_cli_as_a_real_process(tmp_path: Path) -> None:
    """The installed entry point, end to end: JSON on stdout only, exit status, second run unchanged."""
    folder = tmp_path / "docs"
    _corpus(folder, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(tmp_path / "data"), CTO_EMBEDDING_MODEL="hash")
    command = [sys.executable, "-m", "ingest", str(folder), "--json"]
    first = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["counts"] == {"added": 2}
    second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and json.loads(second.stdout)["counts"] == {"unchanged": 2}
    usage = subprocess.run([sys.executable, "-m", "ingest"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Usage" in usage.stderr
