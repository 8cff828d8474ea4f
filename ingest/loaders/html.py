"""HTML loader: main text under its headings, title and publication date; boilerplate removed.

The main content is found by trafilatura (a maintained extractor that scores blocks, so
menus, cookie banners and "related posts" go); its headings still start sections, so a
citation deep-links to ``#heading``. The publication date comes from the page's date tags,
else from htmldate (which also reads URLs, bylines and JSON-LD). A page trafilatura finds
nothing in (a bare fragment) is read by walking its markup instead, and the document's
health records which way was used.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.clean import SectionBuilder
from kb.core.documents import LoadedDocument
from kb.core.errors import IngestError

_DROP = ["script", "style", "noscript", "iframe", "object", "embed", "svg", "canvas", "template",
         "nav", "header", "footer", "aside", "form", "button", "select", "input", "textarea", "menu"]
_NEVER_TEXT = ["script", "style", "noscript", "iframe", "object", "embed", "svg", "canvas", "template"]
_BOILERPLATE = re.compile(r"(^|[\s_-])(nav|navbar|menu|footer|header|sidebar|breadcrumb|cookie|banner|skip|share|social)([\s_-]|$)", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_DATE_META = ["article:published_time", "datePublished", "date", "dc.date", "dc.date.issued",
              "pubdate", "publish-date", "citation_publication_date", "og:published_time"]
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "blockquote", "dd", "dt", "caption", "figcaption"}
_INSIDE_BLOCK = _BLOCKS - {"tr"}
MAX_DEPTH = 400


def _soup(html: str):  # type: ignore[no-untyped-def]
    from bs4 import BeautifulSoup

    try:
        return BeautifulSoup(html, "lxml")
    except RecursionError as exc:
        raise IngestError("HTML is nested too deeply to parse; simplify or save the page as PDF") from exc


def _strip(soup: Any, boilerplate: bool = True) -> None:
    """Remove scripts, hidden elements and (with ``boilerplate``) navigation, headers and footers."""
    for tag in soup.find_all(_DROP if boilerplate else _NEVER_TEXT):
        tag.decompose()
    for tag in soup.find_all(True):
        if getattr(tag, "decomposed", False):
            continue
        attrs = tag.attrs or {}
        if attrs.get("hidden") is not None or attrs.get("aria-hidden") == "true" or _HIDDEN_STYLE.search(attrs.get("style", "")):
            tag.decompose()
            continue
        if not boilerplate:
            continue
        marker = " ".join(attrs.get("class", []) if isinstance(attrs.get("class"), list) else [str(attrs.get("class", ""))])
        marker += " " + str(attrs.get("id", "")) + " " + str(attrs.get("role", ""))
        if tag.name not in {"html", "body", "main", "article"} and _BOILERPLATE.search(marker):
            tag.decompose()


def _date(soup: Any) -> str | None:
    metas: dict[str, str] = {}  # one pass over the meta tags, not one search of the whole page per name
    for tag in soup.find_all("meta"):
        for attr in ("property", "name", "itemprop"):
            key = tag.get(attr)
            if isinstance(key, str) and tag.get("content"):
                metas.setdefault(key, str(tag["content"]))
    for name in _DATE_META:
        match = re.search(r"\d{4}-\d{2}-\d{2}", metas.get(name, ""))
        if match:
            return match.group(0)
    time_tag = soup.find("time", attrs={"datetime": True})
    if time_tag:
        match = re.search(r"\d{4}-\d{2}-\d{2}", time_tag["datetime"])
        if match:
            return match.group(0)
    return None


def _title(soup: Any) -> str | None:
    og = soup.find("meta", attrs={"property": "og:title"})
    if og and og.get("content"):
        return str(og["content"]).strip()
    if soup.title and soup.title.string:
        return soup.title.string.strip()
    h1 = soup.find("h1")
    return h1.get_text(" ", strip=True) if h1 else None


def _depth_ok(html: str) -> bool:
    depth = peak = 0
    for match in re.finditer(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>", html[:2_000_000]):
        if match.group(1):
            depth -= 1
        elif not match.group(3) and match.group(2).lower() not in {"br", "img", "hr", "meta", "link", "input", "wbr", "source"}:
            depth += 1
            peak = max(peak, depth)
            if peak > MAX_DEPTH:
                return False
    return True


def _row_text(row: Any) -> str:
    """A table row as ``cell | cell``, so that columns stay apart (as DOCX and Markdown tables read)."""
    cells = [c.get_text(" ", strip=True) for c in row.find_all(["td", "th"], recursive=False)]
    if not cells:
        return str(row.get_text(" ", strip=True))
    return " | ".join(cells) if any(cells) else ""


def _page_date(html: str, soup: Any) -> str | None:
    """The publication date from the page's own tags, else htmldate's reading of the page."""
    found = _date(soup)
    if found:
        return found
    from htmldate import find_date

    try:
        guess = find_date(html, extensive_search=False, original_date=True)
    except (ValueError, TypeError):  # htmldate gives up on odd markup: the page is undated
        return None
    return guess if isinstance(guess, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", guess) else None


def _xml_text(el: Any) -> str:
    return " ".join("".join(el.itertext()).split())


def _xml_block(el: Any, builder: SectionBuilder, depth: int = 0) -> None:
    """One block of trafilatura's XML into the builder: headings start sections, tables keep columns."""
    tag = el.tag
    if tag == "head":
        builder.start(_xml_text(el))
    elif tag == "list":
        for item in el.findall("item"):
            own = " ".join((item.text or "").split())
            builder.add("- " + (own or _xml_text(item)))
            for nested in item.findall("list"):
                _xml_block(nested, builder, depth + 1)
    elif tag == "table":
        rows = [" | ".join(_xml_text(cell) for cell in row.findall("cell")) for row in el.iter("row")]
        builder.add("\n".join(r for r in rows if r.strip(" |")))
    elif tag in {"p", "quote", "code"}:
        text = _xml_text(el)
        if text:
            builder.add(text)
    else:
        for child in el:
            _xml_block(child, builder, depth + 1)


