"""Who is using the app: sign-in with Streamlit's OpenID Connect (``st.login``), or single-user mode.

Sign-in is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (Google
Workspace, Microsoft Entra or any OIDC provider; see docs/admin-guide.md). Then every
visitor signs in first, the allowed domains are checked, and the role comes from the
settings (``kb.governance.roles``). Without it the app is single-user, as before: one
shared history (user ``local``) and the staff password for staff and admin actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from kb.governance.roles import Role, decide
from ui import resources

__all__ = ["Identity", "sign_in_configured", "current", "gate", "account_box", "sees", "LOCAL_USER", "password_signed_in",
           "PASSWORD_ROLE_KEY"]

LOCAL_USER = "local"


@dataclass(frozen=True)
class Identity:
    """The person in this browser session."""

    user: str  # the key of their saved conversations: the lower-case e-mail, or "local"
    name: str
    role: Role
    signed_in: bool  # True with sign-in (OIDC); False in single-user mode

    def can(self, role: Role) -> bool:
        return self.role >= role


def sign_in_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` configures OIDC sign-in (an ``[auth]`` section)."""
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def _providers() -> list[str | None]:
    """Named providers (``[auth.google]``...) or, when the ``[auth]`` section itself has a client, the default."""
    section = st.secrets["auth"]
    named = [name for name, value in section.items() if hasattr(value, "get") and value.get("client_id")]
    return list(named) if named else [None]


PASSWORD_ROLE_KEY = "staff_signed_in"  # set by ui.staff when the staff password was given in this session


def password_signed_in() -> bool:
    """True when this session signed in with the staff password (single-user mode) and a password is configured."""
    return bool(resources.settings().staff_password_hash.strip()) and bool(st.session_state.get(PASSWORD_ROLE_KEY))


def _single_user() -> Identity:
    role = Role.ADMIN if password_signed_in() else Role.READER
    return Identity(user=LOCAL_USER, name="", role=role, signed_in=False)


def current() -> Identity | None:
    """The identity of this session; None when sign-in is configured and nobody is signed in yet."""
    if not sign_in_configured():
        return _single_user()
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "").strip().lower()
    decision = decide(email, resources.settings(), email_verified=st.user.get("email_verified"))
    if decision.role is None:
        return None
    user = email or f"{st.user.get('provider', 'oidc')}:{st.user.get('sub', '')}"
    return Identity(user=user, name=str(st.user.get("name") or email), role=decision.role, signed_in=True)


def sees(role: Role) -> bool:
    """True when this session may see what ``role`` sees (single-user mode shows every view, as before sign-in)."""
    if not sign_in_configured():
        return True
    me = current()
    return me is not None and me.can(role)


def _sign_in_page() -> None:
    st.title("CTO Assistant")
    st.markdown("Cited answers from the district technology library. **Sign in with your district account** "
                "to ask questions and keep your conversations.")
    for provider in _providers():
        label = f"Sign in with {provider.capitalize()}" if provider else "Sign in"
        if st.button(label, key=f"login_{provider or 'default'}", icon=":material/login:", type="primary"):
            st.login(provider)


def _refused_page(reason: str) -> None:
    st.title("CTO Assistant")
    st.error(f"You are signed in as {st.user.get('email') or 'an account without an e-mail address'}, but this app "
             f"admits {reason}. Sign out and sign in with your district account, or ask whoever runs this app.",
             icon=":material/block:")
    st.button("Sign out", on_click=st.logout, icon=":material/logout:")


def gate() -> Identity:
    """The identity of this session; shows the sign-in (or refusal) page and stops the run when there is none."""
    me = current()
    if me is not None:
        return me
    if st.user.is_logged_in:
        email = str(st.user.get("email") or "")
        _refused_page(decide(email, resources.settings(), email_verified=st.user.get("email_verified")).reason)
    else:
        _sign_in_page()
    st.stop()
    raise AssertionError("st.stop() returned")  # never reached: st.stop ends the run


def account_box(me: Identity) -> None:
    """The signed-in account and its role at the top of the sidebar, with sign-out."""
    if not me.signed_in:
        return
    with st.sidebar, st.container(border=True):
        st.markdown(f"**{me.name}**  \n{me.user}  \n:blue-badge[{me.role.label}]")
        st.button("Sign out", on_click=st.logout, icon=":material/logout:", key="sign_out", width="stretch")
