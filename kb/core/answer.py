"""Answers are data: the result object every consumer (chat, CLI, JSON, eval) draws from."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Claim", "Draft", "Citation", "Answer"]


@dataclass
class Claim:
    """One sentence of an answer and the passages (0-based, in retrieval order) that support it."""

    text: str
    sources: list[int]
    supported: bool = True
    kind: str = "point"  # how it is laid out: "point" (a bullet), "step" (numbered), "lead-in" (introduces steps)
    group: str = ""  # short label of the source or part it belongs to, shown once above its group
    continued: bool = False  # a step numbered on from the step before it, of the chunk before (a list over a boundary)
    number: int | None = None  # a step's number in its source list ("7."): shown as the source numbers it


@dataclass
class Draft:
    """What a composer returns: a lead and key points, each a list of claims."""

    lead: list[Claim]
    points: list[Claim] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    composer: str = ""


@dataclass
class Citation:
    """A numbered source of an answer, with everything needed to show and check it."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    page: int | None
    section: str | None
    date: str | None
    snippet: str
    score: float
    content_hash: str = ""
    link: str | None = None
    supporting: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    authority: str | None = None
    place: str | None = None  # "slide 3", "sheet Budget, row 14": named instead of the page
    ocr: bool = False  # the passage was recognised from a scanned page

    @property
    def location(self) -> str:
        parts = []
        where = self.place or (f"p. {self.page}" if self.page else "")
        if where:
            parts.append(where + (" (OCR)" if self.ocr else ""))
        if self.section:
            parts.append(f"§ {self.section}")
        return ", ".join(parts)


@dataclass
class Answer:
    """The result of one question: the same object for the UI, the CLI and the eval scripts."""

    question: str
    standalone_question: str
    text: str
    citations: list[Citation]
    areas: list[str]
    abstained: bool
    claims: list[Claim] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    nearest_topics: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    composer: str = "extractive"
    evidence: float = 0.0
    id: str = ""
    retrieved: list[dict[str, Any]] = field(default_factory=list)  # every passage considered, best first
    gate: dict[str, float] = field(default_factory=dict)  # the abstention decision's signals (kb/answering/abstention.py)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """The answer back from ``to_dict`` (saved conversations); unknown keys are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in known}
        fields["citations"] = [Citation(**{k: v for k, v in c.items() if k in Citation.__dataclass_fields__})
                               for c in data.get("citations", [])]
        fields["claims"] = [Claim(**{k: v for k, v in c.items() if k in Claim.__dataclass_fields__})
                            for c in data.get("claims", [])]
        return cls(**fields)

    def cited(self, n: int) -> Citation | None:
        return next((c for c in self.citations if c.n == n), None)

    @staticmethod
    def markers(text: str) -> list[int]:
        return [int(m) for m in re.findall(r"\[(\d+)\]", text)]

    def to_markdown(self) -> str:
        """The answer and its numbered source list, for export and the terminal."""
        lines = [self.text]
        if self.citations:
            lines.append("\nSources:")
            for c in self.citations:
                where = f" ({c.location})" if c.location else ""
                date = f", {c.date}" if c.date else ""
                lines.append(f"[{c.n}] {c.title}{where}{date} - {c.link or c.source}")
        return "\n".join(lines)