def _main_content(html: str) -> list[Any] | None:
    """trafilatura's main-content blocks, or None when it finds no main content."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(html, output_format="xml", include_tables=True, include_comments=False,
                              include_links=False, include_formatting=False, favor_recall=True)
    if not xml:
        return None
    main = etree.fromstring(xml.encode("utf-8")).find("main")
    return list(main) if main is not None and len(main) else None


def load_html_text(html: str, source: str, *, extract: bool = True) -> LoadedDocument:
    """Parse an HTML page into sections under its headings.

    Args:
        html: the page.
        source: where it came from (the title of last resort).
        extract: find the main content with trafilatura; False reads all of the markup
            (for clean content such as an EPUB chapter, where every block is content).
    """
    if not _depth_ok(html):
        raise IngestError(f"HTML nests elements more than {MAX_DEPTH} deep; it is not a normal page")
    soup = _soup(html)
    title = _title(soup)
    date = _page_date(html, soup)
    _strip(soup, boilerplate=False)  # hidden text (keyword stuffing) is not content, whatever the extractor thinks
    blocks = _main_content(str(soup)) if extract else None
    if blocks is not None:
        builder = SectionBuilder()
        for block in blocks:
            _xml_block(block, builder)
        builder.flush()
        if builder.sections:
            return LoadedDocument(source=source, source_type="html", title=title or source.rsplit("/", 1)[-1],
                                  sections=builder.sections, date=date, health={"extractor": "trafilatura"})
    _strip(soup)
    root = soup.find("main") or soup.find("article") or soup.find(attrs={"role": "main"}) or soup.body or soup
    builder = SectionBuilder()

    for el in root.find_all(_BLOCKS):
        if el.name != "tr" and any(parent.name in _INSIDE_BLOCK for parent in el.parents):
            continue  # its text is taken with the enclosing block
        text = _row_text(el) if el.name == "tr" else el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            builder.start(text)
            continue
        builder.add(("- " if el.name == "li" else "") + text)
    builder.flush()
    if not builder.sections:
        raise IngestError("HTML page has no readable text (only scripts, frames or navigation)")
    return LoadedDocument(source=source, source_type="html", title=title or source.rsplit("/", 1)[-1],
                          sections=builder.sections, date=date, health={"extractor": "markup walk"})
