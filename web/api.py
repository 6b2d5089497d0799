"""The JSON API: the library's responses, unchanged. Errors go through web/errors.py."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from archive.errors import InvalidParameterError

from . import openapi, state
from .parameters import integer, search_arguments

blueprint = Blueprint("api", __name__)


@blueprint.get("/api/search")
def search():
    query = request.args.get("q")
    if query is None:
        raise InvalidParameterError("the q parameter is required")
    return jsonify(state.archive().search(query, **search_arguments(request.args)).to_dict())


@blueprint.get("/api/articles/<path:article_id>/similar")
def similar(article_id: str):
    return jsonify(state.archive().more_like(article_id, integer(request.args, "k", 5)).to_dict())


@blueprint.get("/api/articles/<path:article_id>")
def article(article_id: str):
    return jsonify(state.archive().article(article_id).to_dict())


@blueprint.get("/api/stats")
def stats():
    return jsonify(state.archive().stats().to_dict())


@blueprint.get("/healthz")
def health():
    """Liveness, with the index generation when there is one (no index is still "alive")."""
    from archive.errors import ArchiveError

    try:
        generation = state.archive().generation
        return jsonify({"status": "ok", "generation": generation, "index": "ready"})
    except ArchiveError as problem:
        return jsonify({"status": "ok", "generation": None, "index": problem.code})


@blueprint.get("/api/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
