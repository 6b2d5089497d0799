"""The archive's own vocabulary, for "did you mean": word counts over titles and texts.

Counting is one regex pass at build time, and updates adjust the counts for the articles
they add and remove. A suggestion is the known word within two edits (a Levenshtein
automaton over the sorted word list) that is fewest edits away, then most frequent.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable

from whoosh.automata.fsa import find_all_matches
from whoosh.automata.lev import levenshtein_automaton

from ..ingest.articles import Article

WORD = re.compile(r"[^\W\d_]{3,}")
MIN_COUNT = 2  # a word seen once is as likely a typo as a suggestion
MAX_EDITS = 2


def count_words(articles: Iterable[Article]) -> Counter:
    counts: Counter = Counter()
    for article in articles:
        counts.update(WORD.findall(article.title.lower()))
        counts.update(WORD.findall(article.text.lower()))
    return counts


def edit_distance(first: str, second: str) -> int:
    previous = list(range(len(second) + 1))
    for row, left in enumerate(first, start=1):
        current = [row]
        for column, right in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (left != right)))
        previous = current
    return previous[-1]


class Vocabulary:
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = {word: count for word, count in counts.items() if count >= MIN_COUNT}
        self.words = sorted(self.counts)

    def within(self, word: str, edits: int) -> list[str]:
        """Known words at most ``edits`` away. (Whoosh's ListCorrector does the same walk, but
        its lookup skips a word, so it misses matches; this lookup is a plain bisect.)"""
        def next_word(prefix: str) -> str | None:
            index = bisect_left(self.words, prefix)
            return self.words[index] if index < len(self.words) else None

        return list(find_all_matches(levenshtein_automaton(word, edits).to_dfa(), next_word))

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.counts

    def suggest(self, word: str) -> str | None:
        word = word.lower()
        candidates = [candidate for candidate in self.within(word, MAX_EDITS) if candidate != word]
        if not candidates:
            return None
        return min(candidates, key=lambda candidate: (edit_distance(word, candidate), -self.counts[candidate], candidate))
