"""Server-rendered pages. They call the library and hand its results to the templates."""

from __future__ import annotations

import bisect
import calendar
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from archive import (
    MAX_COVERAGE_QUERIES,
    BackendError,
    CoverageRequest,
    IndexCorruptError,
    IndexNotFoundError,
    Mark,
    SearchRequest,
    paragraph_spans,
    paragraphs,
    snippets,
)

from . import state
from .charts import STYLES, line_chart

blueprint = Blueprint("pages", __name__)
MAX_OFFSET_DIGITS = 12  # longer than any article: read as no offset (and never past Python's int limit)


@blueprint.app_context_processor
def search_parameters() -> dict:
    """What the search forms need to know about the parameters, from SearchRequest."""
    return {"parameters": PARAMETERS, "labels": LABELS, "filter_fields": FILTER_FIELDS}
LEG_NAMES = {"keyword": "keyword", "semantic": "meaning"}
PARAMETERS = {spec.name: spec for spec in SearchRequest.parameters()}
FORM_FIELDS = [spec.url_name for spec in PARAMETERS.values() if spec.name != "page"]
FILTER_FIELDS = [spec.url_name for spec in PARAMETERS.values() if spec.format == "date" or spec.name == "source"]
# How the choices read on the page (the choices themselves come from SearchRequest).
LABELS = {"hybrid": "Both", "keyword": "Keywords", "semantic": "Meaning", "relevance": "Best match", "date": "Newest first",
          "story": "One per story", "none": "Every version", "any": "Any word",
          "all": "Every word", "auto": "Auto", "day": "Day", "week": "Week", "month": "Month",
          "year": "Year"}
COVERAGE_PARAMETERS = {spec.name: spec for spec in CoverageRequest.parameters()}
SCALES = ("share", "count")


@blueprint.get("/")
def home():
    try:
        stats = state.archive().stats().to_dict()
        problem = None
    except (IndexNotFoundError, IndexCorruptError, BackendError) as error:
        stats, problem = None, error
    return render_template("home.html", stats=stats, problem=problem, form={})


def why(explain: dict) -> str:
    """"keyword #2 (Naiev ≈ Naev) · meaning #1": each leg's rank, and the name spellings it matched."""
    return " · ".join(f"{LEG_NAMES[leg]} #{evidence.rank}"
                      + (f" ({', '.join(evidence.variants)})" if evidence.variants else "")
                      for leg, evidence in explain.items() if evidence)


def page_link(arguments: dict, **changes) -> str:
    merged = {key: value for key, value in {**arguments, **changes}.items() if value not in (None, "")}
    return url_for("pages.search") + "?" + urlencode(merged)


def plural(noun: str, count: int) -> str:
    return noun if count == 1 else ("stories" if noun == "story" else f"{noun}s")


TIMELINE_HEIGHT = 48  # the timeline's drawing units; it scales to the side column's width
BAR_WIDTH, BAR_GAP = 10, 2


def bucket_range(key: str) -> tuple[str, str]:
    """The first and last day of a date facet's bucket ("2022-12" -> 2022-12-01, 2022-12-31)."""
    if len(key) == 4:
        return f"{key}-01-01", f"{key}-12-31"
    if len(key) == 7:
        year, month = int(key[:4]), int(key[5:])
        return f"{key}-01", f"{key}-{calendar.monthrange(year, month)[1]:02d}"
    return key, key


def timeline(facets, links: dict, counted: str = "article") -> dict | None:
    """Bars of the date facet for a server-drawn SVG: each links to the results of its bucket."""
    if not facets.dates:
        return None
    tallest = max(bucket["count"] for bucket in facets.dates)
    bars = []
    for position, bucket in enumerate(facets.dates):
        height = max(2, round(TIMELINE_HEIGHT * bucket["count"] / tallest))
        first, last = bucket_range(bucket["key"])
        bars.append({"x": position * (BAR_WIDTH + BAR_GAP), "y": TIMELINE_HEIGHT - height, "height": height,
                     "label": f"{bucket['key']}: {bucket['count']} {plural(counted, bucket['count'])}",
                     "href": page_link(links, date_from=first, date_to=last, page="")})
    return {"bars": bars, "width": len(bars) * (BAR_WIDTH + BAR_GAP) - BAR_GAP, "height": TIMELINE_HEIGHT,
            "bar_width": BAR_WIDTH, "first": facets.dates[0]["key"], "last": facets.dates[-1]["key"]}


