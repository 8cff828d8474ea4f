"""Evaluation runs started from the app (eval.background): a real `python -m eval run` process with progress,
one at a time, and a run that dies is reported as failed and frees the way for the next.

Two gold questions over the starter library with the hash embedder keep it to about a minute.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from eval import background
from eval.background import EvalRunBusy
from kb.core.settings import Settings

GOLD = """\
- id: t-001
  question: "Which federal agencies do we notify after a ransomware attack, and how do we reach them?"
  area: cybersecurity
  gold_docs: [cyber-ransomware-preparedness]
  key_facts: ["cisa.gov/report"]
- id: t-002
  question: "What does E-Rate Category Two cover?"
  area: budgets
  gold_docs: [budget-e-rate-category-one-and-two]
"""


def small_gold(folder: Path) -> Path:
    path = folder / "gold-small.yaml"
    path.write_text(GOLD, encoding="utf-8")
    return path


def _wait(folder: Path, until, timeout_s: float = 600.0) -> background.RunStatus:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        status = background.read_status(folder)
        seen.append((status.state, status.stage, status.done))
        if until(status):
            return status
        time.sleep(0.5)
    log = folder / background.LOG_FILE
    raise AssertionError(f"no such status in {timeout_s:.0f} s; saw {seen[-5:]}; log:\n{log.read_text()[-3000:]}")


def test_a_run_reports_progress_refuses_a_second_and_writes_the_report(hash_settings: Settings, tmp_path: Path) -> None:
    folder = background.run_folder(hash_settings)
    assert background.read_status(folder).state == "idle"
    first = background.start_run(hash_settings, gold=str(small_gold(tmp_path)), started_by="ana@district.org")
    assert first.running and first.pid > 0
    with pytest.raises(EvalRunBusy, match=r"already running \(started by ana@district.org at .*\); wait for it"):
        background.start_run(hash_settings, gold="library", started_by="ben@district.org")
    indexing = _wait(folder, lambda s: s.stage.startswith("indexing") or s.done or s.state != "running")
    assert indexing.total == 2 and indexing.started_by == "ana@district.org"
    done = _wait(folder, lambda s: s.state != "running")
    assert done.state == "finished" and (done.done, done.total) == (2, 2) and done.finished_at, done
    report = json.loads((folder / "latest.json").read_text())
    assert report["overall"]["questions"] == 2.0 and report["gold"].endswith("gold-small.yaml")
    background.start_run(hash_settings, gold=str(small_gold(tmp_path)))  # the lock went with the process
    _wait(folder, lambda s: s.state != "running")


def test_a_killed_run_is_reported_failed_and_frees_the_lock(hash_settings: Settings, tmp_path: Path) -> None:
    folder = background.run_folder(hash_settings)
    background.start_run(hash_settings, gold=str(small_gold(tmp_path)))
    running = _wait(folder, lambda s: s.pid and s.state == "running" and s.stage.startswith("indexing"))
    os.killpg(running.pid, signal.SIGKILL)
    failed = _wait(folder, lambda s: s.state != "running", timeout_s=30)
    assert failed.state == "failed" and "stopped before it finished" in failed.error
    assert str(folder / background.LOG_FILE) in failed.error
    restarted = background.start_run(hash_settings, gold=str(small_gold(tmp_path)))
    assert restarted.running
    second = _wait(folder, lambda s: s.pid and s.pid != running.pid)
    os.killpg(second.pid, signal.SIGKILL)
    _wait(folder, lambda s: s.state == "failed", timeout_s=30)


def test_a_run_that_fails_says_why(hash_settings: Settings, tmp_path: Path) -> None:
    folder = background.run_folder(hash_settings)
    background.start_run(hash_settings, gold=str(tmp_path / "no-such-gold.yaml"))
    failed = _wait(folder, lambda s: s.state != "running", timeout_s=300)
    assert failed.state == "failed" and "no gold set" in failed.error, failed
