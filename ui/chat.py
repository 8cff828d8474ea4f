"""The Chat page: questions in, cited answers out, with follow-ups, filters, feedback and export.

The conversation in view lives in the browser session (``st.session_state``) and every
turn is saved for its user as it is answered (``ui.history``: resume, rename, delete,
survive a refresh or restart); answering is ``Assistant.ask`` and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import streamlit as st
import yaml

from kb.answering.assistant import Assistant
from kb.answering.retrieval import Filters
from kb.core.answer import Answer
from kb.core.areas import area_ids, area_label
from kb.core.metadata import AUTHORITIES, JURISDICTIONS
from ui import history, identity, resources
from ui.citations import area_badges, citation_card
from ui.guard import guarded
from ui.history import PENDING, TURNS, Turn
from ui.safe_text import answer_md, escape_md, export_md

__all__ = ["render", "Turn", "conversation_markdown", "starter_questions", "build_filters"]

logger = logging.getLogger(__name__)
STARTERS_FILE = Path(__file__).with_name("starter_questions.yaml")
RATED, GAPS, COMMENTED = "chat_rated", "chat_gaps", "chat_commented"
MAX_QUESTION = 2000



@lru_cache(maxsize=1)
def starter_questions() -> dict[str, list[str]]:
    """Starter questions per area, from ``ui/starter_questions.yaml``."""
    data = yaml.safe_load(STARTERS_FILE.read_text(encoding="utf-8")) or {}
    return {area: [str(q) for q in data.get(area, [])] for area in area_ids()}


def build_filters(areas: list[str], dates: tuple[date, ...] | list[date] | date | None,
                  *, authorities: list[str] | None = None, jurisdictions: list[str] | None = None) -> Filters:
    """Retrieval filters from the sidebar's widgets (a partial date range filters from its start)."""
    if isinstance(dates, date):
        dates = (dates,)
    picked = list(dates or ())
    return Filters(areas=tuple(areas), date_from=picked[0].isoformat() if picked else None,
                   date_to=picked[1].isoformat() if len(picked) > 1 else None,
                   authorities=tuple(authorities or ()), jurisdictions=tuple(jurisdictions or ()))


def conversation_markdown(turns: list[Turn], now: datetime | None = None) -> str:
    """The whole conversation as a Markdown document (questions, answers, sources, notes)."""
    now = now or datetime.now(UTC)
    lines = ["# CTO Assistant conversation", "", f"Exported {now:%Y-%m-%d %H:%M} UTC", ""]
    for number, turn in enumerate(turns, start=1):
        lines += [f"## {number}. {turn.question}", "", export_md(turn.answer.to_markdown()), ""]
        lines += [f"> Note: {notice}" for notice in turn.answer.notices]
        if turn.answer.notices:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _state(key: str, factory: Callable[[], object]) -> object:
    if key not in st.session_state:
        st.session_state[key] = factory()
    return st.session_state[key]


def _turns() -> list[Turn]:
    return _state(TURNS, list)  # type: ignore[return-value]


def _queue(question: str) -> None:
    st.session_state[PENDING] = question


def _clear_filters() -> None:
    st.session_state["filter_areas"] = []
    st.session_state["filter_dates"] = ()
    st.session_state["filter_authorities"] = []
    st.session_state["filter_jurisdictions"] = []