@blueprint.get("/search")
def search():
    if not (request.args.get("q") or "").strip():
        return redirect(url_for("pages.home"))
    response = state.archive().search(SearchRequest.from_text(request.args))
    form = {key: request.args.get(key, "") for key in FORM_FIELDS}
    links = {key: value for key, value in form.items() if value}
    has_next = response.page * response.k < response.total
    return render_template(
        "search.html", response=response, form=form, why=why, snippets=snippets,
        filtered=any(form.get(key) for key in FILTER_FIELDS),
        previous=page_link(links, page=response.page - 1) if response.page > 1 else None,
        next=page_link(links, page=response.page + 1) if has_next else None,
        suggestion_link=page_link(links, q=response.suggestion) if response.suggestion else None,
        unfiltered_link=page_link({key: links[key] for key in ("q", "mode", "k") if key in links}),
        first=(response.page - 1) * response.k + 1,
        article_link=lambda result, passage: url_for("pages.article", article_id=result.id, start=passage.start,
                                                     end=passage.end, q=response.query) + "#match",
        timeline=timeline(response.facets, links, "story" if response.collapse == "story" else "article"),
        source_links=[(bucket, page_link(links, source=bucket["source"], page="")) for bucket in response.facets.sources],
        feed_link=url_for("feeds.search") + "?" + urlencode(
            {key: links[key] for key in links if key not in ("k", "page", "sort")}),
        coverage_link=url_for("pages.coverage") + "?" + urlencode(
            {key: links[key] for key in ("q", "date_from", "date_to", "source") if key in links}),
    )


@blueprint.get("/coverage")
def coverage():
    """How much coverage: the counts over time for up to five queries (one line each), by
    source, the names and words that set the matches apart, and the best stories."""
    queries = [value for value in request.args.getlist("q") if value.strip()]
    scale = request.args.get("scale") if request.args.get("scale") in SCALES else SCALES[0]
    form = {key: request.args.get(key, "") for key in ("words", "interval", "date_from", "date_to", "source")}
    links = [("q", query) for query in queries] + [(key, value) for key, value in form.items() if value]
    if not queries:
        return render_template("coverage.html", response=None, queries=[], form=form, scale=scale, chart=None,
                               coverage_parameters=COVERAGE_PARAMETERS, max_queries=MAX_COVERAGE_QUERIES)
    response = state.archive().coverage(CoverageRequest.from_text(request.args))
    counted = [query for query in response.queries if query.over_time is not None]
    keys = [bucket["key"] for bucket in counted[0].over_time] if counted else []
    field = "share" if scale == "share" else "articles"
    chart = line_chart([(query.query, [bucket[field] for bucket in query.over_time]) for query in counted],
                       keys, percent=scale == "share")
    return render_template(
        "coverage.html", response=response, queries=queries, form=form, scale=scale, chart=chart, styles=STYLES,
        coverage_parameters=COVERAGE_PARAMETERS, max_queries=MAX_COVERAGE_QUERIES,
        scale_links={name: url_for("pages.coverage") + "?" + urlencode(links + [("scale", name)]) for name in SCALES},
        csv_link=url_for("api.coverage_table") + "?" + urlencode(links),
        export_link=lambda query, format: url_for("api.export") + "?" + urlencode(
            [("q", query)] + [(key, value) for key, value in form.items() if value and key != "interval"]
            + [("format", format)]),
        search_link=lambda query: search_within(query, response, form["source"]),
        bucket_link=lambda query, bucket: search_within(query, response, form["source"], bucket),
    )


