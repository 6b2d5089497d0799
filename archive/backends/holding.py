"""What every backend's open generation shares: holding by requests, retiring, the
restriction of filters, and the vocabulary and summary read on first use.

A snapshot counts the requests that hold it. When a newer generation replaces it, it is
retired, and it closes when the last request holding it lets go: never while one still
reads from it. (Each backend's snapshot is in its own package: archive/backends/.)
"""

from __future__ import annotations

import threading
from typing import Any

from ..index.catalog import ArticleCatalog, Filters, Restriction
from ..index.manifest import Manifest
from ..index.vocabulary import Vocabulary
from .contract import Store


class HeldSnapshot:
    """What every backend's snapshot shares: holding by requests, closing when retired and
    let go, and the vocabulary and summary read from its store on first use. A subclass
    sets ``manifest``, ``generation``, ``name``, ``store``, ``catalog``, ``keyword`` and ``vectors``."""

    name: str  # changes whenever what the snapshot reads changes (reopened when it does)
    generation: str
    manifest: Manifest
    catalog: ArticleCatalog
    store: Store

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

    def restriction(self, filters: Filters | None) -> Restriction | None:
        """What the filters let through (None for no filters): one rule over the catalog, and
        the backend's own form of it for its indexes."""
        if not filters:
            return None
        catalog = self.catalog
        return Restriction(self.native_restriction(filters), lambda: catalog.article_mask(filters))

    def native_restriction(self, filters: Filters) -> Any:
        """The filters as this backend's indexes take them."""
        raise NotImplementedError

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
