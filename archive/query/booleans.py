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
# Leaves -> the articles any of them matches, or None when the backend cannot match them together.
LeavesMatcher = Callable[[list[query.Query]], "np.ndarray | None"]


def articles_matching(node: query.Query, match: LeafMatcher, article_count: int,
                      allowed: np.ndarray | Callable[[], np.ndarray] | None = None, budget: Budget = UNLIMITED,
                      leaves_within: bool = False, match_any: LeavesMatcher | None = None) -> np.ndarray:
    """The mask (by article ordinal) of the articles that ``node`` matches, decided per
    article, within ``allowed`` (the filters' article mask, or what makes it; None lets every
    article through). ``leaves_within``: the matcher keeps to the filters itself, so the
    filters' mask is made only under NOT. ``match_any``: the leaves of an OR matched together,
    in one pass (on Milvus, one search series for all the words rather than one for each).
    Raises ``OutOfTime`` when the budget ends between two leaves: a partial NOT would let
    excluded articles in, so callers return nothing rather than something wrong."""
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
            children = list(node.children())
            if match_any is not None:
                leaves, others = or_leaves(node)
                if len(leaves) > 1:
                    budget.check()
                    together = match_any(leaves)
                    if together is not None:
                        mask |= together
                        children = others
            for child in children:
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


def or_leaves(node: query.Query) -> tuple[list[query.Query], list[query.Query]]:
    """The leaves of an OR, those of the ORs within it too (a word's name variants), and its
    other parts."""
    leaves: list[query.Query] = []
    others: list[query.Query] = []
    for child in node.children():
        if isinstance(child, query.Or | query.DisjunctionMax):
            inner_leaves, inner_others = or_leaves(child)
            leaves += inner_leaves
            others += inner_others
        elif child.is_leaf() and child is not query.NullQuery:
            leaves.append(child)
        elif child is not query.NullQuery:
            others.append(child)
    return leaves, others
