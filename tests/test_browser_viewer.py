"""The in-app viewer in a real Chromium: a citation opens the PDF at the cited page with the quote boxed (issue 18).

Screenshots go to ``test-output/screenshots/`` (git-ignored) for a human look.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT
from tests.helpers import make_pdf, write
from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, SHOTS, WAIT_MS, _ask, _free_port, _wait_healthy

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
    run_dir = tmp_path / "run"
    (run_dir / ".streamlit").mkdir(parents=True)
    (run_dir / ".streamlit" / "config.toml").write_text((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data), CTO_REPORTS_DIR=str(tmp_path / "reports"), CTO_LIBRARY_DIR=str(library),
               HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    port = _free_port()
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none"],
            cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(log.read_text()[-3000:])


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
        card.get_by_role("button", name="View at p. 2").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Page 2 of 3")).to_be_visible(timeout=WAIT_MS)
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
        card.get_by_role("button", name="View at this section").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("quoted sentence(s) marked")).to_be_visible(timeout=WAIT_MS)
        frame = dialog.frame_locator("iframe")
        expect(frame.locator("section#cited mark").first).to_contain_text("callback")
        expect(frame.locator("section#cited h3")).to_have_text("Password resets")
        page.screenshot(path=str(SHOTS / "21-viewer-markdown-section.png"))
        browser.close()
