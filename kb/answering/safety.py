"""Retrieved text is data: spot sentences that try to instruct the assistant."""

from __future__ import annotations

import re

__all__ = ["looks_like_injection"]

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.]{0,40}\b(instruction|instructions|prompt|rules|guidelines|directions)\b"
    r"|\b(system prompt|developer message|jailbreak)\b"
    r"|\byou are (now )?(an? )?(ai|assistant|chatbot|language model|llm)\b"
    r"|\b(as an ai|new instructions|do anything now)\b"
    r"|\b(respond|answer|reply) (only )?with\b[^.]{0,40}\b(regardless|no matter)\b"
    r"|\b(assistant|chatbot|ai|model)s?,? (must|should|will) (always|now|instead)\b",
    re.I,
)


def looks_like_injection(text: str) -> bool:
    """True when a sentence reads as an instruction aimed at an AI system rather than content."""
    return bool(_INJECTION.search(text))
