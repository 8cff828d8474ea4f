"""Staff password hashing, checking and throttling (kb.auth) and `kb hash-password`."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest
from click.testing import CliRunner

from kb.core.errors import ConfigError
from kb.governance.auth import Throttle, attempt_login, check_hash_format, hash_password, verify_password


def test_hash_has_the_documented_format_and_verifies() -> None:
    stored = hash_password("s3cret pass", iterations=1000, salt=b"0123456789abcdef")
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations, base64.b64decode(salt)) == ("pbkdf2_sha256", "1000", b"0123456789abcdef")
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha256", b"s3cret pass", b"0123456789abcdef", 1000)
    assert verify_password("s3cret pass", stored)
    assert not verify_password("s3cret pass ", stored) and not verify_password("", stored)


def test_each_hash_gets_a_fresh_salt() -> None:
    assert hash_password("same", iterations=1000) != hash_password("same", iterations=1000)


@pytest.mark.parametrize("stored", ["", "plain-password", "md5$1000$abc$def", "pbkdf2_sha256$ten$c2FsdA==$aGFzaA==",
                                    "pbkdf2_sha256$1000$!!!$aGFzaA==", "pbkdf2_sha256$1000$c2FsdA==$dG9vIHNob3J0"])
def test_a_malformed_hash_is_a_setup_error_that_says_how_to_fix_it(stored: str) -> None:
    with pytest.raises(ConfigError, match="kb hash-password"):
        verify_password("anything", stored)
    with pytest.raises(ConfigError):
        check_hash_format(stored)


def test_empty_passwords_and_weak_iterations_are_refused() -> None:
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("x", iterations=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_allows_a_few_attempts_then_doubles_the_wait_and_forgets_on_success() -> None:
    clock = Clock()
    throttle = Throttle(free_attempts=3, base_delay_s=2.0, max_delay_s=10.0, clock=clock)
    assert [throttle.failure() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.wait() == 0.0
    assert throttle.failure() == 2.0 and throttle.wait() == 2.0
    clock.now += 2.0
    assert throttle.failure() == 4.0
    clock.now += 4.0
    assert throttle.failure() == 8.0
    clock.now += 8.0
    assert throttle.failure() == 10.0  # capped
    throttle.success()
    assert throttle.wait() == 0.0 and throttle.failure() == 0.0


def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    throttle = Throttle(free_attempts=1, base_delay_s=1.0, window_s=60.0, clock=clock)
    throttle.failure()
    clock.now += 61
    assert throttle.failure() == 0.0  # the first failure no longer counts


def test_attempt_login_does_not_check_the_password_while_locked_out(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    stored = hash_password("right one", iterations=1000)
    session, process = Throttle(free_attempts=1, clock=clock), Throttle(free_attempts=5, clock=clock)
    caplog.set_level(logging.INFO, logger="kb.governance.auth")
    assert attempt_login("wrong", stored, [session, process]).retry_after_s == 0.0
    locked = attempt_login("wrong", stored, [session, process])
    assert not locked.ok and locked.retry_after_s == 2.0
    refused = attempt_login("right one", stored, [session, process])  # the right password, but too soon
    assert not refused.ok and refused.retry_after_s > 0
    clock.now += 3
    assert attempt_login("right one", stored, [session, process]).ok
    assert session.wait() == 0.0 and process.wait() == 0.0
    logged = caplog.text
    assert "right one" not in logged and "wrong" not in logged and stored not in logged


def test_the_process_throttle_holds_back_a_new_session() -> None:
    clock = Clock()
    stored = hash_password("right one", iterations=1000)
    process = Throttle(free_attempts=2, clock=clock)
    for _ in range(3):  # three sessions, one guess each
        attempt_login("guess", stored, [Throttle(clock=clock), process])
    fresh_session = Throttle(clock=clock)
    assert attempt_login("right one", stored, [fresh_session, process]).retry_after_s > 0


def test_kb_hash_password_prints_a_verifiable_hash_and_never_the_password() -> None:
    from kb.cli import main

    result = CliRunner().invoke(main, ["hash-password", "--stdin"], input="a long staff password\n")
    assert result.exit_code == 0, result.output
    stored = result.stdout.strip().splitlines()[0]
    assert verify_password("a long staff password", stored)
    assert "a long staff password" not in result.output
    assert "CTO_STAFF_PASSWORD_HASH" in result.stderr


def test_kb_hash_password_prompts_twice_and_refuses_short_passwords() -> None:
    from kb.cli import main

    prompted = CliRunner().invoke(main, ["hash-password"], input="another long one\nanother long one\n")
    assert prompted.exit_code == 0 and verify_password("another long one", prompted.stdout.strip().splitlines()[-1])
    short = CliRunner().invoke(main, ["hash-password", "--stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output
