"""``kb gaps`` and ``kb audit``: what the library is missing, and what answers were built from."""

from __future__ import annotations

import json

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


def _journal():  # type: ignore[no-untyped-def]
    from kb.governance.journal import Journal

    configure_logging("WARNING")
    return Journal(load_settings().data_dir)


@click.command("gaps")
@click.option("--json", "as_json", is_flag=True, help="Print the gaps as JSON.")
@friendly_errors
def gaps(as_json: bool) -> None:
    """Questions the library could not answer (and thumbs-down answers), grouped by area with counts."""
    grouped = _journal().gaps_by_area()
    if as_json:
        click.echo(json.dumps(grouped, indent=2))
        return
    if not grouped:
        click.echo("No gaps recorded: every question so far was answered and no answer got a thumbs-down.")
        return
    from kb.core.areas import area_label

    for area, entries in grouped.items():
        total = sum(e["count"] for e in entries)
        click.echo(f"{area_label(area)} ({total} question{'s' if total != 1 else ''})")
        for e in entries:
            nearest = f"  nearest: {', '.join(e['nearest'][:2])}" if e["nearest"] else ""
            click.echo(f"  {e['count']:>3}x  {e['question']}  [{e['reason']}]{nearest}")
    click.echo("Add documents on these topics with `ingest PATH`.")


@click.group("audit")
def audit() -> None:
    """The answer audit trail: list, show, replay and prune recorded answers."""


@audit.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest records.")
@friendly_errors
def audit_list(limit: int) -> None:
    """List recorded answers, newest first."""
    for row in _journal().audits(limit):
        click.echo(f"{row['id']}  {row['at']}  {row['question'][:90]}")


@audit.command("show")
@click.argument("answer_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@friendly_errors
def audit_show(answer_id: str, as_json: bool) -> None:
    """Show what answer ANSWER_ID was built from: chunks, hashes, model, prompts and settings."""
    record = _journal().audit(answer_id)
    if record is None:
        raise click.ClickException(f"no audit record {answer_id!r}; `kb audit list` shows the recorded ids")
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"answer {answer_id} at {record['at']} (CTO Assistant {record['version']}, composer {record['composer']})")
    click.echo(f"question: {record['question']}")
    if record["history"]:
        click.echo(f"history:  {' | '.join(record['history'])}")
    click.echo(f"abstained: {record['abstained']}\n\n{record['answer']}\n\ncited chunks:")
    for c in record["cited"]:
        where = f" p.{c['page']}" if c.get("page") else (f" § {c['section']}" if c.get("section") else "")
        click.echo(f"  [{c['n']}] {c['chunk_id']}  sha256:{c['content_hash'][:16]}  {c['title']}{where}")
    settings = record["settings"]
    click.echo(f"model: {settings['embedding_model']} (weights sha256 {str(settings['embedding_sha256'])[:16]}...)")
    click.echo("prompts: " + ", ".join(f"{k}@{v}" for k, v in record["prompts"].items()))
    click.echo("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items() if k not in {"embedding_model", "embedding_sha256"}))


@audit.command("replay")
@click.argument("answer_id")
@friendly_errors
def audit_replay(answer_id: str) -> None:
    """Ask ANSWER_ID's question again and report whether its sources changed since."""
    from kb.answering.assistant import Assistant
    from kb.answering.audit import replay

    journal = _journal()
    record = journal.audit(answer_id)
    if record is None:
        raise click.ClickException(f"no audit record {answer_id!r}; `kb audit list` shows the recorded ids")
    result = replay(Assistant(load_settings(), journal=journal), record)
    if not result.sources_changed:
        click.echo(f"sources unchanged: all {len(record['cited'])} cited passages are still in the library, word for word.")
    for chunk_id in result.changed:
        click.echo(f"changed: {chunk_id} (its text differs from when the answer was given)")
    for chunk_id in result.missing:
        click.echo(f"missing: {chunk_id} (no longer in the library)")
    for chunk_id in result.new_citations:
        click.echo(f"new:     {chunk_id} (cited now, not then)")
    for key, (then, now) in result.settings_changed.items():
        click.echo(f"setting {key}: was {then}, now {now}")
    click.echo("answer text: " + ("identical" if result.same_text else "different") + f" (new answer id {result.answer.id})")
    raise SystemExit(1 if result.sources_changed else 0)


@audit.command("prune")
@click.option("--older-than", "days", type=click.IntRange(0, 36_500), default=365, show_default=True, help="Days to keep.")
@friendly_errors
def audit_prune(days: int) -> None:
    """Delete audit records older than N days."""
    removed = _journal().prune_audit(days)
    click.echo(f"removed {removed} audit record(s) older than {days} days")


COMMANDS = [gaps, audit]
