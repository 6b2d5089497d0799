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

from ...errors import IndexCorruptError
from ...index.integrity import check_files
from ...index.layout import IndexLayout
from ...index.manifest import read_manifest
from ...indexing.generation import BuildSummary
from ...indexing.status import generation_status
from ...ingest.corpus import FieldMapping
from .rebuild import rebuild
from .snapshot import EmbeddedSnapshot
from .store import STORE_NAME, store_integrity
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

    def status(self, corpus: Path | str | None, fields: FieldMapping | None = None, follow_links: bool = False) -> dict:
        integrity = self.verify()
        if integrity["problems"]:  # what the manifest says, and what is damaged: nothing is read from the files
            manifest = read_manifest(self.layout.current_directory())
            report = generation_status(manifest, None, str(self.layout.root), self.work_dir, corpus, fields,
                                       backend=self.name, follow_links=follow_links)
        else:
            snapshot = EmbeddedSnapshot(self.layout.current_directory(), checked=True)
            try:
                report = generation_status(snapshot.manifest, snapshot.store, str(self.layout.root), self.work_dir,
                                           corpus, fields, backend=self.name, follow_links=follow_links)
            finally:
                snapshot.close()
        report["integrity"] = integrity
        return report

    def verify(self, full: bool = False) -> dict:
        """The live generation's files against their recorded sizes and checksums: as opening
        checks them, or (``full``) every byte, the store's own integrity check and the parts'
        counts. ``problems`` lists what is wrong (none: [])."""
        directory = self.layout.current_directory()
        manifest = read_manifest(directory)
        problems = check_files(directory, manifest.files, full=True if full else None)
        if full and not problems:
            problems = store_integrity(directory / STORE_NAME)
        if full and not problems:
            try:
                EmbeddedSnapshot(directory, checked=True).close()  # every part opens and agrees (files checked above)
            except IndexCorruptError as problem:
                problems = [problem.message]
        return {"generation": manifest.generation, "files": len(manifest.files), "full": full,
                "checked": "every byte" if full else "as opening does", "problems": problems,
                "recorded": bool(manifest.files)}



if TYPE_CHECKING:  # mypy (make lint) holds this backend and each of its parts to the contract
    from .. import contract

    def satisfies_the_contract(backend: EmbeddedBackend, snapshot: EmbeddedSnapshot) -> tuple[
            contract.Backend, contract.Snapshot, contract.Store, contract.KeywordIndex, contract.VectorIndex]:
        return backend, snapshot, snapshot.store, snapshot.keyword, snapshot.vectors


__all__ = ["EmbeddedBackend", "rebuild", "update"]
