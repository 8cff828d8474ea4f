"""Who may do what: roles from the signed-in e-mail address and the settings.

- reader: everyone allowed in; asks questions, keeps their own conversations;
- staff: also adds and removes documents, sees gaps and feedback (``CTO_AUTH_STAFF``);
- admin: also settings, audit, export and deleting a user's history (``CTO_AUTH_ADMINS``).

``CTO_AUTH_ALLOWED_DOMAINS`` restricts sign-in to the district's own domains. Without
sign-in configured, the app is single-user and this module is not consulted (staff
actions keep the staff password).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from kb.core.settings import Settings

__all__ = ["Role", "Decision", "decide", "parse_list", "verified_claim"]


class Role(IntEnum):
    """Roles in increasing power: a higher role may do everything a lower one may."""

    READER = 1
    STAFF = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Decision:
    """The outcome for one signed-in account: its role, or why it is not allowed in."""

    role: Role | None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.role is not None


def parse_list(value: str) -> list[str]:
    """A comma- or space-separated setting as lower-case entries."""
    return [part.strip().lower() for part in value.replace(";", ",").replace(" ", ",").split(",") if part.strip()]


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def _matches(email: str, entries: list[str]) -> bool:
    return any(email == entry or (entry.startswith("@") and _domain(email) == entry[1:]) for entry in entries)


def verified_claim(value: object) -> bool | None:
    """The ``email_verified`` claim as a bool: some providers send the strings "true"/"false"; None when absent or odd."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def decide(email: str | None, settings: Settings, *, email_verified: object = None) -> Decision:
    """The role of a signed-in account, or a refusal naming the reason.

    Args:
        email: the ``email`` claim of the ID token.
        settings: the app's settings (allowed domains, staff and admin lists).
        email_verified: the ``email_verified`` claim when the provider sends one (a bool, or "true"/"false");
            false is refused when domains are restricted (an unverified address proves no domain).
    """
    address = (email or "").strip().lower()
    domains = [d.lstrip("@") for d in parse_list(settings.auth_allowed_domains)]
    if domains:
        if not address or _domain(address) not in domains:
            return Decision(None, f"accounts of {', '.join(domains)} only")
        if verified_claim(email_verified) is False:
            return Decision(None, "the provider has not verified this e-mail address")
    if address and _matches(address, parse_list(settings.auth_admins)):
        return Decision(Role.ADMIN)
    if address and _matches(address, parse_list(settings.auth_staff)):
        return Decision(Role.STAFF)
    return Decision(Role.READER)