# ----- sidebar -------------------------------------------------------------------------------
def _sidebar() -> tuple[Filters, object]:
    """Retrieval filters (and a slot for the conversation's actions); returns both."""
    with st.sidebar:
        actions = st.empty()  # filled at the end of the run, when the conversation is complete
        st.subheader("Filters")
        areas = st.multiselect("Challenge areas", area_ids(), format_func=area_label, key="filter_areas",
                               placeholder="All areas")
        today = date.today()
        dates = st.date_input("Sources dated between", value=[], min_value=date(1990, 1, 1),
                              max_value=date(today.year + 2, 12, 31), key="filter_dates", format="YYYY-MM-DD",
                              help="Pick a start and an end date; leave empty for sources of any date.")
        authorities = st.multiselect("Source authority", list(AUTHORITIES), key="filter_authorities",
                                     placeholder="Any authority",
                                     help="Only documents whose front matter or ingest options give this authority.")
        jurisdictions = st.multiselect("Jurisdiction", list(JURISDICTIONS), key="filter_jurisdictions",
                                       placeholder="Any jurisdiction")
        filters = build_filters(areas, dates, authorities=authorities, jurisdictions=jurisdictions)  # type: ignore[arg-type]
        if filters.active:
            st.button("Clear filters", icon=":material/filter_alt_off:", on_click=_clear_filters, width="stretch")
    return filters, actions


def _actions(slot: object, turns: list[Turn], me: identity.Identity) -> None:
    """New chat, export, rename or delete, and the saved conversations: drawn last, so that they include
    the answer given in this run."""
    with slot.container():  # type: ignore[attr-defined]
        st.button("New chat", icon=":material/add_comment:", on_click=history.new_chat, width="stretch",
                  disabled=not turns, help="Start a new conversation (this one stays in your conversations).")
        st.download_button("Export conversation", data=conversation_markdown(turns) if turns else "",
                           file_name=f"cto-assistant-{datetime.now():%Y%m%d-%H%M}.md", mime="text/markdown",
                           on_click="ignore", icon=":material/download:", width="stretch", disabled=not turns,
                           help="Download the questions, answers and sources as a Markdown file.")
        history.manage(me)
        history.conversation_list(me)


# ----- answers -------------------------------------------------------------------------------
def _show_notices(answer: Answer) -> None:
    for notice in answer.notices:
        caution = "source" in notice.lower()  # age, expiry, superseded: about the evidence itself
        (st.warning if caution else st.info)(answer_md(notice), icon=":material/info:")


def _show_abstained(answer: Answer) -> None:
    with st.container(border=True):
        st.markdown(":orange-badge[:material/travel_explore: Not covered by the library]")
        st.markdown(answer_md(answer.text))


def _show_answer(turn: Turn, max_mb: float) -> None:
    answer = turn.answer
    if answer.areas:
        st.markdown(area_badges(answer.areas, "violet"))
    if answer.abstained:
        _show_abstained(answer)
    else:
        st.markdown(answer_md(answer.text))
    _show_notices(answer)
    if answer.citations:
        st.markdown("**Sources**")
        for citation in answer.citations:
            citation_card(citation, f"{answer.id}_{citation.n}", max_mb)
    _feedback(turn)


def _feedback(turn: Turn) -> None:
    """Thumbs up/down (recorded at once), then an optional comment; thumbs-down also logs a gap."""
    answer = turn.answer
    if not answer.id:
        return
    rated: dict[str, int] = _state(RATED, dict)  # type: ignore[assignment]
    earlier = {1: 1, -1: 0}.get(rated.get(answer.id, 0))  # survives a visit to another page
    value = st.feedback("thumbs", key=f"fb_{answer.id}", default=earlier)
    if value is None:
        return
    rating = 1 if value == 1 else -1
    if rated.get(answer.id) != rating:
        _record_rating(turn, rating)
        rated[answer.id] = rating
    commented: set[str] = _state(COMMENTED, set)  # type: ignore[assignment]
    if answer.id in commented:
        st.caption("Thank you: your comment was saved.")
        return
    with st.form(f"fbc_{answer.id}", border=False, clear_on_submit=True):
        comment = st.text_input("Add a comment (optional)", key=f"fbt_{answer.id}", max_chars=1000,
                                placeholder="What was missing or wrong?" if rating < 0 else "What helped?")
        if st.form_submit_button("Send comment", icon=":material/send:") and comment.strip():
            resources.journal().record_feedback(answer.id, turn.question, rating=rating, comment=comment,
                                                conversation_id=history.current_id(), turn=turn.n)
            commented.add(answer.id)
            st.caption("Thank you: your comment was saved.")


