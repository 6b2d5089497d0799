"""Names in any spelling: Naev, Nayev and Naiev; Lukashenko and Lukashenka; Zelensky and Zelenskyy.

The archive's own vocabulary of names is the evidence: a word is a name when the texts write it
capitalised in mid-sentence (not as a sentence's first word, nor in a headline) and almost never
in lower case (so "President" or "Minister", written in lower case elsewhere, are not names).
Two names are variants of each other when they share a Double Metaphone key (Whoosh's
implementation) and are close as strings (rapidfuzz's normalised Indel similarity). Only names
expand: "meet" never matches "meat", and "Naev" never matches "knife", whatever their keys.

Counts are kept per word at build time, and updates add and subtract the articles they change,
as for the "did you mean" vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..ingest.articles import Article

WORD = re.compile(r"[^\W\d_]{2,}(?:['’][^\W\d_]+)*")  # hyphens split: compounds are no names
POSSESSIVE = re.compile(r"['’]s$")
MIN_NAME_LENGTH = 4
MAX_LOWERCASE_SHARE = 0.1  # of a word's occurrences, at most this many in lower case for it to be a name
MIN_SIMILARITY = 80.0  # rapidfuzz ratio (0-100): Naev/Nayev 89, Lukashenko/Lukashenka 90, Putin/Patton 55
MAX_VARIANTS = 8  # per name, the most frequent
# Capitalised by English spelling, not because they name someone: never names (March ≈ Marc).
CALENDAR = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
            "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


@dataclass
class NameEvidence:
    """Per lower-cased word: occurrences capitalised in mid-sentence, and in lower case."""

    capitalised: Counter = field(default_factory=Counter)
    lowercase: Counter = field(default_factory=Counter)

    def add(self, other: NameEvidence) -> None:
        self.capitalised.update(other.capitalised)
        self.lowercase.update(other.lowercase)

    def remove(self, other: NameEvidence) -> None:
        self.capitalised.subtract(other.capitalised)
        self.lowercase.subtract(other.lowercase)

    def rows(self) -> list[tuple[str, int, int]]:
        words = set(self.capitalised) | set(self.lowercase)
        return sorted((word, max(self.capitalised[word], 0), max(self.lowercase[word], 0)) for word in words
                      if self.capitalised[word] > 0 or self.lowercase[word] > 0)

    def names(self) -> dict[str, int]:
        """Name -> how often it is written so."""
        return {word: count for word, count in self.capitalised.items()
                if count > 0 and len(word) >= MIN_NAME_LENGTH and word not in CALENDAR
                and self.lowercase[word] <= MAX_LOWERCASE_SHARE * (count + self.lowercase[word])}


def count_name_evidence(articles: Iterable[Article]) -> NameEvidence:
    """Capitalised and lower-case occurrences in the articles' texts (not titles: headlines
    capitalise every word). A word right after a sentence's end, a colon or a paragraph
    break is neither: it is capitalised for its position."""
    evidence = NameEvidence()
    for article in articles:
        text = article.text
        for match in WORD.finditer(text):
            word = POSSESSIVE.sub("", match[0])
            if word[0].islower():
                evidence.lowercase[word.lower()] += 1
            elif name_shaped(word) and not sentence_start(text, match.start()):
                evidence.capitalised[word.lower()] += 1
    return evidence


def name_shaped(word: str) -> bool:
    """Capitalised, the rest in lower case, each part of O'Brien alike: not an acronym (ADP,
    NATO) nor a symbol with capitals inside (IκBα, AdR), which sound-alike matching would join."""
    return all(part[:1].isupper() and (part[1:].islower() or len(part) == 1) for part in re.split(r"['’]", word)) \
        and any(character.islower() for character in word)


def sentence_start(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a text, a paragraph or a sentence: only spaces,
    quotes and brackets stand between it and a sentence's end or a line break."""
    position = start - 1
    while position >= 0 and text[position] in " \t\"“”‘’'([":
        position -= 1
    return position < 0 or text[position] in ".!?:;\n\r"


class NameVariants:
    """Each name's variants, by index term (what the keyword index searches)."""

    def __init__(self, evidence: NameEvidence, index_form: Callable[[str], str]) -> None:
        from rapidfuzz import fuzz
        from whoosh.lang.dmetaphone import double_metaphone

        names = evidence.names()
        groups: dict[str, list[str]] = {}
        for name in names:
            for key in {key for key in double_metaphone(name) if key}:
                groups.setdefault(key, []).append(name)
        variants: dict[str, set[str]] = {}
        for members in groups.values():
            for position, first in enumerate(members):
                for second in members[position + 1 :]:
                    if fuzz.ratio(first, second) >= MIN_SIMILARITY:
                        variants.setdefault(first, set()).add(second)
                        variants.setdefault(second, set()).add(first)
        self.names = set(names)
        chosen: dict[str, dict[str, int]] = {}  # index term -> its variants' index terms, by frequency
        for name, others in variants.items():
            term = index_form(name)
            for other in others:
                other_term = index_form(other)
                if other_term != term:  # names sharing a stem (Naev, Naev's) pool their variants
                    counts = chosen.setdefault(term, {})
                    counts[other_term] = counts.get(other_term, 0) + names[other]
        self.by_term: dict[str, list[str]] = {
            term: sorted(counts, key=lambda other: (-counts[other], other))[:MAX_VARIANTS]
            for term, counts in chosen.items()}

    def of(self, term: str) -> list[str]:
        return self.by_term.get(term, [])

    def is_name(self, word: str) -> bool:
        """Whether a word as written is one of the names (a common word that shares a name's
        stem, "bushes" beside Bush, is not)."""
        return word.lower() in self.names

    def __len__(self) -> int:
        return len(self.by_term)
