"""Atom feeds (RFC 4287): a search, or a story's versions, to follow in a feed reader.

Entries are ordered newest first by the article's own date; undated articles come after the
dated ones, the most recently seen first. Each entry's ``published`` and ``updated`` are the
article's date (midnight UTC), or, undated, when the archive first saw it. The time an
article was indexed never dates a dated article: a backfill of old articles added today sorts
among their own dates and does not look like news. The feed's ``updated`` is its newest
entry's (the generation's creation when it has none).

The library makes the feed (``Feed``) and writes it as XML (``atom_document``); the edges
give the addresses: the site its own, the CLI a ``--base-url``.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np

from ..index.catalog import UNDATED

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
SUMMARY_CHARACTERS = 600
STORY_SCHEME = "urn:news-archive:story"
SOURCE_SCHEME = "urn:news-archive:source"
GENERATOR = "news-archive"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot hold

ElementTree.register_namespace("", ATOM)


def timestamp(date: str | None, first_seen: str | None, fallback: str) -> str:
    """An RFC 3339 time: the article's date at midnight UTC, else when it was first seen."""
    if date:
        return f"{date}T00:00:00Z"
    return rfc3339(first_seen or fallback)


def rfc3339(value: str) -> str:
    """ISO 8601 as Python writes it (2026-12-07T13:15:59+00:00) in the form Atom readers expect."""
    return value.replace("+00:00", "Z") if value.endswith("+00:00") else value


@dataclass(frozen=True)
class FeedEntry:
    article_id: str
    title: str
    published: str  # RFC 3339
    updated: str
    source: str | None
    summary: str  # plain text
    story_id: str
    url: str | None = None  # the article's own address, if it has one
    date: str | None = None

    @classmethod
    def of(cls, article_id: str, title: str, date: str | None, source: str | None, summary: str, story_id: str,
           first_seen: str | None, created: str, url: str | None = None) -> FeedEntry:
        """An entry dated by its article (published and updated alike), or, undated, by when
        the archive first saw it (``created``, the generation's creation, when that is unknown)."""
        when = timestamp(date, first_seen, created)
        return cls(article_id, title, when, when, source, plain(summary), story_id, url, date)

    def to_dict(self) -> dict:
        return {"id": self.article_id, "title": self.title, "published": self.published, "updated": self.updated,
                "source": self.source, "summary": self.summary, "story_id": self.story_id, "url": self.url}


@dataclass
class Feed:
    id: str  # stable: the same search (or story) has the same id wherever it is served
    title: str
    subtitle: str
    generation: str
    updated: str  # RFC 3339
    entries: list[FeedEntry] = field(default_factory=list)
    timed_out: bool = False  # made from a search cut short: not to be cached as the answer


def search_feed_id(request) -> str:
    """The same for the same search, whatever the host, the parameters' order, or those a
    feed ignores (k, page, sort)."""
    asked = [request.query, request.mode, request.alpha, request.date_from, request.date_to, request.source,
             request.collapse]
    return "urn:news-archive:search:" + hashlib.sha256(json.dumps(asked).encode()).hexdigest()[:24]


def story_feed_id(story: str) -> str:
    return "urn:news-archive:story:" + quote(story, safe="")


def newest_articles(catalog, matching: np.ndarray, one_per_story: bool, limit: int,
                    first_seen: Callable[[list[str]], dict[str, str]]) -> tuple[list[int], dict[str, str]]:
    """The newest ``limit`` of the matching articles (ordinals): dated ones by date, newest
    first; then undated ones, the most recently seen first. ``one_per_story``: a story's
    newest only. Returns them and the first-seen times read."""
    order = catalog.date_order  # oldest first, undated last
    dated_count = int(np.count_nonzero(catalog.day_numbers != UNDATED))
    dated = order[:dated_count][::-1]
    chosen: list[int] = []
    stories: set[int] = set()

    def take(ordinals) -> None:
        for ordinal in ordinals:
            if len(chosen) >= limit:
                return
            story = int(catalog.stories[ordinal])
            if one_per_story and story in stories:
                continue
            stories.add(story)
            chosen.append(ordinal)

    take(dated[matching[dated]].tolist())
    seen: dict[str, str] = {}
    if len(chosen) < limit:  # the undated, only when the dated leave room
        undated = order[dated_count:]
        undated = undated[matching[undated]].tolist()
        seen = first_seen([catalog.article_ids[ordinal] for ordinal in undated]) if undated else {}
        take(sorted(undated, key=lambda ordinal: (seen.get(catalog.article_ids[ordinal], ""), ordinal), reverse=True))
    seen.update(first_seen([catalog.article_ids[ordinal] for ordinal in chosen]))
    return chosen, seen


