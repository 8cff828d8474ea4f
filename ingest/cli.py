"""The ``ingest`` command: add, update and prune documents in the knowledge base."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.core.metadata import parse_areas, read_fields
from kb.index.lock import with_running_server
from kb.version import __version__

EPILOG = """\b
Examples:
  ingest ./library                        add or update every document in a folder
  ingest report.pdf https://example.org/guide.html
  ingest ./policies --include '*.pdf' --area cybersecurity --authority "district policy"
  ingest ./library --prune                also remove documents whose files are gone
  ingest ./library --dry-run --json       show what would change, machine-readable
  ingest --watch ./library                keep the library in step with a folder (Ctrl-C stops)
  ingest --refresh                        re-check every web source; unchanged ones cost one request
  ingest --site https://district.example/policies/ --depth 2 --limit 100

Exit status: 0 all inputs succeeded, 1 some failed (the rest were ingested), 2 usage error.
"""


class _Bar:
    """A progress bar on a terminal, nothing otherwise (log lines tell the story)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.files: Any = None
        self.chunks = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage == "files":
            if self.files is None:
                self.files = tqdm(total=total, unit="file", desc="ingest", file=sys.stderr, leave=False)
            self.files.update(done - self.files.n)
        elif stage == "chunks" and self.files is not None:
            self.chunks = done
            self.files.set_postfix(chunks=done)

    def close(self) -> None:
        if self.files is not None:
            self.files.close()


def _metadata(area: tuple[str, ...], **fields: str | None) -> dict[str, Any]:
    """The options' metadata, checked where it enters (kb.core.metadata): a bad value is a usage error (exit 2)."""
    given = {k: v for k, v in fields.items() if v is not None}
    for name, value in given.items():
        if not value.strip():
            raise click.BadParameter("is empty; leave the option out instead", param_hint=f"--{name.replace('_', '-')}")
    read = read_fields(given)
    if read.problems:
        exc = read.problems[0]
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=f"--{exc.field.replace('_', '-')}")
    meta = read.clean
    for note in read.notes:
        click.echo(f"note: --{note}", err=True)  # what a date that is not a whole day was read as
    if area:
        areas, unknown = parse_areas(list(area), field="--area")
        if unknown:
            from kb.core.areas import area_ids

            raise click.BadParameter(f"unknown area {', '.join(unknown)}; choose from {', '.join(area_ids())}",
                                     param_hint="--area")
        meta["areas"] = areas
    if meta.get("published"):
        meta["date"] = meta["published"]
    return meta


