"""AND, OR and NOT decided per article, alike on every backend.

A result is an article, so an article matches ``Shoigu AND agreement`` when the two words
are anywhere in it, not only in one passage, and ``NOT`` excludes whole articles. The tree
of a parsed query is walked here, once for every backend; each backend supplies only a
matcher: the articles one leaf (a word, a phrase) matches, as a mask by article ordinal.

Filters apply everywhere in the tree, under ``NOT`` too: ``NOT x`` means "the articles the
filters let through that lack x", never "every article that lacks x".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from whoosh import query

from ..index.budget import UNLIMITED, Budget


@dataclass(frozen=True)
class Matching:
    """The articles a query's words match in the whole archive (within the filters), not a
    ranked pool: a mask by article ordinal, exact on every backend."""

    articles: np.ndarray
    stories: int | None = None  # how many stories they belong to, when the backend knew it as it matched


LeafMatcher = Callable[[query.Query], np.ndarray]  # a leaf query -> the articles it matches (a mask by ordinal)


def articles_matching(node: query.Query, match: LeafMatcher, article_count: int,
                      allowed: np.ndarray | Callable[[], np.ndarray] | None = None, budget: Budget = UNLIMITED,
                      leaves_within: bool = False) -> np.ndarray:
    """The mask (by article ordinal) of the articles that ``node`` matches, decided per
    article, within ``allowed`` (the filters' article mask, or what makes it; None lets every
    article through). ``leaves_within``: the matcher keeps to the filters itself, so the
    filters' mask is made only under NOT. Raises ``OutOfTime`` when the budget ends between
    two leaves: a partial NOT would let excluded articles in, so callers return nothing
    rather than something wrong."""
    made: list[np.ndarray] = []

    def universe() -> np.ndarray:
        if not made:
            if allowed is None:
                made.append(np.ones(article_count, dtype=bool))
            else:
                made.append(allowed() if callable(allowed) else allowed)
        return made[0]

    def walk(node: query.Query) -> np.ndarray:
        if isinstance(node, query.Or | query.DisjunctionMax):
            mask = np.zeros(article_count, dtype=bool)
            for child in node.children():
                mask |= walk(child)
            return mask
        if isinstance(node, query.And | query.Require):
            found: np.ndarray | None = None
            for child in node.children():
                part = walk(child)
                found = part.copy() if found is None else found & part
                if not found.any():
                    break  # nothing left to intersect: the other words need not be searched
            return universe().copy() if found is None else found
        if isinstance(node, query.AndNot):
            mask = walk(node.a)
            return mask & ~walk(node.b) if mask.any() else mask
        if isinstance(node, query.AndMaybe):
            return walk(node.a)
        if isinstance(node, query.Not):
            return universe() & ~walk(node.query)
        if node is query.NullQuery:
            return np.zeros(article_count, dtype=bool)
        budget.check()
        return match(node)

    found = walk(node)
    return found if leaves_within else found & universe()
