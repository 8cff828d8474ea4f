"""A fresh process that opens a benchmark knowledge base and times questions against it.

Run by ``python -m eval bench`` once per scale, so that each scale's peak memory (RSS)
and cold-open costs are those of a serving process that holds exactly that knowledge
base, not of the benchmark that built it. Input: one JSON argument; output: one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["probe", "main", "timed"]


def timed(fn: Any, items: list[Any]) -> list[float]:
    """Seconds each call of ``fn`` took, one call per item."""
    out: list[float] = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def _memory_mb() -> tuple[float, float]:
    """(peak, current) resident set size of this process in MB, from /proc/self/status.

    ``getrusage().ru_maxrss`` is not used: on Linux it keeps the parent's high-water mark
    across fork and exec, so a child started by a big process reports the parent's peak.
    """
    values: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                name, amount = line.split(":", 1)
                values[name] = float(amount.split()[0]) / 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return values.get("VmHWM", 0.0), values.get("VmRSS", 0.0)


def probe(overrides: dict[str, Any], questions: list[str], asks: int) -> dict[str, Any]:
    """Open the knowledge base named by the settings overrides and measure it.

    Returns:
        open and keyword-index seconds, the first (cold) query, per-question retrieval
        and answer latencies in seconds, and the process's peak RSS in MB.
    """
    from kb.answering.assistant import Assistant
    from kb.answering.retrieval import Retriever
    from kb.core.settings import Settings
    from kb.index.knowledge import KnowledgeBase

    settings = Settings().with_overrides(**overrides)
    started = time.perf_counter()
    kb = KnowledgeBase(settings)
    kb.refresh(force=True)  # manifest read, keyword index loaded or built
    open_s = time.perf_counter() - started
    kb.embedder.embed_batch(["warm up the encoder"])
    retriever = Retriever(kb, settings)
    cold = timed(retriever.retrieve, questions[:1])[0]
    timed(retriever.retrieve, questions)  # warm pass: the encoder's first run of each input shape is slow
    retrieve = timed(retriever.retrieve, questions)
    assistant = Assistant(settings, kb=kb)
    timed(assistant.ask, questions[:asks])  # warm pass for the composer
    stages: dict[str, list[float]] = {}

    def ask_one(question: str) -> None:
        for stage, seconds in (assistant.ask(question).timings or {}).items():
            stages.setdefault(stage, []).append(seconds)

    ask = timed(ask_one, questions[:asks]) if asks else []
    peak, current = _memory_mb()
    update = _one_document_added(kb)
    return {"update_s": update, "chunks": kb.store.count(), "docs": len(kb.done_docs()), "open_s": open_s, "cold_query_s": cold,
            "retrieve_s": retrieve, "ask_s": ask, "ask_stages_mean_s": {k: sum(v) / len(v) for k, v in stages.items()},
            "peak_rss_mb": peak, "rss_mb": current}


def _one_document_added(kb: Any) -> float:
    """Seconds until the knowledge base serves a newly added 3-chunk document (manifest + keyword index update)."""
    from dataclasses import replace

    from kb.core.documents import REV, DocRecord
    from kb.index.knowledge import DONE

    chunks, vectors = kb.store.get_chunks(kb.keyword.ids[:3], with_embeddings=True)
    added = [replace(c, id=f"bench-update-{n}", doc_id="bench-update", extra={**c.extra, REV: "bench-update"})
             for n, c in enumerate(chunks)]
    kb.store.add_chunks(added, vectors)
    kb.store.put_doc(DocRecord(doc_id="bench-update", source="/bench/update.md", source_type="markdown",
                               title="Update", content_hash="bench-update", status=DONE, chunk_count=len(added),
                               meta={REV: "bench-update"}))
    started = time.perf_counter()
    kb.refresh(force=True)
    seconds = time.perf_counter() - started
    assert "bench-update-0" in kb.keyword.ids  # the new document is searchable
    return seconds


def main() -> None:
    args = json.loads(sys.argv[1])
    print(json.dumps(probe(args["settings"], args["questions"], args["asks"])))


if __name__ == "__main__":
    main()
