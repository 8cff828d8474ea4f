"""Rules that make a quoted sentence stand on its own, shared by the composer and the evaluation.

An extractive answer quotes sentences out of their paragraphs, so a quote can lose what it
leans on. Four rules catch that, each a pure function on text:

- a sentence whose subject is an unresolved "this/these/it/such/they" (or "the first", "both"),
  or that opens on a phrase pointing back ("During this phase, ...", "For these reasons, ..."),
  needs the sentence it refers to quoted right before it;
- a sentence that announces items ("two actions", "the following", "listed below", a trailing
  colon) needs its items to follow;
- Markdown link and reference syntax ("[FERPA][16]", "[text](url)", "**bold**") is shown as
  plain text;
- a list item is quoted after its lead-in (the line ending in ":" that introduces the list).

The composer uses :func:`plain` and the predicates while it builds units; ``python -m eval
run`` uses :func:`violations` on every answer (the "readability" column).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["plain", "leans_back", "announces", "has_markdown", "violations", "violating", "weak_opening", "LIST_MARK"]

LIST_MARK = re.compile(r"^\s*(?:[-*+\u2022\u25cf\u25aa]|\d{1,2}[.)]|[a-z][.)])\s+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]\[]+)\]\s?(?:\([^)\s]*(?:\s+\"[^\"]*\")?\)|\[[^\]]*\])")
_FOOTNOTE = re.compile(r"\[\^?\d+\]")
_EMPHASIS = re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1|(?<![\w*])([*_])(\S(?:[^*_]*?\S)?)\3(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_MARKDOWN = re.compile(r"\]\[|\]\(|!\[|\*\*|__\w|`|^\s*#{1,6}\s|\[\^?\d+\]")

# The subject of the sentence points back at something said before it.
_PRONOUN_START = re.compile(
    r"^(?:(?:however|also|in addition|additionally|therefore|thus|as a result|for example|instead|moreover|"
    r"furthermore|in turn|similarly|likewise|still|yet|and|but|so)\b,?\s+)?"
    r"(?:this|these|that|those|it|its|they|them|their|such|both|he|she|his|her|"
    r"the (?:first|second|third|fourth|fifth|last|former|latter|other|above|same)|another|each of (?:these|them|those))\b",
    re.I)
# An opening phrase points back ("During this phase, ...", "For these reasons, ...", "In that case the ..."). Not
# the document itself ("In this guide, ..."): the citation says which one that is.
_SELF = (r"(?:document|guide|guidance|publication|report|section|chapter|paper|brief|article|handbook|toolkit|"
         r"appendix|volume|resource|white paper|series|issue|edition)")
_PHRASE_BACK = re.compile(
    r"^(?:(?:however|also|and|but|so|still|yet|then)\b,?\s+)?"
    r"(?:(?:during|in|at|for|after|before|from|under|with|without|by|through|throughout|within|beyond|despite|given|"
    r"unlike|like|because of|as a result of|in addition to|on top of|apart from|in light of|in response to)\s+"
    rf"(?:this|these|that|those|such)\b(?!\s+{_SELF}\b)(?:\s+[\w-]+){{0,3}},"
    r"|(?:in this way|in that way|for this reason|for that reason|because of this|because of that|"
    r"in (?:this|that|such|these|those) cases?|at this (?:point|stage|time)|at that (?:point|stage|time)|"
    r"during (?:this|that|these|those) (?:phase|stage|step|time|period|process|review|meeting)s?)\b)",
    re.I)
_EXPLETIVE_IT = re.compile(
    r"^it(?:'s| is| was| may be| can be| will be| would be| should be| has been| remains)\s+(?:\w+\s+){0,2}?"
    r"(?:to|that|for|whether|how|when|important|essential|critical|recommended|necessary|possible|likely|"
    r"common|unlikely|difficult|easy|helpful|useful|vital|wise)\b", re.I)
_THAT_CLAUSE = re.compile(r"^(?:that|this) (?:is|was) (?:why|how|because)\b", re.I)  # still leans back
_COUNT = (r"(?:two|three|four|five|six|seven|eight|nine|ten|several|a few|a number of|a handful of|"
          r"many|multiple|some key|key|\d{1,2})")
_ANNOUNCE_COUNT = re.compile(
    rf"(?:^|\b(?:are|makes?|has|have|lists?|names?|sets? out|outlines?|describes?|identif(?:y|ies)|offers?|"
    rf"takes?|gives?|includes?|covers?|contains?|of|into|in)\s+(?:the\s+)?){_COUNT}\s+(?:[\w-]+\s+){{0,3}}?(?:actions|steps|things|ways|phases|stages|elements|"
    r"components|recommendations|areas|questions|priorities|principles|categories|types|kinds|reasons|"
    r"goals|functions|practices|factors|options|approaches|strategies|parts|pillars|tiers|levels|"
    r"requirements|items|points|lessons|tips|measures|controls|activities|roles|criteria|tasks|"
    r"considerations|challenges|benefits|risks|documents|sections|bodies|laws|programs|models|tools)\b",
    re.I)
# A pointer to items further on, anywhere in the sentence ("The attack vectors listed below are not intended to
# ...", "The following steps illustrate how ..."); not a time ("the following year") nor items given after a colon.
_POINTS_AHEAD = re.compile(
    r"\b(?:(?:listed|described|shown|outlined|summari[sz]ed|detailed|presented|set out)\s+below|below are|as follows|"
    r"the following(?!\s+(?:year|years|day|days|week|weeks|month|months|morning|spring|summer|fall|autumn|winter|"
    r"semester|term|school year|fiscal year|decade)\b))\b", re.I)
_ITEMS_GIVEN = re.compile(r":\s*\S+(?:\s+\S+){2,}")  # "... the following elements: Mission; Strategies and goals"
# Openings that do not answer: a numbered section line ("1.4 Document Structure ...", "(Section 3.2.6) ..."),
# a line about the document's own layout ("Section 3 reviews ..."), a noun phrase with no verb ("Percentage of ...").
_SECTION_LINE = re.compile(r"^\(?(?:(?:section|chapter|appendix|part)\s+)?\d+(?:\.\d+)+\b|"
                           r"^\(?(?:section|chapter|appendix)\s+[\dA-Z](?:\.\d+)*\b|"
                           r"^(?:figure|table|exhibit)\s+\d+(?:\.\d+)*\s*[-\u2013\u2014:.]", re.I)
_PAGE_NUMBER = re.compile(r"^\d{1,3}\s+[A-Z][a-z]")  # "6 An effective IT security ...": a PDF's page or section number
BARE_LEAD_IN_WORDS = 8  # a lead-in of fewer words says nothing itself ("Useful PD includes:")
_NOUN_OF = re.compile(r"^[A-Z][a-z]+(?:\s+[a-z]+)?\s+of\b")  # "Percentage of ...", "Number of manual ..."
_FINITE = re.compile(r"\b(?:is|are|was|were|be|been|has|have|had|do|does|did|can|could|should|would|will|may|"
                     r"might|must|shall|need|needs|means|requires?|includes?|makes?|helps?|gives?|takes?|uses?|"
                     r"provides?|allows?|lets?|keeps?|covers?|pays?|costs?|depends?)\b", re.I)
_ASKS_FOR_QUESTIONS = re.compile(r"\b(?:ask|asks|asking|questions?)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def plain(text: str) -> str:
    """The text with Markdown link, reference, emphasis, code and heading syntax rendered as plain text.

    "The [Federal Education Rights Privacy Act (FERPA)][16] protects" becomes "The Federal
    Education Rights Privacy Act (FERPA) protects"; "[guide](https://x)" becomes "guide".
    """
    text = _IMAGE.sub(lambda m: m.group(1), text)
    for _ in range(2):  # a link inside emphasis, or emphasis inside a link
        text = _LINK.sub(lambda m: m.group(1), text)
        text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(4), text)
    text = _FOOTNOTE.sub("", text)
    text = _CODE.sub(lambda m: m.group(1), text)
    text = _HEADING.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text).replace(" ,", ",").replace(" .", ".").strip()


def has_markdown(text: str) -> bool:
    """True when link, reference, emphasis, code or heading syntax is left in the text."""
    return bool(_MARKDOWN.search(text))


def leans_back(sentence: str) -> bool:
    """True when the sentence's subject, or the phrase it opens on, refers to an earlier sentence ("This means...",
    "They must...", "During this phase, ...")."""
    sentence = LIST_MARK.sub("", sentence.strip()).lstrip("\"'(")
    if _PHRASE_BACK.match(sentence):
        return True
    if _EXPLETIVE_IT.match(sentence) and not _THAT_CLAUSE.match(sentence):
        return False
    return bool(_PRONOUN_START.match(sentence))


def announces(sentence: str) -> bool:
    """True when the sentence announces items that it does not itself list ("Two actions shape...", "...:")."""
    text = sentence.strip()
    if text.endswith(":"):
        return True
    ahead = _POINTS_AHEAD.search(text)
    if ahead and not _ITEMS_GIVEN.search(text, ahead.end()):  # items after a colon that follows the pointer
        return True
    body = LIST_MARK.sub("", text)
    if _ANNOUNCE_COUNT.search(body) and len(body.split()) <= 25:
        # "Three recommendations: a, b and c" or "Two actions, A and B, ..." list their items already
        listed = ":" in body or ";" in body or body.count(",") >= 2
        return not listed
    return False


def weak_opening(sentence: str, question: str = "") -> str | None:
    """Why the sentence cannot open an answer, or None when it can.

    An answer's first sentence is read as the answer. It cannot be a bare lead-in ("The building
    blocks are:", fewer than ``BARE_LEAD_IN_WORDS`` words), a numbered section, a figure caption
    or a line about the document's own layout ("1.4 Document Structure The remainder of this
    document is organized into ...", "Section 3 reviews ..."), a noun phrase without a
    verb ("Percentage of applications using SSO ..."), or a question, unless the user asks which
    questions to ask ("What should we ask a vendor ...?").

    Returns:
        "lead-in", "section", "fragment" or "question"; None for a sentence that may open.
    """
    text = LIST_MARK.sub("", plain(sentence)).strip()
    if _SECTION_LINE.match(text) or _PAGE_NUMBER.match(text):
        return "section"
    if text.endswith(":") and len(text.split()) < BARE_LEAD_IN_WORDS:
        return "lead-in"
    if _NOUN_OF.match(text) and not _FINITE.search(text):
        return "fragment"
    if text.rstrip("\"')\u201d").endswith("?") and not _ASKS_FOR_QUESTIONS.search(question):
        return "question"
    return None


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _norm(text: str) -> str:
    lines = (LIST_MARK.sub("", line) for line in plain(text).split("\n"))
    return re.sub(r"[^a-z0-9]+", " ", " ".join(lines).lower()).strip()


def _follows_in(previous: str, current: str, sources: Sequence[str]) -> bool:
    """True when ``previous`` is the text right before ``current`` in one of the sources."""
    joined = _norm(previous + " " + current)
    return any(joined in _norm(source) for source in sources)


def _after_in(first: str, second: str, sources: Sequence[str]) -> bool:
    """True when ``second`` comes after ``first`` in one of the sources (its items follow an announcement)."""
    a, b = _norm(first), _norm(second)
    for source in sources:
        text = _norm(source)
        start = text.find(a)
        if start >= 0 and text.find(b, start + len(a)) >= 0:
            return True
    return False


def _list_lead_in(claim: str, source: str) -> str | None:
    """The lead-in line ending in ":" of the list in which ``claim`` is an item, if it is one."""
    target = _norm(claim)
    lines = [ln.strip() for ln in source.split("\n") if ln.strip()]
    for i, line in enumerate(lines):
        if not LIST_MARK.match(line) or _norm(LIST_MARK.sub("", line)) != target:
            continue
        j = i - 1
        while j >= 0 and LIST_MARK.match(lines[j]):
            j -= 1
        if j >= 0 and lines[j].rstrip().endswith(":"):
            return _sentences(lines[j])[-1]  # "Some context. In practice:" -> "In practice:"
    return None


def violations(claims: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Readability violations of an answer, given its claims in reading order and each claim's cited passages.

    Args:
        claims: (quoted text, texts of the passages it cites) for every claim of the answer.

    Returns:
        One message per violation, naming the rule and the start of the offending text; empty when
        every quoted sentence stands on its own.
    """
    return [message for _, message in violating(claims)]


def violating(claims: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[int, str]]:
    """Like :func:`violations`, with the index of the offending claim before each message."""
    out: list[tuple[int, str]] = []
    quoted = " ".join(text for text, _ in claims)
    for i, (text, sources) in enumerate(claims):
        start = text[:60]
        if has_markdown(text):
            out.append((i, f"markdown: {start}"))
        sentences = _sentences(text)
        if sentences and leans_back(sentences[0]):
            previous = claims[i - 1][0] if i else ""
            if not (previous and _follows_in(previous, text, sources)):
                out.append((i, f"unresolved reference: {start}"))
        if sentences and announces(sentences[-1]):
            following = claims[i + 1][0] if i + 1 < len(claims) else ""
            if not (following and _after_in(text, following, sources)):
                out.append((i, f"announces items that do not follow: {start}"))
        for source in sources:
            lead_in = _list_lead_in(text, source)
            if lead_in and _norm(lead_in) not in _norm(quoted):
                out.append((i, f"list item without its lead-in: {start}"))
                break
    return out
