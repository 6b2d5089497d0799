"""The three searchers. Each has ``search(query, k, filters=None) -> list[Hit]``.

A searcher ranks *articles*: passages found by the underlying index are grouped by
article, and an article scores by its best passage (MaxP). The hybrid searcher takes the
other two and fuses their article rankings.

Filters are decided once per search, as a mask of the passages they let through
(``Filters.passages``), and the same mask goes to both legs: a filter has one rule.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..index.catalog import Catalog
from ..index.embeddings import Embedder
from ..index.keyword import KeywordIndex
from ..index.vectors import VectorIndex
from . import fusion

LEG_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="semantic-leg")  # threads start on first use

KEYWORD = "keyword"
SEMANTIC = "semantic"
PASSAGES_PER_ARTICLE = 3  # passage depth = this x the article depth asked for


@dataclass(frozen=True)
class Filters:
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.source)

    def passages(self, catalog: Catalog) -> np.ndarray | None:
        """The passages (a mask by pid) these filters let through; None when there are none."""
        articles = catalog.article_mask(self.date_from, self.date_to, self.source)
        return None if articles is None else catalog.passage_mask(articles)


@dataclass(frozen=True)
class Evidence:
    rank: int
    score: float


@dataclass
class Hit:
    article_id: str
    score: float
    passages: dict[int, dict[str, Evidence]] = field(default_factory=dict)  # pid -> leg -> passage evidence
    explain: dict[str, Evidence | None] = field(default_factory=dict)  # leg -> article evidence


def group_by_article(passage_hits: list[tuple[int, float]], owners: dict[int, str], leg: str) -> list[Hit]:
    """Passages (best first) to articles (best first) with MaxP scores; passage ranks are global."""
    hits: dict[str, Hit] = {}
    for passage_rank, (pid, score) in enumerate(passage_hits, start=1):
        article_id = owners.get(pid)
        if article_id is None:
            continue  # removed (tombstoned) passage
        hit = hits.get(article_id)
        if hit is None:
            hit = hits[article_id] = Hit(article_id, score)
        hit.passages[pid] = {leg: Evidence(passage_rank, score)}
    ranked = list(hits.values())
    for article_rank, hit in enumerate(ranked, start=1):
        hit.explain = {leg: Evidence(article_rank, hit.score)}
    return ranked


class KeywordSearcher:
    name = KEYWORD

    def __init__(self, index: KeywordIndex, catalog: Catalog) -> None:
        self.index, self.catalog = index, catalog

    def search(self, query: str, k: int, filters: Filters | None = None,
               *, allowed: np.ndarray | None = None) -> list[Hit]:
        """``allowed``: the filters' passage mask, when the caller already decided it."""
        if allowed is None and filters:
            allowed = filters.passages(self.catalog)
        passage_hits = self.index.search(self.index.parse(query), k * PASSAGES_PER_ARTICLE, allowed)
        owners = self.catalog.owners([pid for pid, _ in passage_hits])
        return group_by_article(passage_hits, owners, KEYWORD)[:k]


class SemanticSearcher:
    name = SEMANTIC

    def __init__(self, index: VectorIndex, catalog: Catalog, embedder: Embedder, tombstones: int = 0) -> None:
        """``tombstones``: removed passages still in the (HNSW) index, from the manifest."""
        self.index, self.catalog, self.embedder = index, catalog, embedder
        self.tombstones = tombstones
        self._checked = False
        self._check_lock = threading.Lock()

    def check_model(self) -> None:
        """The model must give vectors of the index's dimension. Checked on the first search
        by meaning, so that keyword searches never load the model."""
        if self._checked:
            return
        with self._check_lock:
            dimension = self.embedder.dimension
            if dimension != self.index.dimension:
                raise ModelError(
                    f"the index was built with {self.index.dimension}-dimensional vectors,"
                    f" but the model {self.embedder.name} gives {dimension}",
                    hint="open the index with the model it was built with, or rebuild it",
                )
            self._checked = True

    def search(self, query: str, k: int, filters: Filters | None = None,
               *, allowed: np.ndarray | None = None) -> list[Hit]:
        self.check_model()
        if allowed is None and filters:
            allowed = filters.passages(self.catalog)
        if allowed is None and self.tombstones:
            allowed = self.catalog.passage_mask(None)  # HNSW still holds removed passages: skip them
        vector = self.embedder.encode_query(query)
        passage_hits = self.index.search(vector, k * PASSAGES_PER_ARTICLE, allowed)
        owners = self.catalog.owners([pid for pid, _ in passage_hits])
        return group_by_article(passage_hits, owners, SEMANTIC)[:k]


@dataclass(frozen=True)
class FusionSettings:
    method: str = "rrf"  # "rrf" or "convex"
    rrf_k: float = fusion.RRF_K
    alpha: float = 0.5  # convex: weight of the semantic leg
    depth: int = 100  # articles asked of each leg


class HybridSearcher:
    name = "hybrid"

    def __init__(self, keyword: KeywordSearcher, semantic: SemanticSearcher, settings: FusionSettings) -> None:
        self.keyword, self.semantic, self.settings = keyword, semantic, settings

    def search(self, query: str, k: int, filters: Filters | None = None, alpha: float | None = None) -> list[Hit]:
        return self.pool(query, max(self.settings.depth, k), filters, alpha)[:k]

    def pool(self, query: str, depth: int, filters: Filters | None = None, alpha: float | None = None) -> list[Hit]:
        """Every article either leg found within ``depth``, fused and ranked. The semantic leg
        (model and FAISS, which release the interpreter) runs in a worker thread while the
        keyword leg (Whoosh, pure Python) runs here, so a query costs about the slower leg."""
        allowed = filters.passages(self.keyword.catalog) if filters else None
        semantic = LEG_WORKERS.submit(self.semantic.search, query, depth, allowed=allowed)
        keyword = self.keyword.search(query, depth, allowed=allowed)
        return fuse({KEYWORD: keyword, SEMANTIC: semantic.result()}, self.settings, alpha)


def fuse(legs: dict[str, list[Hit]], settings: FusionSettings, alpha: float | None = None) -> list[Hit]:
    """Merge per-leg article hits into one ranking; evidence of both legs is kept."""
    if alpha is not None or settings.method == "convex":
        scores = fusion.convex_combination(
            {hit.article_id: hit.score for hit in legs[KEYWORD]},
            {hit.article_id: hit.score for hit in legs[SEMANTIC]},
            settings.alpha if alpha is None else alpha,
        )
    else:
        scores = fusion.reciprocal_rank_fusion(
            {leg: [hit.article_id for hit in hits] for leg, hits in legs.items()}, k=settings.rrf_k
        )
    merged: dict[str, Hit] = {}
    for leg, hits in legs.items():
        for hit in hits:
            target = merged.setdefault(hit.article_id, Hit(hit.article_id, 0.0, {}, {KEYWORD: None, SEMANTIC: None}))
            target.explain[leg] = hit.explain[leg]
            for pid, evidence in hit.passages.items():
                target.passages.setdefault(pid, {}).update(evidence)
    for article_id, hit in merged.items():
        hit.score = scores[article_id]
    return [merged[article_id] for article_id in fusion.rank(scores)]
