"""Wildcards, prefixes, fuzzy terms and ranges, rewritten into plain terms under caps.

Whoosh expands such a query into every matching term of the index and scores them one
posting at a time, so ``c* d* e*`` costs seconds and ``*`` reads the whole index. As
Lucene and Elasticsearch do (``max_expansions``, the top-terms rewrite, the clause limit,
``allow_leading_wildcard``), a query here is rewritten before it is searched:

- a pattern needs at least ``MINIMUM_LITERAL_PREFIX`` characters before its first ``*`` or
  ``?``: ``*``, ``a*``, ``?*`` and ``title:*`` are refused (a 400), naming what is allowed;
- each wildcard, prefix, fuzzy term or range becomes an OR of at most ``MAX_EXPANSIONS``
  index terms: the most frequent (a fuzzy term's closest, then most frequent);
- a whole query holds at most ``MAX_QUERY_TERMS`` terms and ``MAX_PATTERNS`` patterns;
  further ones are dropped;
- a fuzzy term allows at most ``MAX_EDITS`` edits (``word~5`` is searched as ``word~2``).

Each cut is reported in the search's note. The rewritten query is a plain sum of terms, so
it is scored on the impact arrays, with BM25 per expanded term (Whoosh gave every match of
a wildcard the same constant score).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from whoosh import query

from ..errors import QueryTooBroadError

MAX_EXPANSIONS = 50
MAX_QUERY_TERMS = 1024
MINIMUM_LITERAL_PREFIX = 2
MAX_EDITS = 2
MAX_PATTERNS = 64  # wildcards, fuzzy terms and ranges in one query
ALLOWED = (f"a wildcard needs at least {MINIMUM_LITERAL_PREFIX} letters or digits before its first * or ? "
           f"(oil*, ukr*ne, wom?n); a bare * or field:* is not searched")
_MULTI_TERM = (query.Prefix, query.Wildcard, query.FuzzyTerm, query.TermRange)


@dataclass
class Expansion:
    """What a rewrite did: terms used so far, and what it had to cut, for the user's note."""

    terms: int = 0
    patterns: int = 0  # wildcards, fuzzy terms and ranges met so far
    cut: dict[str, list[str]] = field(default_factory=dict)  # "the 50 most frequent words" -> ["co* (of 939)"]
    other: list[str] = field(default_factory=list)
    words: set[str] = field(default_factory=set)  # what patterns expanded into

    @property
    def notes(self) -> list[str]:
        return [f"searched {kept} of {', '.join(parts)}" for kept, parts in self.cut.items()] + self.other


class IndexTerms:
    """The terms of each field with their document frequencies, sorted, for expanding."""

    def __init__(self, fields: dict[str, tuple[list[str], np.ndarray]], fallback=None) -> None:
        """``fields``: field -> (terms sorted, their document frequencies). ``fallback(field,
        node)`` lists (term, frequency) for fields not held here (Whoosh's own expansion)."""
        self.fields = fields
        self.fallback = fallback

    def choose(self, node: query.Query, room: int) -> tuple[list[str], int]:
        """The (at most ``room``) terms a node is searched as, and how many it matches: closest
        first (fuzzy terms), then most frequent, then alphabetical for a stable choice. A range
        or prefix is chosen among its slice of the sorted terms in numpy, without a Python
        object per term, so ``[a TO z]`` costs milliseconds."""
        name = node.fieldname
        if name not in self.fields:
            found = [(term, 0, frequency) for term, frequency in (self.fallback(name, node) if self.fallback else [])]
            return best(found, room), len(found)
        terms, frequencies = self.fields[name]
        if isinstance(node, query.FuzzyTerm):
            found = fuzzy_matches(terms, frequencies, node.text, min(node.maxdist, MAX_EDITS), node.prefixlength)
            return best(found, room), len(found)
        if isinstance(node, query.TermRange):
            low = 0 if node.start is None else (bisect_right if node.startexcl else bisect_left)(terms, node.start)
            high = len(terms) if node.end is None else (bisect_left if node.endexcl else bisect_right)(terms, node.end)
        else:
            prefix = literal_prefix(node)
            low, high = bisect_left(terms, prefix), bisect_left(terms, prefix + "\U0010ffff")
        if isinstance(node, query.Wildcard):
            pattern = wildcard_pattern(node.text)
            found = [(terms[index], 0, int(frequencies[index])) for index in range(low, high)
                     if pattern.fullmatch(terms[index])]
            return best(found, room), len(found)
        high = max(low, high)
        order = np.lexsort((np.arange(low, high), -frequencies[low:high]))[:room]  # most frequent, then alphabetical
        return [terms[low + int(position)] for position in order], high - low


