"""Defaults and their ``ARCHIVE_*`` environment overrides, read when asked, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class MilvusAccess:
    """How to reach a Milvus server that asks who is calling, or speaks TLS: a token
    (``user:password``, or an API key) and certificate files. The token is never shown: not
    in ``repr``, not in logs, not in error messages."""

    token: str | None = field(default=None, repr=False)
    ca_certificate: str | None = None  # the server's certificate, or its CA's: turns TLS on
    server_name: str | None = None  # the name the server's certificate holds, when it is not the URI's host
    client_certificate: str | None = None  # mutual TLS: this client's certificate and key
    client_key: str | None = None

    def client_options(self) -> dict[str, object]:
        """Keyword arguments for pymilvus's ``MilvusClient``."""
        options: dict[str, object] = {}
        if self.token:
            options["token"] = self.token
        if self.ca_certificate:
            options["secure"] = True
            options["server_pem_path"] = self.ca_certificate
            options["ca_pem_path"] = self.ca_certificate
        if self.server_name:
            options["server_name"] = self.server_name
        if self.client_certificate:
            options["client_pem_path"] = self.client_certificate
        if self.client_key:
            options["client_key_path"] = self.client_key
        return options


MILVUS_ACCESS_VARIABLES = {"token": "ARCHIVE_MILVUS_TOKEN", "ca_certificate": "ARCHIVE_MILVUS_TLS_CA",
                           "server_name": "ARCHIVE_MILVUS_TLS_SERVER_NAME",
                           "client_certificate": "ARCHIVE_MILVUS_TLS_CERT", "client_key": "ARCHIVE_MILVUS_TLS_KEY"}


def milvus_access(values: dict | None = None) -> MilvusAccess:
    """How to reach Milvus, from ``ARCHIVE_MILVUS_TOKEN`` and ``ARCHIVE_MILVUS_TLS_*`` (or from
    ``values``: the same names without ``ARCHIVE_``, as a Flask config holds them)."""
    found = {}
    for name, variable in MILVUS_ACCESS_VARIABLES.items():
        value = os.environ.get(variable)  # as written (a Flask config parses values as JSON: "1e5" becomes 100000.0)
        if not value and values is not None:
            value = values.get(variable.removeprefix("ARCHIVE_"))
        found[name] = str(value) if value else None
    for name in ("ca_certificate", "client_certificate", "client_key"):
        path = found[name]
        if path and not Path(path).is_file():
            raise InvalidParameterError(f"{MILVUS_ACCESS_VARIABLES[name]} names no file: {path}")
    return MilvusAccess(**found)


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
