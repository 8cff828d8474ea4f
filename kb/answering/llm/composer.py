"""The LLM answer composer: the same ``compose(question, passages)`` as the offline one.

It sends the passages as numbered data to a chat model (Ollama or any OpenAI-compatible
server, through LangChain's chat-model integrations), streams the reply to ``on_token``,
turns the reply into claims and checks every claim against the passages it cites. When
the model cannot be reached, fails, or says nothing usable, the offline extractive
composer answers instead and the Draft carries a notice saying so: the caller never sees
an exception and never gets an unchecked answer.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from pydantic import SecretStr

from kb.answering.conversation import standalone_question
from kb.answering.extractive import ExtractiveComposer
from kb.answering.llm.reply import Reply, check_claims, format_passages, parse_reply, prepare_passages
from kb.answering.retrieval import Passage
from kb.answering.safety import looks_like_injection
from kb.core.answer import Draft
from kb.core.errors import LLMError
from kb.core.prompts import render
from kb.core.settings import Settings
from kb.governance import privacy

__all__ = ["LLMComposer", "build_chat_model"]

logger = logging.getLogger(__name__)
MAX_RETRIES = 1
COOL_OFF_S = 30.0  # after a connection failure or timeout, answer offline at once for this long
_PLACEHOLDER_KEY = "not-needed"  # local OpenAI-compatible servers want some key


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _unreachable(exc: BaseException) -> bool:
    """True for timeouts and failed connections (anywhere in the exception chain)."""
    for item in _chain(exc):
        name = type(item).__name__
        if isinstance(item, TimeoutError | ConnectionError) or "Timeout" in name or "Connect" in name:
            return True
    return False


def _problem(exc: BaseException, timeout_s: float) -> str:
    """Plain words for what went wrong, for the user-facing notice."""
    chain = _chain(exc)
    if any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain):
        return f"did not answer within {timeout_s:g} s"
    if _unreachable(exc):
        return "could not be reached (connection failed)"
    status = next((code for code in (getattr(e, "status_code", None) for e in chain)
                   if isinstance(code, int) and code > 0), None)  # openai and ollama errors carry one
    if status:
        return f"answered with an error (HTTP {status})"
    if isinstance(exc, LLMError):
        return f"returned an unusable reply ({exc})"
    if any(isinstance(e, ValueError) for e in chain):
        return "returned a malformed reply"
    return f"failed ({type(exc).__name__})"


def _clean_rewrite(text: str) -> str:
    """The first line of a rewrite reply without a "Question:" label or quotes."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    line = re.sub(r"^\s*(?:standalone|rewritten)?\s*question\s*:\s*", "", line, flags=re.I)
    return line.strip().strip("\"'\u201c\u201d`").strip()


