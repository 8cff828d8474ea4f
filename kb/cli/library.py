"""``kb docs``, ``kb stats``, ``kb remove``, ``kb reset``: what is in the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


def _kb():  # type: ignore[no-untyped-def]
    from kb.index.knowledge import KnowledgeBase

    configure_logging("WARNING")
    return KnowledgeBase(load_settings())


@click.command("docs")
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
@click.option("--health", is_flag=True, help="Show extraction-quality warnings per document.")
@friendly_errors
def docs(as_json: bool, health: bool) -> None:
    """List the documents: title, date, areas, chunks, source."""
    records = sorted(_kb().store.docs(), key=lambda d: d.title.lower())
    if as_json:
        click.echo(json.dumps([d.__dict__ for d in records], indent=2, default=str))
        return
    if not records:
        click.echo("The knowledge base is empty. Add documents with: ingest PATH")
        return
    for d in records:
        status = "" if d.status == "done" else f"  [{d.status}]"
        click.echo(f"{d.doc_id}  {d.title[:70]}  {d.date or '-'}  {','.join(d.areas) or '-'}  {d.chunk_count} chunks{status}")
        click.echo(f"    {d.source}")
        if health:
            for line in _health_lines(d.meta):
                click.echo(f"    health: {line}")


def _health_lines(stored: object) -> list[str]:
    from kb.core.metadata import stored_meta

    meta = stored_meta(stored)
    warnings = meta.get("warnings")
    lines = [str(w) for w in warnings] if isinstance(warnings, list) else []
    health = meta.get("health")
    h: dict = health if isinstance(health, dict) else {}
    if h.get("pages"):
        ocr = h.get("ocr_pages") or []
        lines.insert(0, f"{h.get('pages')} pages, {h.get('chars_per_page')} characters per page"
                     + (f", OCR on {len(ocr)} scanned page(s)" if ocr else ""))
    return lines or ["ok"]


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@friendly_errors
def stats(as_json: bool) -> None:
    """Documents, chunks, documents per area, the model and where the data lives."""
    from kb.core.areas import area_ids

    kb = _kb()
    records = [d for d in kb.store.docs() if d.status == "done"]
    per_area = {a: sum(1 for d in records if a in d.areas) for a in area_ids()}
    s = kb.settings
    data = {
        "documents": len(records), "chunks": kb.store.count(), "per_area": per_area,
        "embedding_model": s.embedding_identity, "chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap,
        "store": f"chroma server {s.chroma_host}:{s.chroma_port}" if s.server_mode else f"embedded {s.data_dir / 'chroma'}",
        "data_dir": str(s.data_dir),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"documents: {data['documents']}\nchunks:    {data['chunks']}")
    for area, n in per_area.items():
        click.echo(f"  {area:<26} {n} documents")
    click.echo(f"model:     {data['embedding_model']} (chunks {s.chunk_size} chars, overlap {s.chunk_overlap})")
    click.echo(f"store:     {data['store']}\ndata dir:  {data['data_dir']}")


@click.command("remove")
@click.argument("doc", metavar="DOC_ID_OR_SOURCE")
@friendly_errors
def remove(doc: str) -> None:
    """Remove one document (by id, or by its source path or URL) and all its chunks."""
    from kb.index.lock import write_lock

    kb = _kb()
    if not doc.strip():
        raise click.BadParameter("is empty; give a document id or source from `kb docs`", param_hint="DOC_ID_OR_SOURCE")
    path = str(Path(doc).expanduser().resolve()) if "://" not in doc else doc  # the path as `ingest` stored it
    matches = [d for d in kb.store.docs() if doc in (d.doc_id, d.source) or d.source == path or d.source.endswith("/" + doc)]
    if not matches:
        raise click.ClickException(f"no document {doc!r}; `kb docs` lists ids and sources")
    if len(matches) > 1:
        raise click.ClickException(f"{doc!r} matches {len(matches)} documents; give the id from `kb docs`")
    with write_lock(kb.settings, "kb remove"):
        kb.store.delete_doc(matches[0].doc_id)
    click.echo(f"removed {matches[0].doc_id} ({matches[0].title}, {matches[0].chunk_count} chunks)")


@click.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly_errors
def reset(yes: bool) -> None:
    """Delete every document and chunk (asks first)."""
    import shutil

    from kb.index.lock import write_lock
    from kb.index.store import Store, make_client

    settings = load_settings()
    configure_logging("WARNING")
    if not yes:
        click.confirm(f"Delete the whole knowledge base ({settings.collection})?", abort=True)
    with write_lock(settings, "kb reset"):
        Store(make_client(settings), settings, settings.embedding_identity).reset()
        shutil.rmtree(settings.data_dir / "keyword", ignore_errors=True)
    click.echo("The knowledge base is empty. Add documents with: ingest PATH")


COMMANDS = [docs, stats, remove, reset]
