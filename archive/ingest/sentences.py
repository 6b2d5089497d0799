"""Sentence boundaries, as character spans, for passage windows and semantic highlighting.

A rule-based splitter: fast enough for query time, and aware of the abbreviations that
newswire text is full of ("Lt. Gen.", "Dec. 19", "U.S.").
"""

from __future__ import annotations

import re

SPLITTER_VERSION = "sentences-1"  # part of the embedding cache key: spans depend on it

ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt lt col gen maj capt cpl sgt adm gov sen rep pres rev hon
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    inc co corp ltd plc bros no nos vol vs etc al approx dept est fig op cit ave blvd rd
    u.s u.k u.n e.g i.e a.m p.m mln bln pct dlrs""".split()
)

# A run of marks (or of line breaks) is matched from its first character only: trying every
# character of a long run ("......", "!?!?!?") again was quadratic.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|(?<!\n)\n+")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?]*[\"'”’)\]]*$")
_WORD_CHARACTER = re.compile(r"[\w.]")
# How far back the word before a boundary is looked for: past any abbreviation's length, and a
# fixed distance, so that a long run of abbreviations ("A. A. A. …") is read in linear time
# (scanning back to the sentence's start each time made a 900 kB paragraph take minutes).
WORD_WINDOW = 64


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences in ``text[start:end]``, trimmed of whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    sentence_start = start
    for match in _BOUNDARY.finditer(text, start, end):
        if match.group().startswith("\n"):
            cut = match.start()
        else:
            window = max(sentence_start, match.start() - WORD_WINDOW)
            word = _WORD_BEFORE.search(text, window, match.start() + 1)
            token = word.group(1).lower().rstrip(".") if word else ""
            if word and word.start(1) == window > sentence_start and _WORD_CHARACTER.match(text, window - 1):
                token = ""  # a word longer than the window: no abbreviation
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
            cut = match.end()
        add_trimmed(text, sentence_start, cut, spans)
        sentence_start = match.end()
    add_trimmed(text, sentence_start, end, spans)
    return spans


def add_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
