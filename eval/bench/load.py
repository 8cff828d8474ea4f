"""``python -m eval load``: N people chatting at once through the real app, in real browser pages.

For each store (the embedded store, and ``kb run --server``) and each N, the app is
started on a copy of the starter library; N Chromium pages (each its own browser context)
open it together and each asks several gold-set questions in turn, typing into the chat
box as a person does (so every question goes through Streamlit's websocket, the rerun and
``Assistant.ask``). Measured: errors (a timeout, or an error message on the page), the time
from pressing Enter to the complete answer (its feedback buttons drawn), and the app's
resident memory (sampled every 0.5 s; in server mode the Chroma server's too).

Afterwards every session's saved conversation (named in its page's address) must hold
exactly its own questions in order: no lost or crossed conversations. Not a CI test: it
takes minutes and its times depend on the machine (quote ``/proc/loadavg`` with them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
import yaml

from kb.core.settings import REPO_ROOT

__all__ = ["COMMANDS", "run_load"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ANSWER_TIMEOUT_MS = 300_000


@dataclass
class RunResult:
    """One (store, N) run."""

    store: str
    sessions: int
    questions: int = 0
    errors: list[str] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    app_rss_mb: float = 0.0
    chroma_rss_mb: float = 0.0
    crossed: int = 0
    wall_s: float = 0.0

    def pct(self, q: float) -> float:
        if not self.times_s:
            return float("nan")
        ordered = sorted(self.times_s)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    def row(self) -> dict[str, Any]:
        return {"store": self.store, "sessions": self.sessions, "questions": self.questions,
                "errors": len(self.errors), "p50_s": round(self.pct(0.5), 2), "p95_s": round(self.pct(0.95), 2),
                "max_s": round(max(self.times_s, default=float("nan")), 2), "app_rss_mb": round(self.app_rss_mb),
                "chroma_rss_mb": round(self.chroma_rss_mb), "lost_or_crossed": self.crossed,
                "wall_s": round(self.wall_s, 1)}


def _questions() -> list[str]:
    """Standalone gold-set questions (follow-ups need their earlier turn), interleaved across areas."""
    per_file = []
    for path in sorted((REPO_ROOT / "eval" / "gold").glob("library_*.yaml")):
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        per_file.append([str(i["question"]) for i in items if i.get("kind") not in {"follow-up"}])
    mixed: list[str] = []
    for row in zip(*per_file, strict=False):
        mixed.extend(row)
    return list(dict.fromkeys(mixed))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class _App:
    """The app as a process: ``streamlit run`` (embedded) or ``kb run --server``; memory sampled meanwhile."""

    def __init__(self, data_dir: Path, run_dir: Path, server: bool):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
        env.update(CTO_DATA_DIR=str(data_dir), CTO_REPORTS_DIR=str(run_dir / "reports"), HF_HUB_OFFLINE="1",
                   PYTHONPATH=str(REPO_ROOT))
        (run_dir / ".streamlit").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / ".streamlit" / "config.toml", run_dir / ".streamlit" / "config.toml")
        if server:
            args = [sys.executable, "-m", "kb", "run", "--server", "--port", str(self.port),
                    "--chroma-port", str(_free_port())]
        else:
            args = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.address",
                    "127.0.0.1", "--server.port", str(self.port), "--server.headless", "true"]
        self.log = (run_dir / f"app-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(args, cwd=run_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.server = server
        self.app_rss = 0.0
        self.chroma_rss = 0.0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def wait_healthy(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise click.ClickException(f"the app exited (code {self.proc.returncode}); see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        self._sampler.start()
                        return
            except OSError:
                time.sleep(0.5)
        raise click.ClickException(f"the app did not start within {timeout_s:.0f} s")

    def _processes(self) -> tuple[list[int], list[int]]:
        """(app pids, chroma pids): in server mode the runner's children are chroma and streamlit."""
        if not self.server:
            return [self.proc.pid], []
        chroma: list[int] = []
        app: list[int] = []
        for child in _children(self.proc.pid):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes() if Path(f"/proc/{child}/cmdline").exists() else b""
            (chroma if b"chroma" in cmdline and b"streamlit" not in cmdline else app).append(child)
        return app, chroma

    def _sample(self) -> None:
        while self._sampling:
            app, chroma = self._processes()
            self.app_rss = max(self.app_rss, sum(_rss_mb(p) for p in app))
            self.chroma_rss = max(self.chroma_rss, sum(_rss_mb(p) for p in chroma))
            time.sleep(0.5)

    def stop(self) -> None:
        self._sampling = False
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()


