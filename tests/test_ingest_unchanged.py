"""An unchanged folder is answered from the manifest snapshot: no store, no model, no pipeline (issue 18).

The shortcut must give the same report as the pipeline, and must never answer from a
snapshot that no longer speaks for the store: any write removes it, and other settings,
a replaced store, a changed, new or vanished file all take the long way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from ingest.report import IngestOptions
from ingest.unchanged import unchanged_report
from kb.core.settings import REPO_ROOT, Settings
from kb.index import snapshot
from tests.helpers import make_pdf, write
from tests.ingest_support import hash_kb

HEAVY = ("chromadb", "ingest.pipeline", "kb.embed", "kb.index.store", "torch", "sentence_transformers", "numpy")


def _folder(root: Path) -> Path:
    for n in range(3):
        write(root / f"guide-{n}.md", f"# Guide {n}\n\nGuide {n} says restores are tested every term and logged.\n")
    make_pdf(root / "plan.pdf", ["The district technology plan keeps one backup copy offline and tests restores each term.",
                                 "Phishing drills for all staff run twice a year, in October and in March."])
    write(root / "notes.xls", "not a workbook")  # refused the same way on both paths
    return root


def _ingested(settings: Settings, root: Path) -> Path:
    folder = _folder(root)
    kb, _ = hash_kb(settings)
    report = run_ingest(kb, [str(folder)])
    assert report.counts() == {"added": 4, "failed": 1}, report.to_dict()
    return folder


def _without_time(report) -> dict:  # type: ignore[no-untyped-def]
    data = report.to_dict()
    data.pop("seconds")
    return data


def test_the_shortcut_reports_exactly_what_the_pipeline_does(hash_settings: Settings, tmp_path: Path) -> None:
    folder = _ingested(hash_settings, tmp_path / "docs")
    assert snapshot.snapshot_path(hash_settings).is_file()
    quick = unchanged_report(hash_settings, [str(folder)], IngestOptions())
    assert quick is not None and quick.counts() == {"unchanged": 4, "failed": 1}
    kb, embedder = hash_kb(hash_settings)
    slow = run_ingest(kb, [str(folder)])
    assert embedder.texts == 0
    assert _without_time(quick) == _without_time(slow)
    assert unchanged_report(hash_settings, [str(folder)], IngestOptions(dry_run=True)) is not None


def test_the_command_on_an_unchanged_folder_imports_neither_store_model_nor_pipeline(hash_settings: Settings,
                                                                                  tmp_path: Path) -> None:
    folder = _ingested(hash_settings, tmp_path / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(hash_settings.data_dir), CTO_EMBEDDING_MODEL="hash", PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ingest", str(folder)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]  # the refused .xls
    assert "4 unchanged, 1 failed" in done.stdout and "0 chunks embedded" in done.stdout, done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "ingest.unchanged" in imported
    assert not [m for m in imported if m.split(".")[0] in {"chromadb", "torch", "sentence_transformers", "numpy"}
                or m in HEAVY], sorted(m for m in imported if m.startswith(HEAVY))


def test_any_store_write_removes_the_snapshot_and_the_next_run_repairs(hash_settings: Settings, tmp_path: Path) -> None:
    folder = _ingested(hash_settings, tmp_path / "docs")
    kb, _ = hash_kb(hash_settings)
    victim = next(d for d in kb.store.docs() if d.source.endswith("guide-1.md"))
    kb.store.delete_doc(victim.doc_id)
    assert not snapshot.snapshot_path(hash_settings).exists()
    assert unchanged_report(hash_settings, [str(folder)], IngestOptions()) is None
    again = run_ingest(hash_kb(hash_settings)[0], [str(folder)])
    assert again.counts() == {"added": 1, "unchanged": 3, "failed": 1}
    assert unchanged_report(hash_settings, [str(folder)], IngestOptions()) is not None  # written again at the end


@pytest.mark.parametrize("change", ["edited", "new file", "pdf reading setting", "chunking setting", "metadata option",
                                    "store replaced", "pruned file gone"])
def test_anything_that_may_change_the_store_takes_the_pipeline(hash_settings: Settings, tmp_path: Path,
                                                               change: str) -> None:
    folder = _ingested(hash_settings, tmp_path / "docs")
    settings, options = hash_settings, IngestOptions()
    if change == "edited":
        write(folder / "guide-0.md", "# Guide 0\n\nRestores are now tested every month.\n")
    elif change == "new file":
        write(folder / "guide-9.md", "# Guide 9\n\nA new guide.\n")
    elif change == "pdf reading setting":
        settings = hash_settings.with_overrides(ocr=False)
    elif change == "chunking setting":
        settings = hash_settings.with_overrides(chunk_size=hash_settings.chunk_size + 50)
    elif change == "metadata option":
        options = IngestOptions(metadata={"authority": "federal"})
    elif change == "store replaced":  # a data dir restored from elsewhere: the snapshot does not speak for it
        shutil.copytree(settings.data_dir / "chroma", tmp_path / "copy")
        shutil.rmtree(settings.data_dir / "chroma")
        shutil.copytree(tmp_path / "copy", settings.data_dir / "chroma")
    elif change == "pruned file gone":
        (tmp_path / "docs" / "other").mkdir()
        extra = write(tmp_path / "docs" / "other" / "gone.md", "# Gone\n\nThis file will be deleted.\n")
        run_ingest(hash_kb(hash_settings)[0], [str(folder)])
        extra.unlink()
        assert unchanged_report(settings, [str(folder)], IngestOptions()) is not None  # without --prune: nothing to do
        options = IngestOptions(prune=True)
    assert unchanged_report(settings, [str(folder)], options) is None


def test_server_mode_never_uses_a_snapshot(hash_settings: Settings, tmp_path: Path) -> None:
    folder = _ingested(hash_settings, tmp_path / "docs")
    server = hash_settings.with_overrides(chroma_host="127.0.0.1", chroma_port=1)
    assert snapshot.load(server) is None
    assert unchanged_report(server, [str(folder)], IngestOptions()) is None
