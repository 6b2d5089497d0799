"""Defaults and their ``ARCHIVE_*`` environment overrides, read when asked, never at import."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_CORPUS = "corpus"
DEFAULT_INDEX_DIR = "var/index"


def corpus_path() -> Path:
    return Path(os.environ.get("ARCHIVE_CORPUS") or DEFAULT_CORPUS)


def corpus_override() -> Path | None:
    """The corpus named by the environment, if any (status compares with the indexed one otherwise)."""
    value = os.environ.get("ARCHIVE_CORPUS")
    return Path(value) if value else None


def index_dir() -> Path:
    return Path(os.environ.get("ARCHIVE_INDEX_DIR") or DEFAULT_INDEX_DIR)


def model_name() -> str:
    return os.environ.get("ARCHIVE_MODEL") or DEFAULT_MODEL
