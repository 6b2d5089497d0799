"""The archive's own vocabulary, for "did you mean": word counts over titles and texts.

Counting is one regex pass at build time, and updates adjust the counts for the articles
they add and remove. A suggestion is the known word within two edits that is fewest edits
away, then most frequent; the edits are counted by rapidfuzz, in C, over the known words
within two letters of the word's length (a Levenshtein automaton walked in Python took
seconds for a few long unknown words).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

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


class Vocabulary:
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = {word: count for word, count in counts.items() if count >= MIN_COUNT}
        self.words = sorted(self.counts)
        self.by_length: dict[int, list[str]] = {}
        for word in self.words:
            self.by_length.setdefault(len(word), []).append(word)

    def within(self, word: str, edits: int) -> list[str]:
        """Known words at most ``edits`` away (insertions, deletions and substitutions)."""
        found: list[str] = []
        for length in range(max(1, len(word) - edits), len(word) + edits + 1):
            words = self.by_length.get(length)
            if words:
                matches = process.extract(word, words, scorer=Levenshtein.distance, score_cutoff=edits, limit=None)
                found += [match for match, _, _ in matches]
        return sorted(found)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.counts

    def suggest(self, word: str) -> str | None:
        word = word.lower()
        candidates = [candidate for candidate in self.within(word, MAX_EDITS) if candidate != word]
        if not candidates:
            return None
        return min(candidates, key=lambda candidate: (Levenshtein.distance(word, candidate), -self.counts[candidate], candidate))
