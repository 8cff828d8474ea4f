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
from typing import Any

__all__ = ["probe", "main"]


def _timed(fn: Any, items: list[str]) -> list[float]:
    out: list[float] = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def probe(overrides: dict[str, Any], questions: list[str], asks: int) -> dict[str, Any]:
    """Open the knowledge base named by the settings overrides and measure it.

    Returns:
        open and keyword-index seconds, the first (cold) query, per-question retrieval
        and answer latencies in seconds, and the process's peak RSS in MB.
    """
    from kb.assistant import Assistant
    from kb.knowledge import KnowledgeBase
    from kb.retrieval import Retriever
    from kb.settings import Settings

    settings = Settings().with_overrides(**overrides)
    started = time.perf_counter()
    kb = KnowledgeBase(settings)
    kb.refresh(force=True)  # manifest read, keyword index loaded or built
    open_s = time.perf_counter() - started
    kb.embedder.embed_batch(["warm up the encoder"])
    retriever = Retriever(kb, settings)
    cold = _timed(retriever.retrieve, questions[:1])[0]
    retrieve = _timed(retriever.retrieve, questions)
    assistant = Assistant(settings, kb=kb)
    assistant.ask(questions[0])  # the composer's first use
    ask = _timed(assistant.ask, questions[:asks]) if asks else []
    return {"chunks": kb.store.count(), "docs": len(kb.done_docs()), "open_s": open_s, "cold_query_s": cold,
            "retrieve_s": retrieve, "ask_s": ask, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    args = json.loads(sys.argv[1])
    print(json.dumps(probe(args["settings"], args["questions"], args["asks"])))


if __name__ == "__main__":
    main()
