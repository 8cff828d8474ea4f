"""``kb ask``: the command-line face of ``Assistant.ask``."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any, TextIO

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


def _filters(area: tuple[str, ...], authority: tuple[str, ...], jurisdiction: tuple[str, ...],
             date_from: str | None, date_to: str | None):  # type: ignore[no-untyped-def]
    """The options as Filters, every value checked and normalised (kb.core.metadata); a bad one is a usage error."""
    from kb.answering.retrieval import Filters
    from kb.core.areas import area_ids
    from kb.core.metadata import MetadataError, parse_areas, parse_authority, parse_jurisdiction, read_date

    areas, unknown = parse_areas(list(area), field="--area")
    if unknown:
        raise click.BadParameter(f"unknown area {', '.join(unknown)}; choose from {', '.join(area_ids())}", param_hint="--area")
    try:
        authorities = tuple(parse_authority(a, field="--authority") for a in authority)
        jurisdictions = tuple(parse_jurisdiction(j, field="--jurisdiction") for j in jurisdiction)
        start = read_date(date_from, field="--from") if date_from is not None else None
        end = read_date(date_to, field="--to") if date_to is not None else None
    except MetadataError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=exc.field) from exc
    for parsed in (start, end):
        if parsed is not None and parsed[1]:
            click.echo(f"note: {parsed[1]}", err=True)
    if start and end and start[0] > end[0]:
        raise click.UsageError(f"--from {start[0].isoformat()} is after --to {end[0].isoformat()}; swap them")
    return Filters(areas=tuple(areas), authorities=authorities, jurisdictions=jurisdictions,
                   date_from=start[0].isoformat() if start else None, date_to=end[0].isoformat() if end else None)


def _print_answer(answer: Any) -> None:
    click.echo(answer.to_markdown())
    for notice in answer.notices:
        click.echo(f"\nNote: {notice}")
    click.echo(f"\n(answer {answer.id}: `kb audit show {answer.id}`)", err=True)


def _batch(assistant: Any, stream: TextIO, filters: Any, k: int | None) -> None:
    totals = []
    try:
        lines = list(stream)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"--batch: the file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                   "save it as UTF-8, one question per line") from exc
    for line in lines:
        question = line.strip()
        if not question:
            continue
        answer = assistant.ask(question, filters=filters, k=k)
        totals.append(answer.timings.get("total", 0.0))
        click.echo(json.dumps(answer.to_dict()))
    if totals:
        cuts = statistics.quantiles(totals, n=20) if len(totals) > 1 else [totals[0]] * 19
        click.echo(f"answered {len(totals)} questions: p50 {statistics.median(totals) * 1000:.0f} ms, "
                   f"p95 {cuts[18] * 1000:.0f} ms", err=True)


@click.command("ask")
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the Answer object as JSON.")
@click.option("--batch", type=click.File("r", encoding="utf-8"), help="Answer one question per line of FILE ('-' for stdin); JSON lines out.")
@click.option("--history", multiple=True, help="An earlier question of the conversation (repeatable, oldest first).")
@click.option("--area", multiple=True, help="Only passages in this challenge area (repeatable).")
@click.option("--authority", multiple=True, help="Only sources of this authority (repeatable).")
@click.option("--jurisdiction", multiple=True, help="Only sources of this jurisdiction (repeatable).")
@click.option("--from", "date_from", help="Only sources dated on or after YYYY-MM-DD (also YYYY/MM/DD, YYYY-MM, YYYY).")
@click.option("--to", "date_to", help="Only sources dated on or before YYYY-MM-DD (also YYYY/MM/DD, YYYY-MM, YYYY).")
@click.option("--k", type=click.IntRange(1, 50), help="Passages to answer from (default: CTO_TOP_K).")
@click.option("--llm", type=click.Choice(["none", "ollama", "openai"]), help="Answer composer for this question.")
@friendly_errors
def ask(question: str | None, as_json: bool, batch: TextIO | None, history: tuple[str, ...], area: tuple[str, ...],
        authority: tuple[str, ...], jurisdiction: tuple[str, ...], date_from: str | None, date_to: str | None,
        k: int | None, llm: str | None) -> None:
    """Answer QUESTION from the knowledge base, citing every sentence, or say it is not covered."""
    from kb.answering.assistant import Assistant

    if not (question or "").strip() and batch is None:
        raise click.UsageError('give a QUESTION, e.g. kb ask "How do we budget for device refresh?", or --batch FILE')
    overrides: dict[str, Any] = {"llm_backend": llm} if llm else {}
    settings = load_settings(**overrides)
    configure_logging("WARNING")
    filters = _filters(area, authority, jurisdiction, date_from, date_to)
    assistant = Assistant(settings)
    if batch is not None:
        _batch(assistant, batch, filters, k)
        return
    answer = assistant.ask(question or "", history=list(history), filters=filters, k=k)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2))
    else:
        _print_answer(answer)
    sys.stdout.flush()


COMMANDS = [ask]
