"""The Evaluation page's run panel (Streamlit's AppTest): idle, running (a real lock held), failed, bad gold set.

The whole flow, with a real run and a real browser, is tests/test_eval_page_browser.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval import background
from tests.test_app_pages import data_dir, page_test, template_kb  # noqa: F401 (fixtures)


def _folder() -> Path:
    folder = Path(os.environ["CTO_REPORTS_DIR"]) / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _plain(markdown: str) -> str:
    """Text as the page renders it (the Markdown escapes of escape_md removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _status(**fields: object) -> None:
    status = {"state": "running", "stage": "answering the gold questions", "done": 1, "total": 2, "gold": "library",
              "started_by": "ana@district.org", "started_at": "2026-11-29T21:00:00+00:00", **fields}
    (_folder() / background.STATUS_FILE).write_text(json.dumps(status))


@pytest.fixture
def run_holds_lock() -> Iterator[None]:
    """The lock a running evaluation holds (taken here, as the run's process takes it)."""
    fd = os.open(_folder() / background.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    os.close(fd)


def test_idle_page_offers_the_run_with_the_question_count(data_dir: Path) -> None:  # noqa: F811
    at = page_test("evaluation").run()
    assert not at.exception and not at.error
    assert [b.label for b in at.button] == ["Run the evaluation"]
    assert any("Answers the 281 questions of the gold set `library`" in c.value for c in at.caption)


def test_a_running_evaluation_shows_progress_and_no_second_button(data_dir: Path, run_holds_lock: None) -> None:  # noqa: F811
    _status()
    at = page_test("evaluation").run()
    assert not at.exception and not at.error
    assert "Run the evaluation" not in [b.label for b in at.button]
    progress = at.get("progress")[0]
    assert progress.value == 50 and "Evaluation running: 1 of 2 questions answered" in progress.proto.text
    shown = [_plain(c.value) for c in at.caption]
    assert any("started by ana@district.org at 21:00 UTC; 1 of 2 questions answered" in c for c in shown), shown


def test_a_run_that_died_is_shown_as_failed_with_its_log(data_dir: Path) -> None:  # noqa: F811
    _status()  # says running, but no process holds the lock
    at = page_test("evaluation").run()
    assert not at.exception
    message = _plain(at.error[0].value)
    assert "The last evaluation run failed: the run stopped before it finished; see " in message
    assert "/reports/eval/run.log" in message and [b.label for b in at.button] == ["Run the evaluation"]


def test_a_bad_gold_setting_is_named(data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    monkeypatch.setenv("CTO_EVAL_PAGE_GOLD", str(tmp_path / "nope.yaml"))
    at = page_test("evaluation").run()
    assert not at.exception
    message = _plain(at.error[0].value)
    assert "nope.yaml cannot be read (no gold set" in message and "fix CTO_EVAL_PAGE_GOLD" in message
    assert not at.button
