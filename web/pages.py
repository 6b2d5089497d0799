"""Server-rendered pages. They call the library and hand its results to the templates."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from archive import IndexCorruptError, IndexNotFoundError, Mark, SearchRequest, paragraphs, snippets

from . import state

blueprint = Blueprint("pages", __name__)


@blueprint.app_context_processor
def search_parameters() -> dict:
    """What the search forms need to know about the parameters, from SearchRequest."""
    return {"parameters": PARAMETERS, "labels": LABELS, "filter_fields": FILTER_FIELDS}
LEG_NAMES = {"keyword": "keyword", "semantic": "meaning"}
PARAMETERS = {spec.name: spec for spec in SearchRequest.parameters()}
FORM_FIELDS = [spec.url_name for spec in PARAMETERS.values() if spec.name != "page"]
FILTER_FIELDS = [spec.url_name for spec in PARAMETERS.values() if spec.format == "date" or spec.name == "source"]
# How the choices read on the page (the choices themselves come from SearchRequest).
LABELS = {"hybrid": "Both", "keyword": "Keywords", "semantic": "Meaning", "relevance": "Best match", "date": "Newest first"}


@blueprint.get("/")
def home():
    try:
        stats = state.archive().stats().to_dict()
        problem = None
    except (IndexNotFoundError, IndexCorruptError) as error:
        stats, problem = None, error
    return render_template("home.html", stats=stats, problem=problem, form={})


def why(explain: dict) -> str:
    """"keyword #2 (Naiev ≈ Naev) · meaning #1": each leg's rank, and the name spellings it matched."""
    return " · ".join(f"{LEG_NAMES[leg]} #{evidence.rank}"
                      + (f" ({', '.join(evidence.variants)})" if getattr(evidence, "variants", None) else "")
                      for leg, evidence in explain.items() if evidence)


def page_link(arguments: dict, **changes) -> str:
    merged = {key: value for key, value in {**arguments, **changes}.items() if value not in (None, "")}
    return url_for("pages.search") + "?" + urlencode(merged)


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
    )


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    archive = state.archive()
    found = archive.article(article_id)
    start, end = offset(request.args.get("start")), offset(request.args.get("end"))
    highlighted = start is not None and end is not None and 0 <= start < end <= len(found.text)
    pieces = paragraphs(found.text, [Mark(start, end, "passage")] if highlighted else [])
    anchor = next((index for index, piece in enumerate(pieces) if piece.marks), None)
    similar = archive.more_like(article_id).results
    link = found.url if found.url and urlsplit(found.url).scheme in ("http", "https") else None
    return render_template("article.html", article=found, paragraphs=pieces, anchor=anchor, similar=similar,
                           query=request.args.get("q", ""), highlighted=highlighted, original_link=link)


def offset(value: str | None) -> int | None:
    """A character offset from the URL; anything else just means "no highlight"."""
    return int(value) if value and value.isascii() and value.isdigit() else None
