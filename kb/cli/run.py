"""``kb run``: serve the app; ``kb run --server`` serves it over a local Chroma server.

Server mode is what lets the command-line ``ingest`` (and ``kb remove``, ``kb import``)
work while people chat: the Chroma server is the one writer, and the app sees each change
within a second. ``kb run --server`` starts ``chroma run`` on 127.0.0.1 with its data in
``CTO_DATA_DIR/chroma`` (the same folder the embedded store uses, so switching modes keeps
the knowledge base), waits for it, runs the app against it, and stops both together.

While it runs, this process holds the data directory's write lock and writes the server's
address into it; commands started without ``CTO_CHROMA_HOST`` find the address there and
use the server (``kb.index.lock.running_server``), so ``ingest ./docs`` just works.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings
from kb.core.errors import StoreError
from kb.core.paths import CHECKOUT, bundled

__all__ = ["run"]

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def _chroma_cli() -> str:
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.is_file() else shutil.which("chroma")
    if not found:
        raise StoreError("the `chroma` command is missing; it comes with the chromadb package: run `make setup`")
    return found


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_chroma(path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``chroma run`` on 127.0.0.1:port over ``path``; returns once it answers its heartbeat."""
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen([_chroma_cli(), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _heartbeat(url):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _stop(proc)
    tail = log.read_text(errors="replace")[-800:] if log.is_file() else ""
    raise StoreError(f"the Chroma server did not start on {url} (is the port free? pick another with --chroma-port); "
                     f"its log {log} ends with: {tail.strip()[-300:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def _config_flags() -> list[str]:
    """The app's Streamlit settings (``.streamlit/config.toml``) as flags, for an installed package.

    Streamlit reads that file only from the working directory, which is the checkout's root when
    run from one; an installed package runs anywhere, so its copy is passed on the command line.
    """
    if CHECKOUT:
        return []
    config = tomllib.loads(bundled(".streamlit/config.toml").read_text(encoding="utf-8"))
    return [f"--{section}.{key}={value}" for section, options in config.items() for key, value in options.items()]


def _streamlit_args(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(bundled("app.py")), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            *_config_flags()]


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until any child ends or this process is asked to stop; then stop them all (last started first)."""

    def _stop_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop_signal)
    code = 0
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        code = next(child.returncode for child in children if child.returncode is not None)
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            _stop(child)
    return code


def _check_data_dir(upgrade: bool) -> None:
    """Run `kb upgrade` (or `kb upgrade --check`) on the data directory; stop here when it fails."""
    args = [sys.executable, "-m", "kb", "upgrade"] + ([] if upgrade else ["--check"])
    done = subprocess.run(args, stdin=subprocess.DEVNULL, check=False)
    if done.returncode:
        sys.exit(done.returncode)


@click.command("run", epilog="""\b
Examples:
  kb run                          the app on the embedded store (one writer: the app)
  kb run --server                 the app over a local Chroma server; `ingest` works meanwhile
  kb run --server --port 8502 --chroma-port 8766
""")
@click.option("--server", "server_mode", is_flag=True,
              help="Start a Chroma server on 127.0.0.1 (data in CTO_DATA_DIR/chroma) and run the app over it.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the app listens on.")
@click.option("--port", default=8501, show_default=True, type=int, help="Port of the app.")
@click.option("--chroma-port", type=int, default=None,
              help="Port of the Chroma server (127.0.0.1 only); default CTO_CHROMA_PORT.")
@friendly_errors
def run(server_mode: bool, host: str, port: int, chroma_port: int | None) -> None:
    """Serve the app (streamlit), with the embedded store or, with --server, over a local Chroma server."""
    from kb.index import lock

    settings = load_settings(use_running_server=False)
    configure_logging("INFO")
    if not server_mode:
        os.execv(sys.executable, _streamlit_args(host, port))
    if settings.server_mode:
        raise click.UsageError("CTO_CHROMA_HOST is set: that server is used by `kb run` already; "
                               "`--server` starts a local one instead, so unset CTO_CHROMA_HOST to use it")
    chroma_port = chroma_port or settings.chroma_port
    _check_data_dir(settings.upgrade_on_open)  # the Chroma server cannot: upgrade (or refuse) before it starts
    address = f"127.0.0.1:{chroma_port}"
    lock.hold(settings, f"the app in server mode (Chroma server {address})", server=address)
    chroma = _start_chroma(settings.data_dir / "chroma", chroma_port, settings.data_dir / "chroma-server.log")
    click.echo(f"Chroma server on http://{address} (data in {settings.data_dir / 'chroma'}); "
               f"CTO Assistant on http://{host}:{port}", err=True)
    env = {**os.environ, "CTO_CHROMA_HOST": "127.0.0.1", "CTO_CHROMA_PORT": str(chroma_port)}
    app = subprocess.Popen(_streamlit_args(host, port), env=env, stdin=subprocess.DEVNULL)
    sys.exit(_supervise([chroma, app]))


COMMANDS = [run]
