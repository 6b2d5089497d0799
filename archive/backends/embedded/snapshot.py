"""An opened, immutable generation of the embedded backend: its manifest, store (SQLite),
catalog, keyword index (Whoosh and the impact arrays) and vector index (FAISS).

While open it holds a shared lock on its directory, so that a build (in this process or
another) does not prune it from under its readers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ArchiveError, IndexCorruptError
from ...index.catalog import Catalog, Filters
from ...index.integrity import check_files
from ...index.layout import IndexLayout, reader_lock, release_reader_lock
from ...index.manifest import Manifest, read_manifest
from ..holding import HeldSnapshot
from .catalog import open_catalog
from .keyword import KEYWORD_DIRECTORY, KeywordIndex
from .store import STORE_NAME, Store
from .vectors import VECTORS_NAME, VectorIndex


class EmbeddedSnapshot(HeldSnapshot):
    store: Store
    catalog: Catalog
    keyword: KeywordIndex
    vectors: VectorIndex

    def __init__(self, directory: Path, checked: bool = False) -> None:
        """``checked``: the files were just checked against the manifest (``verify``): not again."""
        super().__init__()
        self.directory = directory
        self.name = directory.name
        self._reader_lock = reader_lock(directory)  # old generations are pruned only when no reader has them open
        store: Store | None = None
        try:
            self.manifest: Manifest = read_manifest(directory)
            self.generation = self.manifest.generation
            problems = [] if checked else check_files(directory, self.manifest.files)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise IndexCorruptError(f"index generation {directory.name} is damaged: {problems[0]}{more}")
            self.store = store = Store(directory / STORE_NAME, dimension=self.manifest.dimension)
            self.catalog = open_catalog(directory, self.store)
            self.keyword = KeywordIndex(directory / KEYWORD_DIRECTORY, self.catalog, self.store.name_evidence)
            # HNSW keeps removed passages (tombstones): the live ones are searched for
            live = self.catalog.passage_mask(None) if self.manifest.tombstones else None
            self.vectors = VectorIndex(directory / VECTORS_NAME, self.manifest.dimension, self.manifest.vector_index, live)
            self.check_counts()
        except BaseException as problem:
            if store is not None:
                store.close()
            release_reader_lock(self._reader_lock)
            if isinstance(problem, Exception) and not isinstance(problem, ArchiveError):
                # whatever a damaged file makes a reader raise (BadZipFile, sqlite3.DatabaseError, …)
                raise IndexCorruptError(f"index generation {directory.name} cannot be opened: "
                                        f"{type(problem).__name__}: {str(problem)[:200]}") from None
            raise

    def native_restriction(self, filters: Filters) -> np.ndarray:
        """The passages (a mask by pid) of the articles the filters let through."""
        return self.catalog.passage_mask(self.catalog.article_mask(filters))

    @classmethod
    def open_current(cls, layout: IndexLayout) -> EmbeddedSnapshot:
        return cls(layout.current_directory())

    def check_counts(self) -> None:
        """The parts must agree with the manifest, or results would be silently wrong."""
        articles, passages = self.store.stored_counts()
        expected = self.manifest.passages + self.manifest.tombstones
        problems = []
        if articles != self.manifest.articles:
            problems.append(f"store has {articles} articles, manifest says {self.manifest.articles}")
        if passages != expected:
            problems.append(f"store has {passages} passages, manifest says {expected}")
        if self.vectors.size != expected:
            problems.append(f"vector index has {self.vectors.size} vectors, manifest says {expected}")
        if self.catalog.article_count != articles:
            problems.append(f"catalog has {self.catalog.article_count} articles, the store {articles}")
        live = int(np.count_nonzero(self.catalog.passage_article >= 0))
        if live != self.manifest.passages:
            problems.append(f"catalog has {live} live passages, manifest says {self.manifest.passages}")
        if self.keyword.document_count() != self.manifest.passages:
            problems.append(
                f"keyword index has {self.keyword.document_count()} passages, manifest says {self.manifest.passages}"
            )
        if problems:
            raise IndexCorruptError(f"index generation {self.generation} is inconsistent: " + "; ".join(problems))

    def _close_files(self) -> None:
        self.keyword.close()
        self.store.close()
        release_reader_lock(self._reader_lock)
