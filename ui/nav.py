"""The app's pages by url path, and links to them; the pages themselves are wired up in app.py.

Page modules link to each other through this module, which imports none of them: a link
needs only the target's url path (Streamlit matches it to the page app.py registered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from kb.governance.roles import Role

__all__ = ["PAGES", "NEEDS", "link", "pages"]

# url path -> (title, icon); the order is the order of the navigation menu.
PAGES: dict[str, tuple[str, str]] = {
    "chat": ("Chat", ":material/forum:"),
    "library": ("Library", ":material/library_books:"),
    "evaluation": ("Evaluation", ":material/monitoring:"),
    "admin": ("Admin", ":material/admin_panel_settings:"),
}
# the least role that sees a page once sign-in is on (single-user mode shows all but Admin to everyone)
NEEDS: dict[str, Role] = {"chat": Role.READER, "library": Role.READER, "evaluation": Role.STAFF, "admin": Role.ADMIN}


def _page(name: str, render: Callable[[], None]) -> st.Page:
    title, icon = PAGES[name]
    return st.Page(render, title=title, icon=icon, url_path=name, default=name == "chat")


def _run_by_navigation() -> None:
    raise RuntimeError("a link target only: st.navigation runs the page app.py registered under this url path")


def link(name: str) -> st.Page:
    """The target for ``st.page_link`` to one page by url path ("chat", "library", "evaluation", "admin")."""
    return _page(name, _run_by_navigation)


def pages(renderers: Mapping[str, Callable[[], None]], *, role: Role = Role.ADMIN, signed_in: bool = False) -> list[st.Page]:
    """The pages this role may open, each with its renderer, for ``st.navigation``.

    In single-user mode (``signed_in`` False) everyone sees what they saw before sign-in
    existed, and the Admin page appears once the staff password is given (role ADMIN).
    """
    def visible(name: str) -> bool:
        if not signed_in and name != "admin":
            return True
        return role >= NEEDS[name]

    return [_page(name, renderers[name]) for name in PAGES if visible(name)]
