"""The JSON API: the library's responses, plus an ``html`` rendering of each passage's marks.
Errors go through web/errors.py."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from werkzeug.wsgi import ClosingIterator

from archive import (
    EXPORT_FORMATS,
    SIMILAR_K,
    ArchiveError,
    CoverageRequest,
    IndexNotFoundError,
    InvalidParameterError,
    SearchRequest,
    coverage_csv,
    export_lines,
)

from . import feeds, openapi, state
from .rendering import with_html

blueprint = Blueprint("api", __name__)


@blueprint.get("/api/search")
def search():
    """Conditional, like the feeds: an unchanged archive answers a repeated search with a 304."""
    searched = SearchRequest.from_text(request.args, blank_is_default=False)
    tag, modified = feeds.validators()
    cached = feeds.not_modified(tag, modified)
    if cached is not None:
        return cached
    response = state.archive().search(searched)
    answer = jsonify(with_html(response.to_dict()))
    return answer if response.timed_out else feeds.with_validators(answer, tag, modified)  # (cut short: not to keep)


@blueprint.get("/api/coverage")
def coverage():
    response = state.archive().coverage(CoverageRequest.from_text(request.args, blank_is_default=False))
    return jsonify(response.to_dict())


@blueprint.get("/api/coverage.csv")
def coverage_table():
    response = state.archive().coverage(CoverageRequest.from_text(request.args, blank_is_default=False))
    return Response(coverage_csv(response), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="coverage.csv"'})


@blueprint.get("/api/export")
def export():
    """Every matching article, streamed: the generation stays held until the last row is
    sent, or the client goes away (Werkzeug closes the body either way)."""
    given = request.args.getlist("format")
    if len(given) > 1:
        raise InvalidParameterError(f"format is given {len(given)} times; give it once")
    format = given[0] if given else EXPORT_FORMATS[0]
    if format not in EXPORT_FORMATS:
        raise InvalidParameterError(f"unknown format {format[:40]!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    arguments = request.args.copy()
    arguments.pop("format", None)
    found = state.archive().export(CoverageRequest.from_text(arguments, blank_is_default=False))
    mimetype = "text/csv" if format == "csv" else "application/x-ndjson"
    return Response(ClosingIterator(export_lines(iter(found), format), [found.close]), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="articles.{format}"',
                             "X-Matching-Articles": str(found.articles)})


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
    """Liveness, with the generation served. ``degraded`` (still a 200: the process is alive)
    when the live generation cannot be served, saying why: a damaged one is refused while the
    previous one keeps serving, or none can be opened. No index yet is "ok": nothing is wrong."""
    try:
        archive = state.archive()
        generation = archive.generation
        problem = archive.problem
        return jsonify({"status": "degraded" if problem else "ok", "generation": generation, "index": "ready",
                        "reason": problem})
    except ArchiveError as problem:
        missing = isinstance(problem, IndexNotFoundError)
        return jsonify({"status": "ok" if missing else "degraded", "generation": None, "index": problem.code,
                        "reason": None if missing else problem.message + (f"; {problem.hint}" if problem.hint else "")})


@blueprint.get("/api/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