def search_within(query: str, response, source: str, bucket: dict | None = None) -> str | None:
    """The results page of the articles a count counted: the query within the same filters (a
    bucket's days, kept inside the date filters). None with ``words=all``: a search combines
    plain words as any of them, so its pool is not that set."""
    if response.words == "all":
        return None
    date_from, date_to = response.filters["date_from"], response.filters["date_to"]
    if bucket is not None:
        date_from = max(filter(None, [bucket["start"], date_from]))
        date_to = min(filter(None, [bucket["end"], date_to]))
    arguments = [("q", query), ("date_from", date_from), ("date_to", date_to), ("source", source)]
    return url_for("pages.search") + "?" + urlencode([(key, value) for key, value in arguments if value])


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    archive = state.archive()
    found = archive.article(article_id)
    start, end = offset(request.args.get("start")), offset(request.args.get("end"))
    highlighted = start is not None and end is not None and 0 <= start < end <= len(found.text)
    marks = [Mark(claim.start, claim.end, "claim") for claim in found.claims]
    pieces = paragraphs(found.text, marks + ([Mark(start, end, "passage")] if highlighted else []))
    anchor = next((index for index, piece in enumerate(pieces) if any(mark.kind == "passage" for mark in piece.marks)),
                  None)
    similar = archive.more_like(article_id).results
    link = found.url if found.url and urlsplit(found.url).scheme in ("http", "https") else None
    return render_template("article.html", article=found, paragraphs=pieces, anchor=anchor, similar=similar,
                           query=request.args.get("q", ""), highlighted=highlighted, original_link=link,
                           coverage=found.other_coverage(), claims=claims_by_paragraph(found),
                           timeline=story_timeline(found),
                           story_feed=url_for("feeds.story", story_id=found.story.id) if found.story else None)


def claims_by_paragraph(found) -> dict[int, list[dict]]:
    """paragraph index -> the claims that start in it, each with links to where others report it."""
    titles = {version.id: version.title for version in (found.story.articles if found.story else [])}
    spans = paragraph_spans(found.text)
    starts = [start for start, _ in spans]
    placed: dict[int, list[dict]] = {}
    for claim in found.claims:
        index = bisect.bisect_right(starts, claim.start) - 1  # the paragraph it starts in (claims x paragraphs was slow)
        if index < 0 or claim.start >= spans[index][1]:
            continue
        first = None
        if claim.first is not None:
            who = "this article" if claim.first.article_id == found.id else (
                claim.first.source or titles.get(claim.first.article_id, claim.first.article_id))
            first = {"who": who, "date": short_date(claim.first.date), "iso": claim.first.date,
                     "here": claim.first.article_id == found.id}
        placed.setdefault(index, []).append({"text": claim.text, "first": first, "also": [
            {"label": link.source or titles.get(link.article_id, link.article_id), "title": link.text,
             "href": url_for("pages.article", article_id=link.article_id, start=link.start, end=link.end) + "#match"}
            for link in claim.also]})
    return placed


def short_date(value: str) -> str:
    """"19 Dec 2022" from 2022-12-19."""
    year, month, day = value.split("-")
    return f"{int(day)} {calendar.month_abbr[int(month)]} {year}"


def story_timeline(found) -> list[dict]:
    """The story's versions oldest first (undated last), each with its date and outlet, this
    article and the first report marked: the story's small timeline."""
    if not found.story:
        return []
    dated = sorted((version for version in found.story.articles if version.date),
                   key=lambda version: (version.date, version.id != found.id, version.id))  # (the claims' rule)
    undated = [version for version in found.story.articles if not version.date]
    whole = found.story.size == len(found.story.articles)  # a capped list cannot say which came first
    return [{"id": version.id, "title": version.title, "source": version.source, "date": version.date,
             "date_kind": version.date_kind, "label": short_date(version.date) if version.date else "undated",
             "here": version.id == found.id, "first": whole and index == 0 and bool(version.date)}
            for index, version in enumerate(dated + undated)]


def offset(value: str | None) -> int | None:
    """A character offset from the URL; anything else just means "no highlight"."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > MAX_OFFSET_DIGITS:
        return None
    return int(value)
