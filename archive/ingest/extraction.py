"""Articles from text and from web pages: what every reader of the corpus (files, records,
crawls, feeds) ends with."""

from __future__ import annotations

import json
import logging

from ..errors import BadArticleError
from . import cleaning, metadata
from .articles import Article


def article_from_text(text: str, article_id: str, path: str | None = None, **known: str | None) -> Article:
    """Plain text with no metadata: the headline, a stated date and a source come from the text.
    ``known`` holds what the container already says (title, date, date_kind, source, url, author)."""
    raw_lines = cleaning.normalise(text).split("\n")
    stated_date = known.get("date") or metadata.find_date(raw_lines)
    lines, signed = cleaning.clean_lines(text)
    source, lines = metadata.find_source(lines)
    title = known.get("title")
    if not title:
        title, lines = metadata.split_headline(lines)
    elif lines and lines[0].strip() == title.strip():
        lines = lines[1:]
    body = cleaning.join_paragraphs(lines)
    if not body and not title:
        raise BadArticleError("no text left after cleaning")
    if not title:
        title = metadata.derive_title(body)
    source = known.get("source") or source or ("Reuters" if signed else None)
    return Article(
        id=article_id,
        title=" ".join(title.split()),
        text=body or title,
        date=stated_date,
        source=source,
        url=known.get("url"),
        path=path,
        author=known.get("author"),
        date_kind=known.get("date_kind") if known.get("date") else None,
    )


# A page trafilatura cannot use is our reason to give ("too little text"), not its error to print:
# with a handler of its own, its records no longer reach Python's last-resort stderr printer
# (an application that configures logging still sees them).
logging.getLogger("trafilatura").addHandler(logging.NullHandler())


def extract_page(html: str | bytes, url: str | None = None) -> dict:
    """trafilatura's main text and metadata of a page (title, date, author, sitename, hostname);
    raises BadArticleError when it finds no main text."""
    import trafilatura

    extracted = trafilatura.extract(
        html, url=url, output_format="json", with_metadata=True, include_comments=False, include_tables=False,
        # a date the page states (its metadata, a <time>, the URL), never one guessed from its text
        # (a "Copyright 2024" footer would otherwise date every page 2024-01-01)
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    found = json.loads(extracted) if extracted else {}
    text = found.get("text") or found.get("raw_text") or ""  # "text" keeps the paragraphs
    if not text.strip():
        raise BadArticleError("no main text found in the HTML")
    found["text"] = text
    return found


def article_from_page(page: dict, article_id: str, path: str, *, url: str | None = None,
                      crawl_date: str | None = None, source: str | None = None) -> Article:
    """An article from ``extract_page``'s result. The page's own date wins; ``crawl_date`` (when
    a crawler fetched it) is only the fallback, and is marked as such."""
    page_date = metadata.parse_date(page.get("date"))
    date, kind = (page_date, "published") if page_date else (crawl_date, "crawled")
    return article_from_text(
        page["text"],
        article_id,
        path,
        title=page.get("title"),
        date=date,
        date_kind=kind,
        # trafilatura's JSON names the site "source-hostname" (its "source" is the URL)
        source=page.get("source-hostname") or page.get("sitename") or source or page.get("hostname"),
        url=url or page.get("source") or page.get("url"),
        author=clean_author(page.get("author")),
    )


def article_from_html(html: str, article_id: str, path: str) -> Article:
    return article_from_page(extract_page(html), article_id, path)


def clean_author(value: object) -> str | None:
    """trafilatura joins several authors with "; "; empty or overlong values are dropped."""
    if not isinstance(value, str):
        return None
    author = " ".join(value.split())
    return author if 0 < len(author) <= 200 else None
