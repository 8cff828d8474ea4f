"""The shape of a question, and the features that make a sentence answer that shape.

A question's wording says what kind of answer it wants: "what is X" wants the defining
sentence, "how do we X" the steps in order, "what first" the prioritised items, "X vs Y"
both sides, "how much / when / who / how long" the sentence carrying the figure, date,
role or duration. :func:`question_shape` recognises the shape from the question's opening
words and cue phrases (patterns, not a list of known questions); :func:`shape_fit` scores
how well one sentence carries what that shape asks for. The composer adds that fit to a
sentence's relevance and lays the answer out by shape (numbered steps, both sides cited).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kb.core.text import STOPWORDS

__all__ = ["Shape", "QuestionShape", "question_shape", "shape_fit", "compare_sides", "carries_answer"]


class Shape(StrEnum):
    DEFINE = "define"
    STEPS = "steps"
    PRIORITY = "priority"
    COMPARE = "compare"
    AMOUNT = "amount"
    WHEN = "when"
    WHO = "who"
    DURATION = "duration"
    GENERAL = "general"


@dataclass(frozen=True)
class QuestionShape:
    """The recognised shape, and for a comparison the two sides being compared."""

    shape: Shape
    sides: tuple[str, ...] = ()


_I = re.I
# Order matters: the first matching rule wins (a "how much" is an amount, not steps).
_RULES: list[tuple[Shape, re.Pattern[str]]] = [
    (Shape.COMPARE, re.compile(r"\b(?:vs\.?|versus|compared? (?:to|with)|difference(?:s)? between|differ(?:s)? from|"
                               r"distinguish|contrast (?:with|to|between)|which is better|or the other)\b|"
                               r"\bhow (?:does|do|is|are) .{2,60}? differ\b|"
                               # "FERPA or COPPA: which one binds us?", "SPI or BEAR ... when does each make sense?"
                               r"^[^?:]{1,50}?\bor\b[^?:]{1,50}?(?::|\s[-\u2013\u2014]\s)|"
                               # "How do CEDS and Ed-Fi differ?", "How is a full backup different from ...",
                               # "Compare OneRoster with LTI", "Cat 1, Cat 2 and BEAR: what does each cover?"
                               r"\bhow (?:does|do|is|are|would|will) .{2,80}? (?:differ|compare|different|stack up)\b|"
                               r"^\s*(?:\w+\s+){0,3}?compar(?:e|ing)\s.{2,80}?\s(?:with|to|against|and)\s|"
                               r"^[^?:]{1,120}?\b(?:and|or)\b[^?:]{1,60}?(?::|\s[-\u2013\u2014]\s)[^?]*\b(?:each|both)\b|"
                               # "Should we pick SaaS, PaaS, or IaaS?": three short names or more, the last after "or"
                               r"(?:^|\s)(?:[^\s,?]+\s+){0,2}?[^\s,?]+,\s+(?:[^\s,?]+\s+){0,2}?[^\s,?]+,?\s+or\s+"
                               r"(?:[^\s,?]+\s+){0,2}?[^\s,?]+\?$|"
                               r"\bor\b.*\b(?:which (?:one|is|of|framework|option)|trade-?offs?|the better|each (?:one|option|of|makes?|works?))\b",
                               _I)),
    (Shape.AMOUNT, re.compile(r"\bhow (?:much|many|large|big|high|low)\b|\b(?:what|which) (?:percent(?:age)?|share|"
                              r"amount|rate|discount|cap|limit|threshold|cost|price|fee|budget|number)\b|"
                              r"\bcost\b.*\?$|\bpay for\b", _I)),
    (Shape.DURATION, re.compile(r"\bhow (?:long|often|frequently|soon|quickly|fast)\b|\b(?:what|which) "
                                r"(?:cycle|interval|frequency|retention period|period)\b|\bhow many (?:years|months|days|hours)\b", _I)),
    (Shape.WHEN, re.compile(r"^\s*(?:\w+\s+){0,3}?when\b(?! (?:an?|the|we|our|you|they|a staff|someone|somebody)\b)|"
                            r"\b(?:what|which) (?:date|deadline|year|month|day|window)\b|\bby when\b|\bdeadline\b", _I)),
    (Shape.WHO, re.compile(r"^\s*(?:\w+\s+){0,3}?who(?:m|se)?\b|\b(?:which|what) (?:role|office|person|agency|body|team|"
                           r"staff|department|official|organi[sz]ation)\b|\bresponsible for\b|\bin charge of\b", _I)),
    (Shape.PRIORITY, re.compile(r"\b(?:first|priorit\w*|most important|top \w+|start with|begin with|where (?:do|should) "
                                r"(?:we|i) (?:start|begin)|focus on|matters? most|biggest|critical first|must.have)\b", _I)),
    (Shape.STEPS, re.compile(r"^\s*(?:\w+\s+){0,6}?how (?:do|does|should|can|could|would|to|we|i|are)\b|\bsteps?\b|"
                             r"\bprocess\b|\bprocedure\b|\bchecklist\b|\bmake sure\b|\bensure\b|\bplan for\b|"
                             r"\bwhat should (?:we|i|a district|districts) do\b|\bwhat do (?:we|i) do\b|\bgo about\b", _I)),
    (Shape.DEFINE, re.compile(r"^\s*(?:\w+\s+){0,3}?(?:what(?:'s| is| are| does)|define|meaning of|explain)\b|"
                              r"\bwhat (?:is|are) (?:meant by|the purpose of)\b|\bstand for\b", _I)),
]
_CONNECTOR = r"vs\.?|versus|compared (?:to|with)|or"
_SIDES = re.compile(rf"(.+?)\s+(?:{_CONNECTOR})\s+(.+)", _I)
_LEAD_NOISE = re.compile(r"^(?:what(?:'s| is| are)?|how (?:does|do|is|are)|which is better[,:]?|compare|"
                         r"the difference(?:s)?|in [\w-]+:?)\s+", _I)
MAX_SIDES = 4  # a comparison of more things than this is a survey, not sides to state one by one
# The wordings that name what is compared as one span ("the difference between X, Y and Z", "how do X and Y
# differ", "compare X with Y"): inside it, "and" joins sides; outside such a frame it joins what is asked about
# together ("How do we train and support teachers?"), so it is not read as a comparison there.
_FRAMES = [
    re.compile(r"\bdifferen(?:ces?|t)\s+(?:between|among)\s+(?P<span>.+)", _I),
    re.compile(r"\bbetween\s+(?P<span>.+?\s+and\s+.+)", _I),
    re.compile(r"\bhow (?:do|does|is|are|would|will)\s+(?P<span>.+?)\s+(?:differ|compare|different|stack up)\b"
               r"(?:\s+(?:from|to|with|against)\s+(?P<other>.+))?", _I),
    re.compile(r"^\s*(?:\w+\s+){0,3}?compar(?:e|ing)\s+(?P<span>.+?)\s+(?:with|to|against|and)\s+(?P<other>.+)", _I),
]
# "Category One, Category Two and BEAR: what does each cover?": a list of names heading a question about each
_HEADING = re.compile(r"^(?P<span>[^?:]{1,120}?\b(?:and|or)\b[^?:]{1,60}?)(?::|\s[-\u2013\u2014]\s)[^?]*\b(?:each|both)\b",
                      _I)
_PROPERTY = re.compile(r"^(?:the\s+)?[\w-]+(?:\s+[\w-]+)?\s+of\s+(?=\S)", _I)  # what is compared of the sides
_LIST_SEP = re.compile(rf"\s*[,;]\s*(?:(?:and|or)\s+)?|\s+(?:and|{_CONNECTOR})\s+", _I)
_END = re.compile(r"\s[-\u2013\u2014]\s|\bin\b|[,;]", _I)


def compare_sides(question: str) -> tuple[str, ...]:
    """The things a comparison question sets against each other, in its order ("Cat 1 vs Cat 2 ..." -> Cat 1,
    Cat 2; "How do CEDS, Ed-Fi and OneRoster differ?" -> CEDS, Ed-Fi, OneRoster); () when fewer than two."""
    heading = _HEADING.match(question.strip())
    if heading:
        return _listed(heading.group("span"))
    text = re.split(r"[?:]", question.strip())[0]
    for frame in _FRAMES:
        found = frame.search(text)
        if found:
            span = found.group("span") + (f", {found.group('other')}" if found.groupdict().get("other") else "")
            span = _PROPERTY.sub("", _LEAD_NOISE.sub("", span.strip()))  # "the missions of CEDS and Ed-Fi"
            sides = _listed(span)
            if sides:
                return sides
    return _connected(text)


def _listed(span: str) -> tuple[str, ...]:
    """The sides of a span that lists only them ("CEDS, Ed-Fi and OneRoster"): each a name from its first word.

    The list ends with the item after its "and" / "or" ("between FERPA and COPPA, and which one applies" stops at
    COPPA); "vs" may chain ("Cat 1 vs Cat 2 vs BEAR")."""
    parts = _LIST_SEP.split(span)
    seps = [m.group(0).strip().lower() for m in _LIST_SEP.finditer(span)]
    items = [parts[0]]
    for sep, part in zip(seps, parts[1:], strict=False):
        items.append(part)
        if sep.startswith(("and", "or")) or re.search(r"[,;]\s*(?:and|or)$", sep):
            break
    return _named(items)


def _connected(text: str) -> tuple[str, ...]:
    """The sides around "vs / versus / compared to / or" in a question without a frame: the left side is the name
    the words before the connector end on ("... fall under E-Rate Category 1 versus ..."), the right the name the
    words after it start with; "SaaS, PaaS, or IaaS" lists a side before each comma, "X vs Y vs Z" one per "vs"."""
    match = _SIDES.search(text)
    if not match:
        return ()
    left, right = match.groups()
    connector = text[len(left):len(text) - len(right)].strip().lower()
    chained = re.split(rf"\s+(?:{_CONNECTOR})\s+", _END.split(right.strip(), maxsplit=1)[0], flags=_I)
    lefts = re.split(r"[,;]", left.rstrip(" ,;"))
    listed: list[str] = []
    if connector == "or" and len(lefts) > 1:  # "Should we pick SaaS, PaaS, or IaaS": short names before the "or"
        while len(lefts) > 1 and 0 < len(lefts[-1].split()) <= 3:
            listed.insert(0, lefts.pop().strip())
    first = lefts[-1] if listed else lefts[0]
    first = _LEAD_NOISE.sub("", first.strip().split(". ")[-1]).strip()
    first = " ".join(reversed(_run(list(reversed(first.split()))[:4])))  # "... fall under E-Rate Category 1"
    if not first and listed:  # "Which is better for us, SaaS or on-prem?": the list starts after the comma
        first = listed.pop(0)
    sides = _named([*listed, *chained], ends=True)
    return (first, *sides)[:MAX_SIDES] if first and sides else ()


def _named(items: list[str], *, ends: bool = False) -> tuple[str, ...]:
    """Each item's name: the words from its first that is not a function word up to the next that is
    ("background on the district site" -> "background"); an item's end (with ``ends``) at a comma, dash or "in"."""
    names: list[str] = []
    for item in items:
        item = _END.split(item.strip(), maxsplit=1)[0] if ends else item
        name = " ".join(_run(item.split()[:4])).strip(".,;!")
        if name and name.lower() not in (n.lower() for n in names):
            names.append(name)
    return tuple(names[:MAX_SIDES]) if len(names) >= 2 or ends else ()


