"""Pages never show a traceback: errors become a clear message, details go to the log."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable

import streamlit as st

from kb.core.errors import KBError

__all__ = ["guarded", "show_error"]

logger = logging.getLogger(__name__)


def show_error(action: str, exc: BaseException) -> None:
    """Tell the user what went wrong and what to do; log the details (with a reference)."""
    if isinstance(exc, KBError):  # our errors carry a user-ready message that names the next step
        logger.warning("ui action=%r error=%s: %s", action, type(exc).__name__, exc)
        st.error(f"Could not {action}: {exc}", icon=":material/error:")
        return
    ref = uuid.uuid4().hex[:8]
    logger.error("ui action=%r unexpected error ref=%s", action, ref, exc_info=exc)
    st.error(
        f"Something went wrong while trying to {action}. Try again; if it keeps happening, tell whoever runs "
        f"this app and quote reference {ref} (the details are in the app's log).",
        icon=":material/error:",
    )


def guarded(action: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap a page body so that any exception becomes ``show_error`` (Streamlit's reruns pass through).

    Streamlit's rerun and stop signals derive from BaseException, not Exception, so
    catching Exception leaves them alone.
    """

    def decorate(body: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(body)
        def page() -> None:
            try:
                body()
            except Exception as exc:  # the page boundary: every failure becomes a message
                show_error(action, exc)

        return page

    return decorate
