"""The systemd units under deploy/systemd/ (the app, nightly backup, weekly URL refresh) are valid and do their job.

`systemd-analyze verify` reads each unit with the paths pointed at this checkout's virtual
environment (it checks that every command exists); the backup service's commands are then run
as systemd would run them (``$$`` and ``%%`` unescaped) against a real knowledge base.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from kb.core.settings import REPO_ROOT, Settings
from kb.index.knowledge import KnowledgeBase
from tests.helpers import write

UNITS = REPO_ROOT / "deploy" / "systemd"
NAMES = ["cto-assistant.service", "cto-assistant-backup.service", "cto-assistant-backup.timer",
         "cto-assistant-refresh.service", "cto-assistant-refresh.timer"]


def _installed(tmp_path: Path) -> tuple[Path, Path]:
    """The units with /opt/cto-assistant pointed at a folder whose .venv/bin holds this environment's programs."""
    opt = tmp_path / "opt"
    (opt / ".venv").mkdir(parents=True)
    (opt / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    units = tmp_path / "units"
    units.mkdir()
    for name in NAMES:
        (units / name).write_text((UNITS / name).read_text().replace("/opt/cto-assistant", str(opt)))
    return units, opt


def test_the_units_shipped_are_the_ones_documented() -> None:
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(NAMES)
    guide = (REPO_ROOT / "docs" / "admin-guide.md").read_text()
    for name in NAMES:
        assert f"deploy/systemd/{name}" in guide, f"docs/admin-guide.md does not mention {name}"


def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd); the units cannot be verified")
    units, _ = _installed(tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", *[str(units / n) for n in NAMES]], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


def test_a_broken_unit_is_caught_by_the_check(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd); the units cannot be verified")
    units, opt = _installed(tmp_path)
    broken = units / "cto-assistant-refresh.service"
    broken.write_text(broken.read_text().replace(f"{opt}/.venv/bin/ingest", f"{opt}/.venv/bin/no-such-ingest"))
    done = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no-such-ingest is not executable" in done.stderr


def _exec_start(unit: Path) -> list[str]:
    """The ExecStart command lines, unescaped as systemd does ($$ -> $, %% -> %)."""
    return [line.split("=", 1)[1].replace("$$", "$").replace("%%", "%")
            for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]


def test_the_backup_service_commands_back_up_kb_journal_and_uploads(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data, backups = tmp_path / "var-lib" / "data", tmp_path / "backups"
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    settings = Settings(data_dir=data)
    write(tmp_path / "docs" / "patch.md", "# The patch rule\n\nThe patch rule says how technicians patch closets. " * 3)
    assert not run_ingest(KnowledgeBase(settings), [str(tmp_path / "docs")]).failed
    with sqlite3.connect(data / "journal.sqlite3") as journal:
        journal.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        journal.execute("INSERT INTO probe VALUES (42)")
    write(data / "uploads" / "policy.md", "# Uploaded policy\n")
    backups.mkdir()
    old = backups / "kb-2020-01-01.jsonl.gz"
    old.write_bytes(b"old")
    os.utime(old, (0, 0))
    units, opt = _installed(tmp_path)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CTO_")}, "CTO_DATA_DIR": str(data),
           "CTO_EMBEDDING_MODEL": "hash", "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    for command in _exec_start(units / "cto-assistant-backup.service"):
        command = command.replace("/var/lib/cto-assistant/data", str(data)).replace("/var/backups/cto-assistant", str(backups))
        args = ["/bin/sh", "-c", command.split("'")[1]] if command.startswith("/bin/sh -c '") else command.split()
        done = subprocess.run(args, env=env, cwd=opt, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    day = date.today().isoformat()
    with gzip.open(backups / f"kb-{day}.jsonl.gz", "rt") as handle:
        assert json.loads(handle.readline())["documents"] == 1
    with sqlite3.connect(backups / f"journal-{day}.sqlite3") as copy:
        assert copy.execute("SELECT x FROM probe").fetchall() == [(42,)]
    assert (backups / f"uploads-{day}.tar.gz").stat().st_size > 0
    assert not old.exists(), "backups older than 30 days are deleted"
