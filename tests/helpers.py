"""Test-data builders (real PDFs, DOCX and HTML written by the tests themselves) and child-process helpers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from kb.core.settings import REPO_ROOT

HOLDER = """
import sys
from pathlib import Path
from kb.core.settings import Settings
from kb.index import lock
lock.hold(Settings(data_dir=Path(sys.argv[1])), "the app")
print("held", flush=True)
sys.stdin.read()  # hold until the test closes stdin
"""
INGEST_HOLDER = """
import sys
from pathlib import Path
from kb.core.settings import Settings
from kb.index import lock
with lock.write_lock(Settings(data_dir=Path(sys.argv[1])), "ingest"):
    print("held", flush=True)
    sys.stdin.read()
"""


def child_env(data_dir: Path, *, model: str | None = "hash", **extra: str) -> dict[str, str]:
    """The environment of a project command run as a child process: this checkout, this data directory, offline.

    No ``CTO_`` setting leaks in from the caller; ``model=None`` leaves the embedding model at its default.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1")
    if model is not None:
        env["CTO_EMBEDDING_MODEL"] = model
    env.update(extra)
    return env


@contextlib.contextmanager
def lock_holder(data_dir: Path, workdir: Path, script: str = HOLDER) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the data directory's write lock (as the running app does) until the block ends."""
    path = workdir / "holder.py"
    path.write_text(script, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(path), str(data_dir)], env=child_env(data_dir), cwd=workdir,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)


def make_pdf(path: Path, pages: list[str], header: str | None = None, footer: str | None = None,
             title: str | None = None) -> Path:
    """Write a multi-page PDF with reportlab; each page's text wraps at about 90 characters."""
    import textwrap

    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    if title:
        c.setTitle(title)
    width, height = letter
    for number, text in enumerate(pages, start=1):
        if header:
            c.setFont("Helvetica", 9)
            c.drawString(72, height - 40, header)
        c.setFont("Helvetica", 11)
        y = height - 80
        for para in text.split("\n\n"):
            for line in textwrap.wrap(para, 90) or [""]:
                c.drawString(72, y, line)
                y -= 15
            y -= 8
        if footer:
            c.setFont("Helvetica", 9)
            c.drawString(72, 30, f"{footer} | Page {number}")
        c.showPage()
    c.save()
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], title: str | None = None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading(heading, level=1)
    for para in paragraphs:
        document.add_paragraph(para)
    document.save(str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ask_in_chat(page, question: str, *, wait_ms: int) -> object:  # type: ignore[no-untyped-def]
    """Type a question into the app's chat and wait for the whole answer (its feedback buttons); returns its message."""
    from playwright.sync_api import expect

    messages = page.get_by_test_id("stChatMessage")
    before = messages.count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    expect(messages).to_have_count(before + 2, timeout=wait_ms)
    expect(messages.last.get_by_test_id("stFeedback")).to_be_visible(timeout=wait_ms)
    return messages.last


def wait_until_idle(page, *, wait_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until no script run is in flight (Streamlit's running indicator is gone), for two checks in a row.

    A click that lands while a run is still drawing the elements can be dropped with the element it hit.
    """
    page.wait_for_function(
        """() => {
            const busy = document.querySelector('[data-testid^="stStatusWidgetRunning"]') !== null;
            window.__ctoIdle = busy ? 0 : (window.__ctoIdle || 0) + 1;
            return window.__ctoIdle >= 2;
        }""",
        polling=250, timeout=wait_ms)


def click_until_visible(page, button, shown, *, wait_ms: int, tries: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Click a button once the app is idle, until what it opens is visible; a click during a rerun may be lost."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    for attempt in range(tries):
        wait_until_idle(page, wait_ms=wait_ms)
        button.click()
        try:
            expect(shown).to_be_visible(timeout=wait_ms if attempt == tries - 1 else 20_000)
            return
        except (AssertionError, PlaywrightTimeout):
            if attempt == tries - 1 or not button.is_visible():
                raise
