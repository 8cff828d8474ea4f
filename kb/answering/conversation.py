"""Follow-up questions rewritten into standalone ones, deterministically.

"What about small rural districts?" after a ransomware question must still find
ransomware material, so a follow-up borrows the previous standalone question's
subject. The LLM composer may do better; this rule is the offline default.
"""

from __future__ import annotations

import re

from kb.core.text import content_words

__all__ = ["standalone_question", "is_follow_up"]

_OPENERS = re.compile(r"^\s*(and|also|but|so|then|what about|how about|what if|and what|and how|same for|ok(ay)?|what else|why|how so|tell me more|more on|any)\b", re.I)
_ANAPHORA = re.compile(r"\b(it|its|they|them|their|this|that|these|those|there|he|she|the same|such|one|ones|above|former|latter)\b", re.I)


def is_follow_up(question: str) -> bool:
    """True when the question leans on an earlier turn (opener, pronoun, or very few content words)."""
    words = content_words(question)
    if _OPENERS.match(question):
        return True
    if len(words) <= 2:
        return True
    return bool(_ANAPHORA.search(question)) and len(words) <= 5


def standalone_question(question: str, history: list[str] | None) -> str:
    """Return the question, prefixed with the subject of the previous turn when it is a follow-up."""
    question = question.strip()
    if not history or not is_follow_up(question):
        return question
    previous = ""
    for turn in history[-3:]:  # resolve the chain of earlier turns the same way
        turn = turn.strip()
        previous = turn if not previous or not is_follow_up(turn) else f"{previous.split('?')[0]}? {turn}"
    return f"{previous} {question}" if previous else question