def _record_rating(turn: Turn, rating: int) -> None:
    answer = turn.answer
    journal = resources.journal()
    journal.record_feedback(answer.id, turn.question, rating=rating, conversation_id=history.current_id(), turn=turn.n)
    gaps: set[str] = _state(GAPS, set)  # type: ignore[assignment]
    if rating < 0 and answer.id not in gaps and not answer.abstained:  # abstentions are logged by the assistant
        titles = list(dict.fromkeys(c.title for c in answer.citations))
        journal.record_gap(turn.question, areas=answer.areas, nearest=titles, reason="thumbs-down")
        gaps.add(answer.id)
    st.toast("Thanks for the feedback." + (" Staff will see this question as a gap." if rating < 0 else ""),
             icon=":material/thumb_up:" if rating > 0 else ":material/thumb_down:")


def _ask(assistant: Assistant, question: str, filters: Filters, turns: list[Turn], me: identity.Identity) -> Turn:
    """Answer one question in the conversation (streaming into the page when an LLM composes) and save it."""
    earlier = [t.question for t in turns]
    if assistant.settings.llm_backend == "none":
        with st.spinner("Searching the library..."):
            answer = assistant.ask(question, history=earlier, filters=filters)
    else:
        placeholder = st.empty()
        parts: list[str] = []

        def on_token(piece: str) -> None:
            parts.append(piece)
            placeholder.markdown(answer_md("".join(parts)) + " ...")

        with st.spinner("Searching the library and writing the answer..."):
            answer = assistant.ask(question, history=earlier, filters=filters, on_token=on_token)
        placeholder.empty()
    turn = Turn(question, answer)
    turns.append(turn)
    history.save(me, turn)
    return turn


def _starters(filters: Filters) -> None:
    st.markdown("**Try a question**, or type your own below.")
    per_area = starter_questions()
    chosen = list(filters.areas) or list(per_area)
    for area in chosen:
        questions = per_area.get(area, [])[: 3 if filters.areas else 2]
        if not questions:
            continue
        st.caption(area_label(area))
        with st.container(horizontal=True, wrap=True, gap="small"):
            for i, question in enumerate(questions):
                st.button(question, key=f"starter_{area}_{i}", on_click=_queue, args=(question,),
                          icon=":material/chat_bubble:")


# ----- the page --------------------------------------------------------------------------------
@guarded("answer your question")
def render() -> None:
    """The Chat page."""
    st.set_page_config(layout="centered")
    assistant = resources.assistant()
    me = identity.current()
    if me is None:  # app.py's gate runs first; this only guards a page opened some other way
        st.error("Sign in first.", icon=":material/lock:")
        return
    filters, actions = _sidebar()
    history.restore(me)
    st.title("Ask the library")
    st.caption("Answers come only from the district technology library, and every claim names its source. "
               "When the library does not cover a question, the assistant says so instead of guessing.")
    turns = _turns()
    max_mb = assistant.settings.max_file_mb
    for turn in turns:
        with st.chat_message("user"):
            st.markdown(escape_md(turn.question))
        with st.chat_message("assistant"):
            _show_answer(turn, max_mb)
    typed = st.chat_input("Ask about security, budgets, data, PD or equity...", max_chars=MAX_QUESTION,
                          key="chat_box")
    question = (typed or st.session_state.pop(PENDING, None) or "").strip()
    if question:
        with st.chat_message("user"):
            st.markdown(escape_md(question))
        with st.chat_message("assistant"):
            _show_answer(_ask(assistant, question, filters, turns, me), max_mb)
    elif not turns:
        if not assistant.kb.done_docs():
            st.info("The library is empty. Staff can add documents on the Library page, or run `ingest PATH`.",
                    icon=":material/library_add:")
        _starters(filters)
    if filters.active:
        st.caption("Filters are on (see the sidebar): answers use only matching sources.")
    _actions(actions, turns, me)