def best(found: list[tuple[str, int, int]], room: int) -> list[str]:
    """Of (term, edits, frequency): the closest, then most frequent, then alphabetical."""
    return [term for term, _, _ in sorted(found, key=lambda item: (item[1], -item[2], item[0]))[:room]]


def literal_prefix(node: query.Query) -> str:
    if isinstance(node, query.Prefix):
        return node.text
    return re.split(r"[*?]", node.text, maxsplit=1)[0]


def wildcard_pattern(text: str) -> re.Pattern:
    return re.compile("".join(".*" if part == "*" else "." if part == "?" else re.escape(part)
                              for part in re.split(r"([*?])", text)), re.DOTALL)


def fuzzy_matches(terms: list[str], frequencies: np.ndarray, text: str, edits: int,
                  prefix_length: int) -> list[tuple[str, int, int]]:
    """Terms within ``edits`` edits of ``text`` (optimal string alignment, as Lucene counts a
    swap of neighbours as one edit), sharing its first ``prefix_length`` characters."""
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    prefix = text[:prefix_length]
    low, high = (bisect_left(terms, prefix), bisect_left(terms, prefix + "\U0010ffff")) if prefix else (0, len(terms))
    found = process.extract(text, terms[low:high], scorer=OSA.distance, score_cutoff=edits, limit=None)
    return [(term, int(distance), int(frequencies[low + position])) for term, distance, position in found]


def expand(node: query.Query, index_terms: Callable[[], IndexTerms], expansion: Expansion) -> query.Query:
    """The query with every multi-term part replaced by an OR of its chosen terms; raises
    ``QueryTooBroadError`` for a pattern too broad to search. ``index_terms()`` is called only
    for a query that has such a part (plain queries never pay for sorting the vocabulary)."""
    if isinstance(node, query.Every):
        raise QueryTooBroadError(f"{shown(node)} would match every passage", hint=ALLOWED)
    if isinstance(node, query.Prefix | query.Wildcard) and len(literal_prefix(node)) < MINIMUM_LITERAL_PREFIX:
        raise QueryTooBroadError(f"{shown(node)} is too broad to search", hint=ALLOWED)
    if isinstance(node, _MULTI_TERM):
        return expand_one(node, index_terms, expansion)
    if node.is_leaf():
        expansion.terms += 1
        return node
    return node.apply(lambda child: expand(child, index_terms, expansion))


def expand_one(node: query.Query, index_terms: Callable[[], IndexTerms], expansion: Expansion) -> query.Query:
    room = min(MAX_EXPANSIONS, MAX_QUERY_TERMS - expansion.terms)
    if isinstance(node, query.FuzzyTerm) and node.maxdist > MAX_EDITS:
        expansion.other.append(f"{shown(node)} was searched with {MAX_EDITS} edits, the most allowed")
    if room <= 0:
        expansion.other.append(f"{shown(node)} was left out: the query reached its limit of {MAX_QUERY_TERMS:,} words")
        return query.NullQuery
    expansion.patterns += 1
    if expansion.patterns > MAX_PATTERNS:  # each one scans part of the vocabulary
        expansion.other.append(f"{shown(node)} was left out: a query holds at most {MAX_PATTERNS} wildcards, "
                               "fuzzy terms and ranges")
        return query.NullQuery
    chosen, matching = index_terms().choose(node, room)
    if matching > len(chosen):
        kept = f"the {len(chosen)} {'closest' if isinstance(node, query.FuzzyTerm) else 'most frequent'} words"
        if room < MAX_EXPANSIONS:
            kept += f" (the query's limit is {MAX_QUERY_TERMS:,} words)"
        expansion.cut.setdefault(kept, []).append(f"{shown(node)} (of {matching:,})")
    expansion.terms += len(chosen)
    expansion.words.update(chosen)
    if not chosen:
        return query.NullQuery
    terms = [query.Term(node.fieldname, term) for term in chosen]
    return terms[0].with_boost(node.boost) if len(terms) == 1 else query.Or(terms, boost=node.boost)


def shown(node: query.Query) -> str:
    """A query part as the user wrote it, near enough (the field only when not the default)."""
    prefix = "" if node.fieldname in ("body", None) else f"{node.fieldname}:"
    if isinstance(node, query.Every):
        return f"{prefix}*"
    if isinstance(node, query.Prefix):
        return f"{prefix}{node.text}*"
    if isinstance(node, query.FuzzyTerm):
        return f"{prefix}{node.text}~{node.maxdist}"
    if isinstance(node, query.TermRange):
        return f"{prefix}[{node.start or ''} TO {node.end or ''}]"
    return f"{prefix}{node.text}"
