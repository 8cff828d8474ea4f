"""``kb serve`` under load, for the benchmarks: start it on a knowledge base, post ``/v1/ask``, time the answers.

``python -m eval bench`` asks one question at a time at each scale (the single-client latency of
the API); ``python -m eval million`` sends many clients at several workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from eval.bench.corpus import questions
from eval.bench.stats import percentile
from kb.core.settings import Settings

__all__ = ["api_load", "free_port", "rss_mb", "wait_http", "serve_env"]


def serve_env(settings: Settings) -> dict[str, str]:
    """The environment for ``kb`` commands on ``settings``' knowledge base (no audit log, this interpreter's path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")}
    env.update({"CTO_DATA_DIR": str(settings.data_dir), "CTO_COLLECTION": settings.collection, "CTO_AUDIT": "false",
                "CTO_EMBEDDING_MODEL": settings.embedding_model, "CTO_EMBEDDING_SHA256": settings.embedding_sha256,
                "CTO_REPORTS_DIR": str(settings.reports_dir), "PYTHONPATH": os.pathsep.join(sys.path)})
    if settings.chroma_host:
        env.update({"CTO_CHROMA_HOST": settings.chroma_host, "CTO_CHROMA_PORT": str(settings.chroma_port)})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
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


def wait_http(url: str, timeout_s: float) -> None:
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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def api_load(settings: Settings, *, workers: int, clients: int, requests: int, env: dict[str, str], log: Path,
              worker_timeout: int | None = None, asked: list[str] | None = None) -> dict[str, Any]:
    """``kb serve --workers N`` on the same store, hammered by ``clients`` threads; latency, errors and their causes.

    The server's log goes to ``log``; every failed request keeps its status and the start of its body (or the
    client-side exception), and worker processes that were replaced during the run are counted.
    """
    import httpx

    kb = str(Path(sys.executable).parent / "kb")
    made = subprocess.run([kb, "token", "create", f"bench-{os.getpid()}-{int(time.time())}", "--rate", "100000"],
                          env=env, capture_output=True, text=True, check=True)
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    args = [kb, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "info"]
    if worker_timeout is not None:
        args += ["--worker-timeout", str(worker_timeout)]
    with log.open("ab") as out:
        server = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        started_wait = time.perf_counter()
        wait_http(f"{url}/healthz", 1800)
        asked = asked[:requests] if asked else questions(requests, seed=11)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=600, limits=httpx.Limits(max_connections=clients)) as client:
            for q in asked[:workers * 4]:  # warm every worker (model, keyword index)
                client.post(f"{url}/v1/ask", json={"question": q}, headers=headers)
            ready_s = time.perf_counter() - started_wait
            workers_before = set(_children(server.pid))
            peak_rss: dict[int, float] = {}
            sampling = True

            def sample() -> None:
                while sampling:
                    for pid in _children(server.pid):
                        peak_rss[pid] = max(peak_rss.get(pid, 0.0), rss_mb(pid))
                    time.sleep(1.0)

            def one(question: str) -> tuple[float, int, str]:
                began = time.perf_counter()
                try:
                    response = client.post(f"{url}/v1/ask", json={"question": question}, headers=headers)
                    status, detail = response.status_code, "" if response.status_code == 200 else response.text[:200]
                except httpx.HTTPError as exc:
                    status, detail = 0, f"{type(exc).__name__}: {exc}"[:200]
                return time.perf_counter() - began, status, detail

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            began = time.perf_counter()
            with cf.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(one, asked))
            wall = time.perf_counter() - began
            sampling = False
            workers_after = set(_children(server.pid))
        ms = [s * 1000 for s, _, _ in results]
        failed = [{"status": status, "detail": detail} for _, status, detail in results if status != 200]
        return {"workers": workers, "clients": clients, "requests": len(results), "errors": len(failed),
                "error_samples": failed[:10], "workers_replaced": len(workers_before - workers_after),
                "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
                "max_ms": round(max(ms), 1), "throughput_rps": round(len(results) / wall, 2),
                "ready_s": round(ready_s, 1), "worker_peak_rss_mb": sorted(round(v) for v in peak_rss.values()),
                "worker_timeout": worker_timeout}
    finally:
        server.terminate()
        server.wait(timeout=120)
