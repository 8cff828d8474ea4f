"""The staff role: who may upload and remove documents.

With sign-in (OIDC) configured, the role comes from the signed-in account
(``ui.identity``, ``CTO_AUTH_STAFF`` / ``CTO_AUTH_ADMINS``). Without it (single-user
mode) staff sign in with the staff password, checked against ``CTO_STAFF_PASSWORD_HASH``
(see ``kb.governance.auth``); the role is kept in this browser session only. Repeated
wrong passwords are slowed down per session and for the whole app. No password or hash
is ever logged or shown.
"""

from __future__ import annotations

import math

import streamlit as st

from kb.governance.auth import Throttle, attempt_login, check_hash_format
from kb.governance.roles import Role
from ui import identity, resources

__all__ = ["is_staff", "staff_panel", "enabled", "password_signed_in"]

ROLE_KEY = identity.PASSWORD_ROLE_KEY
THROTTLE_KEY = "staff_throttle"
HOW_TO_ENABLE = (
    "The library is read-only here. To let staff upload and remove documents, run `kb hash-password`, "
    "set `CTO_STAFF_PASSWORD_HASH` to the value it prints (in the environment or `.env`), and restart the app."
)


def enabled() -> bool:
    """True when a staff password is configured."""
    return bool(resources.settings().staff_password_hash.strip())


password_signed_in = identity.password_signed_in


def is_staff() -> bool:
    """True when this session may change the library: a staff or admin account, or the staff password."""
    if identity.sign_in_configured():
        me = identity.current()
        return me is not None and me.can(Role.STAFF)
    return password_signed_in()


def _account_panel() -> bool:
    me = identity.current()
    if me is not None and me.can(Role.STAFF):
        st.markdown(f":green-badge[:material/verified_user: Signed in as {me.user} ({me.role.label})]")
        return True
    who = me.user if me else "this account"
    st.info(f"{who} has the reader role: only staff add or remove documents. Ask an admin to add your address to "
            "CTO_AUTH_STAFF.", icon=":material/lock:")
    return False


def _session_throttle() -> Throttle:
    if THROTTLE_KEY not in st.session_state:
        st.session_state[THROTTLE_KEY] = Throttle(free_attempts=3, base_delay_s=2.0, max_delay_s=300.0)
    return st.session_state[THROTTLE_KEY]  # type: ignore[no-any-return]


def _sign_out() -> None:
    st.session_state.pop(ROLE_KEY, None)


def _try_sign_in(password: str) -> None:
    stored = resources.settings().staff_password_hash
    if not password:
        st.warning("Type the staff password first.")
        return
    result = attempt_login(password, stored, [_session_throttle(), resources.login_throttle()])
    if result.ok:
        st.session_state[ROLE_KEY] = True
        st.rerun()
    wait = math.ceil(result.retry_after_s)
    if wait > 0:
        st.error(f"Wrong password, or too many attempts. Try again in {wait} seconds.", icon=":material/lock:")
    else:
        st.error("Wrong password. Check it with whoever manages this app.", icon=":material/lock:")


def staff_panel() -> bool:
    """Sign-in or sign-out controls; returns True when this session may change the library."""
    if identity.sign_in_configured():
        return _account_panel()
    if not enabled():
        st.info(HOW_TO_ENABLE, icon=":material/lock:")
        return False
    check_hash_format(resources.settings().staff_password_hash)  # a broken hash is a set-up error, said plainly
    if password_signed_in():
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(":green-badge[:material/verified_user: Signed in as staff]")
            st.button("Sign out", on_click=_sign_out, icon=":material/logout:")
        return True
    with st.form("staff_sign_in", clear_on_submit=True):
        st.markdown("**Staff sign-in** to add or remove documents")
        password = st.text_input("Staff password", type="password", autocomplete="current-password")
        if st.form_submit_button("Sign in", icon=":material/login:"):
            _try_sign_in(password)
    return False
