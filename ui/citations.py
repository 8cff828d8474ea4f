"""How an answer's numbered sources look: one expandable card per citation."""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path

import streamlit as st

from kb.core.answer import Citation
from kb.core.areas import area_label
from ui import nav
from ui.safe_text import escape_md, highlight_passage

__all__ = ["citation_card", "area_badges", "is_web_link", "local_file"]


def area_badges(areas: list[str], color: str = "blue") -> str:
    """Markdown badges for challenge areas."""
    return " ".join(f":{color}-badge[{escape_md(area_label(a))}]" for a in areas)


def is_web_link(link: str | None) -> bool:
    return bool(link) and str(link).lower().startswith(("http://", "https://"))


def local_file(source: str, max_mb: float) -> Path | None:
    """The original file of a local source when it still exists and is not too big to offer."""
    if not source or is_web_link(source):
        return None
    path = Path(source)
    try:
        if path.is_file() and path.stat().st_size <= max_mb * 1_000_000:
            return path
    except OSError:
        return None
    return None


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _card_label(c: Citation) -> str:
    where = " · ".join(x for x in (c.location, c.date) if x)
    return f"**\\[{c.n}\\]** {escape_md(c.title)}" + (f" · {escape_md(where)}" if where else "")


def _where(c: Citation) -> str:
    if c.page:
        return f" at page {c.page}"
    return " at this section" if c.link and "#" in c.link else ""


def source_actions(c: Citation, key: str, max_mb: float) -> None:
    """View the cited place in the app, open (web source, deep link) or download (local file) the original."""
    from ui import resources, viewer

    settings = resources.settings()
    with st.container(horizontal=True, wrap=True, gap="small"):
        if viewer.viewable(c, settings) is not None and st.button(viewer.view_label(c), key=f"view_{key}",
                                                                  icon=":material/visibility:", type="primary"):
            viewer.show_source(c, settings)
        if is_web_link(c.link):
            st.link_button(f"Open source{_where(c)}", str(c.link), icon=":material/open_in_new:")
        elif (path := local_file(c.source, max_mb)) is not None:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            st.download_button(f"Download original ({path.suffix.lstrip('.').upper() or 'file'})",
                               data=functools.partial(_read, path), file_name=path.name, mime=mime,
                               key=f"dl_{key}", on_click="ignore", icon=":material/download:")
        else:
            st.caption("The original file is not available on this server.")
        st.page_link(nav.page("library"), label="Show in library", icon=":material/library_books:",
                     query_params={"doc": c.doc_id, "chunk": c.chunk_id})


def citation_card(c: Citation, key: str, max_mb: float) -> None:
    """One source of an answer: title, place, date, authority, the passage with its quoted sentences marked."""
    with st.expander(_card_label(c), icon=":material/description:", key=f"cite_{key}"):
        badges = [area_badges(c.areas)] if c.areas else []
        if c.authority:
            badges.append(f":gray-badge[Authority: {escape_md(c.authority)}]")
        badges.append(f":gray-badge[{'Dated ' + escape_md(c.date) if c.date else 'Undated'}]")
        st.markdown(" ".join(badges))
        with st.container(border=True):
            st.markdown(highlight_passage(c.snippet, c.supporting))
        if c.supporting:
            st.caption("Highlighted: the sentences of the answer that rest on this passage.")
        source_actions(c, key, max_mb)