def _print_summary(report: Any) -> None:
    counts = report.counts()
    order = ["added", "updated", "unchanged", "removed", "skipped", "failed", "would-add", "would-update", "would-remove"]
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    click.echo(f"{', '.join(parts) or 'nothing to do'} in {report.seconds:.1f} s ({report.chunks_embedded} chunks embedded)")
    for result in report.results:
        if result.status == "failed":
            click.echo(f"  failed  {result.source}: {result.reason}")
        elif result.status.startswith("would") or result.status in {"removed", "skipped"}:
            click.echo(f"  {result.status:<8} {result.source}" + (f": {result.reason}" if result.status == "skipped" else ""))
        for warning in result.warnings:
            click.echo(f"  warning {result.source}: {warning}")
    if report.repaired:
        click.echo(f"  repaired {len(report.repaired)} document(s) left half-indexed by an interrupted run")
    if report.failed:
        click.echo("Fix or remove the failed files and run the same command again; finished documents are skipped.")


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, required=False, metavar="PATH_OR_URL...")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching this glob (repeatable).")
@click.option("--prune", is_flag=True, help="Remove documents whose source file no longer exists.")
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--area", multiple=True, help="Challenge area(s) for these documents (overrides front matter).")
@click.option("--authority", help="federal, state, district policy, peer district, research, vendor or internal.")
@click.option("--jurisdiction", help='A US state, or "national".')
@click.option("--published", help="Publication date, YYYY-MM-DD (also YYYY/MM/DD, YYYY-MM, YYYY).")
@click.option("--reviewed", help="Date last reviewed, YYYY-MM-DD.")
@click.option("--expires", help="Date after which the guidance should not be relied on, YYYY-MM-DD.")
@click.option("--superseded-by", help="Title or id of the document that replaces these.")
@click.option("--watch", is_flag=True, help="Keep watching the folders given and ingest changes as they happen.")
@click.option("--refresh", is_flag=True, help="Re-check every URL source (conditional requests); re-ingest changed ones.")
@click.option("--site", metavar="URL", help="Follow a site's links from URL (same host and path prefix, robots.txt honoured).")
@click.option("--depth", type=click.IntRange(0, 10), default=2, show_default=True, help="With --site: links to follow from the start page.")
@click.option("--limit", type=click.IntRange(1, 5000), default=100, show_default=True, help="With --site: most pages and documents.")
@click.option("-v", "--verbose", is_flag=True, help="Log every file; on an error, also print the traceback.")
@click.version_option(__version__, prog_name="ingest")
@friendly_errors
def main(inputs: tuple[str, ...], include: tuple[str, ...], exclude: tuple[str, ...], prune: bool, dry_run: bool,
         as_json: bool, area: tuple[str, ...], authority: str | None, jurisdiction: str | None, published: str | None,
         reviewed: str | None, expires: str | None, superseded_by: str | None, watch: bool, refresh: bool,
         site: str | None, depth: int, limit: int, verbose: bool) -> None:
    """Add documents (PDF with OCR for scans, Word, PowerPoint, Excel, CSV, HTML, Markdown, text, e-mail, EPUB;
    files, folders, URLs or a whole site section) to the knowledge base.

    Unchanged documents are skipped, changed ones replaced, and a broken file is
    reported without stopping the run or leaving anything half-indexed.
    """
    from ingest.report import IngestOptions

    blank = [i for i in inputs if not i.strip()]
    if blank:
        raise click.BadParameter("an input is empty; give a file, folder or URL (use . for the current folder)",
                                 param_hint="PATH_OR_URL")
    modes = [name for name, on in (("--watch", watch), ("--refresh", refresh), ("--site", bool(site))) if on]
    if len(modes) > 1:
        raise click.UsageError(f"{' and '.join(modes)} cannot be combined; run them one at a time")
    if not inputs and not (refresh or site):
        raise click.UsageError("Missing argument PATH_OR_URL...: name files, folders or URLs to ingest "
                               "(or use --refresh or --site URL)")
    if (refresh or site) and inputs:
        raise click.UsageError(f"{modes[0]} takes no PATH_OR_URL arguments")
    settings = with_running_server(load_settings())  # `kb run --server`: write through the app's server
    interactive = sys.stderr.isatty() and not as_json
    configure_logging("INFO" if (verbose or not interactive) and not as_json else "WARNING")
    meta = _metadata(area, authority=authority, jurisdiction=jurisdiction, published=published, reviewed=reviewed,
                     expires=expires, superseded_by=superseded_by)
    options = IngestOptions(include=list(include), exclude=list(exclude), prune=prune, dry_run=dry_run, metadata=meta)
    if not (watch or refresh or site):
        from ingest.unchanged import unchanged_report

        quick = unchanged_report(settings, list(inputs), options)  # nothing changed: no store, no model, no pipeline
        if quick is not None:
            _show(quick, as_json)
            sys.exit(quick.exit_code)
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    kb = KnowledgeBase(settings)
    if watch:
        _watch(kb, list(inputs), options, as_json)
        return
    bar = _Bar(interactive)
    try:
        if refresh:
            from ingest.sync import refresh_urls

            report = refresh_urls(kb, progress=bar)
        elif site:
            report = _site(kb, site, options, depth=depth, limit=limit, progress=bar)
        else:
            report = run_ingest(kb, list(inputs), options=options, progress=bar)
    finally:
        bar.close()
    _show(report, as_json)
    sys.exit(report.exit_code)


def _show(report: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_summary(report)


def _site(kb: Any, start: str, options: Any, *, depth: int, limit: int, progress: Any) -> Any:
    """Crawl, then ingest what was found; links robots.txt forbids are reported as skipped."""
    from ingest.crawl import crawl_site
    from ingest.pipeline import FileResult, run_ingest

    settings = kb.settings
    found = crawl_site(start, depth=depth, limit=limit, timeout_s=settings.url_timeout_s,
                       max_bytes=int(settings.max_file_mb * 1_000_000))
    options.prefetched = found.downloads
    report = run_ingest(kb, found.urls, options=options, progress=progress)
    report.results += [FileResult(url, "skipped", reason="disallowed by robots.txt") for url in found.disallowed]
    if found.truncated:
        report.results.append(FileResult(start, "skipped", reason=f"stopped at --limit {limit}; raise it to follow more links"))
    return report


def _watch(kb: Any, folders: list[str], options: Any, as_json: bool) -> None:
    from ingest.sync import watch_folders

    click.echo(f"Watching {', '.join(folders)} for changes; press Ctrl-C to stop.", err=True)
    try:
        watch_folders(kb, folders, options, on_report=lambda report: _show(report, as_json))
    except KeyboardInterrupt:
        click.echo("Stopped watching.", err=True)
