"""From chosen sentences to a laid-out draft: claims, blocks, the lead by question shape, groups.

The composer chooses seed sentences; every seed brings the sentences it needs
(:func:`kb.answering.sentences.closure`). Here the chosen sentences of each passage become
claims in source order (consecutive sentences read as one claim, each list item its own),
claims become blocks (a lead-in with its items, or one claim), and the lead is the block
that answers the question in its shape: the best sentence for it, or for a comparison the
best sentence for each side. Points from several sources are grouped under short labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.answering.context import continues
from kb.answering.layout import LABEL_CHARS, render
from kb.answering.readability import leans_back, violating, weak_opening
from kb.answering.sentences import Sentence, closure, siblings
from kb.answering.shapes import QuestionShape, Shape
from kb.core.answer import Claim, Draft
from kb.core.text import STOPWORDS

if TYPE_CHECKING:
    from kb.answering.retrieval import Passage
    from kb.answering.sentences import Candidate


__all__ = ["Plan", "plan_draft", "short_label", "mentions", "side_lead", "side_sentence", "keep_readable", "lead_score"]

_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "i": "1", "ii": "2"}


@dataclass
class Plan:
    """What the layout needs to know about the passages and the question."""

    passages: Sequence[Passage]
    structures: Sequence[list[Sentence]]
    shape: QuestionShape
    max_chars: int
    question: str = ""  # as asked: an opening may be a question only when the user asks what to ask

    def fits(self, draft: Draft) -> bool:
        """True when the draft laid out with citation markers stays within the length budget."""
        text = render(draft, lambda c: c.text + "".join(f" [{s + 1}]" for s in c.sources))
        return len(text) <= self.max_chars


_PHRASE_STARTS = frozenset({"for", "in", "of", "on", "to", "with", "from", "across", "at", "by", "about", "under"})


def short_label(title: str, section: str | None = None) -> str:
    """A short label for a source: its title up to the first colon, comma or dash, cut at a word."""
    label = re.split(r"[:,;](?=\s)|\(| - | \u2013 ", title, maxsplit=1)[0]  # not inside "1:1" or "3,000"
    label = re.sub(r"\s+", " ", label).strip(" :-")
    if len(label) > LABEL_CHARS:
        words = label[:LABEL_CHARS + 1].split()[:-1]  # whole words only
        # end before the last phrase that would be cut ("... and response | for school districts"), not inside it
        starts = [i for i, w in enumerate(words) if i >= 3 and w.lower() in _PHRASE_STARTS]
        label = " ".join(words[:starts[-1]] if starts else words).rstrip(",;:-")
    words = label.split()
    while len(words) > 1 and words[-1].lower() in STOPWORDS:
        words.pop()  # "Making the case to the board for" ends on a word, not on "for"
    return " ".join(words)


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [_NUMBER_WORDS.get(w, w) for w in words if w not in STOPWORDS or w in _NUMBER_WORDS]


def mentions(side: str, text: str) -> bool:
    """True when every word of ``side`` occurs in ``text`` (as a word start; "cat 1" matches "Category One")."""
    wanted = _words(side)
    have = _words(text)
    return bool(wanted) and all(any(h == w or (len(w) >= 3 and h.startswith(w)) for h in have) for w in wanted)


# "X covers / is / means ...": the verbs of a sentence that says what its subject is; the others only say something of it
_DEFINING = re.compile(r"\b(?:is|are|covers?|includes?|means|refers? to|consists? of|comprises?|describes?|defines?|"
                       r"stands? for|funds?|pays? for)\b", re.I)
_STATING = re.compile(r"\b(?:was|were|has|have|had|applies|lets|allows?|gives?|provides?|handles?|sets?|measures?|"
                      r"focus(?:es)?|protects?|requires?|asks?|can|may|must|should|will|does|do)\b", re.I)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)
_PARENTHESIS = re.compile(r"\(([^()]{1,60})\)")


def side_lead(side: str, sentence: str) -> int:
    """How squarely a sentence states one side of a comparison: 2 when the side is its subject and the verb says
    what it is ("Category Two covers ..." for "Cat 2", "Recovery time objective (RTO) is ..." for "RTO"), 1 when the
    side is its subject with another verb ("Category One has no five-year budget"), else 0 ("Category Two
    discounts are capped ...": the subject is the discounts)."""
    head = sentence[:160]
    verbs = [m for m in (_DEFINING.search(head), _STATING.search(head)) if m is not None]
    if not verbs:
        return 0
    verb = min(verbs, key=lambda m: m.start())
    subject = _ARTICLE.sub("", head[:verb.start()].strip(" *_,:"))
    if not subject or len(subject.split()) > 10:
        return 0
    inner = " ".join(_PARENTHESIS.findall(subject))
    core = _PARENTHESIS.sub(" ", subject)
    named = bool(_words(core)) and (mentions(side, core) and len(_words(core)) <= len(_words(side))  # "Category Two"
                                    or mentions(core, side)  # "Category One" for the side "E-Rate Category 1",
                                    and 2 * len(_words(core)) >= len(_words(side)))  # not "CEDS" for "CEDS Normalized Data"
    is_side = named or (bool(inner) and mentions(inner, side))  # "Recovery time objective (RTO)" for "RTO"
    return 0 if not is_side else 2 if _DEFINING.fullmatch(verb.group(0)) else 1


def side_sentence(side: str, candidates: Sequence[Candidate], *, strict: bool = True,
                  taken: Sequence[Candidate] = ()) -> Candidate | None:
    """The candidate that best states one side of a comparison: the side as its subject (a defining verb
    first, see :func:`side_lead`), then the better opening (:func:`lead_score`); without ``strict``, a
    sentence that only mentions the side when none states it."""
    pool = [c for c in candidates if not any(c is t for t in taken)]
    stating = [(side_lead(side, c.text), lead_score(c), c) for c in pool]
    stating = [x for x in stating if x[0] > 0]
    if stating:
        return max(stating, key=lambda x: (x[0], x[1]))[2]
    if strict:
        return None
    return max((c for c in pool if mentions(side, c.text)), key=lead_score, default=None)


def _claims(plan: Plan, p: int, positions: list[int]) -> list[list[Claim]]:
    """The chosen sentences of one passage as blocks of claims, in source order."""
    sentences = plan.structures[p]
    chunk = plan.passages[p].chunk
    label = short_label(chunk.title)
    has_steps = any(sentences[q].item == q and sentences[q].numbered for q in positions)
    if has_steps and chunk.section and any(other.chunk.doc_id == chunk.doc_id and other.chunk.section != chunk.section
                                           for other in plan.passages):
        # two lists of one document ("Before an attack", "During an attack") each name their section; the whole
        # passage carries it, so a list's lead-in and its steps stay under one label
        label = f"{label} · {short_label(chunk.section.split(' > ')[-1])}"
    heading = next((sentences[q].heading for q in positions if sentences[q].heading), None)
    if heading:  # a PDF's section heading, cut off the sentence it ran into: nearer the sentence than a bookmark's
        label = f"{short_label(chunk.title)} · {short_label(heading)}"
    chosen = set(positions)
    lead_ins = {sentences[q].lead_in for q in positions if sentences[q].lead_in is not None}
    blocks: list[list[Claim]] = []
    prev = -2
    for pos in positions:
        s = sentences[pos]
        head = s.item == pos
        family = siblings(sentences, pos) if prev >= 0 else None
        in_list = s.item is not None and (s.lead_in in chosen or (blocks and prev == pos - 1)
                                          or (family is not None and family == siblings(sentences, prev)))
        if head or pos != prev + 1 or pos in lead_ins or (blocks and blocks[-1][-1].kind == "lead-in"):
            kind = "lead-in" if pos in lead_ins else ("step" if head and s.numbered else "point")
            claim = Claim(s.text, [p], kind=kind, group=label, number=s.number if kind == "step" else None)
            leans = pos == prev + 1 and pos - 1 in s.needs  # "These include:" stays after what it refers to
            if (in_list or leans) and blocks:
                blocks[-1].append(claim)
            else:
                blocks.append([claim])
        else:
            blocks[-1][-1].text += " " + s.text
        prev = pos
    return blocks


def lead_score(c: Candidate) -> float:
    """How well a sentence would open the answer: its own meaning, shared terms and shape fit, and the question
    terms its document's title and section use (``HEADING_LEAD``); not its passage's retrieval score.

    Meaning and terms are judged against the question's subject when the composer set them (a question
    with a preamble about the district: see ``ExtractiveComposer``), else against the whole question.
    """
    similarity = c.similarity if c.lead_similarity is None else c.lead_similarity
    overlap = c.overlap if c.lead_overlap is None else c.lead_overlap
    return 0.6 * similarity + 0.4 * overlap + 0.3 * c.fit + HEADING_LEAD * c.heading_overlap - c.penalty


# The share of the question's terms that the sentence's document title and section use, as a part of the lead
# score: of two sentences in the question's words ("the four major phases ... life cycle"), the one from
# NIST SP 800-61's "Incident Response Life Cycle" section opens "What are the four phases of the incident
# response life cycle?", not SP 800-50's training-program phases. Measured (gold runs, docs/evaluation-guide.md):
# openings holding a key fact k12docs 0.454 -> 0.470, library 0.406 -> 0.427; at 0.3, 0.464 and 0.436 with
# fewer usable openings on k12docs.
HEADING_LEAD = 0.15


# An opening that cannot answer gives way to a usable one this close in lead score. Measured on both gold sets
# with no limit: the usable openings found within 0.06 read as answers ("Coinsurance clauses for ransomware make
# the district pay ...", gap 0.027; "ESSA defines "evidence-based" ... with four levels", 0.057); past 0.09 they
# are mostly off the question ("CISA's Cyber Security Evaluation Tool ..." for a firewall's throughput, 0.129).
LEAD_MARGIN = 0.06


def _ordered_list(plan: Plan, c: Candidate) -> bool:
    """True when the candidate is an entry of a numbered list or of a list under a lead-in (read in source order)."""
    s = plan.structures[c.passage][c.position]
    return s.numbered or s.lead_in is not None


def _lead_seeds(plan: Plan, seeds: Sequence[Candidate], *, checklists: bool = True) -> list[Candidate]:
    """The seed that answers the question in its shape; for a comparison, the best seed for each side.

    With ``checklists``, the best entry of an unordered list without a lead-in leads itself (see
    :func:`_checklist_first`); else every list leads from its first chosen entry.
    """
    ranked = sorted(seeds, key=lambda c: -lead_score(c))
    if (plan.shape.shape in (Shape.STEPS, Shape.PRIORITY) and ranked and ranked[0].item and ranked[0].siblings
            and (not checklists or _ordered_list(plan, ranked[0]))):
        entries = [c for c in seeds if c.item and c.siblings == ranked[0].siblings]
        if len(entries) >= 2:  # the best opening is a list entry: the list, from its first chosen entry, leads
            return [min(entries, key=lambda c: c.position)]
    if plan.shape.shape is Shape.COMPARE and len(plan.shape.sides) >= 2:
        out: list[Candidate] = []
        for side in plan.shape.sides:  # the sentence stating the side, else the best one mentioning it
            match = side_sentence(side, ranked, strict=False, taken=out)
            if match is not None:
                out.append(match)
        if out:
            return out
    return ranked[:1]


def _block_of(plan: Plan, blocks: Sequence[tuple[int, list[Claim]]], seed: Candidate) -> list[Claim] | None:
    """The block of claims that quotes the seed."""
    text = plan.structures[seed.passage][seed.position].text
    return next((b for p, b in blocks if p == seed.passage and any(text in c.text for c in b)), None)


_SEQUENCE = re.compile(r"^(?:step|phase|stage|tier|level)\s+(?:\d+|one|two|three|four|five)\b", re.I)


def _checklist_at(plan: Plan, block: list[Claim], seed: Candidate) -> int:
    """Where the seed's claim stands in a block that is an unordered list without a lead-in (a checklist), or 0.

    Entries of such a list stand alone and in any order, so the seed's entry may open the block;
    in any other block (steps, a list under its lead-in, a sentence with what it refers to) the
    block's order stays and 0 is returned.
    """
    s = plan.structures[seed.passage][seed.position]
    if s.item is None or s.numbered or s.lead_in is not None or len(block) < 2:
        return 0
    if any(c.kind != "point" or leans_back(c.text) or _SEQUENCE.match(c.text) for c in block):
        return 0  # steps, what leans on the entry before, or entries numbered in words ("Step 3 - Share ...")
    return next((i for i, c in enumerate(block) if s.text in c.text), 0)


def _checklist_first(plan: Plan, block: list[Claim], seed: Candidate) -> None:
    """The seed's entry of a checklist opens the block ("Local administrator passwords are unique per device."),
    not the list's first entry ("Guest, student, staff ... networks are separated.")."""
    at = _checklist_at(plan, block, seed)
    if at:
        block.insert(0, block.pop(at))


def _answering_lead(plan: Plan, seeds: Sequence[Candidate], blocks: Sequence[tuple[int, list[Claim]]],
                    lead: Candidate) -> Candidate:
    """The lead, or, when its block would open on a sentence that cannot answer (a bare lead-in, a numbered
    section line, a noun phrase without a verb, a question: ``readability.weak_opening``), the best seed
    within ``LEAD_MARGIN`` of the best lead score whose block opens on a usable sentence. A weak opening
    followed in its block by what it introduces (a lead-in's items, a list's other entries) stays: it reads as
    that list's lead-in, and moving the block behind others let the length budget cut its items (k12-004, and
    casual-lib-023's part, lost key facts that way). A question is replaced either way.

    Measured on both gold sets' answers: see docs/evaluation-guide.md ("usable_lead").
    """
    def opening(seed: Candidate) -> str | None:
        block = _block_of(plan, blocks, seed)
        return None if block is None else block[_checklist_at(plan, block, seed)].text

    block = _block_of(plan, blocks, lead)
    reason = None if block is None else weak_opening(block[_checklist_at(plan, block, lead)].text, plan.question)
    if reason is None or (reason != "question" and block is not None and len(block) > 1):
        return lead  # usable, or a lead-in (a section's, a list's first entry) with what it introduces after it
    floor = max(lead_score(c) for c in seeds) - LEAD_MARGIN
    for seed in sorted(seeds, key=lambda c: -lead_score(c)):
        if lead_score(seed) < floor:
            break
        text = opening(seed)
        if text is not None and weak_opening(text, plan.question) is None:
            return seed
    return lead


def _mark_continued(plan: Plan, before: tuple[int, list[Claim]] | None, p: int, block: list[Claim]) -> None:
    """Steps of a passage that go on with the list the chunk before it ended on number on from it."""
    if before is None or not block or block[0].kind != "step" or before[1][-1].kind != "step":
        return
    previous, chunk = plan.passages[before[0]].chunk, plan.passages[p].chunk
    if (previous.doc_id == chunk.doc_id and previous.index + 1 == chunk.index and before[1][-1].group == block[0].group
            and continues(previous, chunk)):
        block[0].continued = True


def plan_draft(plan: Plan, seeds: Sequence[Candidate], *, answering: bool = True) -> Draft:
    """The draft for the chosen seeds: the lead block(s) first, then the rest grouped by source, in source order.

    With ``answering``, the lead is the one that answers (:func:`_answering_lead`; a checklist's best entry
    first); without it, the plain lead (the best-scoring block, in its source order). The composer keeps the
    answering layout only when it quotes every sentence the plain one does (``ExtractiveComposer``).
    """
    positions: dict[int, set[int]] = {}
    for seed in seeds:
        positions.setdefault(seed.passage, set()).update(closure(plan.structures[seed.passage], seed.position))
    blocks: list[tuple[int, list[Claim]]] = []
    seen: set[str] = set()
    for p in sorted(positions):
        for block in _claims(plan, p, sorted(positions[p])):
            block = [c for c in block if c.text.lower() not in seen]
            seen.update(c.text.lower() for c in block)
            if block:
                _mark_continued(plan, blocks[-1] if blocks else None, p, block)
                blocks.append((p, block))
    leads = _lead_seeds(plan, seeds, checklists=answering)
    single = answering and len(leads) == 1  # a comparison's leads (one per side) stay as they are
    if single:
        leads = [_answering_lead(plan, seeds, blocks, leads[0])]
    return _layout(plan, blocks, leads, reorder=single)


def _layout(plan: Plan, blocks: Sequence[tuple[int, list[Claim]]], leads: Sequence[Candidate], *,
            reorder: bool) -> Draft:
    """The lead seeds' blocks first (a checklist's lead entry first, with ``reorder``), the others grouped."""
    blocks = [(p, list(b)) for p, b in blocks]  # copies: a reordered lead block leaves the other layout alone
    lead_blocks: list[list[Claim]] = []
    used: list[list[Claim]] = []  # the blocks the lead blocks are made of
    for seed in leads:
        found = _block_of(plan, blocks, seed)
        if found is not None and not any(found is b for b in used):
            if reorder:
                _checklist_first(plan, found, seed)
            chain = _run_over(blocks, found)
            used.extend(chain)
            lead_blocks.append([c for b in chain for c in b])
    lead: list[Claim] = []
    points: list[Claim] = []
    for block in lead_blocks:
        if points:  # an earlier side's block runs on ("Category One ..." with its other items): this one follows it whole
            points.extend(block)
        else:
            lead.append(block[0])
            points.extend(block[1:])
    groups: dict[str, list[Claim]] = {}
    for _, block in blocks:
        if any(block is b for b in used):
            continue
        groups.setdefault(block[0].group, []).extend(block)
    first_group = lead[0].group if lead else ""
    ordered = sorted(groups, key=lambda g: g != first_group)  # the lead's own source first
    for group in ordered:
        points.extend(groups[group])
    return Draft(lead=lead, points=points)


def _run_over(blocks: Sequence[tuple[int, list[Claim]]], block: list[Claim]) -> list[list[Claim]]:
    """The block with the blocks before it that its list runs on from (a list over a chunk boundary), in source order.

    The ransomware brief's "Before an attack" items 6-10 lead a priorities answer; items 1-5, read
    from the chunk before, come first, as in the source, not after them.
    """
    at = next(i for i, (_, b) in enumerate(blocks) if b is block)
    start = at
    while start > 0 and blocks[start][1][0].continued:
        start -= 1
    return [b for _, b in blocks[start:at + 1]]


def keep_readable(claims: Sequence[Claim], source_text: Callable[[int], str]) -> list[Claim]:
    """The claims (in reading order) without any that would not stand on its own where it is quoted.

    The last line of defence behind the closures: a claim the readability rules reject (an
    announcement whose items were cut, a "These..." whose antecedent was dropped as a repeat, an
    item whose lead-in is missing) is dropped, and the check repeats, since dropping a lead-in or
    an antecedent leaves what followed it unsupported. ``source_text(n)`` is the text of source n.
    """
    kept = list(claims)
    while kept:
        bad = {i for i, _ in violating([(c.text, [source_text(n) for n in c.sources]) for c in kept])}
        if not bad:
            break
        kept = [c for i, c in enumerate(kept) if i not in bad]
    return kept
