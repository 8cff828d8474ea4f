"""The staff password: PBKDF2-SHA256 hashes and a throttle against guessing.

The app stores only a hash (``CTO_STAFF_PASSWORD_HASH``) in the format
``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>`` (made by ``kb hash-password``).
Checking is constant-time. Wrong attempts are slowed down twice over: per browser
session, and for the whole process (so opening new sessions does not reset the
delay). Nothing here logs or returns a password or a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.core.errors import ConfigError

__all__ = ["hash_password", "verify_password", "check_hash_format", "Throttle", "LoginResult", "attempt_login",
           "DEFAULT_ITERATIONS"]

logger = logging.getLogger(__name__)
SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256
MIN_ITERATIONS = 1_000
_HOW_TO_FIX = "make a new one with `kb hash-password` and set CTO_STAFF_PASSWORD_HASH to the printed value"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """Hash a password for ``CTO_STAFF_PASSWORD_HASH``.

    Args:
        password: the password (must not be empty).
        iterations: PBKDF2 rounds; the default suits an interactive login.
        salt: random bytes; a fresh 16-byte salt when omitted.

    Returns:
        ``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>``.
    """
    if not password:
        raise ValueError("the password must not be empty")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"iterations must be at least {MIN_ITERATIONS}")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, bytes, bytes]:
    """Split a stored hash into (iterations, salt, digest); ConfigError when malformed."""
    parts = stored.strip().split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise ConfigError(f"CTO_STAFF_PASSWORD_HASH is not a {SCHEME} hash; {_HOW_TO_FIX}")
    try:
        iterations = int(parts[1])
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise ConfigError(f"CTO_STAFF_PASSWORD_HASH is damaged; {_HOW_TO_FIX}") from exc
    if iterations < MIN_ITERATIONS or not salt or len(digest) != 32:
        raise ConfigError(f"CTO_STAFF_PASSWORD_HASH is not usable; {_HOW_TO_FIX}")
    return iterations, salt, digest


def check_hash_format(stored: str) -> None:
    """Raise ConfigError when a configured hash cannot be used (checked before any login)."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    """True when the password matches the stored hash (constant-time comparison).

    Raises:
        ConfigError: the stored hash is malformed (a set-up problem, not a wrong password).
    """
    iterations, salt, expected = _parse(stored)
    actual = hashlib.pbkdf2_hmac("sha256", (password or "").encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    recent: list[float] = field(default_factory=list)


class Throttle:
    """Slows down repeated wrong passwords: exponential lock-out after a few free attempts.

    One instance per scope: keep one in each browser session and one for the whole
    process. ``wait()`` says how many seconds remain before the next attempt may be
    checked; ``failure()`` and ``success()`` record outcomes. Thread-safe.
    """

    def __init__(self, *, free_attempts: int = 3, base_delay_s: float = 2.0, max_delay_s: float = 300.0,
                 window_s: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.free_attempts = free_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.window_s = window_s
        self._clock = clock
        self._record = _Record()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        with self._lock:
            return max(0.0, self._record.locked_until - self._clock())

    def failure(self) -> float:
        """Record a wrong password; return the lock-out it starts, in seconds."""
        with self._lock:
            now = self._clock()
            record = self._record
            record.recent = [t for t in record.recent if now - t < self.window_s] + [now]
            record.failures = len(record.recent)
            excess = record.failures - self.free_attempts
            delay = 0.0 if excess < 1 else min(self.max_delay_s, self.base_delay_s * 2 ** (excess - 1))
            record.locked_until = now + delay
            return delay

    def success(self) -> None:
        """Forget earlier failures after a correct password."""
        with self._lock:
            self._record = _Record()


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt; ``retry_after_s`` > 0 means the attempt was not checked."""

    ok: bool
    retry_after_s: float = 0.0


def attempt_login(password: str, stored: str, throttles: list[Throttle]) -> LoginResult:
    """Check a password unless a throttle holds attempts back; record the outcome in every throttle.

    Raises:
        ConfigError: the stored hash is malformed.
    """
    waiting = max((t.wait() for t in throttles), default=0.0)
    if waiting > 0:
        return LoginResult(ok=False, retry_after_s=waiting)
    if verify_password(password, stored):
        for throttle in throttles:
            throttle.success()
        logger.info("staff login succeeded")
        return LoginResult(ok=True)
    delay = max((t.failure() for t in throttles), default=0.0)
    logger.warning("staff login failed lockout_s=%.0f", delay)
    return LoginResult(ok=False, retry_after_s=delay)
