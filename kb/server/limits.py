"""Per-token request rates and request-size limits of the API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["RateLimiter", "BodyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """A token bucket per API token: ``rate`` requests a minute, bursts up to the same number."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens left, when counted)

    def acquire(self, name: str, rate_per_minute: int) -> float:
        """Take one request from ``name``'s bucket; return 0, or the seconds to wait when it is empty."""
        now = self._clock()
        per_second = rate_per_minute / 60.0
        with self._lock:
            left, then = self._buckets.get(name, (float(rate_per_minute), now))
            left = min(float(rate_per_minute), left + (now - then) * per_second)
            if left >= 1.0:
                self._buckets[name] = (left - 1.0, now)
                return 0.0
            self._buckets[name] = (left, now)
            return (1.0 - left) / per_second


def _error_body(status: int, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, before they are read whole.

    Checks the declared Content-Length first, then counts the bytes as they arrive (a chunked
    upload declares none).
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:  # read the whole (small) body first, so nothing past the limit reaches the app
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = _error_body(413, f"the request body is larger than {self.max_bytes // 1024} KiB: send a shorter "
                           "question and history (the limit is CTO_API_MAX_REQUEST_KB)", "request_too_large")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

