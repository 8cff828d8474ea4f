"""The app's pages by url path, and links to them; the pages themselves are wired up in app.py.

Page modules link to each other through this module, which imports none of them: a link
needs only the target's url path (Streamlit matches it to the page app.py registered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

__all__ = ["PAGES", "link", "pages"]

# url path -> (title, icon); the order is the order of the navigation menu.
PAGES: dict[str, tuple[str, str]] = {
    "chat": ("Chat", ":material/forum:"),
    "library": ("Library", ":material/library_books:"),
    "evaluation": ("Evaluation", ":material/monitoring:"),
}


def _page(name: str, render: Callable[[], None]) -> st.Page:
    title, icon = PAGES[name]
    return st.Page(render, title=title, icon=icon, url_path=name, default=name == "chat")


def _run_by_navigation() -> None:
    raise RuntimeError("a link target only: st.navigation runs the page app.py registered under this url path")


def link(name: str) -> st.Page:
    """The target for ``st.page_link`` to one page by url path ("chat", "library", "evaluation")."""
    return _page(name, _run_by_navigation)


def pages(renderers: Mapping[str, Callable[[], None]]) -> list[st.Page]:
    """Every page, with its renderer, for ``st.navigation``."""
    return [_page(name, renderers[name]) for name in PAGES]
