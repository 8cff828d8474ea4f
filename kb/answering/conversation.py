"""Follow-up questions rewritten into standalone ones, deterministically.

"What about small rural districts?" after a ransomware question must still find
ransomware material, so a follow-up borrows the previous standalone question's
subject. The LLM composer may do better; this rule is the offline default.

What a follow-up borrows is the question the earlier turn asked, not the scene it set:
after "Our board wants to cut the cybersecurity budget. What should we protect first
against ransomware?", "How much of that can E-Rate pay for?" asks about protecting
against ransomware, and the board's wish to cut spending would pull the board-spending
brief. Of the scene it keeps only the words that name the asked question's own topic (the
keywords of the challenge areas that question is in: "cybersecurity" here, not "board" or
"budget", which are budgets words); when the asked question names no area ("what should we
do first?") or the scene asks a question itself, the scene holds the topic and stays whole.
"""

from __future__ import annotations

import re

from kb.answering.gate_signals import asking_sentence
from kb.core.areas import classify, load_areas
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
        previous = _carried(turn) if not previous or not is_follow_up(turn) else f"{previous.split('?')[0]}? {turn}"
    return f"{previous} {question}" if previous else question


def _carried(turn: str) -> str:
    """What a follow-up borrows of an earlier standalone turn: the question it asked, with the words of its scene
    that name that question's challenge areas ("cybersecurity" of "Our board wants to cut the cybersecurity
    budget."); the whole turn when the question names no area or the scene asks a question itself."""
    asking, scene = asking_sentence(turn)
    areas = set(classify(asking))
    if not scene or "?" in scene or not areas:
        return turn
    topic = [word for area in load_areas() if area.id in areas for word in area.pattern.findall(scene.lower())]
    kept = list(dict.fromkeys(topic))  # once each, in the areas' order
    return f"{' '.join(kept).capitalize()}. {asking}" if kept else asking
