"""A reader process for the concurrency test: asks questions until told to stop, then reports.

Run as ``python -m tests.concurrent_reader PLAN.json`` with the CTO_* settings in the
environment. The plan names the questions, the stop file to wait for, a hard time limit
and where to write the report. After the stop file appears it asks every "final"
question once more and records which documents the answers cited.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _ask_all(assistant: Any, questions: list[str]) -> list[list[str]]:
    return [[c.doc_id for c in assistant.ask(q).citations] for q in questions]


def main(plan_path: str) -> int:
    from kb.answering.assistant import Assistant
    from kb.core.settings import Settings

    plan = json.loads(Path(plan_path).read_text())
    assistant = Assistant(Settings())
    stop, deadline = Path(plan["stop_file"]), time.monotonic() + float(plan["max_seconds"])
    asked, errors = 0, []
    while not stop.exists() and time.monotonic() < deadline:
        question = plan["questions"][asked % len(plan["questions"])]
        try:
            assistant.ask(question)
        except Exception:  # the report carries every failure back to the test
            errors.append(traceback.format_exc())
        asked += 1
    time.sleep(1.2)  # past the knowledge base's one-second manifest refresh
    final = _ask_all(assistant, plan["final_questions"])
    Path(plan["report"]).write_text(json.dumps({"asked": asked, "errors": errors, "final": final,
                                                 "stopped": stop.exists()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
