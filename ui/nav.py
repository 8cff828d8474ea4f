"""The app's pages, in one place, so that pages can link to each other (deep links)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

__all__ = ["PAGES", "page", "pages"]

# url path -> (title, icon); the order is the order of the navigation menu.
PAGES: dict[str, tuple[str, str]] = {
    "chat": ("Chat", ":material/forum:"),
    "library": ("Library", ":material/library_books:"),
    "evaluation": ("Evaluation", ":material/monitoring:"),
}


def _renderer(name: str) -> Callable[[], None]:
    # imported here: page modules import this module for their links
    from ui import chat, evaluation, library

    return {"chat": chat.render, "library": library.render, "evaluation": evaluation.render}[name]


def page(name: str) -> st.Page:
    """The ``st.Page`` of one page by url path ("chat", "library", "evaluation")."""
    title, icon = PAGES[name]
    return st.Page(_renderer(name), title=title, icon=icon, url_path=name, default=name == "chat")


def pages() -> list[st.Page]:
    """Every page, for ``st.navigation``."""
    return [page(name) for name in PAGES]