def _run(words: list[str]) -> list[str]:
    """A side's name: the words from the first that is not a function word up to the next that is."""
    while words and words[0].lower() in STOPWORDS:
        words = words[1:]
    end = next((i for i, w in enumerate(words) if w.lower() in STOPWORDS), len(words))
    return words[:end]


def question_shape(question: str, *, compare: bool = True) -> QuestionShape:
    """Recognise what kind of answer the question asks for (by its last sentence when it has several).

    Without ``compare``, the shape its other words ask for ("How does X differ from Y?" -> steps): the
    composer scores sentences by it when no passage states a side (see ``ExtractiveComposer.compose``).
    """
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", question.strip()) if s]
    asked = next((s for s in reversed(sentences) if s.endswith("?")), sentences[-1] if sentences else "")
    for shape, pattern in _RULES:
        if (compare or shape is not Shape.COMPARE) and pattern.search(asked):
            if shape is Shape.COMPARE:
                sides = compare_sides(asked)
                if sides:
                    return QuestionShape(shape, sides)
                continue
            return QuestionShape(shape)
    return QuestionShape(Shape.GENERAL)


_MONEY = re.compile(r"[$\u00a3\u20ac]\s?\d|\b\d[\d,.]*\s?(?:%|percent|per ?cent|million|billion|thousand|dollars?)\b|"
                    r"\b(?:discount|cap|capped|maximum|minimum|budget|cost|costs|fund(?:s|ed|ing)?|pays?|reimburse\w*|"
                    r"eligible|per student|per pupil)\b", _I)
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|half|third|quarter)\b", _I)
_DATE = re.compile(r"\b(?:19|20)\d\d\b|\b(?:january|february|march|april|may|june|july|august|september|october|"
                   r"november|december)\b|\b(?:deadline|by the end of|no later than|before|after|within|effective)\b", _I)
