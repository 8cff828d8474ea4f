"""The README is the front door: its settings table and commands must stay true."""

from __future__ import annotations

import re
import subprocess

from kb.core.settings import REPO_ROOT, settings_table

README = REPO_ROOT / "README.md"


def test_settings_table_matches_the_settings_object() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S)
    assert match, "README lost its settings-table markers"
    assert match.group(1) == settings_table(), "README configuration table is stale: regenerate it with python -m kb.core.settings"


def test_quickstart_is_two_commands_and_make_knows_them() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    for target in ("run", "test"):
        dry = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
