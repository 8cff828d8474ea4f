"""Markdown loader: YAML front matter for metadata, one section per heading."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ingest.clean import clean_text
from kb.core.documents import LoadedDocument, Section, slugify
from kb.core.errors import IngestError

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$", re.M)
_ADMONITION = re.compile(r"^:::.*$", re.M)


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text, read once by kb.core.metadata (2023-02-30 is refused there, not a crash here)."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return (front matter, body); a file without front matter gives an empty dict."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # CRLF files: the --- lines must still match
    match = _FRONT.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.load(match.group(1), Loader=_FrontMatterLoader) or {}  # noqa: S506 (a SafeLoader subclass)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise IngestError(f"front matter is not valid YAML{line} ({exc.__class__.__name__}); fix the block between the --- lines") from exc
    if not isinstance(data, dict):
        raise IngestError("front matter must be a YAML mapping of field: value")
    return data, text[match.end():]


def _inline(text: str) -> str:
    text = _LIQUID.sub("", text)
    text = _HTML_COMMENT.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _ADMONITION.sub("", text)
    for _ in range(2):
        text = _EMPHASIS.sub(r"\2", text)
    return text


def sections_from_markdown(body: str) -> tuple[str | None, list[Section]]:
    """Split a Markdown body at headings; return (first H1 text, sections)."""
    sections: list[Section] = []
    first_h1: str | None = None
    matches = list(_HEADING.finditer(body))
    starts = [0] + [m.start() for m in matches]
    headings: list[tuple[str | None, int]] = [(None, 0)] + [(m.group(2).strip(), len(m.group(1))) for m in matches]
    trail: list[tuple[int, str]] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(body)
        heading, level = headings[i]
        chunk = body[start:end]
        if heading is not None:
            chunk = chunk.split("\n", 1)[1] if "\n" in chunk else ""
            heading = clean_text(_inline(heading))
            if level == 1 and first_h1 is None:
                first_h1 = heading
            trail = [(lv, h) for lv, h in trail if lv < level] + [(level, heading)]
        text = clean_text(_inline(chunk))
        if text:
            label = " > ".join(h for lv, h in trail if lv > 1 or len(trail) == 1) or heading
            sections.append(Section(text=text, heading=label, anchor=slugify(heading or "", 80) if heading else None))
    return first_h1, sections


def load_markdown_text(text: str, source: str) -> LoadedDocument:
    """Parse Markdown text (with optional front matter) into a LoadedDocument."""
    front, body = split_front_matter(text)
    h1, sections = sections_from_markdown(body)
    if not sections:
        raise IngestError("the document has no text after its front matter")
    title = str(front.get("title") or h1 or source.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip()
    # Dates, areas, authority... are checked and normalised where every source's metadata is:
    # ingest.pipeline, through kb.core.metadata (a YAML date arrives here as text).
    meta = {str(k): v for k, v in front.items() if k not in {"title", "areas", "summary"}}
    return LoadedDocument(
        source=source,
        source_type="markdown",
        title=title,
        sections=sections,
        date=None,
        areas=front.get("areas") or [],
        summary=str(front["summary"]).strip() if front.get("summary") else None,
        url=str(front.get("source_url") or front.get("url") or "") or None,
        meta=meta,
    )