_ROLE = re.compile(r"\b(?:superintendent|board|cio|cto|ciso|director|officer|coordinator|administrator|manager|team|"
                   r"staff|principal|teacher|vendor|agency|department|committee|council|lead|owner|responsible|"
                   r"accountable|approves?|designat\w+|appoint\w*)\b", _I)
_DURATION = re.compile(r"\b(?:\d+|one|two|three|four|five|six|seven|ten|twelve)[\s-]+(?:to[\s-]+\w+[\s-]+)?"
                       r"(?:years?|months?|weeks?|days?|hours?|minutes?)\b|\b(?:annual(?:ly)?|yearly|quarterly|monthly|"
                       r"weekly|daily|every|each year|once a|at least|cycle|refresh|retain\w*|retention|lifespan|life)\b", _I)
_DEFINES = re.compile(r"\b(?:is|are) (?:an?|the) \w+|\b(?:refers? to|means|is defined as|defined as|stands for|"
                      r"is a term|describes?)\b|\([A-Z][A-Za-z0-9&-]{1,9}\)", _I)
_PRIORITY = re.compile(r"\b(?:first|priorit\w*|most important|highest|critical|essential|begin|start|top|immediately|"
                       r"before anything|foundation(?:al)?|key|must)\b", _I)
_IMPERATIVE = re.compile(r"^(?:[A-Z][a-z]+)\b(?<!The)(?<!This)(?<!These)(?<!It)(?<!A)(?<!An)(?<!In)(?<!For)(?<!If)")


