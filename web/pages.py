"""Server-rendered pages. They call the library and hand its results to the templates."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, url_for

from archive import MODES
from archive.errors import IndexCorruptError, IndexNotFoundError
from archive.highlight import render_article

from . import state
from .parameters import integer, search_arguments

blueprint = Blueprint("pages", __name__)
LEG_NAMES = {"keyword": "keyword", "semantic": "meaning"}




@blueprint.get("/")
def home():
    try:
        stats = state.archive().stats().to_dict()
        problem = None
    except (IndexNotFoundError, IndexCorruptError) as error:
        stats, problem = None, error
    return render_template("home.html", stats=stats, problem=problem, modes=MODES, form={})


def excerpt(passage_html: str, limit: int = 2) -> list[str]:
    """The paragraphs of a highlighted passage that carry marks (marks never cross a paragraph
    break, so each piece is well-formed HTML); the first paragraph when none do."""
    paragraphs = [paragraph for paragraph in passage_html.split("\n\n") if paragraph.strip()]
    marked = [paragraph for paragraph in paragraphs if "<mark" in paragraph]
    return marked[:limit] if marked else paragraphs[:1]


def why(explain: dict) -> str:
    return " · ".join(f"{LEG_NAMES[leg]} #{evidence['rank']}" for leg, evidence in explain.items() if evidence)


def page_link(arguments: dict, **changes) -> str:
    merged = {key: value for key, value in {**arguments, **changes}.items() if value not in (None, "")}
    return url_for("pages.search") + "?" + urlencode(merged)


@blueprint.get("/search")
def search():
    query = (request.args.get("q") or "").strip()
    if not query:
        return redirect(url_for("pages.home"))
    arguments = search_arguments(request.args)
    response = state.archive().search(query, **arguments).to_dict()
    form = {key: request.args.get(key, "") for key in ("q", "mode", "date_from", "date_to", "source", "sort", "k")}
    links = {key: value for key, value in form.items() if value}
    has_next = response["page"] * response["k"] < response["total"]
    return render_template(
        "search.html", response=response, form=form, modes=MODES, why=why, excerpt=excerpt,
        previous=page_link(links, page=response["page"] - 1) if response["page"] > 1 else None,
        next=page_link(links, page=response["page"] + 1) if has_next else None,
        suggestion_link=page_link(links, q=response["suggestion"]) if response["suggestion"] else None,
        first=(response["page"] - 1) * response["k"] + 1,
        article_link=lambda result, passage: url_for("pages.article", article_id=result["id"], start=passage["start"],
                                                     end=passage["end"], q=query) + "#match",
    )


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    archive = state.archive()
    found = archive.article(article_id).to_dict()
    start = integer(request.args, "start", -1)
    end = integer(request.args, "end", -1)
    paragraphs = render_article(found["text"], start, end) if start >= 0 else render_article(found["text"])
    similar = archive.more_like(article_id, 5).to_dict()["results"]
    return render_template("article.html", article=found, paragraphs=paragraphs, similar=similar,
                           query=request.args.get("q", ""), highlighted=start >= 0 and end > start)
