"""Defaults and their ``ARCHIVE_*`` environment overrides, read when asked, never at import."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InvalidParameterError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_CORPUS = "corpus"
DEFAULT_INDEX_DIR = "var/index"
DEFAULT_BUDGET_MS = 1000  # how long one search may run (archive/index/budget.py)
PRECISIONS = ("auto", "fp32", "bf16")  # embedding precisions (archive/index/precision.py)


def corpus_path() -> Path:
    return Path(os.environ.get("ARCHIVE_CORPUS") or DEFAULT_CORPUS)


def corpus_override() -> Path | None:
    """The corpus named by the environment, if any (status compares with the indexed one otherwise)."""
    value = os.environ.get("ARCHIVE_CORPUS")
    return Path(value) if value else None


def index_dir() -> Path:
    return Path(os.environ.get("ARCHIVE_INDEX_DIR") or DEFAULT_INDEX_DIR)


def backend() -> str:
    """Where the archive is stored: ``embedded`` or ``milvus`` (``ARCHIVE_BACKEND``)."""
    return os.environ.get("ARCHIVE_BACKEND") or "embedded"


def milvus_uri() -> str | None:
    """A Milvus Lite ``.db`` path or a server's ``http://host:19530`` (``ARCHIVE_MILVUS_URI``)."""
    return os.environ.get("ARCHIVE_MILVUS_URI") or None


def model_name() -> str:
    return os.environ.get("ARCHIVE_MODEL") or DEFAULT_MODEL


def query_budget_ms() -> int:
    """How long one search may run, in milliseconds (``ARCHIVE_QUERY_BUDGET_MS``)."""
    return whole_number("ARCHIVE_QUERY_BUDGET_MS", os.environ.get("ARCHIVE_QUERY_BUDGET_MS"), DEFAULT_BUDGET_MS)


def whole_number(name: str, value, default: int) -> int:
    """A setting that must be a whole number, at least 1 (given as text or as a number)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                                                  and value.isdigit())) or int(value) < 1:
        raise InvalidParameterError(f"{name} must be a whole number, at least 1, not {value!r}")
    return int(value)


def embed_precision() -> str:
    """auto, fp32 or bf16 (``ARCHIVE_EMBED_PRECISION``; see archive/index/precision.py)."""
    value = os.environ.get("ARCHIVE_EMBED_PRECISION") or "auto"
    if value not in PRECISIONS:
        raise InvalidParameterError(f"ARCHIVE_EMBED_PRECISION must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return value
