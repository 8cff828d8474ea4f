"""``python -m eval``: run, beir, ablate, bench, report and calibrate."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import click

__all__ = ["main"]

EPILOG = """\b
Examples:
  python -m eval run                      gold-set metrics over the starter library
  python -m eval run --gold k12docs       page-level metrics over the public k12docs corpus
  python -m eval beir                     BEIR SciFact nDCG@10 beside published baselines
  python -m eval ablate                   retrieval configurations side by side
  python -m eval bench --quick            ingest and latency benchmark, small
  python -m eval report                   print the latest report
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Evaluate CTO Assistant: answer quality, retrieval, public benchmarks, speed."""


def _register() -> None:
    """Add the commands of every ``eval`` module that lists them in ``COMMANDS``."""
    folder = Path(__file__).parent
    for info in sorted(pkgutil.walk_packages([str(folder)], prefix="eval."), key=lambda m: m.name):
        if info.name in {"eval.cli", "eval.__main__"}:
            continue
        module = importlib.import_module(info.name)
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_register()
