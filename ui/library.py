"""The Library page: what the knowledge base holds, how well it covers each area, what to add next.

Deep links: ``/library?doc=<doc_id>&chunk=<chunk_id>`` opens a document with the
cited passage expanded (the chat's citation cards link here). A document, and each of
its passages, has a View button that opens the in-app viewer (``ui.viewer``) when the
file lies in the library's own folders.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from kb.core.areas import area_ids, area_label
from kb.core.documents import Chunk, DocRecord
from kb.governance.roles import Role
from kb.index.knowledge import DONE, KnowledgeBase
from ui import identity, library_admin, resources
from ui.citations import area_badges, is_web_link, local_file
from ui.guard import guarded
from ui.safe_text import escape_md, highlight_passage

__all__ = ["render", "documents_table", "health_issues", "coverage_table", "gaps_table"]

MAX_PASSAGES = 80
GAP_REASONS = {"abstained": "Not covered", "thumbs-down": "Thumbs down"}


def short_label(area_id: str) -> str:
    """A short name for chart axes: "Digital equity" for "Digital equity, infrastructure and ..."."""
    return area_label(area_id).split(",")[0].split(" and ")[0]


# ----- data for the tables (pure functions, tested directly) ------------------------------------
def health_issues(doc: DocRecord) -> list[str]:
    """Extraction-quality problems of a document (empty when healthy)."""
    issues = [str(w) for w in doc.meta.get("warnings") or []]
    health = doc.meta.get("health") or {}
    if health.get("pages") and health.get("chars_per_page", 1000) < 200:
        issues.append(f"little text per page ({health['chars_per_page']} characters): it may be scanned")
    if doc.status != DONE:
        issues.append(f"not completely indexed (status {doc.status}); the next ingest repairs it")
    return issues


def _source_label(doc: DocRecord) -> str:
    return doc.source if is_web_link(doc.source) else doc.source.rsplit("/", 1)[-1]


def documents_table(docs: list[DocRecord], search: str = "", areas: list[str] | None = None) -> pd.DataFrame:
    """One row per document matching the search words (title, source, summary) and any of the areas."""
    words = search.lower().split()
    rows = []
    for d in docs:
        haystack = f"{d.title} {d.source} {d.meta.get('summary') or ''}".lower()
        if any(w not in haystack for w in words) or (areas and not set(areas) & set(d.areas)):
            continue
        issues = health_issues(d)
        rows.append({"Title": d.title, "Date": d.date or "", "Areas": ", ".join(area_label(a) for a in d.areas),
                     "Passages": d.chunk_count, "Type": d.source_type, "Source": _source_label(d),
                     "Health": f"{len(issues)} warning(s)" if issues else "ok", "Added": d.ingested_at[:10],
                     "id": d.doc_id})
    columns = ["Title", "Date", "Areas", "Passages", "Type", "Source", "Health", "Added", "id"]
    return pd.DataFrame(rows, columns=columns)


def coverage_table(docs: list[DocRecord], gaps: dict[str, list[dict]]) -> pd.DataFrame:
    """Per challenge area: documents, passages and open questions (gaps)."""
    done = [d for d in docs if d.status == DONE]
    rows = [{"Area": area_label(a), "Documents": sum(a in d.areas for d in done),
             "Passages": sum(d.chunk_count for d in done if a in d.areas),
             "Open questions": len(gaps.get(a, []))} for a in area_ids()]
    return pd.DataFrame(rows)


def gaps_table(gaps: dict[str, list[dict]]) -> pd.DataFrame:
    """The gap log as rows: area, question, times asked, why, nearest documents, last asked."""
    rows = [{"Area": area_label(area) if area != "unclassified" else "Unclassified", "Question": g["question"],
             "Times asked": g["count"], "Why": GAP_REASONS.get(g["reason"], g["reason"]),
             "Nearest documents": "; ".join(g.get("nearest") or []), "Last asked": str(g["at"])[:16].replace("T", " ")}
            for area, items in gaps.items() for g in items]
    return pd.DataFrame(rows, columns=["Area", "Question", "Times asked", "Why", "Nearest documents", "Last asked"])


# ----- documents tab -------------------------------------------------------------------------------
def _documents(kb: KnowledgeBase, docs: list[DocRecord]) -> None:
    left, right = st.columns([3, 2])
    search = left.text_input("Search documents", placeholder="Words in the title, source or summary", key="lib_search",
                             icon=":material/search:")
    areas = right.multiselect("Challenge areas", area_ids(), format_func=area_label, key="lib_areas",
                              placeholder="All areas")
    table = documents_table(docs, search, areas)
    st.dataframe(table.drop(columns=["id"]), hide_index=True, width="stretch",
                 column_config={"Title": st.column_config.TextColumn(width="large"),
                                "Passages": st.column_config.NumberColumn(help="Chunks in the knowledge base")})
    st.caption(f"{len(table)} of {len(docs)} documents. Click a column header to sort.")
    unhealthy = [d for d in docs if health_issues(d)]
    if unhealthy:
        with st.expander(f"{len(unhealthy)} document(s) need attention (extraction warnings)",
                         icon=":material/health_and_safety:"):
            for d in unhealthy:
                st.markdown(f"**{escape_md(d.title)}**  \n" + "  \n".join(escape_md(i) for i in health_issues(d)))
    _detail_picker(kb, docs, list(table["id"]))


def _detail_picker(kb: KnowledgeBase, docs: list[DocRecord], shown: list[str]) -> None:
    by_id = {d.doc_id: d for d in docs}
    linked = st.query_params.get("doc")
    if linked in by_id and st.session_state.get("lib_doc_link") != linked:
        st.session_state["lib_doc"] = linked  # a new deep link opens its document
        st.session_state["lib_doc_link"] = linked
    options = list(shown)
    current = st.session_state.get("lib_doc")
    if current in by_id and current not in options:
        options.insert(0, current)
    choice = st.selectbox("Open a document", options, index=None, key="lib_doc",
                          format_func=lambda i: by_id[i].title if i in by_id else i,
                          placeholder="Choose a document to see its details and passages")
    if choice is None:
        for name in ("doc", "chunk"):  # closed: the address no longer points at a document
            st.query_params.pop(name, None)
        return
    if st.query_params.get("doc") != choice:  # keep the address bar a deep link to what is shown
        st.query_params["doc"] = choice
        st.session_state["lib_doc_link"] = choice
        st.query_params.pop("chunk", None)
    _detail(kb, by_id[choice], st.query_params.get("chunk"))


def _detail(kb: KnowledgeBase, doc: DocRecord, focus: str | None) -> None:
    st.subheader(escape_md(doc.title))
    badges = [area_badges(doc.areas)] if doc.areas else []
    badges += [f":gray-badge[{escape_md(x)}]" for x in (doc.date or "Undated", doc.source_type,
                                                          f"{doc.chunk_count} passages")]
    if doc.meta.get("authority"):
        badges.append(f":gray-badge[Authority: {escape_md(str(doc.meta['authority']))}]")
    st.markdown(" ".join(badges))
    if doc.meta.get("summary"):
        st.markdown(escape_md(str(doc.meta["summary"])))
    _original(doc, kb.settings.max_file_mb)
    for issue in health_issues(doc):
        st.warning(escape_md(issue), icon=":material/warning:")
    health = doc.meta.get("health") or {}
    if health.get("pages"):
        ocr = health.get("ocr_pages") or []
        st.caption(f"{health['pages']} pages, {health.get('pages_read', health['pages'])} read, "
                   f"about {health.get('chars_per_page', '?')} characters per page"
                   + (f"; {len(ocr)} scanned page(s) read by OCR" if ocr else ""))
    _based_on(doc)
    _passages(kb, doc, focus)


def _original(doc: DocRecord, max_mb: float) -> None:
    with st.container(horizontal=True, wrap=True, gap="small"):
        _view_button(doc, None, "View", key=f"lib_view_{doc.doc_id}")
        if is_web_link(doc.source):
            st.link_button("Open the original", doc.source, icon=":material/open_in_new:")
        elif (path := local_file(doc.source, max_mb)) is not None:
            st.download_button("Download the original", data=path.read_bytes, file_name=path.name,
                               on_click="ignore", icon=":material/download:", key=f"lib_dl_{doc.doc_id}")
    st.caption(f"Source: {escape_md(doc.source)}")


def _view_button(doc: DocRecord, chunk: Chunk | None, label: str, key: str) -> None:
    """Open the document in the in-app viewer (the chat's viewer), only when its file lies in the library's folders."""
    from ui import viewer

    settings = resources.settings()
    citation = viewer.library_citation(doc, chunk)
    if viewer.viewable(citation, settings) is not None and st.button(label, key=key, icon=":material/visibility:",
                                                                      type="primary"):
        viewer.show_source(citation, settings)


def _based_on(doc: DocRecord) -> None:
    sources = [s for s in doc.meta.get("sources") or [] if isinstance(s, dict)]
    if not sources:
        return
    lines = []
    for s in sources:
        text = escape_md(" - ".join(str(s[k]) for k in ("organization", "title", "year") if s.get(k)))
        url = str(s.get("url") or "")
        safe_url = is_web_link(url) and not any(ch in url for ch in "<> \n")
        lines.append(f"- {text}" + (f" ([link](<{url}>))" if safe_url else ""))
    with st.expander(f"Based on {len(sources)} published source(s)", icon=":material/menu_book:"):
        st.markdown("\n".join(lines))


def _passage_label(chunk: Chunk) -> str:
    place = str(chunk.extra.get("place") or (f"p. {chunk.page}" if chunk.page else ""))
    where = [place + (" (OCR)" if place and chunk.extra.get("ocr") else ""), f"§ {chunk.section}" if chunk.section else ""]
    return f"Passage {chunk.index + 1}" + "".join(f" · {escape_md(w)}" for w in where if w)


def _view_label(chunk: Chunk) -> str:
    place = str(chunk.extra.get("place") or (f"p. {chunk.page}" if chunk.page else ""))
    return f"View at {place}" if place else "View in the document"


def _passages(kb: KnowledgeBase, doc: DocRecord, focus: str | None) -> None:
    chunks, _ = kb.store.get_chunks(kb.store.chunk_ids(doc.doc_id))
    chunks.sort(key=lambda c: c.index)
    if focus and any(c.id == focus for c in chunks):
        chunks.sort(key=lambda c: c.id != focus)  # the cited passage first
    st.markdown(f"**Passages** ({len(chunks)})")
    for chunk in chunks[:MAX_PASSAGES]:
        cited = chunk.id == focus
        with st.expander(("Cited: " if cited else "") + _passage_label(chunk), expanded=cited):
            st.markdown(highlight_passage(chunk.text, []))
            _view_button(doc, chunk, _view_label(chunk), key=f"lib_view_{chunk.id}")
    if len(chunks) > MAX_PASSAGES:
        st.caption(f"Showing the first {MAX_PASSAGES} of {len(chunks)} passages.")


# ----- coverage tab ------------------------------------------------------------------------------
def _coverage(docs: list[DocRecord]) -> None:
    staff_view = identity.sees(Role.STAFF)  # with sign-in, gaps (users' questions) are for staff
    gaps = resources.journal().gaps_by_area() if staff_view else {}
    table = coverage_table(docs, gaps)
    if not staff_view:
        table = table.drop(columns=["Open questions"])
    st.subheader("Coverage by challenge area")
    summary = ", ".join(f"{r.Area}: {r.Documents}" for r in table.itertuples())
    chart = table.assign(Area=[short_label(a) for a in area_ids()])
    st.bar_chart(chart, x="Area", y="Documents", horizontal=True, alt=f"Documents per challenge area. {summary}")
    st.dataframe(table, hide_index=True, width="stretch")
    empty = [r.Area for r in table.itertuples() if r.Documents == 0]
    if empty:
        st.warning("No documents yet for: " + escape_md(", ".join(empty)), icon=":material/warning:")
    if not staff_view:
        return
    st.subheader("What staff should add next")
    rows = gaps_table(gaps)
    if rows.empty:
        st.success("No open questions yet. Questions the library cannot answer, and answers marked with a "
                   "thumbs-down, appear here.", icon=":material/check_circle:")
        return
    st.caption("Questions the library could not answer, or whose answers got a thumbs-down, most frequent first.")
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"Question": st.column_config.TextColumn(width="large")})


# ----- the page ------------------------------------------------------------------------------------
@guarded("show the library")
def render() -> None:
    """The Library page."""
    st.set_page_config(layout="wide")
    kb = resources.knowledge_base()
    kb.refresh()
    docs = sorted(kb.store.docs(), key=lambda d: d.title.lower())
    st.title("Library")
    done = [d for d in docs if d.status == DONE]
    st.caption(f"{len(done)} documents, {sum(d.chunk_count for d in done)} passages. "
               f"Checked {datetime.now():%H:%M}.")
    documents, coverage, manage = st.tabs(["Documents", "Coverage and gaps", "Add or remove"], key="lib_tab")
    with documents:
        _documents(kb, docs)
    with coverage:
        _coverage(docs)
    with manage:
        library_admin.render(kb, docs)
