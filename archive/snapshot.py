"""An opened, immutable index generation: manifest, store, keyword index and vector index."""

from __future__ import annotations

import threading
from pathlib import Path

from .errors import IndexCorruptError
from .generations import IndexLayout
from .keyword import KEYWORD_DIRECTORY, KeywordIndex
from .manifest import Manifest, read_manifest
from .store import STORE_NAME, Store
from .vectors import VECTORS_NAME, VectorIndex
from .vocabulary import Vocabulary


class Snapshot:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest: Manifest = read_manifest(directory)
        self.generation = self.manifest.generation
        self.store = Store(directory / STORE_NAME, dimension=self.manifest.dimension)
        self._vocabulary: Vocabulary | None = None
        self._summary: tuple | None = None
        self._lazy_lock = threading.Lock()
        try:
            self.keyword = KeywordIndex(directory / KEYWORD_DIRECTORY)
            self.vectors = VectorIndex(directory / VECTORS_NAME, self.manifest.dimension, self.manifest.faiss_type)
            self.check_counts()
        except BaseException:
            self.store.close()
            raise

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

    def close(self) -> None:
        self.keyword.close()
        self.store.close()
