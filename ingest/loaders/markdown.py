"""Markdown loader: YAML front matter for metadata, one section per heading.

The body is parsed with markdown-it-py (CommonMark plus tables), so that a ``#`` line
inside a code block is code, not a heading; setext headings (a line underlined with
``===`` or ``---``) start sections like ATX ones; and table rows keep their columns
(``cell | cell``, as DOCX and HTML tables read).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ingest.clean import clean_text
from kb.core.documents import LoadedDocument, Section, slugify
from kb.core.errors import IngestError

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_ADMONITION = re.compile(r"^:::.*$", re.M)
_SKIPPED_INLINE = {"html_inline"}
DIAGRAMS = {"mermaid"}  # fenced code in these languages is a diagram's source: its labels are read, not its syntax
_LABEL = re.compile(r'"([^"]+)"|\[([^\]"|]+)\]')  # a node's label: quoted, or in square brackets
_BREAK = re.compile(r"<br\s*/?>", re.I)
MIN_LABEL_WORDS = 4  # a bare node name ("States", "Ed-Fi") says nothing alone
_SHAPED = re.compile(r"^[\w-]*\s*(?:\(\(|\)\)|\{\{|[(\[)])\s*(.*?)\s*(?:\)\)|\(\(|\}\}|[)\](])$")  # root((text)), id[text]


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


def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _plain(inline: Any) -> str:
    """The reader's text of an inline token: link and image text kept, markup and HTML dropped."""
    parts: list[str] = []
    for child in inline.children or []:
        if child.type in {"softbreak", "hardbreak"}:
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in _SKIPPED_INLINE:
            continue
    return _LIQUID.sub("", "".join(parts))


