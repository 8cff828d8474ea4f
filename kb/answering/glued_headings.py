"""Where a PDF line's body begins after the heading text its extraction glued in front of it.

A PDF's text layer often runs a page number, a figure caption and a numbered section heading
into the first sentence of the section: "Incident Response Life Cycle (Detection and Analysis)
3.2.1 Attack Vectors Incidents can occur in countless ways ...", "52 Appendix A—Incident
Handling Scenarios Incident handling scenarios provide ...". Quoted as it stands, the
sentence reads as noise to a leader and spends the answer's length on it. The body is found
the way a reader finds it: a heading is a run of capitalised words (small words such as
"and", "of", "the" in lower case), and the body starts at the last capitalised word before
the first lower-case word that is not a small word ("Attack Vectors Incidents can" -> the
body is "Incidents can ..."), or at a word that opens sentences ("... Buying Decisions Since
a Framework Target Profile is ..." -> "Since a ...").

Only a prefix is ever cut, so what is quoted stays word for word in the source. A heading
must come after a section number ("3.2.1", "2.3.1."), a bare page number ("52") or a caption
label ("Figure 2 - ", "Appendix A: "); a line without one is left as it is, and so is a
number that belongs to the sentence ("1.5 Million students ...": no heading word between the
number and the body). Where the body's start is not sure, nothing is cut (see ``_name_start``).
"""

from __future__ import annotations

import itertools
import re

__all__ = ["SMALL_WORDS", "body_start", "heading_words", "split_heading"]

MAX_HEADING_WORDS = 14  # a longer capitalised run is a sentence in title case, not a heading
_WORD = re.compile(r"\S+")
_SECTION_NUMBER = re.compile(r"^\d{1,2}(?:\.\d{1,2}){1,4}\.?$")  # "3.2.1", "2.3.1.", "1.0"
_PAGE_NUMBER = re.compile(r"^\d{1,3}$")
# a numbered caption or part: "Figure 2 - ", "Table 3-1. ", "Appendix A: " (a page number may come first)
_LABEL = re.compile(r"^(?:\d{1,3}\s+)?(?:Figure|Table|Exhibit|Appendix|Chapter)\s+[A-Z0-9][\w.\-]{0,5}\s*[-\u2013\u2014:.]\s+")
# the words a title-case heading keeps in lower case (a sentence quoted for itself has others)
SMALL_WORDS = frozenset("a an the and or nor but of for to in on at by with from as vs vs. via per into onto & - – —".split())
# Words that open a sentence far more often than they sit inside a title-case heading.
_OPENERS = frozenset("""The This These That Those There Here It Its We You They Their Our Your A An When Whenever If
    Unless Once After Before During Since Because Although Though While Where Whether As Each Every All Any Both Many
    Most Some Several Such No Not In On At By With Without For From Under Over Through To Also However""".split())
_LETTERED = frozenset("Appendix Annex Attachment Exhibit Figure Table Section Part Category Tier Type Level Phase Step Plan Option Model".split())
_QUOTES = "\"'\u201c\u2018"
_CAPTION_WORD = re.compile(r"^[(\[]?(?:[A-Z0-9][\w’'./&:-]*|[a-z]{1,4}|&|[-–—])[,;)\]]*$")


def _capitalised(word: str) -> bool:
    word = word.lstrip(_QUOTES)
    return word[:1].isupper() or word[:1].isdigit()


def _opens(words: list[str], i: int) -> bool:
    """The word at ``i`` opens a sentence: an opener ("The", "When"...), "A" only before a lower-case word
    and not as the letter of "Appendix A", "Tier A"."""
    if words[i] not in _OPENERS:
        return False
    if words[i] not in ("A", "An"):
        return True
    lettered = i > 0 and words[i - 1] in _LETTERED
    return not lettered and i + 1 < len(words) and words[i + 1][:1].islower()


def _heading_then_body(words: list[str]) -> int | None:
    """Index of the word where the body starts after a heading at the start of ``words``; None if there is none."""
    if not words or not _capitalised(words[0]):
        return None  # (a heading may open on "The": "2.3.4.1 The Media The incident handling team should ...")
    last_capital = 0
    for i, word in enumerate(words[: MAX_HEADING_WORDS + 2]):
        bare = word.strip("()[],;:" + _QUOTES)
        if i > 0 and _opens(words, i):
            return i
        if word.endswith((";", ".", "?", "!")) and i > 0 and not _SECTION_NUMBER.match(word):
            return None  # a sentence ends inside the run: not a heading
        if bare.lower() in SMALL_WORDS or not bare:
            continue
        if _capitalised(bare):
            last_capital = i
            continue
        # the first lower-case word that is not a small word belongs to the body's first sentence
        if any(w.endswith(",") for w in words[:last_capital]):
            return None  # "NIST SP 800-86, Guide to ... Incident Response, provides": a name in apposition
        return _name_start(words, last_capital)
    return None


