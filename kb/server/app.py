"""The HTTP API: the same ``Assistant.ask`` the chat and ``kb ask`` use, over HTTP.

Routes: ``POST /v1/ask`` (our Answer as JSON, the fields of ``kb ask --json``),
``POST /v1/chat/completions`` (OpenAI-compatible, streaming too), ``GET /v1/models``,
``GET /v1/documents``, ``GET /healthz`` and ``GET /metrics``. Every ``/v1/`` request needs
``Authorization: Bearer <token>`` (made with ``kb token create``). Errors are JSON in
OpenAI's shape, ``{"error": {"message", "type", "code"}}``, so OpenAI clients show them.

One ``Assistant`` per worker process, asked one question at a time (the encoder is
CPU-bound: parallel questions in one process only fight for the same cores; run more
workers with ``kb serve --workers N``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb.core.errors import ConfigError, KBError, ModelError, StoreError
from kb.core.settings import Settings
from kb.governance.tokens import TokenRecord, TokenStore
from kb.server import openai_compat
from kb.server.limits import BodyLimit, RateLimiter
from kb.server.metrics import Metrics
from kb.server.schemas import ApiError, AskRequest, ChatRequest
from kb.version import __version__

__all__ = ["create_app", "ApiError"]

logger = logging.getLogger(__name__)


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status,
                        headers=headers)


class _State:
    """What one worker process shares between requests: settings, tokens, limits, the assistant."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.tokens = TokenStore(settings.data_dir)
        self.limiter = RateLimiter()
        self.metrics = Metrics(settings.data_dir / "run")
        self._assistant: Any = None
        self._ask_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.ready = threading.Event()  # set once the model and the keyword index are loaded (or failed to)
        self.load_seconds: float | None = None

    def preload(self) -> None:
        """Open the knowledge base (model, manifest, keyword index) before the first question needs it.

        Runs in a thread of its own when the worker starts, so ``/healthz`` answers at once (503 while
        loading) instead of doing the load itself: a health probe that built a million-chunk keyword
        index held every poll open for minutes, and each worker did the same work at the same time.
        """
        started = time.perf_counter()
        try:
            kb = self.assistant.kb
            kb.refresh(force=True)
            kb.embedder.embed_batch(["warm up the encoder"])
        except Exception as exc:  # the next request reports it (503 with the cause)
            logger.warning("worker could not open the knowledge base error=%s", exc)
        finally:
            self.load_seconds = time.perf_counter() - started
            self.ready.set()
            logger.info("worker ready seconds=%.1f", self.load_seconds)

    @property
    def assistant(self) -> Any:
        with self._load_lock:
            if self._assistant is None:
                from kb.answering.assistant import Assistant

                self._assistant = Assistant(self.settings)
            return self._assistant

    def ask(self, question: str, *, history: list[str], filters: Any, k: int | None) -> Any:
        assistant = self.assistant
        with self._ask_lock:
            answer = assistant.ask(question, history=history, filters=filters, k=k)
        self.metrics.add("kb_answers_total", abstained=str(answer.abstained).lower())
        return answer


