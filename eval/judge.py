"""LLM-judged faithfulness (RAGAS-style), optional: only when an LLM is configured.

For every sentence of an answer, the configured chat model is shown the passage(s) the
sentence cites and asked whether they support it (YES or NO). An answer's faithfulness
is the share of its sentences judged supported. Replies that are neither YES nor NO are
counted as unjudged, not as failures, and reported.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from kb.core.answer import Answer
from kb.core.prompts import render
from kb.core.settings import Settings

__all__ = ["Judge", "Verdicts", "parse_verdict"]

logger = logging.getLogger(__name__)
_VERDICT = re.compile(r"^\W*(yes|no)\b", re.I)


def parse_verdict(reply: str) -> bool | None:
    """True for a reply starting with YES, False for NO, None for anything else."""
    match = _VERDICT.match(reply or "")
    return None if match is None else match.group(1).lower() == "yes"


@dataclass
class Verdicts:
    supported: int = 0
    unsupported: int = 0
    unjudged: int = 0

    @property
    def faithfulness(self) -> float | None:
        judged = self.supported + self.unsupported
        return self.supported / judged if judged else None


class Judge:
    """Asks the configured chat model whether each cited passage supports its sentence."""

    def __init__(self, settings: Settings, model: Any = None):
        if settings.llm_backend == "none" and model is None:
            raise ValueError("faithfulness judging needs an LLM: set CTO_LLM_BACKEND (ollama or openai), "
                             "CTO_LLM_BASE_URL and CTO_LLM_MODEL, or run without --judge")
        if model is None:
            from kb.answering.llm.composer import build_chat_model

            model = build_chat_model(settings)
        self.model = model

    def judge(self, answer: Answer) -> Verdicts:
        """Verdicts on every cited sentence of one answer (none for an abstention)."""
        from langchain_core.messages import HumanMessage

        verdicts = Verdicts()
        for claim in answer.claims:
            passages = [c.snippet for n in claim.sources if (c := answer.cited(n)) is not None]
            if not passages:
                verdicts.unsupported += 1  # a sentence without a source cannot be faithful to one
                continue
            prompt = render("judge_claim", passage="\n\n".join(passages), statement=claim.text)
            try:
                verdict = parse_verdict(str(self.model.invoke([HumanMessage(prompt)]).text))
            except Exception as exc:  # a failing judge leaves the sentence unjudged; the run goes on
                logger.warning("judge call failed: %s", exc)
                verdict = None
            if verdict is None:
                verdicts.unjudged += 1
            elif verdict:
                verdicts.supported += 1
            else:
                verdicts.unsupported += 1
        return verdicts
