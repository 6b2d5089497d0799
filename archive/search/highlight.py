"""Evidence in text as typed spans, and the one well-nested reading of them that edges render.

The library never returns markup. A passage comes with ``Mark(start, end, kind)`` spans:

* ``keyword``: a word that matches the keyword query (compared after the index's own
  analysis, so "exports" marks "export");
* ``semantic``: a sentence clearly closest in meaning to the query (see ``semantic_marks``);
* ``passage``: on an article page, the passage a result pointed to;
* ``claim``: on an article page, a sentence that other articles of its story also report.

``events`` turns text and marks into a flat sequence of open / text / close events that is
always well nested (outer kinds open first; a mark that crosses another's edge is split in
two), so that an edge only has to print it: escaped HTML in one Jinja macro, terminal
styles in the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

KEYWORD = "keyword"
VARIANT = "variant"  # a variant spelling of a name in the query (Naiev for Naev)
SEMANTIC = "semantic"
PASSAGE = "passage"
CLAIM = "claim"
LEVELS = {PASSAGE: 0, CLAIM: 1, SEMANTIC: 1, KEYWORD: 2, VARIANT: 2}  # outer kinds first

# Semantic marks: at most this many sentences, each within SEMANTIC_MARGIN of the passage's
# best sentence and at least SEMANTIC_FLOOR itself (cosine to the query). Chosen on
# hand-judged pairs in tests/data/semantic-marks.jsonl (docs/design.md, "Why a sentence is marked").
SEMANTIC_MAX_SENTENCES = 2
SEMANTIC_MARGIN = 0.05
SEMANTIC_FLOOR = 0.25

_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")


class Mark(NamedTuple):
    start: int
    end: int
    kind: str


class Event(NamedTuple):
    """One step of a marked text: ``opens`` a mark of that kind, ``closes`` one, or is text.
    ``first`` is true on the first piece of a mark that was split (an anchor goes there)."""

    text: str = ""
    opens: str | None = None
    closes: bool = False
    first: bool = False


_new_tuple = tuple.__new__  # makes these tuples at C speed (a NamedTuple's own constructor is Python)
_CLOSE = Event(closes=True)


@dataclass(frozen=True)
class Snippet:
    """A piece of a longer text, with its marks (relative to the piece)."""

    text: str
    marks: tuple[Mark, ...]
    cut_before: bool = False
    cut_after: bool = False


def semantic_marks(sentence_spans: np.ndarray, sentence_vectors: np.ndarray, query_vector: np.ndarray,
                   margin: float = SEMANTIC_MARGIN, floor: float = SEMANTIC_FLOOR,
                   most: int = SEMANTIC_MAX_SENTENCES) -> list[Mark]:
    """The sentences clearly closest in meaning to the query: the best one and, at most,
    the next ones within ``margin`` of it; none below ``floor``, so a passage unrelated to
    the query gets no mark at all."""
    if len(sentence_spans) == 0:
        return []
    similarities = sentence_vectors.astype(np.float32) @ np.asarray(query_vector, dtype=np.float32)
    order = np.argsort(-similarities, kind="stable")
    best = float(similarities[order[0]])
    chosen = [index for index in order[:most]
              if float(similarities[index]) >= floor and best - float(similarities[index]) <= margin]
    return sorted(Mark(int(sentence_spans[index][0]), int(sentence_spans[index][1]), SEMANTIC) for index in chosen)


def merged(marks: list[Mark] | tuple[Mark, ...], length: int) -> list[Mark]:
    """Marks clipped to the text, empty ones dropped, overlapping ones of a kind joined."""
    by_kind: dict[str, list[list[int]]] = {}
    for mark in sorted(marks, key=lambda mark: (mark.kind, mark.start, mark.end)):
        start, end = max(0, mark.start), min(length, mark.end)
        if end <= start:
            continue
        spans = by_kind.setdefault(mark.kind, [])
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [Mark(start, end, kind) for kind, spans in by_kind.items() for start, end in spans]


def events(text: str, marks: list[Mark] | tuple[Mark, ...]) -> list[Event]:
    """Well-nested open/text/close events covering all of ``text``."""
    marks = sorted(merged(marks, len(text)), key=lambda mark: mark.start)
    cuts = sorted({0, len(text)} | {mark.start for mark in marks} | {mark.end for mark in marks})
    stack: list[Mark] = []
    started: set[Mark] = set()
    output: list[Event] = []
    covering: list[Mark] = []  # the marks over the current piece: a sweep, not a scan of every mark per piece
    following = 0
    for start, end in zip(cuts, cuts[1:], strict=False):
        while following < len(marks) and marks[following].start <= start:
            covering.append(marks[following])
            following += 1
        covering = [mark for mark in covering if mark.end > start]  # (every mark's end is a cut: it covers the piece)
        active = sorted(covering, key=lambda mark: (LEVELS.get(mark.kind, len(LEVELS)), mark.start, -mark.end, mark.kind))
        keep = 0
        while keep < min(len(stack), len(active)) and stack[keep] == active[keep]:
            keep += 1
        output.extend(_CLOSE for _ in stack[keep:])
        for mark in active[keep:]:
            output.append(_new_tuple(Event, ("", mark.kind, False, mark not in started)))
            started.add(mark)
        stack = active
        output.append(_new_tuple(Event, (text[start:end], None, False, False)))
    output.extend(_CLOSE for _ in stack)
    return output


def within(marks: list[Mark] | tuple[Mark, ...], start: int, end: int) -> tuple[Mark, ...]:
    """The marks that fall inside ``[start, end)``, clipped and made relative to ``start``."""
    return tuple(Mark(max(mark.start, start) - start, min(mark.end, end) - start, mark.kind)
                 for mark in marks if mark.start < end and mark.end > start)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph of ``text`` (blank-line separated)."""
    return [match.span() for match in _PARAGRAPH.finditer(text)]


