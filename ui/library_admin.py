"""Staff tools of the Library page: add documents (upload or URL) and remove them.

Uploads are saved under ``data_dir/uploads/`` with a safe file name (a file with the
same name replaces the earlier version) and go through the same ingest pipeline as
the ``ingest`` command, in a worker thread while the page shows its progress. One
change at a time per process; the knowledge base is refreshed afterwards.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath
from typing import Any

import pandas as pd
import streamlit as st

from ingest.pipeline import IngestOptions, IngestReport, run_ingest
from kb.core.areas import area_ids, area_label
from kb.core.documents import DocRecord
from kb.core.errors import IngestError
from kb.core.metadata import AUTHORITIES, JURISDICTIONS, MetadataError, validate_fields
from kb.index.knowledge import KnowledgeBase
from ui import resources
from ui.staff import staff_panel

__all__ = ["render", "safe_file_name", "save_upload", "remove_document", "UPLOAD_TYPES"]

logger = logging.getLogger(__name__)
UPLOAD_TYPES = ["pdf", "docx", "pptx", "xlsx", "csv", "html", "htm", "md", "markdown", "txt", "eml", "epub"]
RESULT_KEY, GEN_KEY, NOTICE_KEY = "lib_ingest_result", "lib_upload_gen", "lib_notice"
STATUS_LABELS = {"added": "Added", "updated": "Updated", "unchanged": "Unchanged (already in the library)",
                 "failed": "Failed", "removed": "Removed"}


def safe_file_name(name: str) -> str:
    """A file name that cannot leave the uploads folder: letters, digits, dot, dash, underscore.

    Raises:
        IngestError: the extension is not one the loaders read.
    """
    base = PurePath(name.replace("\\", "/")).name
    stem, dot, ext = base.rpartition(".")
    if not dot or ext.lower() not in UPLOAD_TYPES:
        raise IngestError(f"{base!r} is not a supported file type; upload {', '.join(UPLOAD_TYPES)}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("._-")[:80] or "upload"
    return f"{stem}.{ext.lower()}"


def save_upload(folder: Path, name: str, data: bytes, max_mb: float) -> Path:
    """Write an uploaded file atomically under ``folder`` with a safe name; return its path."""
    if len(data) > max_mb * 1_000_000:
        raise IngestError(f"{name!r} is {len(data) / 1e6:.1f} MB, over the {max_mb:g} MB limit (CTO_MAX_FILE_MB)")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_file_name(name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.resolve()


def remove_document(kb: KnowledgeBase, doc: DocRecord) -> None:
    """Delete a document's passages and manifest row; delete its file too when it was uploaded here."""
    kb.store.delete_doc(doc.doc_id)
    uploads = (kb.settings.data_dir / "uploads").resolve()
    path = Path(doc.source)
    if not doc.source.startswith(("http://", "https://")) and path.resolve().parent == uploads:
        path.unlink(missing_ok=True)
    kb.refresh(force=True)
    logger.info("document removed doc_id=%s", doc.doc_id)


def _run_with_progress(kb: KnowledgeBase, inputs: list[str], options: IngestOptions) -> IngestReport:
    """Run the ingest pipeline in a worker thread and mirror its progress callback in a progress bar."""
    events: queue.Queue[tuple[str, int, int]] = queue.Queue()
    bar = st.progress(0.0, text="Reading the files...")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-ingest") as pool:
        future = pool.submit(run_ingest, kb, inputs, options, lambda *event: events.put(event))
        value, files_text = 0.0, f"0 of {len(inputs)} done"
        while not (future.done() and events.empty()):
            try:
                stage, done, total = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if stage == "files" and total:
                value, files_text = min(1.0, done / total), f"{done} of {total} done"
                bar.progress(value, text=files_text)
            elif stage == "chunks":
                bar.progress(value, text=f"{files_text}; {done} passages embedded")
        report = future.result()
    bar.progress(1.0, text="Finished")
    return report


def _result_rows(report: IngestReport, names: dict[str, str]) -> list[dict[str, Any]]:
    return [{"File": names.get(r.source, r.source), "Result": STATUS_LABELS.get(r.status, r.status),
             "Title": r.title, "Passages": r.chunks, "Details": "; ".join(x for x in [r.reason, *r.warnings] if x)}
            for r in report.results]


