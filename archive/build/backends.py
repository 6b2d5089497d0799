"""Where an archive is stored: the backend that searchers, builds and updates talk to.

* ``embedded`` (the default): Whoosh, FAISS and SQLite in an index directory on this machine.
* ``milvus``: collections in Milvus, a Milvus Lite ``.db`` file or a server or cluster at
  ``http://host:19530``; the web servers keep nothing of the archive on their disks
  (docs/scale.md). Its builds keep the embedding cache in a local work directory.

Both answer through the same ``Archive``: fusion, explanations, paging, totals, filters,
facets, collapsing and highlighting are the library's own, so the two answer in one shape.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidParameterError
from ..index.layout import IndexLayout
from ..index.milvus import DEFAULT_PREFIX, connect, read_pointer
from ..index.milvus_snapshot import MilvusSnapshot
from ..index.snapshot import HeldSnapshot, Snapshot
from .generation import BuildSummary
from .milvus import rebuild_milvus, update_milvus
from .rebuild import rebuild
from .status import index_status, snapshot_status
from .update import update

BACKENDS = ("embedded", "milvus")


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, index_dir: Path | str) -> None:
        self.layout = IndexLayout(index_dir)
        self.work_dir = self.layout.root  # the embedding cache and query encoder live beside the generations

    def __str__(self) -> str:
        return str(self.layout.root)

    def live_name(self) -> str | None:
        return self.layout.current_name()

    def open_snapshot(self) -> HeldSnapshot:
        return Snapshot.open_current(self.layout)

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary:
        return rebuild(corpus, self.layout.root, model_name, **options)

    def update(self, corpus: Path | str, **options) -> BuildSummary:
        return update(corpus, self.layout.root, **options)

    def status(self, corpus: Path | str | None, fields=None) -> dict:
        return index_status(self.layout.root, corpus, fields)


class MilvusBackend:
    name = "milvus"

    def __init__(self, uri: str, work_dir: Path | str, prefix: str = DEFAULT_PREFIX) -> None:
        """``work_dir``: the build's embedding cache and lock, and the ONNX query encoder."""
        self.uri, self.work_dir, self.prefix = uri, Path(work_dir), prefix

    def __str__(self) -> str:
        return f"Milvus {self.uri}"

    def live_name(self) -> str | None:
        pointer = read_pointer(connect(self.uri), self.prefix)
        return pointer["manifest"].get("generation") if pointer else None

    def open_snapshot(self) -> HeldSnapshot:
        return MilvusSnapshot(connect(self.uri), self.prefix)

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary:
        return rebuild_milvus(corpus, self.uri, self.work_dir, model_name, prefix=self.prefix, **options)

    def update(self, corpus: Path | str, **options) -> BuildSummary:
        return update_milvus(corpus, self.uri, self.work_dir, prefix=self.prefix, **options)

    def status(self, corpus: Path | str | None, fields=None) -> dict:
        snapshot = self.open_snapshot()
        try:
            return snapshot_status(snapshot, self.uri, self.work_dir, corpus, fields, backend=self.name)
        finally:
            snapshot.close()


def open_backend(name: str | None, index_dir: Path | str, milvus_uri: str | None = None) -> EmbeddedBackend | MilvusBackend:
    """The backend named (``embedded`` unless told): ``index_dir`` is the embedded index, or
    the Milvus backend's work directory."""
    name = name or "embedded"
    if name not in BACKENDS:
        raise InvalidParameterError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "embedded":
        return EmbeddedBackend(index_dir)
    if not milvus_uri:
        raise InvalidParameterError("the milvus backend needs a Milvus URI",
                                    hint="pass --milvus-uri var/archive.db (Milvus Lite) or http://host:19530, "
                                         "or set ARCHIVE_MILVUS_URI")
    if "://" not in milvus_uri and not milvus_uri.endswith(".db"):
        raise InvalidParameterError(f"{milvus_uri!r} is neither a Milvus Lite file nor a server address",
                                    hint="a Milvus Lite database ends in .db (var/archive.db); a server is "
                                         "http://host:19530")
    return MilvusBackend(milvus_uri, index_dir)
