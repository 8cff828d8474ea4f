"""The app's pages, in one place, so that pages can link to each other (deep links)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from kb.governance.roles import Role

__all__ = ["PAGES", "page", "pages"]

# url path -> (title, icon); the order is the order of the navigation menu.
PAGES: dict[str, tuple[str, str]] = {
    "chat": ("Chat", ":material/forum:"),
    "library": ("Library", ":material/library_books:"),
    "evaluation": ("Evaluation", ":material/monitoring:"),
    "admin": ("Admin", ":material/admin_panel_settings:"),
}
# the least role that sees a page once sign-in is on (single-user mode shows all but Admin to everyone)
NEEDS: dict[str, Role] = {"chat": Role.READER, "library": Role.READER, "evaluation": Role.STAFF, "admin": Role.ADMIN}


def _renderer(name: str) -> Callable[[], None]:
    # imported here: page modules import this module for their links
    from ui import admin, chat, evaluation, library

    return {"chat": chat.render, "library": library.render, "evaluation": evaluation.render, "admin": admin.render}[name]


def page(name: str) -> st.Page:
    """The ``st.Page`` of one page by url path ("chat", "library", "evaluation")."""
    title, icon = PAGES[name]
    return st.Page(_renderer(name), title=title, icon=icon, url_path=name, default=name == "chat")


def pages(role: Role = Role.ADMIN, signed_in: bool = False) -> list[st.Page]:
    """The pages this role may open, for ``st.navigation``.

    In single-user mode (``signed_in`` False) everyone sees what they saw before sign-in
    existed, and the Admin page appears once the staff password is given (role ADMIN).
    """
    def visible(name: str) -> bool:
        if not signed_in and name != "admin":
            return True
        return role >= NEEDS[name]

    return [page(name) for name in PAGES if visible(name)]
