"""Vocabulary the library defines itself: acronyms, their expansions, and numbered terms.

Found in chunk texts when the keyword index is built (and kept per document, so an
incremental build reads only new and changed documents):

- acronyms defined in the text, "multi-factor authentication (MFA)" or
  "MFA (multi-factor authentication)", checked by the Schwartz-Hearst rule (the
  acronym's letters appear, in order, in the long form, the first at a word start);
- numbered terms, "Category Two" or "Title IV", whose informal forms a reader types
  ("Cat 2", "category 2", "C2", "Title 4");
- standard acronyms of K-12 education and school IT the library uses without defining
  ("CSF" where the library writes "Cybersecurity Framework"), from the glossary shipped
  beside this module (``glossary.txt``); an entry counts only when the library never writes
  the acronym and writes every word of its long form;
- everyday phrases leaders type for what the documents name formally ("quits" for "departing
  staff", "lose access" for "disable accounts"), from ``plain_words.txt`` beside this module;
  a term counts only when the library writes every word of it.

At question time :meth:`Vocabulary.expand` appends the long forms of the acronyms,
informal terms and everyday phrases the question uses, so retrieval and the relevance gate see the words the
library itself uses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kb.core.text import STOPWORDS

__all__ = ["Vocabulary", "find_terms", "load_glossary", "load_plain_words", "GLOSSARY_PATH", "PLAIN_WORDS_PATH"]

GLOSSARY_PATH = Path(__file__).resolve().parent / "glossary.txt"
PLAIN_WORDS_PATH = Path(__file__).resolve().parent / "plain_words.txt"

_SHORT = r"[A-Za-z][A-Za-z0-9&/-]{1,9}"
_LONG_THEN_SHORT = re.compile(r"((?:[A-Za-z0-9][\w'&/-]*[\s,]+){1,12})\((" + _SHORT + r")s?\)")
_SHORT_THEN_LONG = re.compile(r"\b(" + _SHORT + r")\s+\(([A-Za-z][^()]{3,90})\)")
_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_ROMAN = ["", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
_NUMBER = r"(?:\d{1,2}|" + "|".join(_NUMBER_WORDS[1:]) + r"|" + "|".join(r for r in _ROMAN[1:] if r) + r")"
_NUMBERED_TERM = re.compile(r"\b([A-Z][a-z]{2,})\s+(" + _NUMBER + r")\b", re.IGNORECASE)
_INFORMAL = re.compile(r"\b([A-Za-z]{3,})\.?\s*(" + _NUMBER + r")\b", re.IGNORECASE)
_LETTER_DIGIT = re.compile(r"\b([A-Za-z])(\d{1,2})\b")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9&/'-]*")
_MAX_EXPANSIONS = 6


def _number(text: str) -> int | None:
    """The value of ``2``, ``two`` or ``II`` (1-10), else None."""
    low = text.lower()
    if low.isdigit():
        return int(low) if 0 < int(low) <= 10 else None
    if low in _NUMBER_WORDS:
        return _NUMBER_WORDS.index(low) or None
    if low in _ROMAN:
        return _ROMAN.index(low) or None
    return None


def _acronym_like(short: str) -> bool:
    """At least two capitals (``MFA``, ``CoSN``, ``A4L``) or a capital and a digit; not a plain word."""
    capitals = sum(ch.isupper() for ch in short)
    return capitals >= 2 or (capitals >= 1 and any(ch.isdigit() for ch in short) and short[0].isupper())


def _long_form(short: str, text: str) -> str | None:
    """The shortest tail of ``text`` whose characters spell ``short`` (Schwartz and Hearst, 2003)."""
    s, i = len(short) - 1, len(text) - 1
    while s >= 0:
        ch = short[s].lower()
        if not ch.isalpha():  # digits are checked on the whole long form below ("Category Two (C2)")
            s -= 1
            continue
        while i >= 0 and (text[i].lower() != ch or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    long = text[start:].strip(" ,")
    return long if _initials_fit(short, long) else None


def _initials_fit(short: str, long: str) -> bool:
    """The long form's content words start with the acronym's letters, in order, nearly one word per letter.

    Rejects tails that merely contain the letters ("industry council" for ITI, "cisa publishes
    free tabletop exercise packages" for CTEPs).
    """
    letters = [ch.lower() for ch in short if ch.isalpha()]
    split = [w for w in re.split(r"[\s/-]+", long.strip(",")) if w]
    numbers = {_number(w) for w in split} - {None}
    if any(int(d) not in numbers for d in re.findall(r"\d", short) if d != "0"):
        return False
    words = [w for w in split if w[:1].isalpha() and w.lower() not in STOPWORDS and _number(w) is None]
    if not words or long.split()[0].lower() in STOPWORDS or len(words) < max(min(2, len(letters)), len(letters) - 2):
        return False
    position = 0
    for word in words:
        position = letters.index(word[0].lower(), position) + 1 if word[0].lower() in letters[position:] else -1
        if position < 0:
            return False
    return True


def _definitions(text: str) -> Iterable[tuple[str, str]]:
    if "(" not in text:  # both forms need a parenthesis; the scan costs ~0.8 ms a chunk (most of an index build)
        return
    for match in _LONG_THEN_SHORT.finditer(text):
        short = match.group(2)
        if not _acronym_like(short):
            continue
        before = " ".join(match.group(1).split())
        long = _long_form(short, before)
        while long is None and " " in before:  # a leading stop word ("the") can hide a valid long form
            before = before.split(" ", 1)[1]
            long = _long_form(short, before) if before.split()[0].lower() not in STOPWORDS else None
        if long:
            yield short, long
    for match in _SHORT_THEN_LONG.finditer(text):
        short, inside = match.group(1), " ".join(match.group(2).split())
        if _acronym_like(short) and _long_form(short, inside) == inside:
            yield short, inside


def find_terms(text: str) -> dict[str, list[str]]:
    """Acronym definitions and numbered terms in one text.

    Returns:
        ``{"acronyms": ["MFA=multi-factor authentication", ...], "numbered": ["Category Two", ...]}``
        (strings, so the index can store them as JSON).
    """
    acronyms = sorted({f"{short}={long}" for short, long in _definitions(text)})
    numbered = sorted({f"{m.group(1)} {m.group(2)}" for m in _NUMBERED_TERM.finditer(text)
                       if m.group(1)[0].isupper() and m.group(1).lower() not in STOPWORDS and _number(m.group(2))})
    return {"acronyms": acronyms, "numbered": numbered}


@lru_cache(maxsize=2)
def load_glossary(path: Path = GLOSSARY_PATH) -> dict[str, tuple[str, bool]]:
    """The standard acronyms: ``{ACRONYM (upper-cased): (long form, matches only in capitals)}``."""
    entries: dict[str, tuple[str, bool]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        short, sep, long = (part.strip() for part in line.partition("="))
        if not sep or not short or not long:
            raise ValueError(f"{path}: {line!r} is not 'ACRONYM = long form'; fix the line")
        entries[short.rstrip("!").upper()] = (long, short.endswith("!"))
    return entries


Phrases = tuple[str, ...]  # everyday phrases, lower case; a trailing "*" also matches longer words
Terms = tuple[str, ...]  # the library's terms for them


@lru_cache(maxsize=2)
def load_plain_words(path: Path = PLAIN_WORDS_PATH) -> dict[Phrases, Terms]:
    """The everyday phrases and the library terms they stand for: ``{(phrase, ...): (term, ...)}``."""
    entries: dict[Phrases, Terms] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        left, sep, right = line.partition("=")
        phrases = tuple(p.strip().lower() for p in left.split(",") if p.strip())
        terms = tuple(t.strip() for t in right.split(";") if t.strip())
        if not sep or not phrases or not terms:
            raise ValueError(f"{path}: {line!r} is not 'phrase, phrase = term; term'; fix the line")
        entries[phrases] = terms
    return entries


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: Phrases) -> re.Pattern[str]:
    """One pattern for the phrases (longest first), as whole words in any case and spacing."""
    alternatives = [r"\s+".join(re.escape(w) for w in p.rstrip("*").split()) + (r"\w*" if p.endswith("*") else "")
                    for p in sorted(phrases, key=lambda p: (-len(p), p))]
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=8)
def _standard_pattern(shorts: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the standard acronyms (longest first), as a whole word, optionally with a plural "s"."""
    alternatives = "|".join(re.escape(s) for s in sorted(shorts, key=lambda s: (-len(s), s)))
    return re.compile(r"(?<![\w:/&-])(?P<short>" + alternatives + r")(?P<plural>s)?(?![\w:/&-])", re.IGNORECASE)


@dataclass
class Vocabulary:
    """Acronyms and numbered terms of the whole knowledge base, for expanding questions."""

    acronyms: dict[str, str] = field(default_factory=dict)  # upper-cased acronym -> most used long form
    numbered: dict[tuple[str, int], str] = field(default_factory=dict)  # (lower head word, number) -> term as written
    # standard acronyms the library does not define itself: upper-cased acronym -> (long form, capitals only)
    standard: dict[str, tuple[str, bool]] = field(default_factory=dict)
    # everyday phrases -> the library's terms for them (plain_words.txt entries whose terms the library writes)
    plain: dict[Phrases, Terms] = field(default_factory=dict)

    @classmethod
    def from_terms(cls, per_doc: Mapping[str, Mapping[str, list[str]]], *,
                   standard: Mapping[str, tuple[str, bool]] | None = None,
                   plain: Mapping[Phrases, Terms] | None = None) -> Vocabulary:
        """Merge the per-document terms (:func:`find_terms` output): the long form most documents use wins.

        ``standard`` (glossary entries the caller found usable) adds the acronyms the documents do
        not define themselves; ``plain`` (everyday phrases whose terms the documents write) is kept as given.
        """
        long_forms: dict[str, Counter[str]] = {}
        numbered: dict[tuple[str, int], Counter[str]] = {}
        for terms in per_doc.values():
            for entry in terms.get("acronyms", []):
                short, _, long = entry.partition("=")
                long_forms.setdefault(short.upper(), Counter())[long.lower()] += 1
            for term in terms.get("numbered", []):
                head, _, number = term.rpartition(" ")
                value = _number(number)
                if value:
                    numbered.setdefault((head.lower(), value), Counter())[term] += 1
        return cls(acronyms={short: _most_common(c) for short, c in long_forms.items()},
                   numbered={key: _most_common(c) for key, c in numbered.items()},
                   standard={short: entry for short, entry in (standard or {}).items() if short not in long_forms},
                   plain=dict(plain or {}))

    def __len__(self) -> int:
        return len(self.acronyms) + len(self.numbered) + len(self.standard) + len(self.plain)

    def defines(self, word: str) -> bool:
        """Is the word (any case, plural "s" allowed) an acronym this vocabulary expands?

        The unknown-name rule asks this: "CSF" is not unknown to a library that writes
        "Cybersecurity Framework" throughout.
        """
        upper = word.upper()
        return any(w in self.acronyms or w in self.standard for w in (upper, upper[:-1] if upper.endswith("S") else upper))

    def long_form(self, word: str) -> str | None:
        """The long form of an acronym (the library's own, else the glossary's), or None."""
        upper = word.upper()
        for key in (upper, upper[:-1] if upper.endswith("S") else upper):
            if key in self.acronyms:
                return self.acronyms[key]
            if key in self.standard:
                return self.standard[key][0]
        return None

    def _standard_expansions(self, question: str) -> Iterable[str]:
        if not self.standard:
            return
        for match in _standard_pattern(tuple(self.standard)).finditer(question):
            typed, plural = match.group("short"), match.group("plural")
            long, capitals_only = self.standard[typed.upper()]
            if (capitals_only or plural) and not (typed.isupper() or not typed.isalpha()):
                continue  # "sea", "dr", "irs": everyday words or another acronym, not this one
            if plural and plural != "s":
                continue
            yield long

    def expansions(self, question: str) -> list[str]:
        """Long forms of the acronyms, informal numbered terms and everyday phrases the question uses (not already in it)."""
        found: list[str] = []
        low = question.lower()

        def add(term: str | None) -> None:
            """Keep a term once, and only when the question does not already say it (any case)."""
            if term and term.lower() not in low and term.lower() not in (f.lower() for f in found):
                found.append(term)

        for match in _WORD.finditer(question):
            word = match.group(0).rstrip("s") if match.group(0).endswith("s") and match.group(0)[:-1].isupper() else match.group(0)
            if word.lower() in STOPWORDS:
                continue
            add(self.acronyms.get(word.upper()))
        for long in self._standard_expansions(question):
            add(long)
        for match in _INFORMAL.finditer(question):
            head, number = match.group(1), match.group(2)
            if head.lower() in STOPWORDS or not (number.isdigit() or number.isupper()):
                continue  # "for one", "have two": abbreviated heads take a numeral, as people type them
            add(self._numbered(head, number))
        for match in _LETTER_DIGIT.finditer(question):
            if match.group(0).upper() in self.acronyms or match.group(0).upper() in self.standard:
                continue
            add(self._numbered(match.group(1), match.group(2)))
        for phrases, terms in self.plain.items():  # last: the user's abbreviations come first within the cap
            if _phrase_pattern(phrases).search(question):
                for term in terms:
                    add(term)
        return found[:_MAX_EXPANSIONS]

    def _numbered(self, head: str, number: str) -> str | None:
        value = _number(number)
        if value is None:
            return None
        head = head.lower()
        hits = sorted(term for (word, n), term in self.numbered.items() if n == value and word.startswith(head))
        return hits[0] if len(hits) == 1 else None  # an ambiguous short head ("Cat" for two terms) expands nothing

    def split(self, question: str) -> tuple[str, list[str]]:
        """The user's own words and the long forms added for them, apart.

        Works on a question :meth:`expand` already expanded (the trailing "(long; forms)" is
        recognised as the expansions of the words before it) and on a plain one, so retrieval
        can weigh the added words below the user's own.
        """
        head, sep, tail = question.rpartition(" (")
        if sep and tail.endswith(")"):
            added = tail[:-1].split("; ")
            if added == self.expansions(head):
                return head, added
        return question, self.expansions(question)

    def expand(self, question: str) -> str:
        """The question with the long forms it abbreviates appended; unchanged when there are none."""
        found = self.expansions(question)
        return f"{question} ({'; '.join(found)})" if found else question


def _most_common(counter: Counter[str]) -> str:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
