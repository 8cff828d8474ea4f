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

from eval.bench.corpus import questions
from eval.bench.pipeline import percentile
from eval.bench.scale import RealCorpus, synthetic_part
from kb.core.settings import Settings

__all__ = ["COMMANDS"]

CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 1_000_000)
WRITE_STEP = 20_000  # chunks generated and written per call


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the Chroma CLI runs its server in a child)."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()] \
        if Path(f"/proc/{pid}/task/{pid}/children").exists() else [pid]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += float(line.split()[1]) / 1024
        except OSError:
            continue
    return round(total, 1)


def _wait_http(url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


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


def _api_load(settings: Settings, *, workers: int, clients: int, requests: int, env: dict[str, str]) -> dict[str, Any]:
    """``kb serve --workers N`` on the same store, hammered by ``clients`` threads; latency and errors."""
    import httpx

    kb = str(Path(sys.executable).parent / "kb")
    made = subprocess.run([kb, "token", "create", f"bench-{os.getpid()}-{int(time.time())}", "--rate", "100000"],
                          env=env, capture_output=True, text=True, check=True)
    token = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([kb, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/healthz", 1800)
        asked = questions(requests, seed=11)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=600, limits=httpx.Limits(max_connections=clients)) as client:
            for q in asked[:workers * 4]:  # warm every worker (model, keyword index)
                client.post(f"{url}/v1/ask", json={"question": q}, headers=headers)

            def one(question: str) -> tuple[float, int]:
                started = time.perf_counter()
                try:
                    status = client.post(f"{url}/v1/ask", json={"question": question}, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                return time.perf_counter() - started, status

            started = time.perf_counter()
            with cf.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(one, asked))
            wall = time.perf_counter() - started
        ms = [s * 1000 for s, _ in results]
        worker_rss = [_rss_mb(int(p)) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        return {"workers": workers, "clients": clients, "requests": len(results),
                "errors": sum(1 for _, status in results if status != 200), "p50_ms": round(percentile(ms, 50), 1),
                "p95_ms": round(percentile(ms, 95), 1), "throughput_rps": round(len(results) / wall, 2),
                "worker_rss_mb": worker_rss}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _grow(store: Any, real: RealCorpus, have: int, target: int, rng: random.Random, np_rng: np.random.Generator) -> int:
    while have < target:
        n = min(WRITE_STEP, target - have)
        docs, chunks, vectors = synthetic_part(real, n, rng, np_rng, start=have)
        store.add_chunks(chunks, vectors)
        store.put_docs(docs)
        have += n
    return have


def run_million(settings: Settings, *, budget_s: float, workers: int, clients: int, requests: int,
                checkpoints: tuple[int, ...], echo: Any) -> dict[str, Any]:
    """Grow the knowledge base checkpoint by checkpoint until the budget runs out; then the API load test."""
    from eval.run import eval_kb
    from kb.index.store import open_store

    deadline = time.monotonic() + budget_s
    real = RealCorpus.read(eval_kb(settings, "library").store)
    echo(f"real corpus: {len(real.docs)} documents, {len(real.chunks)} chunks")
    root = settings.reports_dir / "million"
    (root / "chroma").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    chroma = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--host", "127.0.0.1", "--port", str(port),
                               "--path", str(root / "chroma")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    served = settings.with_overrides(chroma_host="127.0.0.1", chroma_port=port, collection=f"m{os.getpid()}",
                                     data_dir=root / "app")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CTO_")}, "CTO_DATA_DIR": str(served.data_dir),
           "CTO_CHROMA_HOST": "127.0.0.1", "CTO_CHROMA_PORT": str(port), "CTO_COLLECTION": served.collection,
           "CTO_AUDIT": "false", "PYTHONPATH": os.pathsep.join(sys.path)}
    rows: list[dict[str, Any]] = []
    api: dict[str, Any] = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", 120)
        store = open_store(served)
        started = time.perf_counter()
        store.add_chunks(real.chunks, real.vectors)
        store.put_docs(real.docs)
        have, written_s = len(real.chunks), time.perf_counter() - started
        rng, np_rng = random.Random(5), np.random.default_rng(5)
        for target in checkpoints:
            step_started = time.perf_counter()
            before = have
            have = _grow(store, real, have, target, rng, np_rng)
            step_s = time.perf_counter() - step_started
            written_s += step_s
            probe_started = time.perf_counter()
            probe = _probe(served, asks=20)
            probe_s = time.perf_counter() - probe_started
            row = {"chunks": have, "write_chunks_per_s": round((have - before) / step_s, 1) if have > before else None,
                   "write_total_s": round(written_s, 1), "open_keyword_s": round(probe["open_s"], 2),
                   "one_doc_added_s": round(probe["update_s"], 2),
                   "retrieve_p50_ms": round(percentile([s * 1000 for s in probe["retrieve_s"]], 50), 1),
                   "retrieve_p95_ms": round(percentile([s * 1000 for s in probe["retrieve_s"]], 95), 1),
                   "ask_p50_ms": round(percentile([s * 1000 for s in probe["ask_s"]], 50), 1),
                   "ask_p95_ms": round(percentile([s * 1000 for s in probe["ask_s"]], 95), 1),
                   "app_peak_rss_mb": round(probe["peak_rss_mb"], 1), "chroma_rss_mb": _rss_mb(chroma.pid),
                   "loadavg": Path("/proc/loadavg").read_text().split()[0]}
            rows.append(row)
            echo(json.dumps(row))
            remaining = deadline - time.monotonic()
            later = [c for c in checkpoints if c > have]
            rate = (have - before) / step_s if have > before else 1000.0
            projected = (later[0] - have) / rate * 1.2 + 2 * probe_s if later else 0.0  # the next write and its probe
            if later and remaining < projected:
                echo(f"stopping growth at {have:,} chunks: {remaining / 60:.0f} min left, the next step needs ~{projected / 60:.0f}")
                break
        if requests:
            api = _api_load(served, workers=workers, clients=clients, requests=requests, env=env)
            api["chroma_rss_mb"] = _rss_mb(chroma.pid)
            echo(json.dumps(api))
    finally:
        chroma.terminate()
        chroma.wait(timeout=60)
    return {"rows": rows, "api": api, "real_chunks": len(real.chunks)}


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
                     f"{api['errors']} errors; worker RSS MB {api['worker_rss_mb']}; Chroma RSS {api['chroma_rss_mb']} MB")
    return "\n".join(lines)


@click.command("million")
@click.option("--budget-min", default=60.0, show_default=True, help="Stop growing when the next step would not fit.")
@click.option("--up-to", type=int, default=1_000_000, show_default=True, help="Largest checkpoint.")
@click.option("--workers", default=4, show_default=True, help="API workers for the load test.")
@click.option("--clients", default=32, show_default=True, help="Concurrent API clients.")
@click.option("--requests", default=320, show_default=True, help="API requests in the load test (0: skip it).")
def million(budget_min: float, up_to: int, workers: int, clients: int, requests: int) -> None:
    """Grow a knowledge base on a Chroma server towards a million chunks and load-test the API on it.

    \b
    Examples:
      nice python -m eval million --budget-min 60
      python -m eval million --up-to 10000 --requests 64 --workers 2 --clients 8
    """
    from kb.cli.common import configure_logging, load_settings

    configure_logging("WARNING")
    settings = load_settings()
    checkpoints = tuple(c for c in CHECKPOINTS if c < up_to) + (up_to,)
    result = run_million(settings, budget_s=budget_min * 60, workers=workers, clients=clients, requests=requests,
                         checkpoints=checkpoints, echo=lambda m: click.echo(m, err=True))
    folder = settings.reports_dir / "million"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "million.json").write_text(json.dumps(result, indent=2))
    (folder / "million.md").write_text(f"# A million chunks\n\n{table(result)}\n")
    click.echo(table(result))


COMMANDS = [million]