def best_passage(text: str, spans: list[tuple[int, int]], terms: set[str],
                 term_spans: Callable[[str, set[str]], list]) -> str:
    """The passage with most of the query's words (the first of equals); the text's start when
    none has any."""
    best, most = "", -1
    for start, end in spans:
        count = len(term_spans(text[start:end], terms))
        if count > most:
            best, most = text[start:end], count
    return best or text[:SUMMARY_CHARACTERS * 2]


def ordered(entries: list[FeedEntry], first_seen: dict[str, str]) -> list[FeedEntry]:
    """Newest first by the article's date; undated last, the most recently seen first."""
    dated = sorted((entry for entry in entries if entry.date), key=lambda entry: (entry.date, entry.article_id),
                   reverse=True)
    undated = sorted((entry for entry in entries if not entry.date),
                     key=lambda entry: (first_seen.get(entry.article_id, ""), entry.article_id), reverse=True)
    return dated + undated


def newest(entries: list[FeedEntry], fallback: str) -> str:
    return max((entry.updated for entry in entries), default=rfc3339(fallback))


def plain(text: str, limit: int = SUMMARY_CHARACTERS) -> str:
    """Text for a summary: whitespace folded, cut at a word before ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"


def article_urn(article_id: str) -> str:
    return "urn:news-archive:article:" + quote(article_id, safe="")


@dataclass(frozen=True)
class FeedAddresses:
    """Where the feed and what it links to live (absolute URLs)."""

    self_url: str  # the feed itself
    page_url: str  # the same search or story as a web page
    article_url: Callable[[str], str]  # an article's page
    story_feed_url: Callable[[str], str]  # a story's feed


def atom_document(feed: Feed, addresses: FeedAddresses) -> str:
    """The feed as an Atom 1.0 document (UTF-8, with its XML declaration)."""
    root = ElementTree.Element(f"{{{ATOM}}}feed")

    def add(parent: ElementTree.Element, name: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{ATOM}}}{name}", {key: _NOT_XML.sub("", value)
                                                                      for key, value in attributes.items()})
        if text is not None:
            element.text = _NOT_XML.sub("", text)
        return element

    add(root, "id", feed.id)
    add(root, "title", feed.title)
    add(root, "subtitle", feed.subtitle)
    add(root, "updated", feed.updated)
    add(root, "link", rel="self", type="application/atom+xml", href=addresses.self_url)
    add(root, "link", rel="alternate", type="text/html", href=addresses.page_url)
    add(add(root, "author"), "name", "News archive")
    add(root, "generator", GENERATOR)
    for entry in feed.entries:
        item = add(root, "entry")
        add(item, "id", article_urn(entry.article_id))
        add(item, "title", entry.title or entry.article_id)
        add(item, "link", rel="alternate", type="text/html", href=addresses.article_url(entry.article_id))
        if entry.url and entry.url.startswith(("http://", "https://")):
            add(item, "link", rel="via", href=entry.url)
        add(item, "link", rel="related", type="application/atom+xml", title="This story's feed",
            href=addresses.story_feed_url(entry.story_id))
        add(item, "published", entry.published)
        add(item, "updated", entry.updated)
        add(add(item, "author"), "name", entry.source or "Unknown source")
        if entry.source:
            add(item, "category", term=entry.source, scheme=SOURCE_SCHEME, label=f"Source: {entry.source}")
        add(item, "category", term=entry.story_id, scheme=STORY_SCHEME, label="Story")
        add(item, "summary", entry.summary, type="text")
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
