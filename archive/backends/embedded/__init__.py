"""The embedded backend: an archive in an index directory on this machine.

    layout       the directory: generations/<id>/, CURRENT, the build lock (archive/index/layout.py)
    store        articles, passages and records in SQLite (store.sqlite)
    keyword      the Whoosh index (keyword/) and its search; matchers.py keeps Whoosh to a budget
    impacts      BM25 as sparse arrays (impacts.npz), what plain term queries are scored on
    vectors      the FAISS index (vectors.faiss)
    snapshot     one generation, opened for searching
    rebuild      a whole new generation; update: the live one brought in line with the corpus
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...index.layout import IndexLayout
from ...indexing.generation import BuildSummary
from ...indexing.status import generation_status
from ...ingest.corpus import FieldMapping
from .rebuild import rebuild
from .snapshot import EmbeddedSnapshot
from .update import update


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, index_dir: Path | str) -> None:
        self.layout = IndexLayout(index_dir)
        self.work_dir = self.layout.root  # the embedding cache and query encoder live beside the generations

    def __str__(self) -> str:
        return str(self.layout.root)

    @property
    def single_process(self) -> bool:
        return False  # generations are read-only files: any number of processes may read them

    def live_name(self) -> str | None:
        return self.layout.current_name()

    def open_snapshot(self) -> EmbeddedSnapshot:
        return EmbeddedSnapshot.open_current(self.layout)

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary:
        return rebuild(corpus, self.layout.root, model_name, **options)

    def update(self, corpus: Path | str, **options) -> BuildSummary:
        return update(corpus, self.layout.root, **options)

    def status(self, corpus: Path | str | None, fields: FieldMapping | None = None) -> dict:
        snapshot = self.open_snapshot()
        try:
            return generation_status(snapshot.manifest, snapshot.store, str(self.layout.root), self.work_dir, corpus,
                                     fields, backend=self.name)
        finally:
            snapshot.close()



if TYPE_CHECKING:  # mypy (make lint) holds this backend and each of its parts to the contract
    from .. import contract

    def satisfies_the_contract(backend: EmbeddedBackend, snapshot: EmbeddedSnapshot) -> tuple[
            contract.Backend, contract.Snapshot, contract.Store, contract.KeywordIndex, contract.VectorIndex]:
        return backend, snapshot, snapshot.store, snapshot.keyword, snapshot.vectors


__all__ = ["EmbeddedBackend", "rebuild", "update"]