def _authorise(state: _State) -> Callable[[Request], TokenRecord]:
    def caller(request: Request) -> TokenRecord:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            state.metrics.add("kb_auth_failures_total", reason="missing")
            raise ApiError(401, "missing_token", "this request has no token: send the header "
                           "'Authorization: Bearer <token>' (an administrator makes one with `kb token create NAME`)",
                           headers={"WWW-Authenticate": "Bearer"})
        record = state.tokens.check(token.strip())
        if record is None:
            state.metrics.add("kb_auth_failures_total", reason="unknown")
            raise ApiError(401, "invalid_token", "this token is not known here: check it was copied whole, or ask "
                           "an administrator for a new one (`kb token create NAME`)",
                           headers={"WWW-Authenticate": "Bearer"})
        if record.revoked:
            state.metrics.add("kb_auth_failures_total", reason="revoked")
            raise ApiError(403, "token_revoked", f"the token {record.name!r} was revoked on {record.revoked_at}: "
                           "ask an administrator for a new one")
        wait = state.limiter.acquire(record.name, record.rate_per_minute)
        if wait > 0:
            state.metrics.add("kb_rate_limited_total", token=record.name)
            raise ApiError(429, "rate_limited", f"the token {record.name!r} may make {record.rate_per_minute} "
                           f"requests a minute: retry in {wait:.1f} s",
                           headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return record

    return caller


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.kind, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if "json" not in request.headers.get("content-type", ""):
            return _error(400, "invalid_request", "the request body must be JSON: send it with the header "
                          "'Content-Type: application/json'")
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in exc.errors())
        return _error(400, "invalid_request", f"the request body is not valid ({problems}); see docs/admin-guide.md "
                      "for the fields of each route")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {404: "no such route: the API has POST /v1/ask, POST /v1/chat/completions, GET /v1/documents, "
                   "GET /v1/models, GET /healthz and GET /metrics"}.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, kind, message)

    @app.exception_handler(KBError)
    async def kb_error(_: Request, exc: KBError) -> JSONResponse:
        status = 503 if isinstance(exc, ConfigError | ModelError | StoreError) else 500
        logger.warning("request failed error=%s", exc)
        return _error(status, type(exc).__name__, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("request failed unexpectedly")
        return _error(500, "internal_error", "the server failed to answer; the administrator finds the cause in "
                      "the server log")


def _timed(app: FastAPI, state: _State) -> Callable[..., Awaitable[None]]:
    """ASGI wrapper recording every request's route, status and time in the metrics."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, tracking)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "other"
            state.metrics.observe(path, status, time.perf_counter() - started)

    return wrapper


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI application (``uvicorn --factory kb.server.app:create_app`` builds one per worker)."""
    settings = settings or Settings()
    state = _State(settings)
    app = FastAPI(title="CTO Assistant API", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.kb = state
    _add_error_handlers(app)
    caller = Depends(_authorise(state))

    threading.Thread(target=state.preload, name="kb-preload", daemon=True).start()

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        if not state.ready.is_set():
            raise ApiError(503, "loading", "this worker is still opening the knowledge base (model and keyword "
                           "index); retry in a few seconds", headers={"Retry-After": "5"})
        try:
            documents = len(state.assistant.kb.done_docs())
        except KBError as exc:
            raise ApiError(503, "unhealthy", f"the knowledge base cannot be read: {exc}") from exc
        return {"status": "ok", "version": __version__, "documents": documents}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return state.metrics.render()

    @app.post("/v1/ask")
    def ask(body: AskRequest, _: TokenRecord = caller) -> dict[str, Any]:
        history = body.history[-settings.api_max_history:] if settings.api_max_history else []
        answer = state.ask(body.question, history=history, filters=body.filters.to_filters(), k=body.k)
        return answer.to_dict()  # type: ignore[no-any-return]

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatRequest, _: TokenRecord = caller) -> dict[str, Any] | StreamingResponse:
        question, history = body.question_and_history(settings.api_max_history)
        answer = await run_in_threadpool(lambda: state.ask(question, history=history,
                                                           filters=body.filters.to_filters(), k=None))
        if body.stream:
            return StreamingResponse(openai_compat.stream(answer, body.model), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return openai_compat.completion(answer, body.model)

    @app.get("/v1/models")
    def models(_: TokenRecord = caller) -> dict[str, Any]:
        return openai_compat.models()

    @app.get("/v1/documents")
    def documents(_: TokenRecord = caller) -> dict[str, Any]:
        docs = sorted(state.assistant.kb.done_docs().values(), key=lambda d: d.title.lower())
        rows = [{"doc_id": d.doc_id, "title": d.title, "source": d.source, "source_type": d.source_type,
                 "date": d.date, "areas": d.areas, "chunks": d.chunk_count, "ingested_at": d.ingested_at} for d in docs]
        return {"object": "list", "data": rows}

    return BodyLimit(_timed(app, state), settings.api_max_request_kb * 1024)
