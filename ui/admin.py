"""The Admin page: users' saved history (deletion requests), the audit trail, exports and the settings.

Only admins see it (``CTO_AUTH_ADMINS`` with sign-in; the staff password in single-user mode).
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import streamlit as st
from pydantic import SecretStr

from kb.core.settings import Settings
from kb.governance.conversations import forget_user
from kb.governance.roles import Role
from ui import identity, resources
from ui.guard import guarded

__all__ = ["render", "settings_rows"]

_HIDDEN = {"staff_password_hash", "llm_api_key"}


def settings_rows(settings: Settings) -> pd.DataFrame:
    """Every setting with its value (secrets shown only as set or not) and description."""
    rows = []
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if name in _HIDDEN or isinstance(value, SecretStr):
            raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            value = "(set)" if raw else "(empty)"
        rows.append({"Variable": f"CTO_{name.upper()}", "Value": str(value), "What it does": field.description})
    return pd.DataFrame(rows)


def _history(me: identity.Identity) -> None:
    st.subheader("Saved conversations")
    store = resources.conversations()
    stats = store.stats()
    st.caption(f"{stats['conversations']} conversations of {stats['users']} users, {stats['turns']} questions. "
               f"Conversations unused for {resources.settings().conversation_retention_days} days are deleted "
               "(CTO_CONVERSATION_RETENTION_DAYS).")
    users = [user for user, _ in store.users()]
    if not users:
        st.info("No saved conversations yet.", icon=":material/forum:")
        return
    st.dataframe(pd.DataFrame(store.users(), columns=["User", "Conversations"]), hide_index=True)
    with st.form("forget_user"):
        st.markdown("**Delete a user's history** (a deletion request): their conversations, and the feedback and "
                    "audit records of their answers.")
        user = st.selectbox("User", users, index=None, placeholder="Pick a user")
        sure = st.checkbox("I understand this cannot be undone")
        if st.form_submit_button("Delete this user's history", icon=":material/delete_forever:"):
            if not user or not sure:
                st.warning("Pick the user and tick the box first.")
            else:
                done = forget_user(store, resources.journal(), user)
                st.success(f"Deleted {done['conversations']} conversations and {done['records']} feedback and audit "
                           f"records of {user}.", icon=":material/check:")


def _audit_and_exports() -> None:
    journal = resources.journal()
    st.subheader("Audit trail")
    audits = journal.audits(200)
    if audits:
        st.dataframe(pd.DataFrame(audits), hide_index=True, width="stretch")
        st.caption("Show or replay one with `kb audit show ID` / `kb audit replay ID`.")
    else:
        st.info("No answers recorded yet (CTO_AUDIT turns the audit log on).", icon=":material/receipt_long:")
    st.subheader("Exports")
    stamp = f"{datetime.now():%Y%m%d-%H%M}"
    with st.container(horizontal=True, wrap=True):
        st.download_button("Feedback (CSV)", pd.DataFrame(journal.feedback(100_000)).to_csv(index=False),
                           file_name=f"cto-feedback-{stamp}.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:")
        st.download_button("Gaps (CSV)", pd.DataFrame(journal.gaps()).to_csv(index=False),
                           file_name=f"cto-gaps-{stamp}.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:")
        st.download_button("Audit list (JSON)", json.dumps(journal.audits(100_000), indent=2),
                           file_name=f"cto-audit-{stamp}.json", mime="application/json", on_click="ignore",
                           icon=":material/download:")
    st.caption("A backup of the knowledge base itself: `kb export FILE` (see docs/admin-server-mode.md).")


@guarded("show the admin page")
def render() -> None:
    """The Admin page."""
    st.set_page_config(layout="wide")
    me = identity.current()
    if me is None or not me.can(Role.ADMIN):
        st.error("Only admins may open this page. Ask whoever runs the app to add your address to CTO_AUTH_ADMINS.",
                 icon=":material/lock:")
        return
    st.title("Admin")
    _history(me)
    _audit_and_exports()
    st.subheader("Settings")
    st.caption("Change them in the environment or `.env` and restart the app; sign-in lives in "
               "`.streamlit/secrets.toml` (see docs/admin-guide.md).")
    st.dataframe(settings_rows(resources.settings()), hide_index=True, width="stretch")
