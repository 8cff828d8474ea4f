"""Support for the input-safety, fuzz and crash tests: run the real commands, check the one-line-error rule."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kb.core.settings import REPO_ROOT

CORPUS = {
    "backups.md": "---\ntitle: Backup and restore drills\ndate: 2024-03-01\nauthority: federal\n---\n# Backups\n\n"
                  "Keep three copies of district data, one offline, and run a restore drill every quarter so that "
                  "ransomware cannot take the student information system down for long.\n",
    "erate.md": "---\ntitle: E-Rate category two budgets\ndate: 2023-07-01\n---\n# E-Rate\n\n"
                "Category two funds internal connections such as switches and access points over a five-year budget "
                "cycle; plan the refresh with the district's discount rate.\n",
}
QUESTIONS = ["How often should we run a restore drill?", "What does E-Rate category two fund?"]


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(command: Any, *args: str, input: str | None = None) -> Run:  # noqa: A002 (click's name)
    """Run a click command in this process (exit code, stdout and stderr kept apart)."""
    result = CliRunner().invoke(command, list(args), input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{command.name} {' '.join(args)} raised {result.exception!r}\n{result.stderr}") from result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def run_process(module: str, *args: str, env: dict[str, str], cwd: Path, timeout: float = 240) -> Run:
    """Run ``python -m module args`` in a fresh process with this tree first on the path."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    full.update(env)
    full["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-m", module, *args], env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(run: Run, codes: tuple[int, ...] = (1, 2)) -> str:
    """The command failed with an expected code, no traceback, and exactly one ``error:`` line; returns it."""
    assert run.code in codes, (run.code, run.out[-2000:], run.err[-2000:])
    assert "Traceback" not in run.err + run.out, run.err[-3000:]
    errors = [line for line in run.err.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1, run.err
    return errors[0]
