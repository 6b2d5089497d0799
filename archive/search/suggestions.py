""""Did you mean": words the archive does not know, replaced by close words it does.

Only plain words of 3 to ``LONGEST_CORRECTED`` letters are ever changed, and the search's
time budget bounds the whole: past it, no suggestion. Only plain words are ever changed. Operators (``AND``, ``OR``, ``NOT``…), quoted phrases,
``field:value`` terms, wildcards and fuzzy terms are kept exactly as typed, and so is the
spacing between them, so a suggestion is still the query the person meant to write.
"""

from __future__ import annotations

import re

from ..backends.contract import Snapshot
from ..index.budget import UNLIMITED, Budget
from ..query.language import OPERATORS

_PIECE = re.compile(r'"[^"]*"?|[^\s"]+')  # a quoted phrase, or a run of other characters
_PLAIN_WORD = re.compile(r"(?P<open>\(*)(?P<word>[^\W\d_](?:[^\W_]|['’](?=[^\W_]))*)(?P<close>\)*)")
SHORTEST_CORRECTED = 3
LONGEST_CORRECTED = 30  # longer "words" are pasted codes or noise, never typos worth correcting


def suggest(snapshot: Snapshot, query: str, budget: Budget = UNLIMITED) -> str | None:
    """The query with each unknown plain word replaced by the closest frequent known word,
    or None when no word needs replacing (or the ``budget`` ends first)."""
    changed = False
    pieces: list[str] = []
    position = 0
    for match in _PIECE.finditer(query):
        if budget.spent():
            return None
        pieces.append(query[position : match.start()])
        position = match.end()
        piece = match.group()
        replacement = correct(snapshot, piece)
        changed = changed or replacement != piece
        pieces.append(replacement)
    pieces.append(query[position:])
    return "".join(pieces) if changed else None


def correct(snapshot: Snapshot, piece: str) -> str:
    if piece in OPERATORS or piece.startswith('"'):
        return piece
    plain = _PLAIN_WORD.fullmatch(piece)
    if plain is None:  # field:value, wildcard*, fuzzy~, boost^2 and anything else with syntax
        return piece
    word = plain["word"]
    if not SHORTEST_CORRECTED <= len(word) <= LONGEST_CORRECTED or not snapshot.keyword.analysis.analyze(word):
        return piece  # too short to judge, or a stop word the index leaves out on purpose
    if snapshot.keyword.word_frequency(word) > 0:
        return piece
    replacement = snapshot.vocabulary.suggest(word)
    if not replacement or replacement == word.lower():
        return piece
    if word[0].isupper():
        replacement = replacement[0].upper() + replacement[1:]
    return plain["open"] + replacement + plain["close"]
