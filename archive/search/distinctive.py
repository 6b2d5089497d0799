"""The names and words that set a query's matches apart from the archive.

Both are counted per article (in how many articles a word or name occurs, not how often),
over a sample of the matches (the foreground) and a fixed sample of the whole archive (the
background), and scored with Dunning's log-likelihood ratio, G² (Dunning 1993, "Accurate
methods for the statistics of surprise and coincidence"), over the 2×2 table

                      has the word    lacks it
    matches (read)         a           n1 - a
    archive (read)         c           n2 - c

Only words more frequent among the matches than in the archive (a/n1 > c/n2) are kept, in
at least ``MIN_ARTICLES`` matches; the highest G² first. G² is the statistic Media Cloud's and
corpus linguistics' keyness lists use, and unlike chi-square it stays sound for rare words.

* Terms are words of letters (three or more), lowercased and grouped by their stem (the
  index's analyzer), shown as the matches most often write them. Stop words, the query's own
  words and the archive's names are left out.
* Names are the archive's name vocabulary (archive/index/names.py: capitalised in mid-sentence,
  almost never in lower case), with variant spellings merged under the one the matches write
  most often (Lukashenko and Lukashenka are one name).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..index.budget import Budget
from ..index.names import POSSESSIVE, WORD, NameVariants, name_shaped
from ..ingest.articles import Article

FOREGROUND_SAMPLE = 500  # matching articles read for names and terms, at most
BACKGROUND_SAMPLE = 2000  # archive articles read once per generation, at most
MIN_ARTICLES = 2  # a word or name must be in at least this many of the matches read
MAX_ITEMS = 20
READ_BATCH = 100  # articles read from the store at a time (the budget is checked between batches)
STATISTIC = "log-likelihood ratio (G²) of article counts, matches read against an archive sample"
TERM = re.compile(r"[^\W\d_]{3,}")

STOP_WORDS = frozenset("""
a about above after again against all almost also although always am among an and another any anyone
anything are around as at back be became because become been before being below between both but by
came can cannot could did do does doing done down during each either else even ever every few for from
further get gets getting give given go goes going gone got had has have having he her here hers herself
him himself his how however i if in including into is it its itself just last least less let like made
make makes many may me might more most mostly much must my myself near neither never new next no nor not
now of off often on once one only or other others our ours ourselves out over own per perhaps put rather
said same say says see seen several shall she should since so some still such than that the their theirs
them themselves then there these they this those though through thus to too toward towards under until
up upon us use used very via was we well were what whatever when where whether which while who whom whose
why will with within without would yet you your yours yourself yourselves year years told added according
mln dlrs pct reuter reuters also two three four five six seven eight nine ten first second third week weeks
today yesterday tomorrow monday tuesday wednesday thursday friday saturday sunday january february march
april may june july august september october november december jan feb mar apr jun jul aug sep sept oct nov
dec
""".split())


@dataclass
class ArticleCounts:
    """In how many of ``read`` articles each term (by stem) and each name (by group) occurs,
    and how the articles wrote them ((stem or group, as written) -> articles)."""

    read: int = 0
    terms: Counter = field(default_factory=Counter)
    names: Counter = field(default_factory=Counter)
    term_forms: Counter = field(default_factory=Counter)
    name_forms: Counter = field(default_factory=Counter)

    def add(self, terms: dict[str, str], names: dict[str, str]) -> None:
        """One article's distinct terms (stem -> as written) and names (group -> as written)."""
        self.read += 1
        self.terms.update(terms.keys())
        self.names.update(names.keys())
        self.term_forms.update(terms.items())
        self.name_forms.update(names.items())


def spellings(forms: Counter, keys: set[str]) -> dict[str, list[str]]:
    """Each key's written forms, the most frequent first."""
    found: dict[str, list[tuple[int, str]]] = {}
    for (key, word), count in forms.items():
        if key in keys:
            found.setdefault(key, []).append((-count, word))
    return {key: [word for _, word in sorted(words)] for key, words in found.items()}


@dataclass(frozen=True)
class Distinctive:
    text: str  # the word or name, as the matches most often write it
    matches: int  # articles of the matches read that have it
    archive: int  # articles of the archive sample that have it
    score: float  # G²
    variants: tuple[str, ...] = ()  # other spellings of a name the matches used

    def to_dict(self, kind: str) -> dict:
        found = {kind: self.text, "matches": self.matches, "archive": self.archive, "score": round(self.score, 2)}
        if kind == "name":
            found["variants"] = list(self.variants)
        return found


