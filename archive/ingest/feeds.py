"""RSS 2.0 and Atom feeds, read with feedparser: each entry is an article (its full content
when the feed carries it, else its summary), with its link, title, date, author, and the feed's
title as the source. An entry's id comes from its link, as a crawled page's does, so an entry
and a crawled copy of the same page are one article."""

from __future__ import annotations

import html
import io
import re
import time
from datetime import date

from ..errors import BadArticleError
from .articles import Article
from .extraction import article_from_text, clean_author
from .links import article_id_from_url, host_of
from .metadata import parse_date
from .records import RecordCounts, Skipped

BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
              "table", "tr", "section", "article", "figure", "figcaption", "header", "footer", "hr"}
DROPPED_TAGS = {"script", "style", "noscript"}


# "<!ENTITY" as each Unicode encoding an XML document may be in writes it
ENTITY_DECLARATION = re.compile(b"|".join(re.escape("<!ENTITY".encode(encoding))
                                          for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")))


def read_feed(data: bytes, relative: str, base_id: str, counts: RecordCounts,
              named_as_feed: bool) -> tuple[list[Article], list[Skipped]]:
    """The feed's articles; entries without text are counted. ``named_as_feed``: the file is
    ``.rss``/``.atom``; a ``.xml`` file that is no feed (a sitemap, NITF) is left out quietly,
    as a file of any other type is."""
    import feedparser

    if ENTITY_DECLARATION.search(data):
        # feedparser's loose parser expands entities that expat refused: a 160 kB "billion laughs"
        # feed became gigabytes. Feeds have no use for declared entities.
        raise BadArticleError("declares its own XML entities (not read, as they can expand without bound)")
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True)
    if not parsed.get("version"):
        if named_as_feed:
            problem = parsed.get("bozo_exception")
            raise BadArticleError(f"not a readable RSS or Atom feed{f': {problem}' if problem else ''}")
        return [], []
    feed = parsed.get("feed", {})
    source = text_of(feed.get("title", "")).strip() or host_of(feed.get("link", "")) or None
    articles: list[Article] = []
    for number, entry in enumerate(parsed.get("entries", []), start=1):
        counts.read += 1
        try:
            articles.append(article_from_entry(entry, f"{base_id}#{number}", f"{relative}:{number}", source))
        except BadArticleError as problem:
            counts.skip(problem.message)
            continue
        counts.kept += 1
    return articles, []


def article_from_entry(entry, fallback_id: str, path: str, source: str | None) -> Article:
    link = entry.get("link") or ""
    title = text_of(entry.get("title", "")).strip()
    body = entry_text(entry)
    if not body.strip():
        if not title:
            raise BadArticleError("entry without text")
        body = title
    return article_from_text(
        body,
        article_id_from_url(link) or fallback_id,
        path,
        title=title or None,
        date=entry_date(entry),
        source=source,
        url=link or None,
        author=clean_author(entry.get("author")),
    )


def entry_text(entry) -> str:
    """The longest full content, else the summary, as plain text."""
    contents = [text_of(part.get("value", ""), part.get("type", "text/html")) for part in entry.get("content", [])]
    contents = [content for content in contents if content.strip()]
    if contents:
        return max(contents, key=len)
    summary = entry.get("summary_detail") or {}
    return text_of(entry.get("summary", ""), summary.get("type", "text/html"))


def entry_date(entry) -> str | None:
    """The date as the feed states it (feedparser's parsed forms are in UTC, which would move an
    evening entry of a feed at -05:00 to the next day); the parsed forms only as a fallback."""
    for key in ("published", "updated", "created"):
        stated = parse_date(entry.get(key))
        if stated:
            return stated
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time):
            try:
                return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday).isoformat()
            except ValueError:
                continue
    return None


def text_of(value: str, media_type: str = "text/html") -> str:
    """Plain text of a feed field: HTML with its blocks as paragraphs, plain text as it is."""
    if not value:
        return ""
    if "html" not in media_type or "<" not in value:
        return html.unescape(value) if "html" in media_type else value
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return html.unescape(value)
    parts: list[str] = []
    collect_text(root, parts)
    return "".join(parts)


def collect_text(element, parts: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in DROPPED_TAGS:
        return
    block = tag in BLOCK_TAGS
    if block:
        parts.append("\n\n")
    if element.text and tag:
        parts.append(element.text)
    for child in element:
        collect_text(child, parts)
        if child.tail:
            parts.append(child.tail)
    if block:
        parts.append("\n\n")
