"""The three searchers. Each has ``search(query, k, filters=None) -> list[Hit]``.

A searcher ranks *articles*: passages found by the underlying index are grouped by
article, and an article scores by its best passage (MaxP). The hybrid searcher takes the
other two and fuses their article rankings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import fusion
from .embeddings import Embedder
from .keyword import KeywordIndex, filter_query
from .store import Store
from .vectors import VectorIndex

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

    def __init__(self, index: KeywordIndex, store: Store) -> None:
        self.index, self.store = index, store

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        parsed = self.index.parse(query)
        filters = filters or Filters()
        passage_hits = self.index.search(
            parsed, k * PASSAGES_PER_ARTICLE, filter_query(filters.date_from, filters.date_to, filters.source)
        )
        owners = self.store.passage_articles([pid for pid, _ in passage_hits])
        if parsed.negative is not None:
            # NOT excludes the whole article, not only the passage that mentions the word.
            excluded = set(self.store.passage_articles(self.index.matching_pids(parsed.negative)).values())
            owners = {pid: owner for pid, owner in owners.items() if owner not in excluded}
        return group_by_article(passage_hits, owners, KEYWORD)[:k]


class SemanticSearcher:
    name = SEMANTIC

    def __init__(self, index: VectorIndex, store: Store, embedder: Embedder, tombstones: int = 0) -> None:
        """``tombstones``: removed passages still in the (HNSW) index, from the manifest."""
        self.index, self.store, self.embedder = index, store, embedder
        self.tombstones = tombstones

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        vector = self.embedder.encode_query(query)
        allowed = None
        if filters or self.tombstones:
            filters = filters or Filters()
            allowed = self.store.passage_ids_where(filters.date_from, filters.date_to, filters.source)
        passage_hits = self.index.search(vector, k * PASSAGES_PER_ARTICLE, allowed)
        owners = self.store.passage_articles([pid for pid, _ in passage_hits])
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
        semantic = LEG_WORKERS.submit(self.semantic.search, query, depth, filters)
        keyword = self.keyword.search(query, depth, filters)
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
