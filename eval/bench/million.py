"""``python -m eval million``: a knowledge base grown towards a million chunks on a Chroma server.

Not part of CI: it takes most of an hour on two cores. Steps, all on 127.0.0.1:

1. a real corpus: the starter library ingested once with the real model (its chunks and vectors);
2. ``chroma run`` on a free port; the knowledge base is grown on it in steps (the real documents,
   then synthetic 50-chunk documents whose texts come from the benchmark generator and whose
   vectors are real chunk vectors plus noise, see :mod:`eval.bench.scale`), written through
   ``Store.add_chunks`` and ``Store.put_docs`` exactly as ingest writes;
3. at each checkpoint: store-write throughput, keyword-index build (a fresh process opening the
   knowledge base) and the incremental add of one document, retrieval and answer p50/p95, the
   resident memory of the Chroma server and of the app process;
4. at the last checkpoint: ``kb serve --workers N`` against the same server and C concurrent
   clients posting ``/v1/ask`` (a bounded number of requests): p50/p95, errors, worker memory.

A time budget (``--budget-min``) stops the growth early, so the run always ends with a report
of the scales it reached.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from eval.bench.api import api_load, free_port, rss_mb, serve_env, wait_http
from eval.bench.corpus import questions
from eval.bench.scale import RealCorpus, synthetic_part
from eval.bench.stats import percentile
from kb.core.settings import Settings

__all__ = ["COMMANDS"]

CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 1_000_000)
WRITE_STEP = 10_000  # chunks generated and written per call (a multiple of 50)


def _probe(settings: Settings, asks: int) -> dict[str, Any]:
    """A fresh process opens the knowledge base (keyword index build or load) and times questions."""
    overrides = {"data_dir": str(settings.data_dir), "chroma_host": settings.chroma_host,
                 "chroma_port": settings.chroma_port, "collection": settings.collection, "audit": False}
    args = json.dumps({"settings": overrides, "questions": questions(40), "asks": asks})
    done = subprocess.run([sys.executable, "-m", "eval.bench.probe", args], capture_output=True, text=True,
                          timeout=7200, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    if done.returncode != 0:
        raise RuntimeError(f"probe failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _write_step(store: Any, real: RealCorpus, start: int, n: int) -> None:
    """Write synthetic chunks ``start .. start+n``; seeded by ``start``, so a re-run writes the same rows (upserts)."""
    docs, chunks, vectors = synthetic_part(real, n, random.Random(start), np_rng=np.random.default_rng(start), start=start)
    store.add_chunks(chunks, vectors)
    store.put_docs(docs)


class _State:
    """``state.json`` in the run's folder: how far the growth got, each step's rate, each checkpoint's row.

    Saved after every write step, so a stopped run (time budget, Ctrl-C, a crash) resumes where it
    stopped, on the same Chroma folder, port and collection (the keyword index is kept per
    collection, host and port, so the same port lets the next probe reuse it incrementally).
    """

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, **values: Any) -> None:
        self.data.update(values)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _grow_to(store: Any, real: RealCorpus, state: _State, target: int, *, deadline: float, writers: int,
             echo: Any) -> bool:
    """Write steps until ``target`` chunks (True) or the deadline (False); ``writers`` steps in flight at once."""
    have = int(state["have"])
    while have < target:
        if time.monotonic() >= deadline:
            return False
        starts: list[int] = []
        for _ in range(writers):
            if have + len(starts) * WRITE_STEP < target:
                starts.append(have + len(starts) * WRITE_STEP)
        began = time.perf_counter()
        with cf.ThreadPoolExecutor(len(starts)) as pool:  # the Chroma server takes concurrent writes
            list(pool.map(lambda s: _write_step(store, real, s, min(WRITE_STEP, target - s)), starts))
        took = time.perf_counter() - began
        written = min(target, starts[-1] + WRITE_STEP) - have
        have += written
        steps = state.get("steps", [])
        steps.append({"chunks": have, "chunks_per_s": round(written / took, 1), "loadavg": _loadavg()})
        state.set(have=have, written_s=float(state.get("written_s", 0.0)) + took, steps=steps)
        echo(f"{have:,} chunks ({written / took:.0f} chunks/s, load {_loadavg()})")
    return True


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run_million(settings: Settings, *, root: Path, budget_s: float, workers: int, clients: int, requests: int,
                checkpoints: tuple[int, ...], writers: int, echo: Any,
                worker_timeout: int | None = None) -> dict[str, Any]:
    """Grow the knowledge base checkpoint by checkpoint until the budget runs out (resumable); then the API load test."""
    from eval.run import eval_kb
    from kb.index.store import open_store

    deadline = time.monotonic() + budget_s
    (root / "chroma").mkdir(parents=True, exist_ok=True)
    state = _State(root / "state.json")
    if not state.get("collection"):
        state.set(collection=f"m{os.getpid()}", port=free_port(), have=0, written_s=0.0, rows=[], steps=[])
    port = int(state["port"]) if _port_free(int(state["port"])) else free_port()
    state.set(port=port)
    real = RealCorpus.read(eval_kb(settings, "library").store)
    echo(f"real corpus: {len(real.docs)} documents, {len(real.chunks)} chunks; resuming at {int(state['have']):,} chunks")
    chroma = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--host", "127.0.0.1", "--port", str(port),
                               "--path", str(root / "chroma")], stdout=(root / "chroma.log").open("ab"),
                              stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    served = settings.with_overrides(chroma_host="127.0.0.1", chroma_port=port, collection=state["collection"],
                                     data_dir=root / "app")
    env = serve_env(served)
    api: dict[str, Any] = {}
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", 600)
        store = open_store(served)
        if not state.get("real_written"):
            store.add_chunks(real.chunks, real.vectors)
            store.put_docs(real.docs)
            state.set(real_written=True)
        for target in checkpoints:
            if any(r["chunks"] >= target for r in state["rows"]):
                continue
            before, written_before = int(state["have"]), float(state["written_s"])
            if not _grow_to(store, real, state, target, deadline=deadline, writers=writers, echo=echo):
                echo(f"time budget used at {int(state['have']):,} synthetic chunks; run the same command again to go on")
                break
            probe = _probe(served, asks=20)
            step_s = float(state["written_s"]) - written_before
            have = int(state["have"]) + len(real.chunks)
            row = {"chunks": have,
                   "write_chunks_per_s": round((int(state["have"]) - before) / step_s, 1) if step_s > 0 else None,
                   "write_total_s": round(float(state["written_s"]), 1), "open_keyword_s": round(probe["open_s"], 2),
                   "one_doc_added_s": round(probe["update_s"], 2),
                   "retrieve_p50_ms": round(percentile([s * 1000 for s in probe["retrieve_s"]], 50), 1),
                   "retrieve_p95_ms": round(percentile([s * 1000 for s in probe["retrieve_s"]], 95), 1),
                   "ask_p50_ms": round(percentile([s * 1000 for s in probe["ask_s"]], 50), 1),
                   "ask_p95_ms": round(percentile([s * 1000 for s in probe["ask_s"]], 95), 1),
                   "app_peak_rss_mb": round(probe["peak_rss_mb"], 1), "chroma_rss_mb": rss_mb(chroma.pid),
                   "chroma_disk_mb": _disk_mb(root / "chroma"), "keyword_disk_mb": _disk_mb(served.data_dir / "keyword"),
                   "stages_mean_ms": {k: round(v * 1000, 1) for k, v in probe.get("ask_stages_mean_s", {}).items()},
                   "loadavg": _loadavg()}
            state.set(rows=state["rows"] + [row])
            echo(json.dumps(row))
        reached = bool(state["rows"]) and state["rows"][-1]["chunks"] >= checkpoints[-1]
        if requests and (reached or budget_s <= 0):
            api = api_load(served, workers=workers, clients=clients, requests=requests, env=env,
                            log=root / f"serve-{int(time.time())}.log", worker_timeout=worker_timeout)
            api["chroma_rss_mb"] = rss_mb(chroma.pid)
            api["chunks"] = store.count()
            api["loadavg"] = _loadavg()
            state.set(api=state.get("api", []) + [api])
            echo(json.dumps(api))
    finally:
        chroma.terminate()
        chroma.wait(timeout=120)
    return {"rows": state["rows"], "api": api, "real_chunks": len(real.chunks), "steps": state.get("steps", [])}


def _disk_mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1) if folder.exists() else 0.0


def table(result: dict[str, Any]) -> str:
    head = ["chunks", "write chunks/s", "write total s", "open + keyword s", "one doc added s", "retrieve p50 / p95 ms",
            "answer p50 / p95 ms", "app peak RSS MB", "Chroma server RSS MB", "load"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in result["rows"]:
        lines.append(f"| {r['chunks']:,} | {r['write_chunks_per_s'] or '-'} | {r['write_total_s']} | {r['open_keyword_s']} | "
                     f"{r['one_doc_added_s']} | {r['retrieve_p50_ms']} / {r['retrieve_p95_ms']} | "
                     f"{r['ask_p50_ms']} / {r['ask_p95_ms']} | {r['app_peak_rss_mb']} | {r['chroma_rss_mb']} | {r['loadavg']} |")
    api = result.get("api") or {}
    if api:
        lines.append(f"\nAPI: {api['workers']} workers, {api['clients']} concurrent clients, {api['requests']} requests: "
                     f"p50 {api['p50_ms']} ms, p95 {api['p95_ms']} ms, {api['throughput_rps']} requests/s, "
                     f"{api['errors']} errors ({api.get('workers_replaced', 'n/a')} workers replaced); worker peak RSS MB "
                     f"{api.get('worker_peak_rss_mb')}; Chroma RSS {api['chroma_rss_mb']} MB; load {api.get('loadavg')}")
    return "\n".join(lines)


@click.command("million")
@click.option("--budget-min", default=60.0, show_default=True, help="Stop growing when the next step would not fit.")
@click.option("--up-to", type=int, default=1_000_000, show_default=True, help="Largest checkpoint.")
@click.option("--workers", default=4, show_default=True, help="API workers for the load test.")
@click.option("--clients", default=32, show_default=True, help="Concurrent API clients.")
@click.option("--requests", default=320, show_default=True, help="API requests in the load test (0: skip it).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The run's folder (default: REPORTS_DIR/million); a run stopped early resumes from it.")
@click.option("--writers", default=2, show_default=True, type=click.IntRange(1, 8), help="Write steps in flight at once.")
@click.option("--worker-timeout", type=int, default=None, help="Passed to kb serve (default: kb serve's own).")
@click.option("--api-only", is_flag=True, help="Skip the growth: the API load test on the store the folder holds.")
def million(budget_min: float, up_to: int, workers: int, clients: int, requests: int, root: Path | None, writers: int,
            api_only: bool, worker_timeout: int | None) -> None:
    """Grow a knowledge base on a Chroma server towards a million chunks and load-test the API on it.

    \b
    Examples:
      nice python -m eval million --budget-min 60
      python -m eval million --up-to 10000 --requests 64 --workers 2 --clients 8
    """
    from kb.core.console import configure_logging, load_settings

    configure_logging("WARNING")
    settings = load_settings()
    checkpoints = tuple(c for c in CHECKPOINTS if c < up_to) + (up_to,)
    folder = root or settings.reports_dir / "million"
    result = run_million(settings, root=folder, budget_s=0.0 if api_only else budget_min * 60, workers=workers,
                         clients=clients, requests=requests, checkpoints=checkpoints, writers=writers,
                         worker_timeout=worker_timeout, echo=lambda m: click.echo(m, err=True))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "million.json").write_text(json.dumps(result, indent=2))
    (folder / "million.md").write_text(f"# A million chunks\n\n{table(result)}\n")
    click.echo(table(result))


COMMANDS = [million]
