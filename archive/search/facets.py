"""Facets of a search: how its candidate pool (what ``total`` counts) spreads over time and sources.

Dates are bucketed by day, month or year, whichever suits the span of the matches (at most a
couple of months: days; a few years: months; longer: years). Both facets count what ``total``
counts (articles, or stories when results are collapsed), and each adds up to ``total``:
buckets plus ``undated``, sources plus ``unsourced`` plus ``other``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from ..index.catalog import ArticleCatalog, source_key
from .collapsing import story_value
from .searchers import Hit

DAYS_AT_MOST = 62  # a span up to this many days is shown by day
MONTHS_AT_MOST = 36  # a span up to this many months by month, longer by year
MAX_SOURCES = 20


@dataclass
class Facets:
    unit: str | None = None  # "day", "month" or "year"; None when no match is dated
    dates: list[dict] = field(default_factory=list)  # [{"key": "2022-12", "count": 3}], oldest first
    undated: int = 0
    sources: list[dict] = field(default_factory=list)  # [{"source": "Reuters", "count": 9}], most first
    unsourced: int = 0
    other_sources: int = 0  # articles of sources past the first MAX_SOURCES

    def to_dict(self) -> dict:
        return {"dates": {"unit": self.unit, "buckets": self.dates, "undated": self.undated},
                "sources": {"buckets": self.sources, "unsourced": self.unsourced, "other": self.other_sources}}


def date_unit(first: str, last: str) -> str:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if (end - start).days <= DAYS_AT_MOST:
        return "day"
    months = (end.year - start.year) * 12 + end.month - start.month
    return "month" if months <= MONTHS_AT_MOST else "year"


def count_facets(hits: list[Hit], catalog: ArticleCatalog, others: dict[str, list[str]] | None = None) -> Facets:
    """``others``: collapsed, the other matched versions of each hit's story; a story counts once,
    under its best version's date and source (or, where that has none, another version's)."""
    dates = [story_value(catalog.date_of, hit.article_id, others) for hit in hits]
    dated = sorted(value for value in dates if value)
    facets = Facets(undated=len(dates) - len(dated))
    if dated:
        facets.unit = date_unit(dated[0], dated[-1])
        width = {"day": 10, "month": 7, "year": 4}[facets.unit]
        counts = Counter(value[:width] for value in dated)
        facets.dates = [{"key": key, "count": count} for key, count in sorted(counts.items())]
    sources: Counter = Counter()
    shown: dict[str, str] = {}  # one spelling per source, as the filter matches them
    for hit in hits:
        source = story_value(catalog.source_of, hit.article_id, others)
        key = source_key(source)
        if not key:
            facets.unsourced += 1
            continue
        shown.setdefault(key, " ".join(source.split()))
        sources[key] += 1
    ranked = sorted(sources.items(), key=lambda item: (-item[1], shown[item[0]].casefold()))
    facets.sources = [{"source": shown[key], "count": count} for key, count in ranked[:MAX_SOURCES]]
    facets.other_sources = sum(count for _, count in ranked[MAX_SOURCES:])
    return facets
