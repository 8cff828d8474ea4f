"""The Evaluation page: the latest evaluation report and what users said about answers.

Staff start an evaluation of the gold set ``CTO_EVAL_PAGE_GOLD`` from the page: it runs in its own
process (:mod:`eval.background`) while the page shows its progress. The report is
``reports_dir/eval/latest.json``, written by ``python -m eval run``:
``{"generated_at", "gold", "overall": {metric: value}, "per_area": {area: {metric: value}},
"slices": {tag: {metric: value}}, "config": {...}, "charts": [PNG paths relative to that folder]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from eval import background
from eval.gold import load_gold
from kb.core.areas import area_label
from kb.core.errors import ConfigError
from kb.governance.roles import Role
from ui import identity, resources
from ui.guard import guarded
from ui.safe_text import escape_md

__all__ = ["render", "load_report", "chart_paths", "feedback_table"]

NO_REPORT = ("No evaluation report yet: start one with **Run the evaluation** above (or run `python -m eval run` on "
             "the server); the report appears here when it finishes.")
POLL_S = 2.0  # how often a running evaluation's progress is re-read


def load_report(folder: Path) -> dict[str, Any] | None:
    """The latest report in ``folder`` (None when there is none yet).

    Raises:
        ConfigError: the report exists but cannot be read.
    """
    path = folder / "latest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the evaluation report {path} cannot be read ({exc}); run `python -m eval run` again") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the evaluation report {path} is not a report; run `python -m eval run` again")
    return data


def chart_paths(folder: Path, report: dict[str, Any]) -> list[Path]:
    """The report's PNG charts that exist inside ``folder`` (paths leaving it are ignored)."""
    root = folder.resolve()
    found = []
    for name in report.get("charts") or []:
        path = (root / str(name)).resolve()
        if path.suffix.lower() == ".png" and path.is_relative_to(root) and path.is_file():
            found.append(path)
    return found


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def feedback_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The latest rating (and comment) per answer, newest first (rows come newest first)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = latest.setdefault(row["answer_id"], dict(row))
        if not entry.get("comment") and row.get("comment") and row["rating"] == entry["rating"]:
            entry["comment"] = row["comment"]
    data = [{"When": str(r["at"])[:16].replace("T", " "), "Rating": "Thumbs up" if r["rating"] > 0 else "Thumbs down",
             "Question": r["question"], "Comment": r.get("comment") or ""} for r in latest.values()]
    return pd.DataFrame(data, columns=["When", "Rating", "Question", "Comment"])


def _report(folder: Path) -> None:
    st.subheader("Latest evaluation")
    report = load_report(folder)
    if report is None:
        st.info(NO_REPORT, icon=":material/lab_research:")
        return
    st.caption(f"Generated {escape_md(str(report.get('generated_at', '?')))} on the gold set "
               f"{escape_md(str(report.get('gold', '?')))}.")
    overall = report.get("overall") or {}
    if overall:
        with st.container(horizontal=True, wrap=True):
            for metric, value in overall.items():
                st.metric(str(metric), _number(value), border=True, width="content")
    per_area = report.get("per_area") or {}
    if per_area:
        table = pd.DataFrame.from_dict(per_area, orient="index")
        table.index = [area_label(str(a)) for a in table.index]
        st.markdown("**Per challenge area**")
        st.dataframe(table.round(3), width="stretch")
    slices = report.get("slices") or {}
    if slices:  # tagged gold items (e.g. casual wording), scored apart from the figures above
        st.markdown("**Slices** (scored apart from the overall and per-area figures)")
        st.dataframe(pd.DataFrame.from_dict(slices, orient="index").round(3), width="stretch")
    for path in chart_paths(folder, report):
        st.image(str(path), caption=path.stem.replace("_", " "), width="stretch")
    if report.get("config"):
        with st.expander("Configuration of this run", icon=":material/tune:"):
            st.json(report["config"])


@st.fragment(run_every=POLL_S)
def _progress(folder: Path) -> None:
    """A running evaluation's progress, re-read every few seconds; when it ends, the whole page reloads."""
    status = background.read_status(folder)
    if not status.running:
        st.rerun()  # the run ended: show its report (or why it failed)
    share = status.done / status.total if status.total else 0.0
    label = (f"{status.done} of {status.total} questions answered" if status.done else
             f"{status.stage or 'starting'} ({status.total} questions to answer)")
    st.progress(share, text=f"Evaluation running: {label}")
    st.caption(f"Gold set `{escape_md(status.gold)}`, {escape_md(status.describe())}. Chat keeps working meanwhile; "
               "you can leave this page and come back.")


def _start(gold: str) -> None:
    me = identity.current()
    try:
        background.start_run(resources.settings(), gold=gold, started_by=(me.name or me.user) if me else "")
    except background.EvalRunBusy as exc:
        st.warning(f"Not started: {exc}", icon=":material/hourglass_top:")
        return
    st.rerun()


def _runner(folder: Path) -> None:
    st.subheader("Run the evaluation")
    status = background.read_status(folder)
    if status.running:
        _progress(folder)
        return
    if status.state == "failed":
        st.error(f"The last evaluation run failed: {escape_md(status.error)}. Fix the cause (the log is "
                 f"{escape_md(str(folder / background.LOG_FILE))}) and run it again.", icon=":material/error:")
    gold = resources.settings().eval_page_gold
    try:
        count = len(load_gold(gold))
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:  # a missing file, bad YAML, a missing field
        st.error(f"The gold set {escape_md(gold)} cannot be read ({escape_md(str(exc))}); fix CTO_EVAL_PAGE_GOLD.",
                 icon=":material/error:")
        return
    st.caption(f"Answers the {count} questions of the gold set `{escape_md(gold)}` over the starter library and "
               "scores retrieval, answers, citations and abstention. It runs in the background at low priority "
               "(a few minutes); chat keeps working meanwhile.")
    if st.button("Run the evaluation", icon=":material/play_arrow:", type="primary"):
        _start(gold)


def _feedback() -> None:
    st.subheader("Feedback on answers")
    table = feedback_table(resources.journal().feedback())
    if table.empty:
        st.info("No feedback yet. Users rate answers with the thumbs under each answer in the chat.",
                icon=":material/reviews:")
        return
    up = int((table["Rating"] == "Thumbs up").sum())
    with st.container(horizontal=True, wrap=True):
        st.metric("Rated answers", len(table), border=True, width="content")
        st.metric("Thumbs up", up, border=True, width="content")
        st.metric("Thumbs down", len(table) - up, border=True, width="content")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"Question": st.column_config.TextColumn(width="large")})


@guarded("show the evaluation")
def render() -> None:
    """The Evaluation page."""
    st.set_page_config(layout="wide")
    if not identity.sees(Role.STAFF):
        st.error("Only staff may open this page (it shows users' feedback).", icon=":material/lock:")
        return
    st.title("Evaluation")
    folder = background.run_folder(resources.settings())
    _runner(folder)
    _report(folder)
    _feedback()