def _upload(kb: KnowledgeBase) -> None:
    settings = kb.settings
    gen = st.session_state.setdefault(GEN_KEY, 0)
    st.subheader("Add documents")
    files = st.file_uploader("Files: PDF (scans too), Word, PowerPoint, Excel, CSV, HTML, Markdown, text, e-mail (.eml) or EPUB", type=UPLOAD_TYPES, accept_multiple_files=True,
                             key=f"lib_files_{gen}", max_upload_size=max(1, int(settings.max_file_mb)),
                             help="A file with the same name as an earlier upload replaces it.")
    url = st.text_input("Or the address of a web page or PDF", key=f"lib_url_{gen}", placeholder="https://")
    areas = st.multiselect("Challenge areas (optional)", area_ids(), format_func=area_label, key=f"lib_up_areas_{gen}",
                           placeholder="Detected from the text", help="Leave empty to detect the areas from the text.")
    metadata: dict[str, Any] = {"areas": areas} if areas else {}
    currency_fields = _currency_fields(gen)
    if not st.button("Add to the library", type="primary", icon=":material/upload:"):
        return
    try:
        metadata.update(validate_fields(currency_fields))
    except MetadataError as exc:
        st.error(f"Nothing was added. {exc}.", icon=":material/event_busy:")
        return
    url = url.strip()
    if not files and not url:
        st.warning("Choose at least one file or type a web address first.")
        return
    if url and not url.lower().startswith(("http://", "https://")):
        st.warning("The web address must start with http:// or https://.")
        return
    _add(kb, list(files or []), url, metadata)


def _currency_fields(gen: int) -> dict[str, str]:
    """Optional currency and authority of the documents being added (as `ingest --authority ...`)."""
    with st.expander("Currency and authority (optional)"):
        authority = st.selectbox("Authority", ["", *AUTHORITIES], key=f"lib_up_auth_{gen}",
                                 format_func=lambda v: v or "Not stated")
        jurisdiction = st.selectbox("Jurisdiction", ["", *JURISDICTIONS], key=f"lib_up_jur_{gen}",
                                    format_func=lambda v: v or "Not stated")
        published = st.text_input("Published (YYYY-MM-DD)", key=f"lib_up_pub_{gen}")
        expires = st.text_input("Expires (YYYY-MM-DD)", key=f"lib_up_exp_{gen}")
        superseded_by = st.text_input("Superseded by (title of the newer document)", key=f"lib_up_sup_{gen}")
    fields = {"authority": authority, "jurisdiction": jurisdiction, "published": published.strip(),
              "date": published.strip(), "expires": expires.strip(), "superseded_by": superseded_by.strip()}
    return {k: v for k, v in fields.items() if v}


def _add(kb: KnowledgeBase, files: list[Any], url: str, metadata: dict[str, Any]) -> None:
    lock = resources.ingest_lock()
    if not lock.acquire(blocking=False):
        st.warning("Another change to the library is in progress. Try again in a moment.")
        return
    try:
        names: dict[str, str] = {}
        failed: list[dict[str, Any]] = []
        for upload in files:
            try:
                path = save_upload(kb.settings.data_dir / "uploads", upload.name, upload.getvalue(), kb.settings.max_file_mb)
                names[str(path)] = upload.name
            except IngestError as exc:
                failed.append({"File": upload.name, "Result": "Failed", "Title": "", "Passages": 0, "Details": str(exc)})
        inputs = list(names) + ([url] if url else [])
        report = _run_with_progress(kb, inputs, IngestOptions(metadata=metadata)) if inputs else None
        rows = failed + (_result_rows(report, names) if report else [])
    finally:
        lock.release()
    st.session_state[RESULT_KEY] = rows
    st.session_state[GEN_KEY] = st.session_state.get(GEN_KEY, 0) + 1  # fresh, empty upload widgets
    st.rerun()


def _remove(kb: KnowledgeBase, docs: list[DocRecord]) -> None:
    st.subheader("Remove a document")
    by_id = {d.doc_id: d for d in docs}
    choice = st.selectbox("Document to remove", list(by_id), index=None, key="lib_remove",
                          format_func=lambda i: f"{by_id[i].title} ({by_id[i].source.rsplit('/', 1)[-1]})",
                          placeholder="Choose a document")
    confirm = st.checkbox("Yes, remove it and its passages from the library", key="lib_remove_ok")
    if not st.button("Remove document", icon=":material/delete:"):
        return
    if choice is None or not confirm:
        st.warning("Choose a document and tick the confirmation first.")
        return
    lock = resources.ingest_lock()
    if not lock.acquire(blocking=False):
        st.warning("Another change to the library is in progress. Try again in a moment.")
        return
    try:
        remove_document(kb, by_id[choice])
    finally:
        lock.release()
    st.session_state[NOTICE_KEY] = f"Removed: {by_id[choice].title}"
    for key in ("lib_remove", "lib_remove_ok", "lib_doc"):
        st.session_state.pop(key, None)
    if st.query_params.get("doc") == choice:
        st.query_params.pop("doc", None)
    st.rerun()


def _last_result() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    rows = st.session_state.get(RESULT_KEY)
    if not rows:
        return
    failed = sum(r["Result"] == "Failed" for r in rows)
    counts = ", ".join(f"{sum(r['Result'] == v for r in rows)} {k}" for k, v in STATUS_LABELS.items()
                       if any(r["Result"] == v for r in rows))
    (st.warning if failed else st.success)(f"Last upload: {counts}.", icon=":material/task_alt:")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def render(kb: KnowledgeBase, docs: list[DocRecord]) -> None:
    """The "Add or remove" tab: sign-in, the last upload's results, upload and removal for staff."""
    can_change = staff_panel()
    _last_result()
    if not can_change:
        return
    _upload(kb)
    st.divider()
    _remove(kb, docs)
