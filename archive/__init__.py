"""A searchable news archive: hybrid keyword + semantic search with highlighted evidence.

This package's namespace is its public face: the ``indexer`` CLI and the web app import
only what is named here.
"""

from . import settings
from .archive import Archive
from .build.backends import BACKENDS, EmbeddedBackend, MilvusBackend, open_backend
from .build.generation import BuildSummary
from .build.rebuild import rebuild
from .build.status import index_status
from .build.update import update
from .errors import (
    ArchiveError,
    ArticleNotFoundError,
    BackendError,
    BackendUnavailableError,
    BuildLockedError,
    CorpusError,
    CorpusNotFoundError,
    IndexCorruptError,
    IndexNotFoundError,
    InvalidParameterError,
    ModelError,
    QueryTooBroadError,
    ResultWindowError,
)
from .ingest.corpus import FieldMapping
from .settings import DEFAULT_BUDGET_MS, PRECISIONS
from .search.highlight import Event, Mark, Snippet, events, paragraph_spans, paragraphs, snippets, window
from .search.request import (
    MAX_K,
    MAX_QUERY_CHARACTERS,
    MAX_RESULT_WINDOW,
    MODES,
    SIMILAR_K,
    SORTS,
    Parameter,
    SearchRequest,
)
from .search.results import ArticleResponse, PassageResult, Result, SearchResponse, SimilarResponse, StatsResponse

__all__ = [
    "DEFAULT_BUDGET_MS", "MAX_K", "PRECISIONS", "MAX_QUERY_CHARACTERS", "MAX_RESULT_WINDOW", "MODES", "SIMILAR_K", "SORTS",
    "BACKENDS", "Archive", "ArchiveError", "ArticleNotFoundError", "BackendError", "BackendUnavailableError", "EmbeddedBackend",
    "MilvusBackend", "open_backend", "ArticleResponse", "BuildLockedError", "BuildSummary",
    "CorpusError", "CorpusNotFoundError", "Event", "FieldMapping", "IndexCorruptError", "IndexNotFoundError",
    "InvalidParameterError", "Mark", "ModelError", "Parameter", "PassageResult", "QueryTooBroadError", "Result",
    "ResultWindowError",
    "SearchRequest", "SearchResponse", "SimilarResponse", "Snippet", "StatsResponse",
    "events", "index_status", "paragraph_spans", "paragraphs", "rebuild", "settings", "snippets", "update", "window",
]
