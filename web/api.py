"""The JSON API: the library's responses, plus an ``html`` rendering of each passage's marks.
Errors go through web/errors.py."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from archive import SIMILAR_K, ArchiveError, SearchRequest

from . import openapi, state
from .rendering import with_html

blueprint = Blueprint("api", __name__)


@blueprint.get("/api/search")
def search():
    response = state.archive().search(SearchRequest.from_text(request.args, blank_is_default=False))
    return jsonify(with_html(response.to_dict()))


@blueprint.get("/api/articles/<path:article_id>/similar")
def similar(article_id: str):
    k = SearchRequest.k_from_text(request.args, default=SIMILAR_K)
    return jsonify(state.archive().more_like(article_id, k).to_dict())


@blueprint.get("/api/articles/<path:article_id>")
def article(article_id: str):
    return jsonify(state.archive().article(article_id).to_dict())


@blueprint.get("/api/stats")
def stats():
    return jsonify(state.archive().stats().to_dict())


@blueprint.get("/healthz")
def health():
    """Liveness, with the index generation when there is one (no index is still "alive")."""
    try:
        generation = state.archive().generation
        return jsonify({"status": "ok", "generation": generation, "index": "ready"})
    except ArchiveError as problem:
        return jsonify({"status": "ok", "generation": None, "index": problem.code})


@blueprint.get("/api/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