class _Walk:
    """Collects blocks under the current heading trail and closes a Section at each heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.first_h1: str | None = None
        self.trail: list[tuple[int, str]] = []
        self.heading: str | None = None
        self.blocks: list[str] = []

    def start(self, level: int, heading: str) -> None:
        self.flush()
        heading = clean_text(heading)
        if level == 1 and self.first_h1 is None:
            self.first_h1 = heading
        self.trail = [(lv, h) for lv, h in self.trail if lv < level] + [(level, heading)]
        self.heading = heading

    def flush(self) -> None:
        text = clean_text(_ADMONITION.sub("", "\n\n".join(self.blocks)))
        self.blocks = []
        if not text:
            return
        label = " > ".join(h for lv, h in self.trail if lv > 1 or len(self.trail) == 1) or self.heading
        anchor = slugify(self.heading, 80) if self.heading else None
        self.sections.append(Section(text=text, heading=label, anchor=anchor))


def _table_rows(tokens: list[Any], start: int) -> tuple[str, int]:
    """Rows of the table opening at ``start`` as ``cell | cell`` lines; returns (text, index after it)."""
    rows: list[str] = []
    cells: list[str] = []
    i = start
    while tokens[i].type != "table_close":
        token = tokens[i]
        if token.type == "inline":
            cells.append(clean_text(_plain(token)).replace("\n", " "))
        elif token.type == "tr_close":
            if any(cells):
                rows.append(" | ".join(cells))
            cells = []
        i += 1
    return "\n".join(rows), i + 1


def _list_prefix(token: Any) -> str:
    """``- `` for a bullet item; ``3. `` for an ordered one (its own number, as written)."""
    return f"{token.info}{token.markup} " if token.info else "- "


def diagram_lines(source: str) -> str:
    """A Mermaid diagram as text: a mind map as its branches (:func:`_mind_map_lines`), any other diagram as its labels.

    Labels become list items, in the order the source defines them, its syntax left out:
    ``A["Pilot<br/>9 months<br/>Run pilot with core data elements"] --> B`` reads "- Pilot: 9 months; Run
    pilot with core data elements." Quoted as code, the syntax (``flowchart TD A["First phase<br/>...``)
    reached answers. Labels of fewer than ``MIN_LABEL_WORDS`` words with no details are node names only.
    """
    body = [line for line in source.splitlines() if line.strip() and not line.strip().startswith(("%%", "::"))]
    if body and body[0].strip().lower() == "mindmap":
        return _mind_map_lines(body[1:])
    lines: list[str] = []
    for match in _LABEL.finditer("\n".join(body)):  # not in %% comments
        label = match.group(1) or match.group(2)
        parts = [" ".join(_HTML_TAG.sub("", part).split()) for part in _BREAK.split(label)]
        parts = [part for part in parts if part]
        if not parts or (len(parts) == 1 and len(parts[0].split()) < MIN_LABEL_WORDS):
            continue
        item = _item(parts[0], parts[1:])
        if item not in lines:
            lines.append(item)
    return "\n".join(lines)


def _mind_map_lines(body: list[str]) -> str:
    """A mind map (one node per line, nesting by indentation): its root as a lead-in, each branch as an item
    that names its sub-nodes ("- Data Received: Counts and summaries; Attendance.")."""
    nodes: list[tuple[int, str]] = []
    for line in body:
        text = line.strip()
        shaped = _SHAPED.match(text)
        text = " ".join(_HTML_TAG.sub("", _BREAK.sub(" ", shaped.group(1) if shaped else text)).split())
        if text:
            nodes.append((len(line) - len(line.lstrip()), text))
    if len(nodes) < 2:
        return ""
    root_indent, root = nodes[0]
    branch_indent = min(indent for indent, _ in nodes[1:])
    lines = [f"{root}:"] if branch_indent > root_indent else []
    for n, (indent, text) in enumerate(nodes):
        if indent != branch_indent:  # the root (a lead-in above), or a sub-node of a branch
            continue
        below: list[str] = []
        for deeper, sub in nodes[n + 1:]:
            if deeper <= indent:
                break
            below.append(sub)
        lines.append(_item(text, below))
    return "\n".join(lines)


def _item(name: str, details: list[str]) -> str:
    """One diagram node as a list item: "- Name: detail; detail." (a full stop unless it ends a sentence already)."""
    line = f"{name}: {'; '.join(details)}" if details else name
    return f"- {line}" + ("" if line.endswith((".", "!", "?")) else ".")


def sections_from_markdown(body: str) -> tuple[str | None, list[Section]]:
    """Split a Markdown body at its headings (ATX or setext, never inside code); return (first H1, sections)."""
    tokens = _parser().parse(body)
    walk = _Walk()
    depth = 0  # list nesting: items of one list share a block, one line each
    items: list[str] = []
    prefix = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        target = items if depth else walk.blocks
        if kind == "heading_open":
            walk.start(int(token.tag[1]), _plain(tokens[i + 1]))
            i += 3
            continue
        if kind == "table_open":
            text, i = _table_rows(tokens, i)
            target.append(text)
            continue
        if kind in {"bullet_list_open", "ordered_list_open"}:
            depth += 1
        elif kind in {"bullet_list_close", "ordered_list_close"}:
            depth -= 1
            if depth == 0:
                walk.blocks.append("\n".join(items))
                items = []
        elif kind == "list_item_open":
            prefix = _list_prefix(token)
        elif kind == "fence" and token.info.strip().split(" ")[0].lower() in DIAGRAMS:
            if lines := diagram_lines(token.content):
                target.append(lines)
        elif kind in {"fence", "code_block"}:
            target.append(token.content.rstrip("\n"))
        elif kind == "html_block":
            target.append(_HTML_TAG.sub("", _HTML_COMMENT.sub("", token.content)))
        elif kind == "inline":
            target.append(prefix + _plain(token))
            prefix = ""
        i += 1
    walk.flush()
    return walk.first_h1, walk.sections


def load_markdown_text(text: str, source: str) -> LoadedDocument:
    """Parse Markdown text (with optional front matter) into a LoadedDocument."""
    front, body = split_front_matter(text)
    h1, sections = sections_from_markdown(body)
    if not sections:
        raise IngestError("the document has no text after its front matter")
    title = str(front.get("title") or h1 or source.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip()
    # Dates, areas, authority... are checked and normalised where every source's metadata is:
    # ingest.pipeline, through kb.core.metadata (a YAML date arrives here as text).
    meta = {str(k): v for k, v in front.items() if k not in {"title", "date", "areas", "summary"}}
    raw_date = front.get("date") or front.get("published")
    return LoadedDocument(
        source=source,
        source_type="markdown",
        title=title,
        sections=sections,
        date=None if raw_date is None else str(raw_date),  # as written: checked in the pipeline
        areas=front.get("areas") or [],
        summary=str(front["summary"]).strip() if front.get("summary") else None,
        url=str(front.get("source_url") or front.get("url") or "") or None,
        meta=meta,
    )
