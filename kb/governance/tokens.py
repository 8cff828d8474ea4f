"""API tokens: made once, shown once, stored only as a hash under the data directory.

``kb token create NAME`` makes a random token (``kbt_`` + 43 URL-safe characters, 256
bits), prints it once and keeps ``sha256(token)`` in ``data_dir/api_tokens.json`` with
the token's name, creation time and request rate. A token this random needs no slow
hash: guessing it is hopeless, and a plain sha256 lets every request be checked in
microseconds. Revoking keeps the record (so the server can answer 403 "revoked" rather
than 401 "unknown"). The file is rewritten atomically; servers re-read it when its
modification time changes, so a revocation takes effect on the next request of every
worker process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kb.core.errors import ConfigError, KBError

__all__ = ["TokenRecord", "TokenStore", "TOKEN_PREFIX"]

TOKEN_PREFIX = "kbt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class TokenRecord:
    """One token as stored: never the token itself, only its sha256."""

    name: str
    sha256: str
    created_at: str
    rate_per_minute: int
    revoked_at: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TokenStore:
    """The token file of one data directory; safe to share between threads."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "api_tokens.json"
        self._lock = threading.Lock()
        self._records: dict[str, TokenRecord] = {}
        self._stamp: tuple[int, int] | None = None

    # ----- reading --------------------------------------------------------------------------
    def _reload(self) -> None:
        """Read the file again when it changed since the last read (one stat per call)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._records, self._stamp = {}, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            self._records = {r["name"]: TokenRecord(**r) for r in rows}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{self.path} is damaged ({exc}): restore it from a backup, or delete it and "
                              "create the tokens again with `kb token create NAME`") from exc
        self._stamp = stamp

    def records(self) -> list[TokenRecord]:
        """Every token record, oldest first."""
        with self._lock:
            self._reload()
            return sorted(self._records.values(), key=lambda r: (r.created_at, r.name))

    def check(self, token: str) -> TokenRecord | None:
        """The record a presented token belongs to (revoked ones included), or None when unknown."""
        digest = _digest(token)
        with self._lock:
            self._reload()
            for record in self._records.values():
                if hmac.compare_digest(record.sha256, digest):
                    return record
        return None

    # ----- changing ---------------------------------------------------------------------------
    def create(self, name: str, *, rate_per_minute: int) -> str:
        """Make a token called ``name`` and return it (the only time it is ever available).

        Raises:
            ConfigError: the name is malformed or already used by a live token.
        """
        if not _NAME.match(name):
            raise KBError(f"token name {name!r} is not usable: use 1-64 letters, digits, '.', '_' or '-', "
                              "e.g. `kb token create helpdesk-bot`")
        if rate_per_minute < 1:
            raise KBError("the rate must be at least 1 request per minute")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            self._reload()
            old = self._records.get(name)
            if old is not None and not old.revoked:
                raise KBError(f"a token named {name!r} exists: revoke it first (`kb token revoke {name}`) "
                                  "or pick another name")
            self._records[name] = TokenRecord(name=name, sha256=_digest(token), created_at=_now(),
                                              rate_per_minute=rate_per_minute)
            self._write()
        return token

    def revoke(self, name: str) -> TokenRecord:
        """Mark the token ``name`` revoked (requests with it get 403 from then on).

        Raises:
            ConfigError: no token has that name.
        """
        with self._lock:
            self._reload()
            record = self._records.get(name)
            if record is None:
                known = ", ".join(sorted(self._records)) or "none"
                raise KBError(f"no token named {name!r} (known: {known}); see `kb token list`")
            if not record.revoked:
                record.revoked_at = _now()
                self._write()
            return record

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        rows = [asdict(r) for r in sorted(self._records.values(), key=lambda r: r.name)]
        tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
        self._stamp = None  # re-read our own write next time (its mtime is new)
