"""The in-app viewer in a real Chromium: a citation opens the PDF at the cited page with the quote boxed (issue 18).

Screenshots go to ``test-output/screenshots/`` (git-ignored) for a human look.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, start_app
from tests.helpers import click_until_visible, make_pdf, write
from tests.test_browser_e2e import SHOTS, WAIT_MS, _ask

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

PAGES = [
    "Lakeside technology plan. Part one covers bandwidth: every school gets a ten gigabit fiber connection by 2027, "
    "and the wireless network is surveyed every summer before students return.",
    "Part two covers backups and recovery at Lakeside. Restores of the Lakeside student information system are tested "
    "every quarter by the data center team, and the results go to the superintendent's cabinet. One copy of every backup "
    "stays offline in the vault at the district office.",
    "Part three covers devices. Lakeside replaces student Chromebooks every four years, starting with grade three, and "
    "teacher laptops every five years.",
]
GUIDE = """# Lakeside help desk guide

## Opening a ticket

Staff open help desk tickets through the Lakeside portal, or by calling extension 4357 when the portal is down.

## Password resets

Lakeside password resets for staff require a callback to the phone number on file in the HR system before the
technician changes anything. Student password resets are done by the classroom teacher in the rostering console.
"""


@pytest.fixture
def viewer_app(tmp_path: Path, real_embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app over a library folder holding a generated PDF and a Markdown guide."""
    from ingest.pipeline import run_ingest
    from kb.core.settings import Settings
    from kb.index.knowledge import KnowledgeBase

    library = tmp_path / "library"
    library.mkdir()
    make_pdf(library / "lakeside-technology-plan.pdf", PAGES, title="Lakeside technology plan")
    write(library / "lakeside-help-desk.md", GUIDE)
    data = tmp_path / "data"
    settings = Settings(data_dir=data, reports_dir=tmp_path / "reports", library_dir=library)
    report = run_ingest(KnowledgeBase(settings, embedder=real_embedder), [str(library)])
    assert report.counts() == {"added": 2}, report.to_dict()
    app = start_app(tmp_path / "run", app_env(data, CTO_LIBRARY_DIR=str(library)), timeout_s=90.0)
    try:
        yield app.url
    finally:
        app.stop(timeout_s=20.0)
        print(app.log_tail(3000))  # shown by pytest when the test fails


def _amber_pixels(png: bytes) -> int:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((200, 260))).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((r > 220) & (g > 150) & (g < 235) & (b < 150)).sum())


AMBER_JS = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) { if (d[i] > 220 && d[i+1] > 150 && d[i+1] < 235 && d[i+2] < 150) n++; }
  return n;
}"""


def _whole_pdf_has_the_highlight_on_page_2_only(page, dialog) -> None:  # type: ignore[no-untyped-def]
    """The second tab: st.pdf (pdf.js) draws every page; only the cited page carries amber."""
    expect = sync_api.expect
    dialog.get_by_role("tab", name="The whole PDF (3 pages)").click()
    expect(dialog.get_by_text("The quote is highlighted on page 2")).to_be_visible(timeout=WAIT_MS)
    amber: dict[int, int] = {}
    for index in range(3):  # the viewer draws pages as they scroll into view
        item = dialog.locator(f'[data-index="{index}"]')
        expect(item).to_have_count(1, timeout=WAIT_MS)
        item.scroll_into_view_if_needed()
        canvas = item.locator("canvas")
        expect(canvas).to_be_visible(timeout=WAIT_MS)
        page.wait_for_timeout(500)  # pdf.js paints the canvas after it is laid out
        amber[index + 1] = int(canvas.evaluate(AMBER_JS))
        if index == 1:
            page.screenshot(path=str(SHOTS / "22-viewer-whole-pdf-st-pdf.png"))
    assert amber[2] > 500 and amber[1] == 0 and amber[3] == 0, amber


def test_citation_opens_the_pdf_at_the_cited_page_with_the_quote_highlighted(viewer_app: str) -> None:
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(viewer_app)
        expect(page.get_by_role("heading", name="Ask the library")).to_be_visible(timeout=WAIT_MS)
        _ask(page, "How often are restores of the Lakeside student information system tested?")
        answer = page.get_by_test_id("stChatMessage").last
        card = answer.get_by_test_id("stExpander").filter(has_text="p. 2").first
        expect(card).to_contain_text("Lakeside technology plan")
        card.locator("summary").click()
        dialog = page.get_by_role("dialog")
        click_until_visible(page, card.get_by_role("button", name="View at p. 2"), dialog.get_by_text("Page 2 of 3"),
                            wait_ms=WAIT_MS)
        expect(dialog.get_by_text("quoted word(s) highlighted")).to_be_visible()
        image = dialog.get_by_test_id("stImage").locator("img")
        src = image.get_attribute("src")
        assert src
        with urllib.request.urlopen(src if src.startswith("http") else viewer_app + src, timeout=30) as response:
            png = response.read()
        assert _amber_pixels(png) > 50  # the boxes are drawn on the page that was cited
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "20-viewer-pdf-page-highlight.png"))
        _whole_pdf_has_the_highlight_on_page_2_only(page, dialog)
        page.keyboard.press("Escape")

        _ask(page, "What do Lakeside staff need before a password reset?")
        answer = page.get_by_test_id("stChatMessage").last
        card = answer.get_by_test_id("stExpander").filter(has_text="Password resets").first
        card.locator("summary").click()
        dialog = page.get_by_role("dialog")
        click_until_visible(page, card.get_by_role("button", name="View at this section"),
                            dialog.get_by_text("quoted sentence(s) marked"), wait_ms=WAIT_MS)
        frame = dialog.frame_locator("iframe")
        expect(frame.locator("section#cited mark").first).to_contain_text("callback")
        expect(frame.locator("section#cited h3")).to_have_text("Password resets")
        page.screenshot(path=str(SHOTS / "21-viewer-markdown-section.png"))
        browser.close()
