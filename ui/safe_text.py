"""Showing document text safely in Streamlit Markdown.

Document text is data, not markup: a passage must not be able to add links, images
(which a browser would fetch), HTML, LaTeX or Streamlit directives to the page. Every
ASCII punctuation character of document text is backslash-escaped (CommonMark allows
that for all of them), so it renders literally. HTML is never enabled.

Three entry points:
- ``escape_md``: any untrusted text, shown literally;
- ``answer_md``: an answer's text (document sentences in our own layout of a lead
  paragraph, ``- `` points and ``[n]`` markers), and canned texts from ``prompts/``,
  whose ``**bold**`` and ``code`` spans are kept;
- ``highlight_passage``: a cited passage with its supporting sentences highlighted.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from kb.core.text import content_words, paragraphs, split_sentences

__all__ = ["escape_md", "answer_md", "export_md", "highlight_passage", "normalise"]

_ALL_PUNCT = frozenset(string.punctuation)
_KEEP_IN_ANSWERS = frozenset("*`")  # emphasis and code spans cannot fetch or run anything
_BULLET = re.compile(r"^(\s*)[-*]\s+")
_STEP_NUMBER = re.compile(r"^(\d{1,3})([.)])(?=\s)")  # a step, shown with the source's number (escaped: never renumbered)
_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")


def _escape(text: str, keep: frozenset[str] = frozenset()) -> str:
    return "".join("\\" + ch if ch in _ALL_PUNCT and ch not in keep else ch for ch in text)


def escape_md(text: str) -> str:
    """Text rendered literally by ``st.markdown`` (every ASCII punctuation escaped)."""
    return _escape(text or "")


def answer_md(text: str) -> str:
    """An answer (or canned message) as safe Markdown: our bullets and bold kept, markers emphasised.

    Links, images, HTML, headings, tables, LaTeX and directives from the text are
    neutralised; ``[n]`` citation markers are shown in bold.
    """
    lines: list[str] = []
    for line in (text or "").split("\n"):
        bullet = _BULLET.match(line)
        prefix, rest = ("- ", line[bullet.end():]) if bullet else ("", line)
        escaped = _escape(rest, _KEEP_IN_ANSWERS)
        if _STEP_NUMBER.match(line) and lines and lines[-1]:
            lines[-1] += "  "  # a hard line break: each step on its own line, under its label or the step before
        lines.append(prefix + _MARKER.sub(r"**\\[\1\\]**", escaped))
    return "\n".join(lines)


def export_md(text: str) -> str:
    """An answer with its sources as lines of a Markdown file (the conversation export): each line stays a line
    in a Markdown viewer (a hard break ends it) and a step keeps the source's number ("7\\." is not renumbered).

    The text is otherwise kept as written: the file is read outside the app, where nothing on the page runs.
    """
    lines = (text or "").split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        line = _STEP_NUMBER.sub(r"\1\\\2", line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        out.append(f"{line}  " if line.strip() and following.strip() else line)
    return "\n".join(out)


def normalise(text: str) -> str:
    """Lower-case text with list marks and runs of whitespace and punctuation folded (for matching)."""
    text = _BULLET.sub("", text or "")
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _supports(sentence: str, targets: list[tuple[str, set[str]]]) -> bool:
    norm = normalise(sentence)
    if not norm:
        return False
    words = set(content_words(sentence))
    for target, target_words in targets:
        if norm == target or (len(norm) > 20 and (norm in target or target in norm)):
            return True
        # paraphrases (LLM composers): most of the sentence's content words are in the claim
        if words and target_words and len(words & target_words) / len(words) >= 0.75 and len(words) >= 4:
            return True
    return False


def highlight_passage(passage: str, supporting: Sequence[str]) -> str:
    """Safe Markdown of a passage, paragraph by paragraph, with supporting sentences highlighted.

    Args:
        passage: the cited chunk's text.
        supporting: the answer sentences that cite this passage.

    Returns:
        Markdown in which supporting sentences are bold on an orange background.
    """
    targets = [(normalise(s), set(content_words(s))) for s in supporting if normalise(s)]
    out = []
    for para in paragraphs(passage or ""):
        lines = []
        for line in para.split("\n"):
            pieces = []
            for sentence in split_sentences(line) or [line]:
                escaped = escape_md(sentence)
                pieces.append(f":orange-background[**{escaped}**]" if targets and _supports(sentence, targets) else escaped)
            lines.append(" ".join(pieces))
        out.append("  \n".join(lines))  # list items keep their own lines (hard breaks)
    return "\n\n".join(out)