class Reader:
    """Counts terms and names in articles' texts, with the archive's analyzer and names."""

    def __init__(self, index_form: Callable[[str], str], names: NameVariants | None) -> None:
        self.index_form, self.names = index_form, names
        self._groups: dict[str, str] = {}
        # Per distinct word, decided once (a reader lives as long as its generation): a
        # capitalised word's name group and spelling ("" for no name), a lowercased word's stem
        # ("" for a word left out).
        self._names_of: dict[str, tuple[str, str]] = {}
        self._stems_of: dict[str, str] = {}

    def group(self, term: str) -> str:
        """One key for a name and its variants: the first of them in sort order."""
        found = self._groups.get(term)
        if found is None:
            found = self._groups[term] = min([term] + (self.names.of(term) if self.names else []))
        return found

    def name_of(self, word: str) -> tuple[str, str]:
        found = self._names_of.get(word)
        if found is None:
            written = POSSESSIVE.sub("", word)
            if self.names is not None and name_shaped(written) and self.names.is_name(written):
                found = (self.group(self.index_form(written)), written)
            else:
                found = ("", "")
            self._names_of[word] = found
        return found

    def stem_of(self, word: str) -> str:
        found = self._stems_of.get(word)
        if found is None:
            left_out = word in STOP_WORDS or (self.names is not None and self.names.is_name(word))
            found = self._stems_of[word] = "" if left_out else self.index_form(word)
        return found

    def count(self, articles: Iterable[Article], into: ArticleCounts, skip: frozenset[str] = frozenset()) -> None:
        """Each article's distinct terms and names (title and text) into ``into``; terms whose
        stem is in ``skip`` (the query's own) are left out."""
        for article in articles:
            text = f"{article.title or ''}\n{article.text}"
            found_names: dict[str, str] = {}
            if self.names is not None:
                for word in set(WORD.findall(text)):
                    if word[0].isupper():
                        group, written = self.name_of(word)
                        if group:
                            found_names.setdefault(group, written)
            terms: dict[str, str] = {}
            for word in set(TERM.findall(text.lower())):
                stem = self.stem_of(word)
                if stem and stem not in skip:
                    terms.setdefault(stem, word)
            into.add(terms, found_names)


def read_articles(load: Callable[[Sequence[str]], dict[str, Article]], article_ids: Sequence[str], reader: Reader,
                  into: ArticleCounts, skip: frozenset[str] = frozenset(), budget: Budget | None = None) -> None:
    """Reads the articles in batches, counting each; raises ``OutOfTime`` past the budget."""
    for start in range(0, len(article_ids), READ_BATCH):
        if budget is not None:
            budget.check()
        batch = article_ids[start : start + READ_BATCH]
        found = load(batch)
        reader.count((found[article_id] for article_id in batch if article_id in found), into, skip)


def spread_sample(ordinals: np.ndarray, size: int) -> np.ndarray:
    """At most ``size`` of the ordinals, evenly spread over them (every n-th): the same sample
    every time, and every part of the archive in it."""
    if len(ordinals) <= size:
        return ordinals
    return ordinals[np.linspace(0, len(ordinals) - 1, size).astype(np.int64)]


def log_likelihood(a: int, n1: int, c: int, n2: int) -> float:
    """Dunning's G² for the 2×2 table [[a, n1 - a], [c, n2 - c]]."""
    total = n1 + n2
    with_word = a + c
    score = 0.0
    for observed, row, column in ((a, n1, with_word), (n1 - a, n1, total - with_word),
                                  (c, n2, with_word), (n2 - c, n2, total - with_word)):
        expected = row * column / total if total else 0.0
        if observed > 0 and expected > 0:
            score += observed * math.log(observed / expected)
    return 2.0 * score


def distinctive(foreground: Counter, n1: int, background: Counter, n2: int) -> list[tuple[str, int, int, float]]:
    """(key, a, c, G²) of the keys over-represented in the foreground, the highest G² first."""
    if not n1 or not n2:
        return []
    found = []
    for key, a in foreground.items():
        c = background.get(key, 0)
        if a < MIN_ARTICLES or a / n1 <= c / n2:
            continue
        found.append((key, a, c, log_likelihood(a, n1, c, n2)))
    found.sort(key=lambda item: (-item[3], item[0]))
    return found[:MAX_ITEMS]


def distinctive_terms(matches: ArticleCounts, archive: ArticleCounts) -> list[Distinctive]:
    chosen = distinctive(matches.terms, matches.read, archive.terms, archive.read)
    forms = spellings(matches.term_forms, {key for key, *_ in chosen})
    return [Distinctive(forms[key][0], a, c, score) for key, a, c, score in chosen]


def distinctive_names(matches: ArticleCounts, archive: ArticleCounts) -> list[Distinctive]:
    chosen = distinctive(matches.names, matches.read, archive.names, archive.read)
    forms = spellings(matches.name_forms, {key for key, *_ in chosen})
    return [Distinctive(forms[key][0], a, c, score, tuple(forms[key][1:])) for key, a, c, score in chosen]
