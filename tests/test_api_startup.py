"""An API worker opens the knowledge base in the background: /healthz answers at once, 503 until it is ready."""

from __future__ import annotations

import fcntl
import time

from starlette.testclient import TestClient

from kb.core.settings import Settings
from kb.index.knowledge import KnowledgeBase
from kb.server.app import create_app
from tests.test_keyword_incremental import DOCS, add


def test_health_answers_at_once_while_the_worker_opens(hash_settings: Settings) -> None:
    kb = KnowledgeBase(hash_settings)
    for doc_id, texts in DOCS.items():
        add(kb, doc_id, texts)  # no keyword index saved yet: the worker has to build one
    scope = kb._keyword_dir("any").parent
    scope.mkdir(parents=True, exist_ok=True)
    with (scope / ".build.lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another worker is building it: this one waits for that index
        client = TestClient(create_app(hash_settings))
        try:
            started = time.perf_counter()
            loading = client.get("/healthz")
            assert time.perf_counter() - started < 10  # answered, not held open for the whole load
            assert loading.status_code == 503, loading.text
            assert loading.json()["error"]["type"] == "loading" and loading.headers["retry-after"] == "5"
            assert "retry in a few seconds" in loading.json()["error"]["message"]
        finally:
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    with client:
        deadline = time.monotonic() + 120
        while (ready := client.get("/healthz")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status_code == 200 and ready.json()["documents"] == len(DOCS)
