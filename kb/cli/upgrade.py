"""``kb upgrade``: bring a data directory written by an older release to this one's schema, after a backup."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


@click.command("upgrade", epilog="""\b
Examples:
  kb upgrade                                   backup into CTO_DATA_DIR/backups/, then upgrade
  kb upgrade --backup-to /srv/backups/kb-before-0.2.jsonl.gz
  kb upgrade --check                           only say whether an upgrade is needed (exit 1 if so)
""")
@click.option("--backup-to", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the backup made first (default: CTO_DATA_DIR/backups/before-upgrade-...).")
@click.option("--check", "check_only", is_flag=True, help="Change nothing: report the data directory's schema.")
@friendly_errors
def upgrade_cmd(backup_to: Path | None, check_only: bool) -> None:
    """Upgrade the data directory in place to this release's schema (a backup is written first).

    Opening an older data directory does this by itself unless CTO_UPGRADE_ON_OPEN=false;
    a data directory written by a newer release is refused, never changed.
    """
    from kb.index import datadir
    from kb.index.knowledge import KnowledgeBase
    from kb.index.store import open_store

    configure_logging("WARNING")
    settings = load_settings(use_running_server=False)
    if settings.server_mode:
        raise click.UsageError("kb upgrade works on the embedded store in CTO_DATA_DIR: run it on the machine that "
                               "holds the Chroma server's data, with CTO_CHROMA_HOST unset and the server stopped")
    store = open_store(settings)  # opened without the check that KnowledgeBase.store makes
    state = datadir.state_of(settings, store)
    if check_only:
        needed = state.older or state.newer
        verdict = ("newer than this release: refused" if state.newer else
                   "needs an upgrade: run `kb upgrade`" if state.older else "current")
        click.echo(f"{settings.data_dir}: {state.describe()}; this release uses schema {datadir.DATA_SCHEMA}: {verdict}")
        sys.exit(1 if needed else 0)
    report = datadir.upgrade(KnowledgeBase(settings, store=store), backup_to=backup_to)
    if not report.changed:
        click.echo(f"{settings.data_dir} is current (schema {datadir.DATA_SCHEMA}); nothing to do")
        return
    click.echo(f"backup written to {report.backup} (restore with: kb import {report.backup})")
    for step in report.steps:
        click.echo(f"  {step}")
    click.echo(f"{settings.data_dir} upgraded from schema {report.from_schema} to {report.to_schema}")


COMMANDS = [upgrade_cmd]
