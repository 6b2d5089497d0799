"""An opened, immutable index generation: manifest, store, catalog, keyword and vector index.

A snapshot counts the requests that hold it. When a newer generation replaces it, it is
retired, and it closes when the last request holding it lets go: never while one still
reads from it. While open it also holds a shared lock on its directory, so that a build
(in this process or another) does not prune it from under its readers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from .catalog import Catalog
from .keyword import KEYWORD_DIRECTORY, KeywordIndex
from .layout import IndexLayout, reader_lock, release_reader_lock
from .manifest import Manifest, read_manifest
from .store import STORE_NAME, Store
from .vectors import VECTORS_NAME, VectorIndex
from .vocabulary import Vocabulary


class HeldSnapshot:
    """What every backend's snapshot shares: holding by requests, closing when retired and
    let go, and the vocabulary and summary read from its store on first use. A subclass
    sets ``manifest``, ``generation``, ``name``, ``store``, ``catalog``, ``keyword`` and ``vectors``."""

    name: str  # changes whenever what the snapshot reads changes (reopened when it does)

    def __init__(self) -> None:
        self._vocabulary: Vocabulary | None = None
        self._summary: tuple | None = None
        self._lazy_lock = threading.Lock()  # the vocabulary and summary, loaded on first use
        self._holders_lock = threading.Lock()
        self._holders = 0
        self._retired = False
        self.closed = False

    @property
    def summary(self) -> tuple[tuple[str | None, str | None], list[tuple[str, int]]]:
        """(date span, sources by article count): computed once, as a generation never changes."""
        with self._lazy_lock:
            if self._summary is None:
                self._summary = (self.store.date_span(), self.store.sources())
            return self._summary

    @property
    def vocabulary(self) -> Vocabulary:
        """Loaded on first use: only "did you mean" needs it."""
        with self._lazy_lock:
            if self._vocabulary is None:
                self._vocabulary = Vocabulary(self.store.vocabulary())
            return self._vocabulary

    # Holding and closing

    def acquire(self) -> bool:
        """Hold the snapshot for one request; False when it has already closed."""
        with self._holders_lock:
            if self.closed:
                return False
            self._holders += 1
            return True

    def release(self) -> None:
        with self._holders_lock:
            self._holders -= 1
            close = self._retired and self._holders == 0 and not self.closed
            self.closed = self.closed or close
        if close:
            self._close_files()

    def retire(self) -> None:
        """A newer generation replaced this one: close as soon as no request holds it."""
        with self._holders_lock:
            self._retired = True
            close = self._holders == 0 and not self.closed
            self.closed = self.closed or close
        if close:
            self._close_files()

    def close(self) -> None:
        with self._holders_lock:
            already, self.closed = self.closed, True
        if not already:
            self._close_files()

    def _close_files(self) -> None:
        """Let go of what the snapshot opened."""


class Snapshot(HeldSnapshot):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.name = directory.name
        self._reader_lock = reader_lock(directory)  # old generations are pruned only when no reader has them open
        self.store = None
        try:
            self.manifest: Manifest = read_manifest(directory)
            self.generation = self.manifest.generation
            self.store = Store(directory / STORE_NAME, dimension=self.manifest.dimension)
            self.catalog = Catalog.from_store(self.store)
            self.keyword = KeywordIndex(directory / KEYWORD_DIRECTORY, self.catalog, self.store.name_evidence)
            self.vectors = VectorIndex(directory / VECTORS_NAME, self.manifest.dimension, self.manifest.faiss_type)
            self.check_counts()
        except BaseException:
            if self.store is not None:
                self.store.close()
            release_reader_lock(self._reader_lock)
            raise

    def restriction(self, filters) -> np.ndarray | None:
        """The passages (a mask by pid) that filters (dates, source) let through; None for none."""
        articles = self.catalog.article_mask(filters.date_from, filters.date_to, filters.source)
        return None if articles is None else self.catalog.passage_mask(articles)

    @classmethod
    def open_current(cls, layout: IndexLayout) -> Snapshot:
        return cls(layout.current_directory())

    def check_counts(self) -> None:
        """The parts must agree with the manifest, or results would be silently wrong."""
        articles, passages = self.store.counts()
        expected = self.manifest.passages + self.manifest.tombstones
        problems = []
        if articles != self.manifest.articles:
            problems.append(f"store has {articles} articles, manifest says {self.manifest.articles}")
        if passages != self.manifest.passages:
            problems.append(f"store has {passages} passages, manifest says {self.manifest.passages}")
        if self.vectors.size != expected:
            problems.append(f"vector index has {self.vectors.size} vectors, manifest says {expected}")
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
