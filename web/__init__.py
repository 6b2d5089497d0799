"""The web site and JSON API over the archive library.

    create_app()                      settings from ARCHIVE_* environment variables
    create_app({"INDEX_DIR": path})   explicit settings (tests)

``ARCHIVE_INDEX_DIR`` sets ``INDEX_DIR``; ``ARCHIVE_BACKEND`` (``embedded`` or ``milvus``) and
``ARCHIVE_MILVUS_URI`` where the archive is stored; ``ARCHIVE_QUERY_BUDGET_MS`` each search's time budget
(default 1000); ``ARCHIVE_QUERY_THREADS`` the threads that embed a query (default: every core;
``indexer serve`` gives each worker its share). The archive opens once per process, on first use.
"""

from __future__ import annotations

from flask import Flask

from archive import events, settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(INDEX_DIR=str(settings.DEFAULT_INDEX_DIR), BACKEND="embedded", MILVUS_URI=None,
                            JSON_SORT_KEYS=False)
    if test_config is None:
        app.config.from_prefixed_env("ARCHIVE")
    else:
        app.config.update(test_config)
    app.json.sort_keys = False
    app.jinja_env.globals["mark_events"] = events  # used by templates/_marks.html

    from . import api, errors, feeds, pages, state

    state.init_app(app)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(feeds.blueprint)
    errors.register(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
