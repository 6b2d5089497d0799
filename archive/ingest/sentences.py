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

_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|\n+")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?]*[\"'”’)\]]*$")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences in ``text[start:end]``, trimmed of whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    sentence_start = start
    for match in _BOUNDARY.finditer(text, start, end):
        if match.group().startswith("\n"):
            cut = match.start()
        else:
            word = _WORD_BEFORE.search(text, sentence_start, match.start() + 1)
            token = word.group(1).lower().rstrip(".") if word else ""
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
