"""What goes to an LLM and what comes back: passages as numbered data, replies as checked claims.

The LLM composer sends the passages as a numbered, delimited list with the sentences that
read as instructions removed (retrieved text is data, never a command). The reply is
split into sentences; each sentence's ``[n]`` markers become a Claim's sources, and each
claim is checked against the passages it cites: enough of its content words must occur
there (or, failing that, one cited sentence must mean nearly the same), and every number
it states must appear there. Nothing here talks to a network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kb.answering.retrieval import Passage
from kb.answering.safety import looks_like_injection
from kb.core.answer import Claim
from kb.core.text import paragraphs, split_sentences
from kb.embed import Embedder
from kb.index.keyword import tokenize

__all__ = ["SentPassage", "Reply", "prepare_passages", "format_passages", "parse_reply", "check_claims",
           "NOT_COVERED", "MIN_COVERAGE", "MIN_SIMILARITY"]

NOT_COVERED = "NOT COVERED"  # the whole reply when the passages do not answer (prompts/llm_system.md)
MIN_COVERAGE = 0.6  # share of a claim's content stems that must occur in its cited passages
MIN_SIMILARITY = 0.75  # or: cosine to the closest cited sentence (MiniLM paraphrase range)
MAX_PASSAGE_CHARS = 2400
_MARKER = re.compile(r"\[\s*(?:passage|source|doc(?:ument)?)?\s*(\d+(?:\s*(?:[,;]|-|\u2013)\s*\d+)*)\s*\]", re.I)
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[^\]\n]{1,30}\])+)")
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")
_SOURCES_HEADING = re.compile(r"^\s*(?:#+\s*)?(?:\*\*)?(?:sources|references|citations)\b[^\n]*$", re.I | re.M)
_GAP = re.compile(r"^\s*(?:\*\*)?not covered(?:\*\*)?\s*:\s*", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LABEL_NUMBER = re.compile(r"^\[\d+\]\s*")


@dataclass
class SentPassage:
    """A passage as the LLM sees it: its 1-based number, citation label and injection-free text."""

    n: int
    label: str
    text: str


@dataclass
class Reply:
    """A parsed LLM reply: claims in order (lead first), plus what was set aside."""

    lead: list[Claim] = field(default_factory=list)
    points: list[Claim] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # "Not covered: ..." lines
    dropped: int = 0  # sentences that cited no valid passage
    not_covered: bool = False

    @property
    def claims(self) -> list[Claim]:
        return self.lead + self.points


def _label(n: int, passage: Passage) -> str:
    chunk = passage.chunk
    parts = [f"[{n}] {chunk.title}"]
    if chunk.page:
        parts.append(f"p. {chunk.page}")
    if chunk.section:
        parts.append(f"section {chunk.section}")
    label = ", ".join(parts)
    return f"{label} ({chunk.date[:10]})" if chunk.date else label


def _clean_passage(text: str) -> str:
    """Injection-free, one-line passage text whose own bracketed numbers cannot pass for citations."""
    kept = [s for s in split_sentences(text) if not looks_like_injection(s)]
    flat = re.sub(r"\s+", " ", " ".join(kept)).strip()
    flat = re.sub(r"\[(\d+)\]", r"(\1)", flat)
    flat = re.sub(r"</?\s*passages?\s*>", " ", flat, flags=re.I)  # the delimiter stays ours
    return flat[:MAX_PASSAGE_CHARS]


def prepare_passages(passages: Sequence[Passage]) -> list[SentPassage]:
    """Number the passages from 1 and strip every sentence that reads as an instruction."""
    return [SentPassage(n, _label(n, p), _clean_passage(p.chunk.text)) for n, p in enumerate(passages, start=1)]


def format_passages(sent: Sequence[SentPassage]) -> str:
    """The passages as the prompt's data block: one ``[n] title, page: text`` line each."""
    return "\n".join(f"{p.label}: {p.text or '(no usable text)'}" for p in sent)


