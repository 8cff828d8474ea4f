"""``kb export`` and ``kb import``: the whole knowledge base to one file and back."""

from __future__ import annotations

from pathlib import Path

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


def _kb():  # type: ignore[no-untyped-def]
    from kb.index.knowledge import KnowledgeBase

    configure_logging("WARNING")
    return KnowledgeBase(load_settings())


@click.command("export", epilog="""\b
Examples:
  kb export backups/kb-2025-06-01.jsonl.gz
  kb export kb.jsonl.gz --force            overwrite an older backup
""")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it already exists.")
@friendly_errors
def export_cmd(file: Path, force: bool) -> None:
    """Write every document, chunk and vector, with the settings they were built with, to one FILE."""
    from kb.index.backup import export_backup

    summary = export_backup(_kb(), file, overwrite=force)
    size = summary.path.stat().st_size / 1e6
    click.echo(f"exported {summary.documents} documents ({summary.chunks} chunks) to {summary.path} ({size:.1f} MB)")
    click.echo(f"Restore with: kb import {summary.path}")


@click.command("import", epilog="""\b
Examples:
  kb import kb.jsonl.gz                    into an empty knowledge base
  kb import kb.jsonl.gz --replace --yes    replace everything that is there now
""")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Delete the current documents first (after FILE has been checked).")
@click.option("--yes", is_flag=True, help="With --replace: do not ask for confirmation.")
@friendly_errors
def import_cmd(file: Path, replace: bool, yes: bool) -> None:
    """Restore a FILE written by `kb export`, all or nothing.

    The file must have been made with the same embedding model and chunking as this
    knowledge base. Without --replace the knowledge base must be empty.
    """
    from kb.index.backup import import_backup
    from kb.index.lock import write_lock

    kb = _kb()
    with write_lock(kb.settings, "kb import"):  # refused before asking when the app (or a command) writes
        if replace and not yes:
            click.confirm(f"Replace every document in the knowledge base ({kb.settings.collection}) with {file}?",
                          abort=True)
        summary = import_backup(kb, file, replace=replace)
    replaced = f", replacing {summary.replaced} documents" if summary.replaced else ""
    click.echo(f"imported {summary.documents} documents ({summary.chunks} chunks) from {file}{replaced}")


COMMANDS = [export_cmd, import_cmd]
