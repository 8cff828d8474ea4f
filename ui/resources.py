"""The app's shared, heavy objects: created once per process, shared by every session.

Settings, the knowledge base (with the embedding model), the assistant and the
journal live under ``st.cache_resource``: the first request builds them, later
requests and other users reuse them. All of them are thread-safe. Everything that
belongs to one user (the conversation, the staff sign-in) lives in
``st.session_state`` instead.
"""

from __future__ import annotations

import logging
import sys
import threading

import streamlit as st
from pydantic import ValidationError

from kb.answering.assistant import Assistant
from kb.core.errors import ConfigError
from kb.core.settings import Settings
from kb.governance.auth import Throttle
from kb.governance.conversations import Conversations
from kb.governance.journal import Journal
from kb.index import lock
from kb.index.knowledge import KnowledgeBase

__all__ = ["settings", "knowledge_base", "assistant", "journal", "conversations", "login_throttle", "ingest_lock",
           "setup_logging", "clear"]

logger = logging.getLogger(__name__)
_QUIET = ("chromadb", "httpx", "httpcore", "urllib3", "sentence_transformers", "bm25s", "watchdog")


def _read_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"CTO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"a setting is invalid ({problems}). Fix it in the environment or .env and restart the app.") from exc


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The app's settings, read once from the environment and .env."""
    return _read_settings()


@st.cache_resource(show_spinner=False)
def setup_logging() -> bool:
    """Configure logging once per process (key=value lines on stderr)."""
    try:
        level = _read_settings().log_level
    except ConfigError:
        level = "INFO"
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return True


@st.cache_resource(show_spinner="Opening the knowledge base and loading the language model (first start only)...")
def knowledge_base() -> KnowledgeBase:
    """The knowledge base, opened and with its embedding model loaded, so the first answer is quick.

    With the embedded store the app takes the data directory's write lock first and keeps it:
    `ingest` or `kb` commands that would write behind its back are refused (the Library page
    or server mode are the ways to add documents while it runs).
    """
    kb = KnowledgeBase(settings())
    if not kb.settings.server_mode:  # the app is the embedded store's one writer for as long as it runs
        try:
            lock.hold(kb.settings, "the app")
        except lock.WriteLockBusy as exc:
            holder = lock.holder_of(kb.settings.data_dir)
            who = holder.describe() if holder else "another process"
            raise lock.WriteLockBusy(f"{who} is changing the knowledge base right now; reload this page when it has "
                                   "finished (or run the app with `make run-server` so both can work at once)") from exc
    kb.embedder.embed_batch(["warm up"])
    kb.refresh(force=True)
    logger.info("knowledge base ready docs=%d model=%s", len(kb.done_docs()), kb.settings.embedding_model)
    return kb


@st.cache_resource(show_spinner=False)
def journal() -> Journal:
    """The local journal of gaps, feedback and answers."""
    return Journal(settings().data_dir)


@st.cache_resource(show_spinner=False)
def conversations() -> Conversations:
    """Every user's saved conversations; those unused for the retention period are pruned once at start."""
    store = Conversations(settings().data_dir)
    pruned = store.prune(settings().conversation_retention_days)
    if pruned:
        logger.info("conversations pruned count=%d retention_days=%d", pruned, settings().conversation_retention_days)
    return store


@st.cache_resource(show_spinner=False)
def assistant() -> Assistant:
    """The one answering path, over the shared knowledge base."""
    return Assistant(settings(), kb=knowledge_base(), journal=journal())


@st.cache_resource(show_spinner=False)
def login_throttle() -> Throttle:
    """Process-wide brake on wrong staff passwords (more lenient than the per-session one)."""
    return Throttle(free_attempts=10, base_delay_s=1.0, max_delay_s=120.0)


@st.cache_resource(show_spinner=False)
def ingest_lock() -> threading.Lock:
    """One upload or removal at a time in this process (ingest repairs what it finds half-done)."""
    return threading.Lock()


def clear() -> None:
    """Forget every shared object (tests; the next request rebuilds them)."""
    st.cache_resource.clear()
