"""Answerability signals for the abstention model: does the answer hold what the question asks about?

The relevance gate (``relevance_gate``) measures whether the passages are on the question's topic.
These signals look one step further, at what the question is *about* and at what the answer would
cite:

- **subject or context.** A name the library never uses matters when the question asks about it
  ("What is our district's policy on TikTok?", "is starlink worth it") and matters little when it
  only sets the scene ("A teacher had students turn in work through her personal Gmail account. Is
  that a problem?"). The asking sentence is split into its subject (what it asks about) and its
  context: other sentences, clauses opened by "when/if/because/since/while/after/before" and
  phrases about the asker's own things ("for our tech staff", "through her personal Gmail
  account", "on 6k chromebooks");
- **names uncited**: the names of the subject ("What does PowerSchool SIS cost per student?",
  "the Texas Student Data Privacy Agreement") that the cited sentences leave out: passages about
  SIS costs in general do not answer a question about one product's price;
- **focus cited**: the share, by rarity, of the subject's words (unknown ones at the rarity of a
  word no passage has) that the cited sentences contain;
- **together**: the most of the question's rare words that one passage holds (coverage of the
  union of passages rewards a question whose words are scattered over unrelated passages);
- **retrieval agreement over the top three**: the documents dense and keyword search rank highest
  overlap;
- **shape against evidence**: a question that asks for a figure, a duration or a choice between
  named products, and cited sentences without a figure, a duration, or without both products;
- **the subject's words, any case, uncited** (``subject_uncited``, ``rare_uncited``): casual
  questions name products and places in lower case ("infinite campus vs powerschool", "ohio
  district here"); a word of the subject the library uses somewhere but that neither the cited
  sentences nor their documents' titles and headings hold is a sign the answer is about
  something near the question, not the question;
- **agreement on the cited document** (``cited_doc_agree``): dense and keyword search both rank
  the document the answer leads with among their top three.

What the answer cites is its sentences *and* the titles and section headings of their passages:
a spreadsheet row quoted from "e-rate-471-items" answers a question about "the E-Rate 471"
though the row itself never says "E-Rate".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from kb.answering.relevance_gate import names, unknown_names
from kb.answering.retrieval import Passage
from kb.core.answer import Draft
from kb.index.keyword import KeywordIndex, tokenize

__all__ = ["split_subject", "unknown_subject", "answerability_signals", "cited_headers", "lead_document", "SIGNALS"]

SIGNALS = ("unknown_subject", "unknown_scene", "names_uncited", "focus_cited", "focus_passages", "together", "agree_top3",
           "duration_unanswered", "figure_unanswered", "choice", "choice_uncited", "subject_uncited", "rare_uncited", "cited_doc_agree")
RARE = 0.6  # a word is rare in the library when its idf is at least this share of an unseen word's

_SENTENCE_END = re.compile(r"(?<!\.\.)(?<=[.?!])\s+")  # casual "..." runs on: it ends no sentence
_EXPANSION = re.compile(r"\s\([^()]*\)$")  # what Vocabulary.expand appends
# a clause that sets the scene: from its opening word to the next comma, semicolon or dash (or the end)
_CLAUSE = re.compile(r"\b(?:when|whenever|if|because|since|while|after|before|although|though|once|unless|now that)\b"
                     r"[^,;?!]*?(?=[,;?!]|\s[-\u2013\u2014]\s|$)", re.IGNORECASE)
# a phrase about the asker's (or a person's) own things: "for our tech staff", "through her personal Gmail account"
_OWN = re.compile(r"\b(?:for|on|in|at|with|through|via|using|from|across|to|by|of)\s+(?:our|my|their|his|her|your|the district's)"
                  r"(?:\s+(?!(?:and|or|but|is|are|was|were|be|do|does|did|should|can|could|would|will)\b)[\w.'/&+-]+){1,4}",
                  re.IGNORECASE)
# ... and a bare quantity of the asker's devices or people: "on 6k chromebooks", "for ~40 admins"
_COUNTED = re.compile(r"\b(?:for|on|across|to)\s+~?\d[\d,.]*k?\s+[\w'-]+(?:\s+(?:and|or)\s+[\w'-]+){0,2}(?:\s+[\w'-]+)?",
                      re.IGNORECASE)
_DURATION_ASKED = re.compile(r"\bhow (?:long|soon|quickly|fast)\b|\bhow many (?:days|weeks|months|years|hours)\b",
                             re.IGNORECASE)
_DURATION = re.compile(r"\b\d[\d,.]*\s*(?:-|to)?\s*\d*\s*(?:hours?|days?|weeks?|months?|years?|minutes?)\b|"
                       r"\b(?:annually|quarterly|monthly|weekly|daily|hours?|days?|weeks?|months?|years?)\b", re.IGNORECASE)
# a figure asked for by its unit ("premium per student", "cost per month") or as a count of things ("how many districts")
_PER_UNIT = re.compile(r"\bper[- ](student|pupil|month|year|seat|user|device|school|teacher|employee)s?\b", re.IGNORECASE)
# the words a source may use for the unit instead: "1 Mbps per user", "100 Mbps per 1,000 students and staff"
_LEARNERS = "students?|pupils?|users?|learners?"
_UNIT_SAID = {"student": _LEARNERS, "pupil": _LEARNERS, "user": "users?|students?", "employee": "employees?|staff",
              "teacher": "teachers?|staff"}
# the first plural noun after "how many" (a plural, not "-ss": "how many U.S. school districts" -> "districts")
_HOW_MANY = re.compile(r"\bhow many\s+(?:[\w.'-]+\s+){0,3}?([a-z][a-z-]*[a-rt-z]s)\b", re.IGNORECASE)
_NUMBER = (r"(?:(?:\$\s?)?(?<![\w.,])(?!(?:19|20)\d\d\b)\d[\d,.]*\s*(?:%|percent|million|billion|thousand|k\b)?|"  # not a year
           r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand)\b)")
# ... unless the question asks for the way to work it out ("how do I figure out what one Chromebook costs per year")
_METHOD = re.compile(r"\bhow (?:do|can|should|would|could) (?:i|we|you|a district|districts)\s+(?:\w+\s+)?"
                     r"(?:figure|work|calculate|estimate|compute|determine|find|measure|track|count|budget|plan)\b|"
                     r"\bhow to\b", re.IGNORECASE)
# the question asks to choose between named things, or for a product to buy
_CHOICE = re.compile(r"\b(?:vs\.?|versus)\s|\bor\b[^?]*\b(?:better|cheaper|best|prefer|like better)\b|"
                     r"\bwhich (?:one|brand|brands|vendor|vendors|product|products|model|models|tool|tools)\b|"
                     r"\bwhat (?:brand|brands|vendor|product|model|mics?|software|hardware)\b", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"([\w.'-]+(?:\s+[\w.'-]+)?)\s+(?:vs\.?|versus|or)\s+([\w.'-]+(?:\s+[\w.'-]+)?)", re.IGNORECASE)


def asking_sentence(question: str) -> tuple[str, str]:
    """The sentence that asks (the last with a "?", else the last) and the other sentences.

    The long forms the vocabulary expansion appends ("... (multi-factor authentication)") stay
    with the asking sentence.
    """
    expansion = _EXPANSION.search(question)
    if expansion:
        typed, scene = asking_sentence(question[: expansion.start()])
        return f"{typed} {expansion.group(0).strip()}", scene
    sentences = [s for s in _SENTENCE_END.split(question.strip()) if s]
    if len(sentences) < 2:
        return question, ""
    asking = max((i for i, s in enumerate(sentences) if "?" in s), default=len(sentences) - 1)
    return sentences[asking], " ".join(s for i, s in enumerate(sentences) if i != asking)


def split_subject(question: str) -> tuple[str, str]:
    """(subject, scene): the words the question asks about, and the words that only set the scene.

    The scene is every sentence but the asking one, plus the asking sentence's clauses opened by
    "when/if/because/..." and its phrases about the asker's own things ("for our tech staff").
    """
    asking, scene = asking_sentence(question)
    spans = sorted((m.start(), m.end()) for pattern in (_CLAUSE, _OWN, _COUNTED) for m in pattern.finditer(asking))
    subject: list[str] = []
    parts, cursor = [scene] if scene else [], 0
    for start, end in spans:
        if end <= cursor:
            continue
        start = max(start, cursor)
        subject.append(asking[cursor:start])
        parts.append(asking[start:end])
        cursor = end
    subject.append(asking[cursor:])
    return " ".join(" ".join(subject).split()), " ".join(" ".join(parts).split())


def _unseen_words(text: str, vocab: dict[str, int], index: KeywordIndex) -> set[str]:
    """Words of the text (any case) the library never uses, but for the acronyms its vocabulary expands."""
    return {t for t in tokenize(text) if len(t) > 2 and not t.isdigit() and t not in vocab
            and not index.vocabulary.defines(t)}


def unknown_subject(question: str, index: KeywordIndex) -> tuple[int, int]:
    """How many names and words the library never uses are in the question's subject, and in its scene."""
    vocab = index.retriever.vocab_dict if len(index) else {}
    subject, scene = split_subject(question)

    def count(text: str) -> int:
        names = {t for name in unknown_names(text, index) for t in tokenize(name)} if text else set()
        return len(names | _unseen_words(text, vocab, index)) if text else 0

    return count(subject), count(scene)


