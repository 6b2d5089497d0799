"""The Milvus backend: an archive in Milvus (a Milvus Lite ``.db`` file, or a server or
cluster at ``http://host:19530``); the web servers keep nothing of it on their disks.

    client       the connection, its errors, the collections of a generation, the live pointer
    store        articles, passages and records, read back
    keyword      the keyword leg: our query language mapped onto Milvus BM25
    vectors      the semantic leg: a FLAT inner-product search
    snapshot     the live generation, opened for searching
    build        rebuild (new collections, then the pointer) and update (in place, by article id)

pymilvus is imported only when a connection opens: the package installs without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...indexing.generation import BuildSummary
from ...indexing.status import generation_status
from ...ingest.corpus import FieldMapping
from .build import rebuild_milvus, update_milvus
from .client import DEFAULT_PREFIX, connect, is_lite, read_pointer
from .snapshot import MilvusSnapshot


class MilvusBackend:
    name = "milvus"

    def __init__(self, uri: str, work_dir: Path | str, prefix: str = DEFAULT_PREFIX) -> None:
        """``work_dir``: the build's embedding cache and lock, and the ONNX query encoder."""
        self.uri, self.work_dir, self.prefix = uri, Path(work_dir), prefix

    def __str__(self) -> str:
        return f"Milvus {self.uri}"

    @property
    def single_process(self) -> bool:
        """A Milvus Lite file opens in one process at a time; a server in any number."""
        return is_lite(self.uri)

    def live_name(self) -> str | None:
        pointer = read_pointer(connect(self.uri), self.prefix)
        return pointer["manifest"].get("generation") if pointer else None

    def open_snapshot(self) -> MilvusSnapshot:
        return MilvusSnapshot(connect(self.uri), self.prefix)

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary:
        return rebuild_milvus(corpus, self.uri, self.work_dir, model_name, prefix=self.prefix, **options)

    def update(self, corpus: Path | str, **options) -> BuildSummary:
        return update_milvus(corpus, self.uri, self.work_dir, prefix=self.prefix, **options)

    def status(self, corpus: Path | str | None, fields: FieldMapping | None = None) -> dict:
        snapshot = self.open_snapshot()
        try:
            return generation_status(snapshot.manifest, snapshot.store, self.uri, self.work_dir, corpus, fields,
                                     backend=self.name)
        finally:
            snapshot.close()



if TYPE_CHECKING:  # mypy (make lint) holds this backend and each of its parts to the contract
    from .. import contract

    def satisfies_the_contract(backend: MilvusBackend, snapshot: MilvusSnapshot) -> tuple[
            contract.Backend, contract.Snapshot, contract.Store, contract.KeywordIndex, contract.VectorIndex]:
        return backend, snapshot, snapshot.store, snapshot.keyword, snapshot.vectors


__all__ = ["MilvusBackend", "is_lite"]
