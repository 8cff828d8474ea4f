"""The running app and a command-line `ingest`: 20 rounds, each refused clearly, none changing the store.

Each round starts the real app on the embedded store, opens it in Chromium (the first page
opens the knowledge base, and with it the write lock), runs the real `ingest` command, and
checks the one-line refusal and that the store's documents are exactly as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, start_app
from tests.helpers import write

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
ROUNDS = 20


def _docs(env: dict[str, str], cwd: Path) -> list[tuple[str, str, int]]:
    done = subprocess.run([sys.executable, "-m", "kb", "docs", "--json"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return sorted((d["doc_id"], d["content_hash"], d["chunk_count"]) for d in json.loads(done.stdout))


def test_twenty_rounds_of_app_then_cli_ingest_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = app_env(data, CTO_EMBEDDING_MODEL="hash")
    write(tmp_path / "first" / "closets.md", "# Closets\n\nEvery network closet is labelled by the technicians. " * 5)
    write(tmp_path / "new" / "drones.md", "# Drones\n\nDrone flights over campus need written approval. " * 5)
    seeded = subprocess.run([sys.executable, "-m", "ingest", str(tmp_path / "first")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert seeded.returncode == 0, seeded.stderr
    before = _docs(env, tmp_path)
    assert len(before) == 1
    messages = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(ROUNDS):
            app = start_app(tmp_path / "run", env)
            try:
                page = browser.new_page()
                page.set_default_timeout(90_000)
                page.goto(app.url)
                page.get_by_placeholder("Ask about security").wait_for(timeout=90_000)
                page.get_by_text("Try a question").wait_for(timeout=90_000)  # the knowledge base is open
                refused = subprocess.run([sys.executable, "-m", "ingest", str(tmp_path / "new")], env=env,
                                         cwd=tmp_path, capture_output=True, text=True, timeout=180)
                page.close()
            finally:
                app.stop()
            lines = [line for line in refused.stderr.splitlines() if line.strip()]
            assert refused.returncode == 1 and len(lines) == 1, refused.stderr
            assert f"the app (pid {app.proc.pid}" in lines[0]
            assert "Library page" in lines[0] and "server mode" in lines[0]
            messages.append(lines[0])
            assert _docs(env, tmp_path) == before
        browser.close()
    assert len(messages) == ROUNDS
