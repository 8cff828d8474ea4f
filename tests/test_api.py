"""The HTTP API against a real `kb serve` process: tokens, limits, errors, /v1/ask, the OpenAI client, streaming."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from kb.core.settings import REPO_ROOT, Settings
from kb.governance.tokens import TokenStore
from kb.server.limits import RateLimiter

KB = str(Path(sys.executable).parent / "kb")
DOCS = ["budget-e-rate-category-one-and-two.md", "budget-device-refresh-cycles.md", "cyber-backups-3-2-1.md"]
QUESTION = "What does E-Rate Category Two cover?"


@dataclass
class Api:
    url: str
    env: dict[str, str]
    token: str
    data_dir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KB, *args], env=self.env, capture_output=True, text=True, timeout=300)

    def new_token(self, name: str, *extra: str) -> str:
        done = self.cli("token", "create", name, *extra)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data_dir), CTO_REPORTS_DIR=str(data_dir.parent / "reports"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """Three library briefs ingested with the real model, a token, and `kb serve` on a free port."""
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    root = tmp_path_factory.mktemp("api")
    (root / "docs").mkdir()
    for name in DOCS:
        shutil.copy(REPO_ROOT / "library" / name, root / "docs" / name)
    data_dir = root / "data"
    report = run_ingest(KnowledgeBase(Settings(data_dir=data_dir, reports_dir=root / "reports"), embedder=real_embedder),
                        [str(root / "docs")])
    assert not report.failed
    port = _free_port()
    env = _clean_env(data_dir)
    server = Api(f"http://127.0.0.1:{port}", env, "", data_dir)
    server.token = server.new_token("tests", "--rate", "1000")
    log = open(root / "serve.log", "wb")  # noqa: SIM115  (closed below, after the server stops)
    process = subprocess.Popen([KB, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600  # the worker opens the knowledge base in the background: 503 until then
        while time.monotonic() < deadline:
            assert process.poll() is None, (root / "serve.log").read_text()
            try:
                if httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("kb serve did not become ready in 600 s: " + (root / "serve.log").read_text()[-2000:])
        yield server
    finally:
        process.terminate()
        process.wait(timeout=120)
        log.close()


def _error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()["error"]
    assert body["type"] == kind and body["code"] == status
    return str(body["message"])


# ----- tokens on disk ---------------------------------------------------------------------------------------------
def test_token_cli_prints_token_once_and_stores_only_its_hash(api: Api) -> None:
    token = api.new_token("desk-bot")
    assert token.startswith("kbt_") and len(token) > 40
    stored = (api.data_dir / "api_tokens.json").read_text()
    assert token not in stored and "desk-bot" in stored
    listed = api.cli("token", "list", "--json")
    assert listed.returncode == 0 and token not in listed.stdout and "sha256" not in listed.stdout
    again = api.cli("token", "create", "desk-bot")
    assert again.returncode == 1 and "kb token revoke desk-bot" in again.stderr
    missing = api.cli("token", "revoke", "nobody")
    assert missing.returncode == 1 and "kb token list" in missing.stderr


def test_token_store_checks_and_revokes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token = store.create("a", rate_per_minute=5)
    record = store.check(token)
    assert record is not None and record.name == "a" and not record.revoked
    assert store.check(token + "x") is None
    store.revoke("a")
    other = TokenStore(tmp_path)  # another worker process reads the file afresh
    assert other.check(token) is not None and other.check(token).revoked  # type: ignore[union-attr]


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.acquire("t", 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("t", 2) == pytest.approx(30.0)
    now[0] = 30.0
    assert limiter.acquire("t", 2) == 0.0
    assert limiter.acquire("other", 2) == 0.0  # buckets are per token


# ----- auth and limits over HTTP -----------------------------------------------------------------------------------
def test_health_needs_no_token_and_v1_does(api: Api) -> None:
    health = httpx.get(f"{api.url}/healthz")
    assert health.status_code == 200 and health.json()["documents"] == len(DOCS)
    missing = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION})
    assert "kb token create" in _error(missing, 401, "missing_token")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(f"{api.url}/v1/documents", headers=api.headers("kbt_not-a-real-token"))
    _error(wrong, 401, "invalid_token")


def test_revoked_token_gets_403(api: Api) -> None:
    token = api.new_token("leaver")
    assert httpx.get(f"{api.url}/v1/documents", headers=api.headers(token)).status_code == 200
    assert api.cli("token", "revoke", "leaver").returncode == 0
    assert "revoked" in _error(httpx.get(f"{api.url}/v1/documents", headers=api.headers(token)), 403, "token_revoked")


def test_rate_limit_per_token(api: Api) -> None:
    token = api.new_token("slow", "--rate", "2")
    codes = [httpx.get(f"{api.url}/v1/documents", headers=api.headers(token)).status_code for _ in range(2)]
    limited = httpx.get(f"{api.url}/v1/documents", headers=api.headers(token))
    assert codes == [200, 200]
    assert "2 requests a minute" in _error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert httpx.get(f"{api.url}/v1/documents", headers=api.headers()).status_code == 200  # others unaffected


def test_request_size_limit(api: Api) -> None:
    big = {"question": "backups", "history": ["x" * 1000] * 70}  # ~70 KiB > the 64 KiB default
    _error(httpx.post(f"{api.url}/v1/ask", json=big, headers=api.headers()), 413, "request_too_large")
    chunks = (b'{"question": "' + b"y" * 8192 for _ in range(10))  # chunked: no Content-Length to trust
    chunked = httpx.post(f"{api.url}/v1/ask", content=chunks, headers={**api.headers(), "content-type": "application/json"})
    _error(chunked, 413, "request_too_large")


def test_invalid_bodies_get_clear_json_errors(api: Api) -> None:
    no_question = httpx.post(f"{api.url}/v1/ask", json={"history": []}, headers=api.headers())
    assert "question" in _error(no_question, 400, "invalid_request")
    bad_area = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION, "filters": {"areas": ["nope"]}},
                          headers=api.headers())
    assert "choose from" in _error(bad_area, 400, "invalid_request")
    not_json = httpx.post(f"{api.url}/v1/ask", content=b"question=hi", headers=api.headers())
    assert "Content-Type: application/json" in _error(not_json, 400, "invalid_request")
    assert "/v1/ask" in _error(httpx.get(f"{api.url}/v2/nothing"), 404, "not_found")


# ----- answers ---------------------------------------------------------------------------------------------------
def test_ask_returns_the_same_answer_as_kb_ask_json(api: Api) -> None:
    response = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, headers=api.headers(), timeout=600)
    assert response.status_code == 200, response.text
    served = response.json()
    local = api.cli("ask", QUESTION, "--json")
    assert local.returncode == 0, local.stderr
    expected = json.loads(local.stdout)
    assert set(served) == set(expected)
    assert not served["abstained"] and served["citations"]
    assert served["text"] == expected["text"]
    assert [c["chunk_id"] for c in served["citations"]] == [c["chunk_id"] for c in expected["citations"]]


def test_ask_with_filters_and_history(api: Api) -> None:
    body = {"question": "How often should we replace them?", "history": ["student Chromebooks and laptops"],
            "filters": {"areas": ["budgets-funding"]}}
    answer = httpx.post(f"{api.url}/v1/ask", json=body, headers=api.headers(), timeout=600).json()
    assert "chromebook" in answer["standalone_question"].lower()
    assert all("budgets-funding" in c["areas"] for c in answer["citations"])


def test_openai_client_chat_and_stream(api: Api) -> None:
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=api.token, max_retries=0, timeout=600)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
    done = client.chat.completions.create(model="cto-assistant", messages=messages)  # type: ignore[arg-type]
    content = done.choices[0].message.content or ""
    citations = (done.model_extra or {})["citations"]
    assert "[1]" in content and "Sources:" in content
    assert citations and citations[0]["n"] == 1 and citations[0]["title"] in content
    chunks = list(client.chat.completions.create(model="cto-assistant", messages=messages, stream=True))  # type: ignore[arg-type]
    assert len(chunks) > 3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [c["chunk_id"] for c in (chunks[-1].model_extra or {})["citations"]] == [c["chunk_id"] for c in citations]
    assert [m.id for m in client.models.list()] == ["cto-assistant"]


def test_openai_client_sees_auth_errors(api: Api) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{api.url}/v1", api_key="kbt_wrong", max_retries=0).models.list()
    token = api.new_token("gone")
    api.cli("token", "revoke", "gone")
    with pytest.raises(openai.PermissionDeniedError, match="revoked"):
        openai.OpenAI(base_url=f"{api.url}/v1", api_key=token, max_retries=0).models.list()


def test_documents_and_metrics(api: Api) -> None:
    docs = httpx.get(f"{api.url}/v1/documents", headers=api.headers()).json()["data"]
    assert sorted(d["source"].rsplit("/", 1)[-1] for d in docs) == sorted(DOCS)
    httpx.get(f"{api.url}/v1/documents")  # one more 401 to count
    metrics = httpx.get(f"{api.url}/metrics").text
    assert "# TYPE kb_request_duration_seconds histogram" in metrics
    assert 'kb_requests_total{route="/v1/documents",status="200"}' in metrics
    failures = [line for line in metrics.splitlines() if line.startswith('kb_auth_failures_total{reason="missing"}')]
    assert failures and int(failures[0].split()[-1]) >= 1
    assert "kb_process_resident_memory_bytes " in metrics