def _coverage(weights: dict[str, float], words: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in words) / total if total else 0.0


def _rare(weights: dict[str, float]) -> dict[str, float]:
    """The rarest half of the words (at least one)."""
    keep = sorted(weights, key=lambda t: (-weights[t], t))[: max(1, (len(weights) + 1) // 2)]
    return {t: weights[t] for t in keep}


def _top_documents(passages: Sequence[Passage], score: str, n: int) -> set[str]:
    ranked = sorted((p for p in passages if getattr(p, score) is not None), key=lambda p: -(getattr(p, score) or 0.0))
    docs: list[str] = []
    for passage in ranked:
        if passage.chunk.doc_id not in docs:
            docs.append(passage.chunk.doc_id)
    return set(docs[:n])


def _agreement(passages: Sequence[Passage], n: int = 3) -> float:
    """Overlap (Jaccard) of the documents dense and keyword search rank in their top ``n``."""
    dense, keyword = _top_documents(passages, "dense", n), _top_documents(passages, "keyword", n)
    union = dense | keyword
    return len(dense & keyword) / len(union) if union else 0.0


def _together(weights: dict[str, float], passages: Iterable[Passage]) -> float:
    """The largest share (by rarity) of the question's rare words that one passage holds."""
    return max((_coverage(weights, set(tokenize(p.chunk.embed_text))) for p in passages), default=0.0)


def _choice(subject: str, cited: set[str], vocab: dict[str, int]) -> tuple[float, float]:
    """Does the question ask to choose between named things; does the cited text name them all?"""
    if not _CHOICE.search(subject):
        return 0.0, 0.0
    words: set[str] = set()
    for match in _ALTERNATIVES.finditer(subject):  # "infinite campus vs powerschool for ...": campus, powerschool
        words.update(tokenize(match.group(1))[-1:])  # the word before "vs/or" ends the first option's name
        words.update(tokenize(match.group(2))[:1])  # the word after it starts the second's
    missing = sum(1 for t in words if t not in cited or t not in vocab)
    return 1.0, float(missing > 0 or not words)


def cited_headers(draft: Draft | None, passages: Sequence[Passage]) -> str:
    """The titles and section headings of the passages the draft's sentences are quoted from."""
    if draft is None:
        return ""
    used = sorted({i for claim in draft.lead + draft.points for i in claim.sources if 0 <= i < len(passages)})
    return "\n".join(f"{passages[i].chunk.title} {passages[i].chunk.section or ''}".strip() for i in used)


def lead_document(draft: Draft | None, passages: Sequence[Passage]) -> str | None:
    """The document of the first passage the draft cites."""
    if draft is None:
        return None
    first = next((i for claim in draft.lead + draft.points for i in claim.sources if 0 <= i < len(passages)), None)
    return passages[first].chunk.doc_id if first is not None else None


def _subject_uncited(subject: str, cited: set[str], index: KeywordIndex) -> tuple[float, float]:
    """The subject's words (any case) the library uses that the answer does not cite.

    Returns the rarity of the rarest such word over that of a word no passage has (0: all cited),
    and how many of them are rare in the library (see :data:`RARE`).
    """
    vocab = index.retriever.vocab_dict if len(index) else {}
    ceiling = math.log((max(1, len(index)) + 0.5) / 0.5 + 1.0)  # the idf of a word no passage has
    uncited = [index.idf(t) / ceiling for t in set(tokenize(subject))
               if len(t) > 2 and not t.isdigit() and t in vocab and t not in cited]
    return max(uncited, default=0.0), float(sum(1 for r in uncited if r >= RARE))


def figure_unanswered(subject: str, cited_text: str) -> float:
    """1 when the subject asks for a figure by its unit or as a count and no cited sentence states one: "the
    average premium per student" answered without a number per student, "how many districts run Ed-Fi" without
    a number of districts; 0 when it asks for no such figure, asks how to work one out, or one is stated.
    """
    if _METHOD.search(subject):
        return 0.0  # the way to a figure is asked, not the figure
    wanted: list[str] = []  # patterns of a stated figure, any one of which answers
    if (unit := _PER_UNIT.search(subject)) is not None:
        word = unit.group(1).lower()
        said = _UNIT_SAID.get(word, f"{word}s?")
        wanted.append(rf"{_NUMBER}[^.;]{{0,60}}\b(?:per|a|an|each|every)\s+(?:[\d,.]+\s+)?(?:{said})\b")
        if word in ("month", "year"):
            wanted.append(rf"{_NUMBER}[^.;]{{0,60}}\b{'monthly' if word == 'month' else '(?:annually|yearly)'}\b")
    if (count := _HOW_MANY.search(subject)) is not None:
        noun = count.group(1).lower()
        stem = noun[:6] if len(noun) > 7 else noun[:-1]  # "applicants" -> "applic" (2,734 applications), "spares" -> "spare"
        if noun not in ("days", "weeks", "months", "years", "hours", "minutes"):  # durations: duration_unanswered
            # a number in the same sentence as the counted thing, either side ("one per classroom" after "access points")
            wanted.append(rf"{_NUMBER}[^.;]{{0,60}}\b{re.escape(stem)}|\b{re.escape(stem)}\w*[^.;]{{0,60}}{_NUMBER}")
    if not wanted:
        return 0.0
    return float(not any(re.search(pattern, cited_text, re.IGNORECASE) for pattern in wanted))


def _name_cited(name: str, cited: set[str], index: KeywordIndex) -> bool:
    """The name's words are cited, or (an acronym) its long form's are: "CSF" by "Cybersecurity Framework"."""
    if set(tokenize(name)) <= cited:
        return True
    long = index.vocabulary.long_form(name)
    return long is not None and bool(words := set(tokenize(long))) and words <= cited


def answerability_signals(question: str, passages: Sequence[Passage], index: KeywordIndex, *,
                          cited_text: str, headers: str = "", lead_doc: str | None = None) -> dict[str, float]:
    """The signals above for one (expanded) question and its passages.

    Args:
        question: the question, with the vocabulary's long forms appended.
        passages: the retrieved passages, best first.
        index: the keyword index.
        cited_text: the sentences the answer would cite.
        headers: the titles and headings of the passages those sentences come from (:func:`cited_headers`).
        lead_doc: the document the answer leads with.
    """
    vocab = index.retriever.vocab_dict if len(index) else {}
    subject, _ = split_subject(question)
    in_subject, in_scene = unknown_subject(question, index)
    said = set(tokenize(cited_text))
    cited = said | set(tokenize(headers))
    focus = _rare({t: index.idf(t) for t in set(tokenize(subject))})
    rare = _rare({t: index.idf(t) for t in set(tokenize(question))})
    top: set[str] = set()
    for passage in passages[:3]:
        top |= set(tokenize(passage.chunk.embed_text))
    choice, choice_uncited = _choice(subject, cited, vocab)
    named = [name for name in dict.fromkeys(names(subject)) if tokenize(name)]
    rarest_uncited, rare_uncited = _subject_uncited(subject, cited, index)
    both = _top_documents(passages, "dense", 3) & _top_documents(passages, "keyword", 3)
    return {
        "unknown_subject": float(in_subject),
        "unknown_scene": float(in_scene),
        "names_uncited": float(sum(1 for name in named if not _name_cited(name, cited, index))),
        "focus_cited": _coverage(focus, said),
        "focus_passages": _coverage(focus, top),
        "together": _together(rare, passages[:5]),
        "agree_top3": _agreement(passages),
        "duration_unanswered": float(bool(_DURATION_ASKED.search(subject)) and not _DURATION.search(cited_text)),
        "figure_unanswered": figure_unanswered(subject, cited_text),
        "choice": choice,
        "choice_uncited": choice_uncited,
        "subject_uncited": rarest_uncited,
        "rare_uncited": rare_uncited,
        "cited_doc_agree": float(lead_doc is not None and lead_doc in both),
    }
