"""The Evaluation page on a fresh install, in a real browser: staff start the evaluation, watch its progress,
another user's chat keeps answering meanwhile, and the report shows when it finishes.

The page scores CTO_EVAL_PAGE_GOLD (the whole library gold set by default); here two questions
and the hash embedder keep the run to about a minute.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eval import background
from kb.core.settings import REPO_ROOT, Settings
from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, start_app
from tests.helpers import ask_in_chat
from tests.test_eval_background import small_gold

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
WAIT_MS = 240_000
RUN_MS = 600_000  # indexing the library and answering, on a busy machine


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    data = tmp_path / "data"
    names = ["cyber-ransomware-preparedness.md", "budget-e-rate-category-one-and-two.md"]
    assert not run_ingest(KnowledgeBase(Settings(data_dir=data)), [str(REPO_ROOT / "library" / n) for n in names]).failed
    return data


def test_staff_run_the_evaluation_from_the_page_and_see_the_report(tmp_path: Path, data_dir: Path) -> None:
    expect = sync_api.expect
    expect.set_options(timeout=WAIT_MS)  # a busy machine renders pages slowly
    env = app_env(data_dir, CTO_EMBEDDING_MODEL="hash", CTO_EVAL_PAGE_GOLD=str(small_gold(tmp_path)))
    folder = Path(env["CTO_REPORTS_DIR"]) / "eval"
    app = start_app(tmp_path / "run", env)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            staff = browser.new_page()
            staff.set_default_timeout(WAIT_MS)
            staff.goto(f"{app.url}/evaluation")
            expect(staff.get_by_text("No evaluation report yet")).to_be_visible()
            expect(staff.get_by_text("Answers the 2 questions of the gold set")).to_be_visible()
            staff.get_by_role("button", name="Run the evaluation").click()
            expect(staff.get_by_text("Evaluation running")).to_be_visible()
            assert background.read_status(folder).running

            reader = browser.new_context().new_page()  # another user: sees the run, then chats while it goes on
            reader.set_default_timeout(WAIT_MS)
            reader.goto(f"{app.url}/evaluation")  # a second visitor sees the run, and no second Run button
            expect(reader.get_by_text("Evaluation running")).to_be_visible()
            expect(reader.get_by_role("button", name="Run the evaluation")).to_have_count(0)
            asked_at = datetime.now(UTC).isoformat(timespec="seconds")
            reader.goto(app.url)
            answer = ask_in_chat(reader, "What does E-Rate Category Two cover?", wait_ms=WAIT_MS)
            expect(answer).to_contain_text("Category Two")

            report = staff.get_by_text(re.compile(r"Generated .* on the gold set .*gold-small\.yaml"))
            expect(report).to_be_visible(timeout=RUN_MS)  # the page reloads itself when the run ends
            expect(staff.get_by_text("No evaluation report yet")).to_have_count(0)
            expect(staff.get_by_test_id("stMetric").first).to_be_visible()
            expect(staff.get_by_role("button", name="Run the evaluation")).to_be_visible()
            browser.close()
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default, for the tests after this one
        app.stop()
    status = background.read_status(folder)
    assert status.state == "finished" and (status.done, status.total) == (2, 2), status
    assert status.finished_at >= asked_at, "the chat took a question while the evaluation was still running"
