"""A district's mixed folder, and questions answered only by a scan, a slide or a spreadsheet row (issue 18)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.core.settings import REPO_ROOT, Settings
from kb.index.knowledge import KnowledgeBase
from tests import format_files as ff
from tests.ingest_support import assert_consistent
from tests.test_ingest_ocr import SCANNED

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract (apt-get install tesseract-ocr)")


def _ingest_command(folder: Path, data: Path) -> tuple[float, float, dict[str, Any]]:
    """``python -m ingest FOLDER --json`` in a fresh process (what a person runs).

    Returns wall seconds, CPU seconds (user + system, with the parser workers it waited for)
    and the report.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data), PYTHONPATH=str(REPO_ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ingest", str(folder), "--json"], env=env, cwd=data.parent,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 1, done.stderr[-3000:]  # the two refused files
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, json.loads(done.stdout)


@needs_tesseract
@pytest.mark.slow
def test_mixed_folder_of_30_files_indexed_or_refused_and_reingest_much_faster(settings: Settings, tmp_path: Path) -> None:
    """Through the command, as a person runs it: a fresh process each time, the real model, wall-clock time."""
    expected = ff.mixed_folder(tmp_path / "district")
    first_s, first_cpu, first = _ingest_command(tmp_path / "district", settings.data_dir)
    results = {Path(r["source"]).name: r for r in first["results"]}
    assert set(results) == set(expected)
    for name, outcome in expected.items():
        result = results[name]
        if outcome == "indexed":
            assert result["status"] == "added" and result["chunks"] > 0, (name, result["reason"])
        else:
            assert result["status"] == "failed" and result["reason"].startswith(outcome) and "\n" not in result["reason"], (name, result)
    scanned = [r for n, r in results.items() if n.startswith("scanned")]
    assert all(any(w.startswith("OCR: 2 scanned page(s)") for w in r["warnings"]) for r in scanned)
    assert_consistent(KnowledgeBase(settings).store)
    reruns = [_ingest_command(tmp_path / "district", settings.data_dir) for _ in range(3)]
    for _, _, again in reruns:
        assert again["counts"] == {"unchanged": 28, "failed": 2} and again["chunks_embedded"] == 0
    again_s, again_cpu, _ = min(reruns, key=lambda run: run[0])  # the best of three: start-up waits for a core
    print(f"\nmixed folder via the command: first {first_s:.2f} s wall ({first_cpu:.2f} s CPU), unchanged re-ingest "
          f"{again_s:.3f} s wall ({again_cpu:.3f} s CPU), best of {[round(r[0], 2) for r in reruns]}: "
          f"{first_s / again_s:.0f}x wall, {first_cpu / again_cpu:.0f}x CPU")
    # A generous guard, not the figure: the 50x target is measured by `python -m eval bench` on a quiet machine
    # (README, "re-ingest unchanged"). Here a fresh process per run spends most of the re-ingest starting Python,
    # and a CI machine busy with other work scored 33x; skipping nothing would be ~1x.
    assert first_s / again_s >= 10, (first_s, [r[0] for r in reruns])


@pytest.fixture(scope="module")
def formats_assistant(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Assistant:  # type: ignore[no-untyped-def]
    from tests.test_ingest_office import SLIDES

    folder = tmp_path_factory.mktemp("formats")
    ff.scanned_pdf(folder / "records-retention-policy.pdf", SCANNED)
    ff.deck(folder / "wifi-refresh.pptx", SLIDES, title="Wi-Fi refresh proposal to the board")
    ff.e_rate_workbook(folder / "e-rate-471-items.xlsx")
    data = tmp_path_factory.mktemp("formats-data")
    settings = Settings(data_dir=data / "data", reports_dir=data / "reports")
    kb = KnowledgeBase(settings, embedder=real_embedder)
    report = run_ingest(kb, [str(folder)])
    assert report.counts() == {"added": 3}, report.to_dict()
    return Assistant(settings, kb=kb)


@needs_tesseract
@pytest.mark.parametrize("question, fact, title_word, location", [
    ("How long are emails that concern students kept after the student leaves the district?", "five years",
     "retention", "p. 2 (OCR)"),
    # "E-Rate" is in the workbook's title, not in the row: the abstention model counts cited titles as cited
    ("What does line 14 of the E-Rate 471 cost?", "Pre-discount cost: 23650", "471", "sheet Form 471, row 5"),
    ("What is the district share of the Wi-Fi refresh cost?", "eight thousand dollars", "Wi-Fi", "slide 2"),
])
def test_answers_cite_the_scanned_page_the_slide_and_the_row(formats_assistant: Assistant, question: str, fact: str,
                                                             title_word: str, location: str) -> None:
    """The fact is in the answer, and the citation it rests on names the scanned page, the row or the slide."""
    answer = formats_assistant.ask(question)
    assert not answer.abstained and fact in answer.text, answer.text
    sentence = next(line for line in answer.text.split("\n") if fact in line)
    cited = [answer.cited(n) for n in answer.markers(sentence)]
    assert any(c is not None and title_word.lower() in c.title.lower() and c.location.startswith(location) for c in cited), \
        [(c.title, c.location) for c in answer.citations]