def shape_fit(shape: Shape, sentence: str, *, item: bool = False) -> float:
    """How well one sentence carries what the question's shape asks for, from 0 to 1.

    Args:
        shape: the question's shape.
        sentence: the candidate sentence (plain text).
        item: the sentence is (or starts) an item of a list in its source.
    """
    if shape is Shape.AMOUNT:
        return min(1.0, 0.5 * len(_MONEY.findall(sentence)) + 0.25 * bool(_NUMBER.search(sentence)))
    if shape is Shape.WHEN:
        return min(1.0, 0.5 * len(_DATE.findall(sentence)))
    if shape is Shape.WHO:
        return min(1.0, 0.4 * len(_ROLE.findall(sentence)))
    if shape is Shape.DURATION:
        return min(1.0, 0.5 * len(_DURATION.findall(sentence)))
    if shape is Shape.DEFINE:
        return 1.0 if _DEFINES.search(sentence[:160]) else 0.0
    if shape is Shape.STEPS:
        return 0.6 * item + 0.4 * bool(_IMPERATIVE.match(sentence))
    if shape is Shape.PRIORITY:
        return min(1.0, 0.5 * item + 0.35 * len(_PRIORITY.findall(sentence)))
    return 0.0


_FIGURE = re.compile(r"[$\u00a3\u20ac]\s?\d|\b\d[\d,.]*\s?(?:%|percent|per ?cent|million|billion|thousand|dollars?|"
                     r"cents?)\b|\b\d[\d,.]*\s+(?:per|a|each)\s+(?:student|pupil|user|device|year|month|seat|line)\b|"
                     r"\b(?:free of charge|no cost|at no charge|free)\b", _I)
_A_DATE = re.compile(r"\b(?:19|20)\d\d\b|\b(?:january|february|march|april|may|june|july|august|september|october|"
                     r"november|december)\s+\d|\b(?:fiscal|school|program|funding) year\b", _I)
_A_DURATION = re.compile(r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve)[\s-]+(?:to[\s-]+\w+[\s-]+)?"
                         r"(?:years?|months?|weeks?|days?|hours?|minutes?)\b|\b(?:annual(?:ly)?|yearly|quarterly|"
                         r"monthly|weekly|daily|every (?:year|month|week|day))\b", _I)


def carries_answer(shape: Shape, texts: list[str]) -> bool:
    """True when some sentence states what a figure-seeking question asks for.

    "How much will it cost?" is answered only by a sentence with an amount ("$200 million",
    "85 percent", "$13.60 per student"), "when" by a date, "how long/often" by a duration;
    sentences about the same subject without one do not answer it. Other shapes are answered
    by any sentence the composer chose.
    """
    pattern = {Shape.AMOUNT: _FIGURE, Shape.WHEN: _A_DATE, Shape.DURATION: _A_DURATION}.get(shape)
    return bool(texts) and (pattern is None or any(pattern.search(t) for t in texts))
