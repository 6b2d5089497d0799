"""The one ``Archive`` of this process, opened lazily and kept for every request.

If the index is missing, each request retries the (cheap) open, so a site started before
the first ``indexer rebuild`` begins serving as soon as the index exists, without a restart.
"""

from __future__ import annotations

import gc
import importlib
import threading
from pathlib import Path

from flask import Flask, current_app

from archive import DEFAULT_BUDGET_MS, Archive, ArchiveError, open_backend, settings, share_query_encoder

EXTENSION = "archive"


class ArchiveHolder:
    def __init__(self, backend, embedder=None, query_threads: int | None = None,
                 query_budget_ms: int = DEFAULT_BUDGET_MS) -> None:
        """``backend``: where the archive is (``archive.open_backend``)."""
        self.backend = backend
        self.embedder = embedder
        self.query_threads = query_threads
        self.query_budget_ms = query_budget_ms
        self.archive: Archive | None = None
        self.lock = threading.Lock()

    def get(self) -> Archive:
        if self.archive is not None:
            return self.archive
        with self.lock:
            if self.archive is None:
                options = {"embedder": self.embedder} if self.embedder is not None else {}
                self.archive = Archive.open(self.backend, query_threads=self.query_threads,
                                            query_budget_ms=self.query_budget_ms, **options)  # raises IndexNotFoundError etc.
            return self.archive


def init_app(app: Flask) -> None:
    # Settings errors stop the app at start-up, with the message of the library's error tree.
    threads = settings.whole_number("ARCHIVE_QUERY_THREADS", app.config.get("QUERY_THREADS"), 0) or None
    budget = settings.whole_number("ARCHIVE_QUERY_BUDGET_MS", app.config.get("QUERY_BUDGET_MS"), DEFAULT_BUDGET_MS)
    backend = open_backend(app.config.get("BACKEND"), str(app.config["INDEX_DIR"]), app.config.get("MILVUS_URI"),
                           settings.milvus_access(app.config) if app.config.get("BACKEND") == "milvus" else None)
    app.extensions[EXTENSION] = ArchiveHolder(backend, app.config.get("EMBEDDER"), threads, budget)


def archive() -> Archive:
    return current_app.extensions[EXTENSION].get()


PRELOADED = ("onnxruntime", "tokenizers", "waitress", "archive.search.results", "archive.search.coverage")


def preload(work_dir: Path | None = None, model: str | None = None) -> bool:
    """Before forking workers: import what each of them loads (the query encoder's libraries,
    the server), open the live ``model``'s query encoder from ``work_dir`` when given (workers
    that embed on one thread each use it: ``archive.share_query_encoder``), and freeze the
    objects made so far out of the garbage collector's reach, so that the workers share those
    pages instead of each writing its own copy. No index, Milvus session or thread is opened
    here: each worker opens its own after the fork. Whether the encoder is shared."""
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:  # (onnxruntime is optional: queries then go through torch)
            continue
    shared = work_dir is not None and model is not None and share_query_encoder(work_dir, model)
    gc.freeze()
    return shared


def warm_up(app: Flask) -> str | None:
    """Open the index and load the model before the first request; the reason if it cannot."""
    try:
        app.extensions[EXTENSION].get().prepare()
    except ArchiveError as problem:
        return problem.message
    return None
