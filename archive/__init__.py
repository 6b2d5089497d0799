"""A searchable news archive: hybrid keyword + semantic search with highlighted evidence.

This package's namespace is its public face: the ``indexer`` CLI and the web app import
only what is named here.
"""

from . import settings
from .archive import Archive
from .backends import BACKENDS, Backend, EmbeddedBackend, MilvusBackend, index_status, open_backend, rebuild, update
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
    OutOfTimeError,
    QueryTooBroadError,
    ResultWindowError,
)
from .index.query_encoder import share_query_encoder
from .indexing.generation import BuildSummary
from .ingest.corpus import FieldMapping
from .search.coverage import EXPORT_FIELDS, EXPORT_FORMATS, CoverageResponse, Export, coverage_csv, export_lines
from .search.feeds import Feed, FeedAddresses, atom_document
from .search.highlight import Event, Mark, Snippet, events, paragraph_spans, paragraphs, snippets, window
from .search.request import (
    INTERVALS,
    MAX_COVERAGE_QUERIES,
    MAX_K,
    MAX_QUERY_CHARACTERS,
    MAX_RESULT_WINDOW,
    MODES,
    SIMILAR_K,
    SORTS,
    WORDS,
    CoverageRequest,
    Parameter,
    SearchRequest,
)
from .search.results import ArticleResponse, PassageResult, Result, SearchResponse, SimilarResponse, StatsResponse
from .settings import DEFAULT_BUDGET_MS, PRECISIONS

__all__ = [
    "DEFAULT_BUDGET_MS", "MAX_K", "PRECISIONS", "MAX_QUERY_CHARACTERS", "MAX_RESULT_WINDOW", "MODES", "SIMILAR_K", "SORTS",
    "BACKENDS", "Archive", "Backend", "ArchiveError", "ArticleNotFoundError", "BackendError", "BackendUnavailableError", "EmbeddedBackend",
    "MilvusBackend", "open_backend", "ArticleResponse", "BuildLockedError", "BuildSummary",
    "CorpusError", "CorpusNotFoundError", "Event", "FieldMapping", "IndexCorruptError", "IndexNotFoundError",
    "InvalidParameterError", "Mark", "ModelError", "Parameter", "PassageResult", "QueryTooBroadError", "Result",
    "ResultWindowError", "OutOfTimeError", "CoverageRequest", "CoverageResponse", "Export", "coverage_csv",
    "Feed", "FeedAddresses", "atom_document", "EXPORT_FIELDS", "EXPORT_FORMATS", "export_lines", "INTERVALS", "WORDS", "MAX_COVERAGE_QUERIES",
    "SearchRequest", "SearchResponse", "SimilarResponse", "Snippet", "StatsResponse",
    "events", "index_status", "share_query_encoder", "paragraph_spans", "paragraphs", "rebuild", "settings", "snippets", "update", "window",
]
