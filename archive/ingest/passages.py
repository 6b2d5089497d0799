"""Passages: paragraph-aware windows of an article, sized for the embedding model.

all-MiniLM-L6-v2 reads at most 256 word pieces. News prose averages about 1.3 word pieces
per word, and each passage is embedded with its article title in front, so a window holds
at most ``MAX_WORDS`` words. Whole paragraphs are packed together up to that size; a
longer paragraph is cut at sentence boundaries, and a longer sentence at word boundaries.
Every passage is a span ``[start, end)`` of the article's cleaned text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sentences import split_sentences

MAX_WORDS = 150
MIN_WORDS = 40  # a shorter trailing window joins the one before it when that still fits

_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


def count_words(text: str, start: int, end: int) -> int:
    return len(_WORD.findall(text, start, end))


def split_passages(article_id: str, text: str, max_words: int = MAX_WORDS,
                   spans: list[tuple[int, int]] | None = None) -> list[Passage]:
    """The article's passages; ``spans``: where they are, when it was split already (elsewhere)."""
    if spans is None:
        spans = passage_spans(text, max_words)
    return [Passage(article_id, ordinal, start, end, text[start:end]) for ordinal, (start, end) in enumerate(spans)]


def passage_spans(text: str, max_words: int = MAX_WORDS) -> list[tuple[int, int]]:
    units = [span for paragraph in _PARAGRAPH.finditer(text) for span in fitting_units(text, paragraph.span(), max_words)]
    windows: list[list[int]] = []  # [start, end, words]
    for start, end in units:
        words = count_words(text, start, end)
        if windows and windows[-1][2] + words <= max_words:
            windows[-1][1] = end
            windows[-1][2] += words
        else:
            windows.append([start, end, words])
    if len(windows) > 1 and windows[-1][2] < MIN_WORDS and windows[-2][2] + windows[-1][2] <= max_words * 1.2:
        last = windows.pop()
        windows[-1][1] = last[1]
    return [(start, end) for start, end, _ in windows]


def fitting_units(text: str, span: tuple[int, int], max_words: int) -> list[tuple[int, int]]:
    """A paragraph if it fits, else its sentences, else word-bounded pieces of a sentence."""
    start, end = span
    if count_words(text, start, end) <= max_words:
        return [(start, end)]
    units: list[tuple[int, int]] = []
    for sentence_start, sentence_end in split_sentences(text, start, end):
        if count_words(text, sentence_start, sentence_end) <= max_words:
            units.append((sentence_start, sentence_end))
            continue
        words = list(_WORD.finditer(text, sentence_start, sentence_end))
        for index in range(0, len(words), max_words):
            chunk = words[index : index + max_words]
            units.append((chunk[0].start(), chunk[-1].end()))
    return units
