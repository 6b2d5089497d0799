"""Where an archive is stored: the backend that searchers, builds and updates talk to.

* ``embedded`` (the default): Whoosh, FAISS and SQLite in an index directory on this machine
  (``embedded/``).
* ``milvus``: collections in Milvus, a Milvus Lite ``.db`` file or a server or cluster at
  ``http://host:19530`` (``milvus/``); the web servers keep nothing of the archive on their
  disks (docs/scale.md). Its builds keep the embedding cache in a local work directory.

What a backend is, is declared once in ``contract.py``; ``open_backend`` below is the one
place that chooses one. Everything else (fusion, explanations, paging, totals, filters,
facets, collapsing, highlighting) is the library's own, so the two answer in one shape.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidParameterError
from ..ingest.corpus import FieldMapping
from ..settings import MilvusAccess
from .contract import Backend
from .embedded import EmbeddedBackend, rebuild, update
from .milvus import MilvusBackend, is_lite

BACKENDS = ("embedded", "milvus")


def open_backend(name: str | None, index_dir: Path | str, milvus_uri: str | None = None,
                 milvus_access: MilvusAccess | None = None) -> Backend:
    """The backend named (``embedded`` unless told): ``index_dir`` is the embedded index, or
    the Milvus backend's work directory. ``milvus_access``: a token and TLS files for a Milvus
    server that asks for them (``settings.milvus_access()`` reads them from the environment)."""
    name = name or "embedded"
    if name not in BACKENDS:
        raise InvalidParameterError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "embedded":
        return EmbeddedBackend(index_dir)
    if not milvus_uri:
        raise InvalidParameterError("the milvus backend needs a Milvus URI",
                                    hint="pass --milvus-uri var/archive.db (Milvus Lite) or http://host:19530, "
                                         "or set ARCHIVE_MILVUS_URI")
    if "://" not in milvus_uri and not is_lite(milvus_uri):
        raise InvalidParameterError(f"{milvus_uri!r} is neither a Milvus Lite file nor a server address",
                                    hint="a Milvus Lite database ends in .db (var/archive.db); a server is "
                                         "http://host:19530")
    return MilvusBackend(milvus_uri, index_dir, access=milvus_access)


def index_status(index_dir: Path | str, corpus: Path | str | None, fields: FieldMapping | None = None,
                 follow_links: bool = False) -> dict:
    """``indexer status`` of an embedded index directory: what is indexed and how stale."""
    return EmbeddedBackend(index_dir).status(corpus, fields, follow_links)


__all__ = ["BACKENDS", "Backend", "EmbeddedBackend", "MilvusBackend", "index_status", "open_backend", "rebuild", "update"]
