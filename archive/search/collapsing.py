"""Collapsing a ranked list to one hit per story: the best-ranked version stands for its story."""

from __future__ import annotations

from ..index.catalog import ArticleCatalog
from .searchers import Hit


def collapse_stories(hits: list[Hit], catalog: ArticleCatalog) -> tuple[list[Hit], dict[str, list[str]]]:
    """The first hit of each story, in rank order, and for each the other versions ranked
    (article ids, best first)."""
    kept: list[Hit] = []
    others: dict[str, list[str]] = {}
    leader: dict[str, str] = {}  # story id -> the article standing for it
    for hit in hits:
        story = catalog.story_id(hit.article_id)
        if story in leader:
            others[leader[story]].append(hit.article_id)
        else:
            leader[story] = hit.article_id
            others[hit.article_id] = []
            kept.append(hit)
    return kept, others


def story_value(values, article_id: str, others: dict[str, list[str]] | None) -> str:
    """A collapsed story's date or source: its best version's, or when that one has none, the
    first of its other matched versions that has one. ``values``: article id -> value or ""."""
    value = values(article_id)
    if value or not others:
        return value
    return next((found for found in map(values, others.get(article_id, ())) if found), "")
