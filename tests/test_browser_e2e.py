"""End to end in a real Chromium: `streamlit run app.py` over a small real knowledge base.

The story a district user and a librarian live: ask, read a cited answer, open a
source card, ask a follow-up, rate the answer; then sign in as staff, upload a new
document, ask about it and see it cited, and see it in the library table. Screenshots
go to ``test-output/screenshots/`` in the repository (git-ignored) for a human look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT
from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, start_app
from tests.helpers import ask_in_chat, write

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                                 reason="no Chromium at /usr/bin/chromium (install Debian's chromium package)")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

SHOTS = REPO_ROOT / "test-output" / "screenshots"
LIBRARY_FILES = ["cyber-ransomware-preparedness.md", "cyber-insurance.md", "budget-e-rate-category-one-and-two.md",
                 "pd-models-that-work.md", "equity-home-connectivity-after-acp.md"]
PASSWORD = "correct horse battery staple"
WAIT_MS = 90_000

DRONE_POLICY = """---
title: "Lakeside Unified School District drone policy"
summary: "Rules for flying drones over Lakeside school grounds: approval, pilot certification, privacy of footage."
areas: [digital-equity, cybersecurity]
date: 2026-09-01
authority: district
---

## Approval before a flight

Any drone flight over Lakeside school grounds needs written approval from the district technology office at least
ten school days before the flight. The request names the pilot, the aircraft, the purpose, and the planned flight path.

## Pilot certification

Every pilot flying over Lakeside campuses must hold a current FAA Part 107 remote pilot certificate, including
district staff, contractors and volunteers. Student drone clubs fly only inside the gymnasium, supervised by a
certified adult.

## Footage and student privacy

Drone footage that shows students is treated as a student record. The district deletes such footage within thirty
days unless it is needed for a safety investigation, and it is never posted publicly without parental consent.
"""


@pytest.fixture
def app_url(tmp_path: Path, real_embedder) -> Iterator[tuple[str, Path]]:  # type: ignore[no-untyped-def]
    """A running app over a small real knowledge base; yields (base URL, data dir)."""
    from ingest.pipeline import run_ingest
    from kb.core.settings import Settings
    from kb.governance.auth import hash_password
    from kb.index.knowledge import KnowledgeBase

    data = tmp_path / "data"
    settings = Settings(data_dir=data, reports_dir=tmp_path / "reports")
    report = run_ingest(KnowledgeBase(settings, embedder=real_embedder),
                        [str(REPO_ROOT / "library" / name) for name in LIBRARY_FILES])
    assert not report.failed, [r.reason for r in report.failed]
    app = start_app(tmp_path / "run", app_env(data, CTO_STAFF_PASSWORD_HASH=hash_password(PASSWORD)), timeout_s=90.0)
    try:
        yield app.url, data
    finally:
        app.stop(timeout_s=20.0)
        print(app.log_tail(3000))  # shown by pytest when the test fails


def _ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    return ask_in_chat(page, question, wait_ms=WAIT_MS)


_HIDDEN_HEIGHT = """Math.max(0, ...Array.from(
    document.querySelectorAll('[data-testid=stMain], [data-testid=stAppScrollToBottomContainer], [data-testid=stSidebarContent]'),
    e => e.scrollHeight - e.clientHeight))"""


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Screenshot the whole page: Streamlit scrolls inside its own container, so grow the window until it fits."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = size["height"]
    for _ in range(4):
        hidden = int(page.evaluate(_HIDDEN_HEIGHT))
        if hidden <= 0 or height >= 6000:
            break
        height = min(6000, height + hidden)
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(size)


def _open_page(page, label: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=label).click()


def test_ask_cite_feedback_upload_and_cite_the_upload(app_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kb.governance.journal import Journal

    url, data = app_url
    expect = sync_api.expect
    upload = write(tmp_path / "lakeside-drone-policy.md", DRONE_POLICY)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        expect(page.get_by_role("heading", name="Ask the library")).to_be_visible(timeout=WAIT_MS)

        # a question, a cited answer, an opened source card
        _ask(page, "How should our district prepare for a ransomware attack?")
        answer = page.get_by_test_id("stChatMessage").last
        cards = answer.get_by_test_id("stExpander")
        expect(cards.first).to_contain_text("[1]")
        expect(cards.first).to_contain_text("Ransomware")
        steps = [line for line in answer.inner_text().split("\n") if re.match(r"\d{1,2}\. \S", line)]
        assert len(steps) >= 2, answer.inner_text()  # each numbered step on a line of its own, not run together
        _shot(page, "01-chat-with-citations")
        cards.first.locator("summary").click()
        expect(cards.first.get_by_text("Highlighted:")).to_be_visible()
        expect(cards.first.get_by_role("link", name="Show in library")).to_be_visible()
        _shot(page, "02-citation-card-open")

        # a follow-up in the same conversation, then feedback on it
        _ask(page, "Who should we call first?")
        follow = page.get_by_test_id("stChatMessage").last
        expect(follow.get_by_test_id("stExpander").first).to_contain_text("[1]")
        follow.get_by_role("radio", name="Thumbs up").click()
        expect(follow.get_by_label("Add a comment (optional)")).to_be_visible(timeout=WAIT_MS)
        _shot(page, "03-follow-up-and-feedback")
        rows = Journal(data).feedback()
        assert [r["question"] for r in rows] == ["Who should we call first?"] and rows[0]["rating"] == 1

        # staff sign-in and an upload
        _open_page(page, "Library")
        expect(page.get_by_text("of 5 documents")).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("tab", name="Add or remove").click()
        page.get_by_label("Staff password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Signed in as staff")).to_be_visible(timeout=WAIT_MS)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
        expect(page.get_by_test_id("stFileChip")).to_have_attribute("aria-label", re.compile("lakeside-drone-policy.md"))
        page.get_by_role("button", name="Add to the library").click()
        expect(page.get_by_text("Last upload: 1 added")).to_be_visible(timeout=WAIT_MS)
        assert (data / "uploads" / "lakeside-drone-policy.md").is_file()

        # the library table now lists it
        page.get_by_role("tab", name="Documents").click()
        expect(page.get_by_text("6 of 6 documents")).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("textbox", name="Search documents").fill("Lakeside")
        page.get_by_role("textbox", name="Search documents").press("Enter")
        expect(page.get_by_text("1 of 6 documents")).to_be_visible(timeout=WAIT_MS)
        _shot(page, "04-library-after-upload")

        # the new document answers a question, cited
        _open_page(page, "Chat")
        expect(page.get_by_test_id("stChatMessage")).to_have_count(4, timeout=WAIT_MS)  # the conversation is kept
        _ask(page, "What does the Lakeside drone policy require before a drone flight over school grounds?")
        cited = page.get_by_test_id("stChatMessage").last.get_by_test_id("stExpander")
        expect(cited.first).to_contain_text("Lakeside Unified School District drone policy")
        _shot(page, "05-upload-cited")

        # readable at phone width
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(500)
        _shot(page, "06-phone-width")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"the chat scrolls sideways at phone width ({width}px)"
        browser.close()
    log = "".join(f.read_text() for f in (tmp_path / "run").glob("app-*.log"))
    assert log.count("loading embedding model") == 1, "the model must load once per process, not per question"
