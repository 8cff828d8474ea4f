"""Laying a draft out as the answer text the user reads.

The lead comes first as a paragraph; key points follow as bullets, steps as a numbered list
under their lead-in, and points from several sources or question parts under short labels.
The composer lays out its own draft with placeholder citation numbers to keep the answer
within its length budget; the assistant lays it out again with the real numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kb.core.answer import Claim, Draft

__all__ = ["render", "LABEL_CHARS"]

LABEL_CHARS = 56


def _lines(points: Sequence[Claim], mark: Callable[[Claim], str], lead_group: str, step: int = 0,
           previous: list[int] | None = None) -> list[str]:
    lines: list[str] = []
    group = lead_group
    for claim in points:
        if claim.group and claim.group != group:
            group = claim.group
            step = 0  # each source's steps are numbered from 1
            lines.append(f"\n{claim.group}:")
        if claim.kind == "step":
            if step and claim.sources != previous and not claim.continued:
                step = 0  # another passage's steps are another list (unless it runs on from the chunk before)
            previous = claim.sources
            step += 1
            lines.append(f"{step}. {mark(claim)}")
            continue
        step = 0
        lines.append(mark(claim) if claim.kind == "lead-in" else f"- {mark(claim)}")
    return lines


def render(draft: Draft, mark: Callable[[Claim], str]) -> str:
    """The answer text of a draft; ``mark(claim)`` gives a claim's text with its citation markers."""
    lead = [c for c in draft.lead if c.sources]
    points = [c for c in draft.points if c.sources]
    lead_group = lead[0].group if lead else ""
    head = " ".join(mark(c) for c in lead)
    numbered = len(lead) == 1 and lead[0].kind == "step"  # a list leads: its first step opens it, numbered
    if numbered:
        head = f"1. {head}"
    if head and lead_group and any(p.group and p.group != lead_group for p in points):
        head = f"{lead_group}:{chr(10) if numbered else ' '}{head}"  # label the lead too when other groups follow
    body = "\n".join(_lines(points, mark, lead_group, step=1 if numbered else 0,
                             previous=lead[0].sources if numbered else None)).strip("\n")
    return ("\n" if numbered and body.startswith("2.") else "\n\n").join(part for part in (head, body) if part)