async def _session(browser: Any, url: str, questions: list[str], result: RunResult,
                   ready: asyncio.Queue[int], start: asyncio.Event) -> str:
    """One person: open the app, wait for everyone, ask each question in turn; returns the conversation id."""
    from playwright.async_api import expect

    context = await browser.new_context()
    page = await context.new_page()
    try:
        try:
            await page.goto(url, timeout=ANSWER_TIMEOUT_MS)
            box = page.get_by_test_id("stChatInputTextArea")
            await box.wait_for(timeout=ANSWER_TIMEOUT_MS)
        finally:
            ready.put_nowait(1)  # counted even when the page failed, so the others are not held back
        await start.wait()
        messages = page.get_by_test_id("stChatMessage")
        for question in questions:
            before = await messages.count()
            started = time.perf_counter()
            await box.fill(question)
            await box.press("Enter")
            try:
                await expect(messages).to_have_count(before + 2, timeout=ANSWER_TIMEOUT_MS)
                await expect(messages.last.get_by_test_id("stFeedback")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
            except AssertionError as exc:
                result.errors.append(f"timeout: {question[:40]}: {str(exc)[:120]}")
                continue
            result.times_s.append(time.perf_counter() - started)
            result.questions += 1
            if await page.get_by_test_id("stException").count() or await page.get_by_text("Something went wrong").count():
                result.errors.append(f"error shown: {question[:40]}")
        return parse_qs(urlparse(page.url).query).get("c", [""])[0]
    finally:
        await context.close()


async def _drive(url: str, plans: list[list[str]], result: RunResult) -> list[str]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        warm = await browser.new_page()  # the first page opens the knowledge base and loads the model
        await warm.goto(url)
        await warm.get_by_test_id("stChatInputTextArea").wait_for(timeout=ANSWER_TIMEOUT_MS)
        await warm.close()
        start = asyncio.Event()
        ready: asyncio.Queue[int] = asyncio.Queue()
        tasks = [asyncio.create_task(_session(browser, url, plan, result, ready, start)) for plan in plans]
        for _ in plans:  # every page open before the questions start together
            await ready.get()
        start.set()
        began = time.perf_counter()
        ids = await asyncio.gather(*tasks, return_exceptions=True)
        result.wall_s = time.perf_counter() - began
        await browser.close()
    out = []
    for value in ids:
        if isinstance(value, BaseException):
            result.errors.append(f"session failed: {type(value).__name__}: {str(value)[:120]}")
            out.append("")
        else:
            out.append(value)
    return out


def _check_conversations(data_dir: Path, ids: list[str], plans: list[list[str]]) -> int:
    """How many sessions' saved conversations do not hold exactly their own questions, in order."""
    from kb.governance.conversations import Conversations

    store = Conversations(data_dir)
    bad = 0
    for conversation_id, plan in zip(ids, plans, strict=True):
        saved = [t.question for t in store.turns("local", conversation_id)] if conversation_id else []
        bad += saved != plan
    return bad


def run_load(*, sessions: list[int], stores: list[str], per_session: int, base: Path) -> list[RunResult]:
    """Measure each (store, N); ``base`` holds a data directory with the starter library already ingested."""
    pool = _questions()
    results = []
    for store in stores:
        for n in sessions:
            data_dir = base / f"data-{store}-{n}"
            shutil.copytree(base / "seed", data_dir)
            plans = [[pool[(i * per_session + j) % len(pool)] for j in range(per_session)] for i in range(n)]
            result = RunResult(store=store, sessions=n)
            app = _App(data_dir, base / f"run-{store}-{n}", server=store == "server")
            try:
                app.wait_healthy()
                ids = asyncio.run(_drive(app.url, plans, result))
            finally:
                app.stop()
            result.app_rss_mb, result.chroma_rss_mb = app.app_rss, app.chroma_rss
            result.crossed = _check_conversations(data_dir, ids, plans)
            results.append(result)
            click.echo(json.dumps(result.row()), err=True)
    return results


def _seed(base: Path) -> None:
    """The starter library, ingested once (copied for every run, so runs never share conversations)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update(CTO_DATA_DIR=str(base / "seed"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "ingest", str(REPO_ROOT / "library"), "--json"], env=env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise click.ClickException(f"seeding the library failed: {done.stderr[-500:]}")


def _table(results: list[RunResult], loadavg: tuple[str, str]) -> str:
    lines = ["| store | sessions | questions | errors | p50 s | p95 s | max s | app RSS MB | Chroma server RSS MB | "
             "lost or crossed | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        row = r.row()
        chroma = str(row["chroma_rss_mb"]) if r.store == "server" else "-"
        lines.append(f"| {r.store} | {r.sessions} | {r.questions} | {row['errors']} | {row['p50_s']} | {row['p95_s']} "
                     f"| {row['max_s']} | {row['app_rss_mb']} | {chroma} | {r.crossed} | {row['wall_s']} |")
    lines.append("")
    lines.append(f"/proc/loadavg before: {loadavg[0]}; after: {loadavg[1]}")
    return "\n".join(lines)


@click.command("load", epilog="""\b
Examples:
  python -m eval load                                  N = 1, 5, 10, 20; embedded store and server
  python -m eval load --sessions 1,5 --store embedded --questions 2
""")
@click.option("--sessions", default="1,5,10,20", show_default=True, help="Comma-separated numbers of simultaneous sessions.")
@click.option("--store", "stores", default="embedded,server", show_default=True,
              help="embedded (streamlit run), server (kb run --server), or both.")
@click.option("--questions", "per_session", default=3, show_default=True, type=click.IntRange(1, 20),
              help="Questions each session asks, one after another.")
@click.option("--keep", is_flag=True, help="Keep the temporary data directories (their path is printed).")
@click.option("--seeded", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A data directory that already holds the starter library (copied; saves ingesting it again).")
def load(sessions: str, stores: str, per_session: int, keep: bool, seeded: Path | None) -> None:
    """N simultaneous chat sessions in real browser pages: errors, p50/p95 time to answer, app memory."""
    if not Path(CHROMIUM).exists():
        raise click.ClickException("no Chromium at /usr/bin/chromium: install Debian's chromium package")
    counts = [int(s) for s in sessions.split(",") if s.strip()]
    chosen = [s.strip() for s in stores.split(",") if s.strip()]
    if not set(chosen) <= {"embedded", "server"}:
        raise click.UsageError("--store takes embedded, server, or both (comma-separated)")
    base = Path(tempfile.mkdtemp(prefix="cto-load-"))
    try:
        before = Path("/proc/loadavg").read_text().strip()
        if seeded:
            shutil.copytree(seeded, base / "seed", ignore=shutil.ignore_patterns("write.lock", "journal.sqlite3*", "conversations.sqlite3*"))
        else:
            _seed(base)
        results = run_load(sessions=counts, stores=chosen, per_session=per_session, base=base)
        after = Path("/proc/loadavg").read_text().strip()
    finally:
        if keep:
            click.echo(f"data kept in {base}", err=True)
        else:
            shutil.rmtree(base, ignore_errors=True)
    table = _table(results, (before, after))
    click.echo(table)
    single = [r.pct(0.95) for r in results if r.sessions == 1]
    for r in results:
        if r.errors:
            click.echo(f"{r.store} N={r.sessions} errors: " + "; ".join(r.errors[:5]), err=True)
    if single:
        worst = max((r.pct(0.95) / next(s.pct(0.95) for s in results if s.store == r.store and s.sessions == 1)
                     for r in results if any(s.store == r.store and s.sessions == 1 for s in results)), default=0.0)
        click.echo(f"\nworst p95 / single-session p95 (same store): {worst:.1f}x (target: at most 20x)")
    click.echo(f"mean of single-session p95: {statistics.fmean(single):.2f} s" if single else "")


COMMANDS = [load]
