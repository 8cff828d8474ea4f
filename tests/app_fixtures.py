"""Start the real app (`streamlit run app.py`, or `kb run`) as a process for tests, and stop it.

Used by the tests that need a running app beside other processes: the write lock, server
mode, saved conversations across a restart, and sign-in.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kb.core.settings import REPO_ROOT

__all__ = ["AppProcess", "free_port", "start_app", "app_env", "CHROMIUM", "CHROMIUM_ARGS"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an app process: no CTO_* from outside, this data dir, offline models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(data_dir), CTO_REPORTS_DIR=str(data_dir.parent / "reports"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO_ROOT))
    env.update(extra)
    return env


@dataclass
class AppProcess:
    """A running app: its URL, process and log."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout_s)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else ""


def _wait_healthy(app: AppProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if app.proc.poll() is not None:
            raise AssertionError(f"the app exited early (code {app.proc.returncode}):\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    app.stop()
    raise AssertionError(f"the app did not become healthy in {timeout_s:.0f} s:\n{app.log_tail()}")


def start_app(run_dir: Path, env: dict[str, str], *, server: bool = False, port: int | None = None,
              secrets: str | None = None, timeout_s: float = 120.0) -> AppProcess:
    """Start the app in ``run_dir`` (with the repo's .streamlit/config.toml and optional secrets.toml).

    ``server=True`` starts it through ``kb run --server`` (a Chroma server beside it).
    """
    (run_dir / ".streamlit").mkdir(parents=True, exist_ok=True)
    (run_dir / ".streamlit" / "config.toml").write_text((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    if secrets is not None:
        (run_dir / ".streamlit" / "secrets.toml").write_text(secrets)
    port = port or free_port()
    if server:
        args = [sys.executable, "-m", "kb", "run", "--server", "--host", "127.0.0.1", "--port", str(port),
                "--chroma-port", str(free_port())]
    else:
        args = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.address", "127.0.0.1",
                "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none"]
    log = run_dir / f"app-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    app = AppProcess(url=f"http://127.0.0.1:{port}", port=port, proc=proc, log=log, run_dir=run_dir, env=env)
    _wait_healthy(app, timeout_s)
    return app
