"""`kb run --server`: the app over a local Chroma server, with the command-line `ingest` working while it answers.

The real command starts `chroma run` and the app; a real browser asks a question; the real
`ingest` command (no CTO_CHROMA_HOST given: it finds the running server) adds a document;
the same browser session then gets it cited, without any restart. Stopping the command
stops the server too, and the data stay in CTO_DATA_DIR/chroma for the embedded store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT
from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, start_app
from tests.helpers import ask_in_chat, write

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
WAIT_MS = 240_000  # the first page loads the model; on a busy machine that takes minutes
ORCHARD = """---
title: "Maplewood orchard field-trip device policy"
areas: [digital-equity]
date: 2026-05-01
---

## Devices on the orchard field trip

Students on the Maplewood orchard field trip carry district tablets in sealed sleeves. Teachers collect every
tablet at the orchard gate before the bus leaves, and the orchard trip coordinator signs the device log.
"""


def ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    return ask_in_chat(page, question, wait_ms=WAIT_MS)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cli_ingest_while_the_app_answers_in_server_mode(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = app_env(data)
    seeded = _run(["ingest", str(REPO_ROOT / "library" / "cyber-ransomware-preparedness.md")], env, tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    app = start_app(tmp_path / "run", env, server=True)
    holder = json.loads((data / "write.lock").read_text())
    chroma_url = "http://" + holder["server"]
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(app.url)
            first = ask(page, "How should our district prepare for a ransomware attack?")
            sync_api.expect(first.get_by_test_id("stExpander").first).to_contain_text("Ransomware")

            added = _run(["ingest", str(write(tmp_path / "new" / "orchard.md", ORCHARD))], env, tmp_path)
            assert added.returncode == 0, added.stderr
            assert "using the Chroma server of the running app" in added.stderr
            assert "1 added" in added.stdout

            cited = ask(page, "What happens to tablets at the Maplewood orchard gate on the field trip?")
            sync_api.expect(cited.get_by_test_id("stExpander").first).to_contain_text("Maplewood orchard")
            browser.close()
    finally:
        app.stop()
    assert app.proc.returncode == 0, app.log_tail()
    with pytest.raises(OSError):  # the Chroma server stopped with the app
        urllib.request.urlopen(f"{chroma_url}/api/v2/heartbeat", timeout=2)
    listed = _run(["kb", "docs", "--json"], env, tmp_path)  # the embedded store reads the same folder
    assert listed.returncode == 0, listed.stderr
    assert "note: using" not in listed.stderr
    assert len(json.loads(listed.stdout)) == 2
