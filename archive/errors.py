"""The one error tree of the archive.

Every failure a user can cause or meet is an ``ArchiveError`` with a message that says
what went wrong, an optional hint that says what to do, an HTTP-ish ``status`` and a
stable machine ``code``. The edges (the ``indexer`` CLI and the web app) translate these
once: the CLI prints ``error: message`` plus the hint and exits non-zero, the web layer
returns ``{"error": {"status", "code", "message"}}``.
"""

from __future__ import annotations

REBUILD_HINT = "run `indexer rebuild` to build it"


class ArchiveError(Exception):
    """Base of every error the archive raises on purpose."""

    status = 500
    code = "internal_error"
    exit_code = 1
    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class CorpusError(ArchiveError):
    """The corpus cannot be read at all (a single bad file is skipped, not raised)."""

    status = 400
    code = "corpus_error"
    exit_code = 2


class CorpusNotFoundError(CorpusError):
    code = "corpus_not_found"
    default_hint = "pass --corpus PATH or set ARCHIVE_CORPUS to a folder or file of articles"


class BadArticleError(CorpusError):
    """One corpus item is unusable; the build skips it with this message as the reason."""

    code = "bad_article"


class IndexNotFoundError(ArchiveError):
    status = 503
    code = "index_missing"
    exit_code = 3
    default_hint = REBUILD_HINT


class IndexCorruptError(ArchiveError):
    """The index exists but cannot be trusted: a missing or truncated file, a bad manifest."""

    status = 503
    code = "index_corrupt"
    exit_code = 3
    default_hint = "run `indexer rebuild` to build a fresh index"


class IndexVersionError(IndexCorruptError):
    code = "index_version"


class BackendError(ArchiveError):
    """The storage backend (a Milvus server or cluster, or a Milvus Lite database) refused a request."""

    status = 503
    code = "backend_error"
    exit_code = 7


class BackendUnavailableError(BackendError):
    """The storage backend cannot be reached, or did not answer in time."""

    code = "backend_unavailable"
    default_hint = "check that Milvus is running and that --milvus-uri (ARCHIVE_MILVUS_URI) points at it"


class BuildLockedError(ArchiveError):
    status = 409
    code = "build_locked"
    exit_code = 4
    default_hint = "wait for the other build to finish, or pass --wait"


class ModelError(ArchiveError):
    status = 503
    code = "model_unavailable"
    exit_code = 5
    default_hint = "pass --model with a sentence-transformers model name or local path, or set ARCHIVE_MODEL"


class InvalidParameterError(ArchiveError):
    status = 400
    code = "bad_request"
    exit_code = 2


class ResultWindowError(InvalidParameterError):
    """``page * k`` asks for results deeper than the archive fetches (a rule between two parameters)."""

    code = "result_window_too_large"


class ArticleNotFoundError(ArchiveError):
    status = 404
    code = "not_found"
    exit_code = 6


class QueryTooBroadError(InvalidParameterError):
    """A wildcard that would match too much of the index to search (``*``, ``a*``, ``title:*``)."""

    code = "query_too_broad"


class OutOfTimeError(ArchiveError):
    """A whole answer (an export's matching set) could not be made within the time budget:
    nothing partial is given, since a partial count or list would read as the whole."""

    status = 503
    code = "timed_out"
    exit_code = 8


class ClusterError(ArchiveError):
    """The build's cluster (``--cluster``) cannot be started or reached, or Dask is missing."""

    status = 503
    code = "cluster_unavailable"
    exit_code = 9
