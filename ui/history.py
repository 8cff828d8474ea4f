"""Saved conversations in the chat: each turn saved as it is answered, listed in the sidebar, resumed.

The conversation in view is named in the page's address (``?c=<id>``), so a refresh or
a restart of the app brings it back; the sidebar lists the user's conversations newest
first (a second browser sees the same list). Storage is
``kb.governance.conversations``; every call names the signed-in user, so nobody sees
another's history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st

from kb.core.answer import Answer
from ui import resources
from ui.identity import Identity

__all__ = ["Turn", "TURNS", "PENDING", "CONV", "restore", "save", "new_chat", "conversation_list", "manage",
           "current_id"]

logger = logging.getLogger(__name__)
TURNS, PENDING, CONV = "chat_turns", "chat_pending", "chat_conversation"
PARAM = "c"
LISTED = 30


@dataclass
class Turn:
    """One exchange of the conversation (``n`` is its number in the saved conversation, from 1)."""

    question: str
    answer: Answer
    n: int = 0


def current_id() -> str:
    return str(st.session_state.get(CONV) or "")


def _load(me: Identity, conversation_id: str) -> bool:
    saved = resources.conversations().turns(me.user, conversation_id)
    if not saved:
        return False
    st.session_state[TURNS] = [Turn(t.question, t.answer, t.n) for t in saved]
    st.session_state[CONV] = conversation_id
    st.session_state.pop(PENDING, None)
    st.query_params[PARAM] = conversation_id
    return True


def restore(me: Identity) -> None:
    """Bring back the conversation the address names (after a refresh, a restart, a link)."""
    wanted = st.query_params.get(PARAM)
    if not wanted or wanted == current_id():
        return
    if not _load(me, wanted):
        del st.query_params[PARAM]
        st.info("That conversation is not among your saved conversations (it was deleted, or belongs to another "
                "account). Start a new one below.", icon=":material/history:")


def save(me: Identity, turn: Turn) -> None:
    """Save an answered turn into the conversation in view (a new conversation for the first question)."""
    store = resources.conversations()
    try:
        conversation_id, turn.n = store.add_turn(me.user, current_id() or None, turn.question, answer=turn.answer)
    except KeyError:  # deleted meanwhile (in another browser): keep the exchange in a new conversation
        conversation_id, turn.n = store.add_turn(me.user, None, turn.question, answer=turn.answer)
        st.toast("The earlier conversation was deleted elsewhere; this question starts a new one.",
                 icon=":material/history:")
    st.session_state[CONV] = conversation_id
    st.query_params[PARAM] = conversation_id


def new_chat() -> None:
    for key in (TURNS, PENDING, CONV):
        st.session_state.pop(key, None)
    if PARAM in st.query_params:
        del st.query_params[PARAM]


def _resume(me: Identity, conversation_id: str) -> None:
    if not _load(me, conversation_id):
        st.toast("That conversation no longer exists.", icon=":material/history:")


def conversation_list(me: Identity) -> None:
    """The user's saved conversations, newest first; a click resumes one."""
    listed = resources.conversations().recent(me.user, limit=LISTED)
    if not listed:
        return
    st.subheader("Your conversations")
    here = current_id()
    for info in listed:
        st.button(info.title, key=f"conv_{info.id}", on_click=_resume, args=(me, info.id), width="stretch",
                  type="primary" if info.id == here else "tertiary", icon=":material/chat:",
                  help=f"{info.turns} question{'s' if info.turns != 1 else ''}, last {info.updated_at[:16].replace('T', ' ')} UTC")


def _rename(me: Identity, conversation_id: str) -> None:
    title = str(st.session_state.get("conv_title", "")).strip()
    if title and resources.conversations().rename(me.user, conversation_id, title):
        st.toast("Renamed.", icon=":material/edit:")


def _delete(me: Identity, conversation_id: str) -> None:
    if resources.conversations().delete(me.user, conversation_id):
        new_chat()
        st.toast("Conversation deleted.", icon=":material/delete:")


def manage(me: Identity) -> None:
    """Rename or delete the conversation in view."""
    conversation_id = current_id()
    info = resources.conversations().get(me.user, conversation_id) if conversation_id else None
    if info is None:
        return
    with st.popover("Rename or delete", icon=":material/edit:", width="stretch"):
        st.text_input("Title", value=info.title, key="conv_title", max_chars=200)
        st.button("Rename", on_click=_rename, args=(me, conversation_id), icon=":material/edit:")
        st.button("Delete this conversation", on_click=_delete, args=(me, conversation_id),
                  icon=":material/delete:", type="secondary")
