"""HTML renderings of passages: escape first, then add marks.

``<mark>`` wraps words that match the keyword query (compared after the index's own
analysis, so "exports" marks "export"); ``<mark class="semantic">`` wraps the sentence(s)
closest in meaning to the query. Every character of article text goes through
``html.escape`` and only the marks themselves are markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np

SEMANTIC_RUNNER_UP_MARGIN = 0.05  # a second sentence is marked when this close to the best
SEMANTIC_MINIMUM = 0.0  # a sentence pointing away from the query (negative cosine) is never marked


def keyword_spans(text: str, terms: set[str], analyzer) -> list[tuple[int, int]]:
    """Character spans of tokens whose analysed form is a query term."""
    if not terms:
        return []
    return [
        (token.startchar, token.endchar)
        for token in analyzer(text, chars=True, removestops=False, mode="index")
        if token.text in terms
    ]


def semantic_spans(
    sentence_spans: np.ndarray, sentence_vectors: np.ndarray, query_vector: np.ndarray
) -> list[tuple[int, int]]:
    """The best sentence, and the runner-up when it is nearly as close."""
    if len(sentence_spans) == 0:
        return []
    similarities = sentence_vectors.astype(np.float32) @ query_vector.astype(np.float32)
    order = np.argsort(-similarities)
    best = float(similarities[order[0]])
    if best < SEMANTIC_MINIMUM:
        return []
    chosen = [order[0]]
    if len(order) > 1 and best - float(similarities[order[1]]) <= SEMANTIC_RUNNER_UP_MARGIN:
        chosen.append(order[1])
    return sorted((int(sentence_spans[index][0]), int(sentence_spans[index][1])) for index in chosen)


def render(text: str, keyword: Iterable[tuple[int, int]], semantic: Iterable[tuple[int, int]]) -> str:
    """Escaped ``text`` with marks. Sentence marks never overlap each other, and a keyword
    mark that straddles a sentence edge is clipped so the HTML stays well nested."""
    semantic = sorted(semantic)
    keyword = sorted(clip_to_sentences(sorted(keyword), semantic))
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for start, end in semantic:
        opens.setdefault(start, []).append('<mark class="semantic">')
        closes.setdefault(end, []).insert(0, "</mark>")
    for start, end in keyword:
        opens.setdefault(start, []).append("<mark>")
        closes.setdefault(end, []).insert(0, "</mark>")
    cuts = sorted(set(opens) | set(closes) | {0, len(text)})
    pieces: list[str] = []
    for index, position in enumerate(cuts):
        pieces.extend(closes.get(position, []))  # keyword closes come before sentence closes
        pieces.extend(opens.get(position, []))
        if index + 1 < len(cuts):
            pieces.append(html.escape(text[position : cuts[index + 1]], quote=True))
    return "".join(pieces)


def clip_to_sentences(keyword: list[tuple[int, int]], semantic: list[tuple[int, int]]) -> list[tuple[int, int]]:
    clipped = []
    for start, end in keyword:
        for sentence_start, sentence_end in semantic:
            if start < sentence_start < end:
                end = sentence_start
            if start < sentence_end < end:
                start = sentence_end
        if end > start:
            clipped.append((start, end))
    return clipped


def render_article(text: str, start: int | None = None, end: int | None = None) -> list[str]:
    """The article as escaped paragraphs (HTML fragments, one per paragraph), with the span
    ``[start, end)`` wrapped in ``<mark class="passage">`` piece by piece across paragraphs;
    the first piece carries ``id="match"`` so that ``#match`` scrolls to it without script."""
    valid = start is not None and end is not None and 0 <= start < end <= len(text)
    paragraphs: list[str] = []
    position = 0
    first_piece = True
    for block in text.split("\n\n"):
        block_start, block_end = position, position + len(block)
        position = block_end + 2
        if not block.strip():
            continue
        if not valid or end <= block_start or start >= block_end:
            paragraphs.append(html.escape(block, quote=True))
            continue
        inner_start, inner_end = max(start, block_start) - block_start, min(end, block_end) - block_start
        anchor = ' id="match" tabindex="-1"' if first_piece else ""
        first_piece = False
        paragraphs.append(
            html.escape(block[:inner_start], quote=True)
            + f'<mark class="passage"{anchor}>' + html.escape(block[inner_start:inner_end], quote=True) + "</mark>"
            + html.escape(block[inner_end:], quote=True)
        )
    return paragraphs
