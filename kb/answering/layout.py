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
            if step and not _runs_on(claim, previous):
                step = 0  # another passage's steps are another list (unless it runs on from the chunk before)
            previous = claim.sources
            step = claim.number or step + 1  # the source's own number: quoting items 7 and 9 never renumbers them 1, 2
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
    first = (lead[0].number or 1) if numbered else 0
    if numbered:
        head = f"{first}. {head}"
    if head and lead_group and any(p.group and p.group != lead_group for p in points):
        head = f"{lead_group}:{chr(10) if numbered else ' '}{head}"  # label the lead too when other groups follow
    body = "\n".join(_lines(points, mark, lead_group, step=first,
                             previous=lead[0].sources if numbered else None)).strip("\n")
    runs_on = numbered and bool(points) and _same_list(lead[0], points[0], lead_group)
    return ("\n" if runs_on else "\n\n").join(part for part in (head, body) if part)


def _runs_on(step: Claim, previous: list[int] | None) -> bool:
    """True when a step goes on with the list of the step before it (from ``previous``): the same passage, or
    the chunk it continues."""
    return step.sources == previous or step.continued


def _same_list(step: Claim, after: Claim, group: str) -> bool:
    """True when ``after`` is the next step of the list ``step`` leads: laid out right under it."""
    return after.kind == "step" and (not after.group or after.group == group) and _runs_on(after, step.sources)
