"""What the library needs from a backend, declared once.

    Backend           where an archive lives: opens its live generation, builds, updates, reports status
      └ Snapshot      one open generation, held by requests: manifest, catalog, and the three parts below
          ├ Store         articles, passages with their sentences, headlines, the corpus it was built from
          ├ KeywordIndex  the keyword leg: the query language (archive/query/), BM25 over passages, and
          │               the whole set of articles the words match (exact on both)
          └ VectorIndex   the semantic leg: passage vectors, searched by cosine

Each backend implements these in its own package (``embedded``: Whoosh, FAISS and SQLite in
an index directory; ``milvus``: collections in Milvus), and ``open_backend`` in this
package's ``__init__`` is the only place that names one. ``archive/search/`` and
``archive/archive.py`` see only these Protocols; mypy checks that both backends satisfy them
(``make lint``). What must behave alike on both is written once below the backends: the query
language and AND/OR/NOT per article (archive/query/), filters and the catalog
(archive/index/catalog.py), holding a generation (holding.py), the start of an update and
status (archive/indexing/).

A ``Restriction``'s ``native`` part is whatever the backend's own indexes take (a passage
mask, a Milvus expression): the search layer passes it along and never looks inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..index.budget import Budget
from ..index.catalog import ArticleCatalog, Filters, Restriction
from ..index.manifest import Manifest
from ..index.stored import StoredPassage
from ..index.vocabulary import Vocabulary
from ..indexing.changes import KnownFiles
from ..indexing.generation import BuildSummary
from ..ingest.articles import Article
from ..ingest.corpus import FieldMapping
from ..query.booleans import Matching
from ..query.language import ParsedQuery, QueryAnalysis

Headline = tuple[str, str | None, str | None, str | None]  # title, source, date, date kind
StoryVersion = tuple[str, str, str | None, str | None, str | None]  # id, then its headline


class Store(Protocol):
    """The articles and passages of a generation, read by id."""

    def article(self, article_id: str) -> Article | None: ...

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]: ...

    def headlines(self, article_ids: Sequence[str]) -> dict[str, Headline]: ...

    def first_seen(self, article_ids: Sequence[str] | None = None) -> dict[str, str]:
        """When the archive first saw each article (UTC, ISO 8601), kept across updates and
        rebuilds; every article for None. Articles stored before these were kept have none."""
        ...

    def story_headlines(self, story: str, limit: int = -1) -> list[StoryVersion]:
        """The story's articles, newest first (undated last), at most ``limit`` (-1: all)."""
        ...

    def passages(self, pids: Sequence[int]) -> dict[int, StoredPassage]:
        """The passages asked for that are stored."""
        ...

    def passage_ids_of(self, article_ids: Sequence[str]) -> list[int]: ...

    def article_passage_ids(self, article_id: str) -> list[int]:
        """An article's passages, in order."""
        ...

    def vocabulary(self) -> dict[str, int]: ...

    def known_files(self) -> KnownFiles: ...

    def fingerprints(self) -> dict[str, str]: ...

    def date_span(self) -> tuple[str | None, str | None]: ...

    def sources(self, limit: int = 50) -> list[tuple[str, int]]: ...


class KeywordIndex(Protocol):
    """The keyword leg's index. ``analysis`` is the query language with this backend's
    expansion of patterns; ``search`` ranks passages by BM25, AND/OR/NOT decided per article."""

    analysis: QueryAnalysis

    def parse(self, text: str, every_word: bool = False) -> ParsedQuery:
        """``every_word``: plain words must all be in an article (AND), not any of them (OR)."""
        ...

    def search(self, parsed: ParsedQuery, depth: int, allowed: Restriction | None = None,
               budget: Budget = ...) -> list[tuple[int, float]]:
        """(pid, score) best first, at most ``depth``; past the ``budget``, what is ranked so far."""
        ...

    def matching_articles(self, parsed: ParsedQuery, allowed: Restriction | None = None,
                          budget: Budget = ...) -> Matching:
        """Every article the query's words match, within the filters: the whole matching set, not
        a ranked pool. Raises ``OutOfTime`` past the budget."""
        ...

    def word_frequency(self, word: str) -> int:
        """In how many passages (or how often) the analysed word occurs: for "did you mean"."""
        ...

    def document_count(self) -> int: ...


class VectorIndex(Protocol):
    """The semantic leg's index: unit passage vectors, inner product (cosine)."""

    dimension: int

    def search(self, vector: np.ndarray, depth: int, restriction: Restriction | None = None) -> list[tuple[int, float]]:
        """(pid, cosine) best first, at most ``depth``, live passages only."""
        ...

    def reconstruct(self, pids: list[int]) -> np.ndarray: ...


class Snapshot(Protocol):
    """One open, immutable generation. Requests hold it (``acquire``/``release``) while they
    read; a newer generation ``retire``s it, and it closes when the last holder lets go."""

    name: str  # changes whenever what the snapshot reads changes
    generation: str
    manifest: Manifest

    @property
    def catalog(self) -> ArticleCatalog: ...

    @property
    def store(self) -> Store: ...

    @property
    def keyword(self) -> KeywordIndex: ...

    @property
    def vectors(self) -> VectorIndex: ...

    @property
    def vocabulary(self) -> Vocabulary: ...

    @property
    def summary(self) -> tuple[tuple[str | None, str | None], list[tuple[str, int]]]: ...

    def restriction(self, filters: Filters | None) -> Restriction | None:
        """What the filters let through (None for no filters), for both legs."""
        ...

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def retire(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Where an archive lives: its live generation for searching, and its builds."""

    name: str  # "embedded" or "milvus"
    work_dir: Path  # this machine's directory: the embedding cache, the build lock, the query encoder

    @property
    def single_process(self) -> bool:
        """Whether one process at a time may open the archive (a Milvus Lite file)."""
        ...

    def live_name(self) -> str | None:
        """The live generation's name (None: none yet), checked cheaply and often."""
        ...

    def open_snapshot(self) -> Snapshot:
        """The live generation, opened; raises the archive's errors when there is none or it is broken."""
        ...

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary: ...

    def update(self, corpus: Path | str, **options) -> BuildSummary: ...

    def status(self, corpus: Path | str | None, fields: FieldMapping | None = None,
               follow_links: bool = False) -> dict: ...

    def verify(self, full: bool = False) -> dict:
        """The live generation checked (``full``: every byte): {"generation", "checked", "problems", …}."""
        ...
