"""The one error handler: every failure becomes the documented JSON shape on API routes,
or a friendly page on HTML routes. Nothing ever shows a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from archive import ArchiveError

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 414: "uri_too_long"}


def wants_json() -> bool:
    """The API, health and the feeds (read by programs) answer errors in the JSON shape."""
    return request.path.startswith("/api/") or request.path == "/healthz" or request.path.endswith(".atom")


def error_response(status: int, code: str, message: str, hint: str | None = None, headers: dict | None = None):
    if wants_json():
        response = jsonify({"error": {"status": status, "code": code, "message": message}})
    else:
        response = render_template("error.html", status=status, code=code, message=message, hint=hint)
    return response, status, headers or {}


def register(app: Flask) -> None:
    @app.errorhandler(ArchiveError)
    def archive_error(problem: ArchiveError):
        message = problem.message + (f" ({problem.hint})" if problem.hint and wants_json() else "")
        return error_response(problem.status, problem.code, message, problem.hint)

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        status = problem.code or 500
        messages = {404: "no such page or API route", 405: f"{request.method} is not allowed here"}
        # Keep the headers Werkzeug set: a 405 must say which methods are allowed (RFC 9110 Allow).
        headers = {name: value for name, value in problem.get_headers() if name.lower() != "content-type"}
        return error_response(status, HTTP_CODES.get(status, "http_error"),
                              messages.get(status, problem.description or problem.name), headers=headers)

    @app.errorhandler(Exception)
    def unexpected(problem: Exception):
        log.exception("unhandled error on %s", request.path)
        return error_response(500, "internal_error", "something went wrong on our side; the error was logged")