def _name_start(words: list[str], last_capital: int) -> int | None:
    """Where the body starts, given its first sentence's subject ends at ``last_capital`` (None: no sure start).

    A run of capitalised words after a small word may be one name, the body's subject or part of
    it: "Referencing the NICE Framework will help" (the body starts at "Referencing"), "Choosing a
    Firewall Vendor Districts should" (at "Districts"), "the Future of Teaching and Learning was
    developed" (before "the"). A lone letter or a figure is a label ("Appendix C identifies",
    "Table 7 provides"). In all these cases where the body starts is not sure, and nothing is cut.
    """
    first = last_capital
    while first > 0 and _capitalised(words[first - 1]):
        first -= 1
    if last_capital <= 0 or words[last_capital - 1].lower() in SMALL_WORDS:
        return None
    if first > 0 and words[first - 1] in ("the", "a", "an"):
        return None
    heading = " ".join(words[:last_capital])
    if heading.count("\u201c") > heading.count("\u201d") or heading.count('"') % 2:
        return None  # a quotation opens in the run and closes in the body: one title, not a heading
    start = words[last_capital].lstrip(_QUOTES)
    if len(start) < 2 or not start[0].isupper() or not start[1].isalpha():
        return None
    return last_capital


def _word_offset(text: str, word: int) -> int:
    """The offset in ``text`` of its ``word``-th word."""
    return [m.start() for m in _WORD.finditer(text)][word]


def body_start(line: str) -> int:
    """The offset in ``line`` where its body starts after a glued heading (0 when nothing is glued on)."""
    matches = list(_WORD.finditer(line))
    words = [m.group() for m in matches]
    number = None
    for i, word in enumerate(words[: MAX_HEADING_WORDS + 1]):
        if _SECTION_NUMBER.match(word) and i + 1 < len(words):
            number = i
            break
        if not _CAPTION_WORD.match(word):
            break  # the words before a section number must read as a caption or a heading
    if number is None and (label := _LABEL.match(line)):  # "Figure 2 - Building Blocks ...", "Appendix A: ..."
        rest = line[label.end():]
        body = _heading_then_body(rest.split())
        # without a heading run the caption is the text itself ("Figure 15: Listening session attendees ranked ..."),
        # and cutting its label would make a table's or figure's title read as a sentence
        start = label.end() + _word_offset(rest, body) if body is not None else 0
        return start if len(line) - start >= 25 else 0
    if number is None:
        if not words or not _PAGE_NUMBER.match(words[0]) or len(words) < 3:
            return 0
        if _opens_after_page_number(words):
            return matches[1].start()  # "20 Once training needs are identified": a page number before a sentence
        number = 0
    body = _heading_then_body(words[number + 1:])
    if body is None:
        return 0
    start = matches[number + 1 + body].start()
    return start if len(line) - start >= 25 else 0


_DETERMINERS = frozenset("the a an this these that those its their our your each every all".split())


def _opens_after_page_number(words: list[str]) -> bool:
    """The words are a page number, then a word that opens a sentence ("20 Once training needs ..."); not "A" or
    "An", which may start what a count counts ("5 A-rated vendors")."""
    return (len(words) >= 3 and bool(_PAGE_NUMBER.match(words[0])) and words[1] in _OPENERS
            and words[1] not in ("A", "An"))


def drop_page_number(sentence: str) -> str:
    """The sentence without a page number run into its start ("13 At a minimum, the entire workforce ..." -> "At a
    minimum, ..."): a number before "At", "The", "Once" ... counts nothing, so it is the page's, not the text's;
    nor does one before a verb that takes an object ("128 Reviewing the NICE Framework, we ..."). A count is
    followed by what it counts: "13 States have ...", "5 Training sessions ...", "3 Ways the district ..." keep
    their numbers."""
    if not sentence.lstrip()[:1].isdigit():  # every sentence of every passage passes here: most leave at once
        return sentence
    matches = list(itertools.islice(_WORD.finditer(sentence), 3))
    words = [m.group() for m in matches]
    if len(words) < 3 or not _PAGE_NUMBER.match(words[0]):
        return sentence
    second, third = words[1], words[2]
    plural = second.endswith("s") and not second.endswith("ss")  # "3 Ways the district can save": a count
    verb = second[:1].isupper() and second.isalpha() and not plural and third in _DETERMINERS
    return sentence[matches[1].start():] if _opens_after_page_number(words) or verb else sentence


def heading_words(prefix: str) -> str:
    """The heading's own words in a cut-off prefix: after its section or page number ("Attack Vectors"), or after a
    caption's number ("Figure 2 - Building Blocks" -> "Building Blocks"); "" for a bare number or caption label."""
    label = _LABEL.match(prefix)
    words = prefix[label.end():].split() if label else prefix.split()
    last = max((i for i, w in enumerate(words) if _SECTION_NUMBER.match(w) or _PAGE_NUMBER.match(w)), default=-1)
    return " ".join(words[last + 1:])


def split_heading(text: str, *, numbered: bool = False) -> tuple[str | None, str]:
    """The heading cut off ``text``'s start (None when nothing is cut, or it has no words of its own) and the body.

    With ``numbered``, only a heading after a section number is cut: a sentence after another on the same line
    ("... education. 4.1 Competencies The ...") starts with a page number only by accident.
    """
    cut = body_start(text)
    if not cut or (numbered and not any(_SECTION_NUMBER.match(word) for word in text[:cut].split())):
        return None, text
    return heading_words(text[:cut]) or None, text[cut:]
