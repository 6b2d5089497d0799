"""Atom feeds of a search and of a story, and conditional requests.

A feed (and the JSON search) carries an ``ETag`` made from the generation and the request,
and ``Last-Modified``, the generation's creation: nothing the archive answers can change
without a new generation. A request whose ``If-None-Match`` or ``If-Modified-Since`` says the
client has it already gets a 304 before anything is searched, so a feed reader polling every
minute costs a hash and a comparison.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, Response, request, url_for

from archive import FeedAddresses, SearchRequest, atom_document

from . import state

blueprint = Blueprint("feeds", __name__)
ATOM_TYPE = "application/atom+xml"
FEED_MAX_AGE = 60  # seconds a feed reader may keep a feed without asking again


def validators() -> tuple[str, datetime]:
    """(ETag, Last-Modified) of this request against the live generation."""
    generation, created_at = state.archive().version()
    asked = request.full_path if request.query_string else request.path
    tag = hashlib.sha256(f"{generation}\n{asked}".encode()).hexdigest()[:32]
    return tag, datetime.fromisoformat(created_at).replace(microsecond=0)


def not_modified(tag: str, modified: datetime) -> Response | None:
    """A 304 when the client's copy is current (RFC 9110: If-None-Match wins over If-Modified-Since)."""
    if request.if_none_match:
        fresh = request.if_none_match.contains_weak(tag)  # (RFC 9110: If-None-Match compares weakly)
    elif request.if_modified_since is not None:
        fresh = modified <= request.if_modified_since
    else:
        fresh = False
    if not fresh:
        return None
    response = Response(status=304)
    return with_validators(response, tag, modified)


def with_validators(response: Response, tag: str, modified: datetime) -> Response:
    """Weak: the same answer, not the same bytes (timings, and addresses under another host)."""
    response.set_etag(tag, weak=True)
    response.last_modified = modified
    response.headers["Cache-Control"] = f"public, max-age={FEED_MAX_AGE}"
    return response


def addresses(self_url: str, page_url: str) -> FeedAddresses:
    return FeedAddresses(
        self_url=self_url, page_url=page_url,
        article_url=lambda article_id: url_for("pages.article", article_id=article_id, _external=True),
        story_feed_url=lambda story: url_for("feeds.story", story_id=story, _external=True))


def feed_request() -> SearchRequest:
    """The search parameters, as on /search (an empty field means "not given"); every version
    is an entry unless ``collapse=story`` is asked for. k, page and sort do not apply: a feed is
    the newest 100."""
    values = request.args.copy()
    for name in ("k", "page", "sort"):
        values.pop(name, None)
    values.setdefault("collapse", "none")
    if not values.get("collapse"):
        values["collapse"] = "none"
    return SearchRequest.from_text(values)


@blueprint.get("/search.atom")
def search():
    searched = feed_request()  # (a bad request is a 400 before any validator)
    tag, modified = validators()
    cached = not_modified(tag, modified)
    if cached is not None:
        return cached
    feed = state.archive().search_feed(searched)
    page = url_for("pages.search", _external=True) + "?" + request.query_string.decode("ascii", "replace")
    document = Response(atom_document(feed, addresses(request.url, page)), mimetype=ATOM_TYPE)
    return document if feed.timed_out else with_validators(document, tag, modified)  # (cut short: not to keep)


@blueprint.get("/stories/<path:story_id>.atom")
def story(story_id: str):
    state.archive().check_story(story_id)  # a 404 before any 304 (RFC 9110: preconditions only for a 2xx)
    tag, modified = validators()
    cached = not_modified(tag, modified)
    if cached is not None:
        return cached
    feed = state.archive().story_feed(story_id)
    first = feed.entries[0].article_id if feed.entries else None
    page = url_for("pages.article", article_id=first, _external=True) + "#coverage" if first else request.url_root
    document = atom_document(feed, addresses(request.url, page))
    return with_validators(Response(document, mimetype=ATOM_TYPE), tag, modified)
