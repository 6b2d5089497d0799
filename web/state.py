"""The one ``Archive`` of this process, opened lazily and kept for every request.

If the index is missing, each request retries the (cheap) open, so a site started before
the first ``indexer rebuild`` begins serving as soon as the index exists, without a restart.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from archive import Archive, ArchiveError

EXTENSION = "archive"


class ArchiveHolder:
    def __init__(self, index_dir: str, embedder=None, query_threads: int | None = None) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.query_threads = query_threads
        self.archive: Archive | None = None
        self.lock = threading.Lock()

    def get(self) -> Archive:
        if self.archive is not None:
            return self.archive
        with self.lock:
            if self.archive is None:
                options = {"embedder": self.embedder} if self.embedder is not None else {}
                self.archive = Archive.open(self.index_dir, query_threads=self.query_threads, **options)  # raises IndexNotFoundError etc.
            return self.archive


def init_app(app: Flask) -> None:
    threads = app.config.get("QUERY_THREADS")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"ARCHIVE_QUERY_THREADS must be a whole number of threads, at least 1, not {threads!r}")
    app.extensions[EXTENSION] = ArchiveHolder(str(app.config["INDEX_DIR"]), app.config.get("EMBEDDER"), threads)


def archive() -> Archive:
    return current_app.extensions[EXTENSION].get()


def warm_up(app: Flask) -> str | None:
    """Open the index and load the model before the first request; the reason if it cannot."""
    try:
        app.extensions[EXTENSION].get().prepare()
    except ArchiveError as problem:
        return problem.message
    return None
