"""The ``kb`` command: ask questions and manage the knowledge base."""

from __future__ import annotations

import click

from kb.version import __version__

__all__ = ["main"]

EPILOG = """\b
Examples:
  kb ask "How should we prepare for ransomware?"
  kb ask "What does E-Rate Category Two cover?" --json
  kb ask --batch questions.txt > answers.jsonl
  kb docs --health
  kb stats --json
  kb remove cyber-insurance-1a2b3c4d
  kb reset --yes
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kb")
@click.option("-v", "--verbose", is_flag=True, help="On an error, also print the traceback (for a bug report).")
def main(verbose: bool) -> None:
    """CTO Assistant knowledge base: ask questions with cited answers, list and manage documents."""


def _register() -> None:
    """Add the commands of every module in this package that lists them in ``COMMANDS``."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_register()
