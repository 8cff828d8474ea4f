"""Prometheus metrics of the API, summed over every worker process.

Each worker keeps its counters in memory and writes a snapshot to
``data_dir/run/metrics-<pid>.json`` (at most twice a second, and before it answers a
scrape). ``GET /metrics`` adds up the snapshots of the workers still alive, so a scrape
that lands on any worker reports the whole server.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path

__all__ = ["Metrics", "BUCKETS"]

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
_HELP = {
    "kb_requests_total": ("counter", "HTTP requests answered, by route and status code."),
    "kb_request_duration_seconds": ("histogram", "Time to answer a request, by route."),
    "kb_answers_total": ("counter", "Questions answered through the API, by whether the answer abstained."),
    "kb_rate_limited_total": ("counter", "Requests refused with 429 because a token went over its rate."),
    "kb_auth_failures_total": ("counter", "Requests refused for a missing, unknown or revoked token."),
    "kb_process_resident_memory_bytes": ("gauge", "Resident memory of the worker processes, summed."),
    "kb_workers": ("gauge", "Worker processes reporting."),
}
_Key = tuple[str, tuple[tuple[str, str], ...]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Metrics:
    """Counters and request-time histograms of one worker, with the cross-worker summary."""

    def __init__(self, run_dir: Path):
        self._dir = run_dir
        self._path = run_dir / f"metrics-{os.getpid()}.json"
        self._lock = threading.Lock()
        self._values: dict[_Key, float] = defaultdict(float)
        self._written = 0.0

    def add(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] += value

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        with self._lock:
            self._values[("kb_requests_total", (("route", route), ("status", str(status))))] += 1
            labels = (("route", route),)
            for bound in BUCKETS:
                if seconds <= bound:
                    self._values[("kb_request_duration_seconds_bucket", labels + (("le", str(bound)),))] += 1
            self._values[("kb_request_duration_seconds_bucket", labels + (("le", "+Inf"),))] += 1
            self._values[("kb_request_duration_seconds_sum", labels)] += seconds
            self._values[("kb_request_duration_seconds_count", labels)] += 1
        if time.monotonic() - self._written > 0.5:
            self.flush()

    def flush(self) -> None:
        """Write this worker's snapshot for the others to read."""
        with self._lock:
            rows = [[name, list(map(list, labels)), value] for (name, labels), value in self._values.items()]
            self._written = time.monotonic()
        rows.append(["kb_process_resident_memory_bytes", [], _rss_bytes()])
        rows.append(["kb_workers", [], 1])
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows), encoding="utf-8")
        tmp.replace(self._path)

    def render(self) -> str:
        """The Prometheus text exposition of every live worker's snapshot, summed."""
        self.flush()
        totals: dict[_Key, float] = defaultdict(float)
        for path in self._dir.glob("metrics-*.json"):
            try:
                pid = int(path.stem.split("-", 1)[1])
                rows = json.loads(path.read_text(encoding="utf-8")) if _alive(pid) else None
            except (ValueError, OSError):
                continue
            if rows is None:
                path.unlink(missing_ok=True)  # a worker that is gone
                continue
            for name, labels, value in rows:
                totals[(name, tuple(tuple(x) for x in labels))] += value
        return _exposition(totals)


def _order(item: tuple[_Key, float]) -> tuple[str, tuple[tuple[str, str], ...], float]:
    (name, labels), _ = item
    le = dict(labels).get("le")
    return name, tuple(x for x in labels if x[0] != "le"), float(le) if le else 0.0


def _exposition(totals: dict[_Key, float]) -> str:
    lines: list[str] = []
    for family, (kind, text) in _HELP.items():
        lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
        for (name, labels), value in sorted(totals.items(), key=_order):
            if name == family or (kind == "histogram" and name.rsplit("_", 1)[0] == family):
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                number = int(value) if float(value).is_integer() else round(value, 6)
                lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")
    return "\n".join(lines) + "\n"