def paragraphs(text: str, marks: list[Mark] | tuple[Mark, ...]) -> list[Snippet]:
    """Each paragraph of ``text`` (blank-line separated) with its marks (a sweep over the marks
    in order, so a long article with many marks costs their number plus its paragraphs')."""
    ordered = sorted(marks, key=lambda mark: mark.start)
    pieces: list[Snippet] = []
    open_marks: list[Mark] = []
    following = 0
    for start, end in paragraph_spans(text):
        while following < len(ordered) and ordered[following].start < end:
            open_marks.append(ordered[following])
            following += 1
        open_marks = [mark for mark in open_marks if mark.end > start]
        pieces.append(Snippet(text[start:end], within(open_marks, start, end)))
    return pieces


def snippets(text: str, marks: list[Mark] | tuple[Mark, ...], limit: int = 2) -> list[Snippet]:
    """What a result list shows of a passage: its paragraphs that carry marks (at most
    ``limit``), or its first paragraph when none do."""
    pieces = paragraphs(text, marks)
    marked = [piece for piece in pieces if piece.marks]
    return marked[:limit] if marked else pieces[:1]


def window(text: str, marks: list[Mark] | tuple[Mark, ...], characters: int = 360) -> Snippet:
    """About ``characters`` of ``text`` on one line, starting a little before its first
    mark and cut at spaces, with the marks inside it."""
    flat = text.replace("\n", " ")
    first = min((mark.start for mark in marks), default=0)
    start = 0 if first < 120 else flat.rfind(" ", 0, first - 80) + 1
    end = start + characters
    if end >= len(flat):
        end = len(flat)
    else:
        space = flat.find(" ", end, end + max(characters // 4, 40))
        end = space if space != -1 else end  # no space near (unspaced scripts): cut at the count
    return Snippet(flat[start:end], within(marks, start, end), cut_before=start > 0, cut_after=end < len(flat))
