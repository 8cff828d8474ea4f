"""Saved conversations in a real browser, single-user mode: refresh, restart between two questions, resume.

The follow-up asked after the restart must still lean on the first question: its saved
answer's standalone question carries the first question's subject.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT, Settings
from kb.governance.conversations import Conversations
from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, free_port, start_app
from tests.helpers import ask_in_chat

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
WAIT_MS = 240_000  # the first page loads the model; on a busy machine that takes minutes
FIRST = "How should our district prepare for a ransomware attack?"
FOLLOW_UP = "What about small rural districts?"


def ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    return ask_in_chat(page, question, wait_ms=WAIT_MS)


@pytest.fixture
def data_dir(tmp_path: Path, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    data = tmp_path / "data"
    names = ["cyber-ransomware-preparedness.md", "cyber-insurance.md", "budget-e-rate-category-one-and-two.md"]
    report = run_ingest(KnowledgeBase(Settings(data_dir=data), embedder=real_embedder),
                        [str(REPO_ROOT / "library" / n) for n in names])
    assert not report.failed
    return data


def test_conversation_survives_refresh_and_restart_and_the_follow_up_uses_it(tmp_path: Path, data_dir: Path) -> None:
    expect = sync_api.expect
    env = app_env(data_dir)
    port = free_port()
    app = start_app(tmp_path / "run", env, port=port)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(app.url)
            ask(page, FIRST)
            expect(page).to_have_url(re.compile(r"[?&]c=[0-9a-f]{32}"), timeout=WAIT_MS)  # the address names it
            address = page.url
            sidebar = page.get_by_test_id("stSidebar")
            expect(sidebar.get_by_role("button", name=FIRST)).to_be_visible(timeout=WAIT_MS)

            page.reload()  # a refresh keeps the conversation
            expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=WAIT_MS)

            app.stop()  # a restart between the two questions
            app = start_app(tmp_path / "run", env, port=port)
            page.goto(address)
            expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=WAIT_MS)
            expect(page.get_by_test_id("stChatMessage").first).to_contain_text("ransomware")
            ask(page, FOLLOW_UP)

            # a second browser: the list, and a click resumes it
            other = browser.new_context().new_page()
            other.set_default_timeout(WAIT_MS)
            other.goto(app.url)
            other.get_by_test_id("stSidebar").get_by_role("button", name=FIRST).click()
            expect(other.get_by_test_id("stChatMessage")).to_have_count(4, timeout=WAIT_MS)
            browser.close()
    finally:
        app.stop()
    store = Conversations(data_dir)
    [conversation] = store.recent("local")
    turns = store.turns("local", conversation.id)
    assert [t.question for t in turns] == [FIRST, FOLLOW_UP]
    follow = turns[1].answer
    assert follow.standalone_question != FOLLOW_UP and "ransomware" in follow.standalone_question.lower()
    assert not follow.abstained and any("ransomware" in c.title.lower() for c in follow.citations)