def _openai_base_url(url: str) -> str:
    """A bare server address gets the usual ``/v1`` prefix of the OpenAI API."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def build_chat_model(settings: Settings) -> Any:
    """The LangChain chat model the settings name (Ollama, or any OpenAI-compatible server)."""
    s = settings
    if s.llm_backend == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(base_url=s.llm_base_url.rstrip("/"), model=s.llm_model, temperature=0.0,
                          num_predict=max(256, s.max_answer_chars // 2), client_kwargs={"timeout": s.llm_timeout_s})
    from langchain_openai import ChatOpenAI

    # No token cap here: servers disagree on max_tokens vs max_completion_tokens; the prompt bounds length.
    return ChatOpenAI(base_url=_openai_base_url(s.llm_base_url), model=s.llm_model,
                      api_key=s.llm_api_key if s.llm_api_key.get_secret_value() else SecretStr(_PLACEHOLDER_KEY),
                      timeout=s.llm_timeout_s, max_retries=MAX_RETRIES, temperature=0.0, use_responses_api=False)


class LLMComposer:
    """Answers with a chat model from the retrieved passages only; every claim cited and checked."""

    def __init__(self, settings: Settings, fallback: ExtractiveComposer):
        self.settings = settings
        self.fallback = fallback
        self.name = f"{settings.llm_backend}:{settings.llm_model}"
        self._model: Any = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_problem = ""

    # ----- the composer protocol ------------------------------------------------------------
    def compose(self, question: str, passages: Sequence[Passage], *, question_vector: np.ndarray | None = None,
                on_token: Callable[[str], None] | None = None) -> Draft:
        """Answer from the passages with the LLM, or offline with a notice when it fails.

        Args:
            question: the standalone question.
            passages: retrieved passages, best first; citations ``[n]`` refer to their order.
            question_vector: the question's embedding, passed on to the offline fallback.
            on_token: called with each piece of the reply as the model streams it.

        Returns:
            A Draft whose claims carry 0-based passage indices and a ``supported`` flag.
        """
        if not passages:
            return Draft(lead=[], composer=self.name)  # never let a model answer without sources
        if time.monotonic() < self._down_until:
            return self._offline(question, passages, self._down_problem, question_vector)
        sent = prepare_passages(passages)
        messages = self._messages(question, format_passages(sent))
        started = time.perf_counter()
        try:
            text = self._call(messages, on_token)
            reply = parse_reply(text, len(sent))
            check_claims(reply.claims, sent, self.fallback.embedder)
            self._require_usable(text, reply)
        except Exception as exc:  # any failure of the backend ends in the offline answer, with a notice
            return self._offline(question, passages, self._failed_call(exc), question_vector)
        logger.info("llm_answer composer=%s claims=%d unsupported=%d dropped=%d seconds=%.2f", self.name,
                    len(reply.claims), sum(not c.supported for c in reply.claims), reply.dropped,
                    time.perf_counter() - started)
        return self._draft(reply)

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """A follow-up rewritten as a standalone question by the LLM; the deterministic rule on failure."""
        turns = [t.strip() for t in history if t.strip()]
        default = standalone_question(question, turns)
        if not turns or time.monotonic() < self._down_until:
            return default
        from langchain_core.messages import HumanMessage

        prompt = render("llm_rewrite", history="\n".join(f"- {t}" for t in turns[-4:]), question=question)
        try:
            text = self._call([HumanMessage(prompt)], None)
        except Exception as exc:  # the rule-based rewrite is always there to fall back on
            self._failed_call(exc)
            return default
        candidate = _clean_rewrite(text)
        if not candidate or len(candidate) > 3 * len(default) + 200 or looks_like_injection(candidate):
            logger.info("llm_rewrite_rejected reply=%r", text[:200])
            return default
        return candidate

    # ----- talking to the model ---------------------------------------------------------------
    def _chat_model(self) -> Any:
        """The LangChain chat model, built on first use (imports are heavy) and then reused."""
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> Any:
        return build_chat_model(self.settings)

    def _messages(self, question: str, passages_block: str) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        system = render("llm_system", max_chars=self.settings.max_answer_chars)
        return [SystemMessage(system), HumanMessage(render("llm_user", passages=passages_block, question=question))]

    def _call(self, messages: list[Any], on_token: Callable[[str], None] | None) -> str:
        """The model's whole reply; streamed piece by piece to ``on_token`` when one is given."""
        model = self._chat_model()
        if on_token is None:
            return str(model.invoke(messages).text)
        pieces: list[str] = []
        for chunk in model.stream(messages):
            piece = str(chunk.text)
            if piece:
                pieces.append(piece)
                on_token = self._emit(on_token, piece)
        return "".join(pieces)

    @staticmethod
    def _emit(on_token: Callable[[str], None] | None, piece: str) -> Callable[[str], None] | None:
        """Pass a piece on; a failing consumer (a closed page) is logged and not called again."""
        if on_token is None:
            return None
        try:
            on_token(piece)
        except Exception:  # the consumer's problem must not cost the answer
            logger.warning("llm_on_token_failed; streaming to this consumer stopped", exc_info=True)
            return None
        return on_token

    @staticmethod
    def _require_usable(text: str, reply: Reply) -> None:
        if reply.not_covered:
            return
        if not text.strip():
            raise LLMError("empty reply")
        if not reply.claims:
            raise LLMError("no sentence cited a passage")
        if not any(c.supported for c in reply.claims):
            raise LLMError("no sentence is supported by the passage it cites")

    # ----- results ------------------------------------------------------------------------------
    def _draft(self, reply: Reply) -> Draft:
        notices: list[str] = [render("llm_gap", gap=privacy.redact(gap)) for gap in reply.gaps]
        if reply.not_covered:
            logger.info("llm_not_covered composer=%s", self.name)
            return Draft(lead=[], notices=notices, composer=self.name)
        unsupported = sum(not c.supported for c in reply.claims)
        if unsupported:
            notices.append(render("llm_unverified", count=unsupported))
        if reply.dropped:
            notices.append(render("llm_dropped", count=reply.dropped))
        return Draft(lead=reply.lead, points=reply.points, notices=notices, composer=self.name)

    def _failed_call(self, exc: BaseException) -> str:
        """Log a failed call, remember an unreachable server for a while, and say what happened."""
        problem = _problem(exc, self.settings.llm_timeout_s)
        logger.warning("llm_failed composer=%s url=%s problem=%r error=%s: %s", self.name, self.settings.llm_base_url,
                       problem, type(exc).__name__, str(exc)[:300])
        if _unreachable(exc):
            self._down_until = time.monotonic() + COOL_OFF_S
            self._down_problem = problem
        return problem

    def _offline(self, question: str, passages: Sequence[Passage], problem: str,
                 question_vector: np.ndarray | None) -> Draft:
        draft = self.fallback.compose(question, passages, question_vector=question_vector)
        notice = render("llm_fallback", model=self.settings.llm_model, url=self.settings.llm_base_url, problem=problem)
        draft.notices = [notice, *draft.notices]
        return draft

