"""A real Chroma server for server-mode tests, started once per test session.

``chroma_server`` runs ``chroma run`` (the CLI from the venv) on 127.0.0.1 on a free
port with a temporary path, waits for its heartbeat, and stops it when the session
ends. Setting ``CTO_TEST_CHROMA_PORT`` uses a server already running on that port
of 127.0.0.1 instead. ``server_env`` points one test at it (CTO_CHROMA_HOST/PORT) with
a collection name of its own, so tests sharing the server never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["ChromaServer", "chroma_server", "server_env"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass
class ChromaServer:
    """Where the test server listens and keeps its data."""

    host: str
    port: int
    path: Path | None
    log: Path | None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that put the app in server mode against this server."""
        return {"CTO_CHROMA_HOST": self.host, "CTO_CHROMA_PORT": str(self.port)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _chroma_cli() -> str:
    """The ``chroma`` executable next to the running Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.is_file() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` command is missing: run `make setup-test` (it comes with the chromadb package)")
    return found


def heartbeat_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True when the server at ``url`` answers its heartbeat."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_for_heartbeat(server: ChromaServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if heartbeat_ok(server.url):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    log = server.log.read_text(errors="replace")[-3000:] if server.log and server.log.is_file() else ""
    _stop(process)
    pytest.fail(f"chroma server on {server.url} did not answer its heartbeat within {START_TIMEOUT_S:.0f} s "
                f"(exit code {process.returncode}); its log ends with:\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A Chroma server on 127.0.0.1 for the whole session (or the one CTO_TEST_CHROMA_PORT names)."""
    external = os.environ.get("CTO_TEST_CHROMA_PORT")
    if external:
        server = ChromaServer(HOST, int(external), None, None)
        if not heartbeat_ok(server.url, timeout_s=5.0):
            pytest.fail(f"CTO_TEST_CHROMA_PORT={external}, but no Chroma server answers on {server.url}")
        yield server
        return
    root = tmp_path_factory.mktemp("chroma-server")
    server = ChromaServer(HOST, _free_port(), root / "db", root / "server.log")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    with open(server.log, "wb") as log:  # type: ignore[arg-type]
        process = subprocess.Popen(
            [_chroma_cli(), "run", "--host", HOST, "--port", str(server.port), "--path", str(server.path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    try:
        _wait_for_heartbeat(server, process)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def server_env(chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch) -> ChromaServer:
    """Put this test in server mode, with a collection of its own on the shared server."""
    for name, value in chroma_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CTO_COLLECTION", f"t{uuid.uuid4().hex[:12]}")
    return chroma_server