def _numbers(marker_body: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body):
        bounds = [int(x) for x in re.split(r"\s*(?:-|\u2013)\s*", part) if x]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 10:
            out.extend(range(bounds[0], bounds[1] + 1))
        else:
            out.extend(bounds)
    return out


def _claim(sentence: str, count: int) -> tuple[Claim, bool]:
    """A Claim from one sentence: markers out, valid 0-based sources in; flag if it had any marker."""
    numbers = [n for m in _MARKER.finditer(sentence) for n in _numbers(m.group(1))]
    sources: list[int] = []
    for n in numbers:
        if 1 <= n <= count and n - 1 not in sources:
            sources.append(n - 1)
    text = _MARKER.sub("", sentence)
    text = re.sub(r"\*\*|__|^#+\s*", "", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    return Claim(text, sources), bool(numbers)


def _sentences(reply: str) -> list[tuple[str, int, bool]]:
    """(sentence, paragraph index, from a list item) for each sentence of the reply."""
    out: list[tuple[str, int, bool]] = []
    for p_index, para in enumerate(paragraphs(reply)):
        for line in para.split("\n"):
            is_item = bool(_LIST_MARK.match(line))
            for sentence in split_sentences(_LIST_MARK.sub("", line)):
                out.append((sentence, p_index, is_item))
    return out


def parse_reply(reply: str, count: int) -> Reply:
    """Turn the LLM's text into claims with 0-based sources; markers outside 1..count are dropped.

    Args:
        reply: the model's whole answer text.
        count: how many passages were sent (valid markers are 1..count).
    """
    text = reply.strip()
    if text.strip(" .*").upper() == NOT_COVERED:
        return Reply(not_covered=True)
    heading = _SOURCES_HEADING.search(text)
    if heading and heading.start() > 0:
        text = text[: heading.start()]  # a source list of its own: ours is built from the citations
    text = _MARKERS_AFTER_STOP.sub(r"\2\1", text)  # "done. [1] Next" -> "done [1]. Next"
    result = Reply()
    for sentence, p_index, is_item in _sentences(text):
        if _GAP.match(sentence):
            result.gaps.append(_GAP.sub("", sentence).strip())
            continue
        claim, had_marker = _claim(sentence, count)
        if not claim.sources:
            if had_marker or not claim.text.endswith(":"):
                result.dropped += 1  # uncited or cites nothing we sent: not shown
            continue
        in_lead = p_index == 0 and not is_item and len(result.lead) < 2 and not result.points
        (result.lead if in_lead else result.points).append(claim)
    if not result.lead and result.points:
        result.lead.append(result.points.pop(0))
    return result


def _numbers_in(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def _coverage(claim: str, source: str) -> float:
    stems = set(tokenize(claim)) - {n for n in _numbers_in(claim)}
    if not stems:
        return 0.0
    return len(stems & set(tokenize(source))) / len(stems)


def _similarity(claim: str, source_sentences: list[str], embedder: Embedder) -> float:
    if not source_sentences:
        return 0.0
    vectors = embedder.embed_batch([claim, *source_sentences])
    return float((vectors[1:] @ vectors[0]).max())


def check_claims(claims: Sequence[Claim], sent: Sequence[SentPassage], embedder: Embedder | None = None) -> None:
    """Mark each claim ``supported`` or not against the text of the passages it cites.

    Supported means: every number the claim states occurs in the cited passages, and either
    at least MIN_COVERAGE of its content stems occur there or (with an embedder) one cited
    sentence has cosine similarity of at least MIN_SIMILARITY to it.
    """
    for claim in claims:
        cited = [sent[i] for i in claim.sources if 0 <= i < len(sent)]
        source = " ".join(f"{_LABEL_NUMBER.sub('', p.label)} {p.text}" for p in cited)
        if not cited or not _numbers_in(claim.text) <= _numbers_in(source):
            claim.supported = False
            continue
        if _coverage(claim.text, source) >= MIN_COVERAGE:
            claim.supported = True
            continue
        sentences = [s for p in cited for s in split_sentences(p.text)]
        claim.supported = embedder is not None and _similarity(claim.text, sentences, embedder) >= MIN_SIMILARITY
