"""The orders a page of results can come in besides relevance."""

from __future__ import annotations

from ..index.catalog import ArticleCatalog
from .collapsing import story_value
from .searchers import Hit


def sort_by_date(hits: list[Hit], catalog: ArticleCatalog, others: dict[str, list[str]] | None = None) -> list[Hit]:
    """Newest first; undated articles last; relevance order kept among equal dates. Collapsed
    (``others``), a story is dated as the facets date it."""
    dates = {hit.article_id: story_value(catalog.date_of, hit.article_id, others) for hit in hits}
    dated = sorted((hit for hit in hits if dates[hit.article_id]), key=lambda hit: dates[hit.article_id], reverse=True)
    return dated + [hit for hit in hits if not dates[hit.article_id]]
