"""The three searchers. Each has ``search(query, k, filters=None) -> list[Hit]``.

A searcher ranks *articles*: passages found by the underlying index are grouped by
article, and an article scores by its best passage (MaxP). The hybrid searcher takes the
other two and fuses their article rankings.

Filters are decided once per search, as the snapshot's restriction (archive/index/catalog.py:
the articles they let through, and the same in the backend's own form), and the same
restriction goes to both legs: a filter has one rule. The searchers see the backend only
through its contract (archive/backends/contract.py).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..backends.contract import KeywordIndex, VectorIndex
from ..errors import ModelError
from ..index.budget import UNLIMITED, Budget
from ..index.catalog import ArticleCatalog, Filters, Restriction
from ..index.embeddings import Embedder
from ..index.query_encoder import OnnxQueryEncoder
from ..query.language import ParsedQuery
from . import fusion

KEYWORD = "keyword"
SEMANTIC = "semantic"
PASSAGES_PER_ARTICLE = 3  # passage depth = this x the article depth asked for
QUERY_CACHE_SIZE = 512  # recent query vectors kept per generation


class PreparedQuery:
    """One request's query, parsed and embedded at most once: by whichever leg needs it
    first, then shared with the other leg, highlighting and suggestions."""

    def __init__(self, text: str, parse: Callable[[str], ParsedQuery], embed: Callable[[str], np.ndarray]) -> None:
        self.text = text
        self._parse, self._embed = parse, embed
        self._parsed: ParsedQuery | None = None
        self._vector: np.ndarray | None = None

    @property
    def parsed(self) -> ParsedQuery:
        if self._parsed is None:
            self._parsed = self._parse(self.text)
        return self._parsed

    @property
    def vector(self) -> np.ndarray:
        if self._vector is None:
            self._vector = self._embed(self.text)
        return self._vector


class Evidence(NamedTuple):
    rank: int
    score: float


def evidence(rank: int, score: float) -> Evidence:
    """An Evidence made at C speed (a NamedTuple's own constructor is a Python function, and
    a search makes hundreds of these)."""
    return _new_tuple(Evidence, (rank, score))


_new_tuple = tuple.__new__


class Hit:
    """An article a searcher found: its score, each leg's evidence for the article
    (``explain``) and for its passages (``passages``: pid -> leg -> evidence). A fused hit
    merges its legs' passage evidence only when asked: only the page shown needs it."""

    __slots__ = ("article_id", "score", "explain", "_passages", "sources", "found")

    def __init__(self, article_id: str, score: float, passages: dict | None = None, explain: dict | None = None,
                 sources: list[Hit] | None = None, found: tuple | None = None) -> None:
        """``found``: (leg, pids, ranks, scores) arrays of the passages one leg found, turned
        into ``passages`` when asked."""
        self.article_id, self.score = article_id, score
        self.explain: dict[str, Evidence | None] = explain if explain is not None else {}
        self._passages = passages if passages is not None or sources is not None or found is not None else {}
        self.sources, self.found = sources, found

    @property
    def passages(self) -> dict[int, dict[str, Evidence]]:
        if self._passages is None:
            merged: dict[int, dict[str, Evidence]] = {}
            if self.found is not None:
                leg, pids, ranks, scores = self.found
                for pid, rank, score in zip(pids.tolist(), ranks.tolist(), scores.tolist(), strict=True):
                    merged[pid] = {leg: evidence(rank, score)}
            for source in self.sources or ():
                for pid, found in source.passages.items():
                    merged.setdefault(pid, {}).update(found)
            self._passages = merged
        return self._passages

    def __repr__(self) -> str:
        return f"Hit({self.article_id!r}, {self.score:.4f}, explain={self.explain!r})"


def group_by_article(passage_hits: list[tuple[int, float]], catalog: ArticleCatalog, leg: str,
                     limit: int | None = None) -> list[Hit]:
    """Passages (best first) to articles (best first) with MaxP scores, at most ``limit``
    articles; passage ranks are global."""
    if not passage_hits:
        return []
    pids = np.fromiter((pid for pid, _ in passage_hits), dtype=np.int64, count=len(passage_hits))
    scores = np.fromiter((score for _, score in passage_hits), dtype=np.float64, count=len(passage_hits))
    ranks = np.arange(1, len(passage_hits) + 1)
    ordinals = catalog.articles_of(pids)
    live = np.flatnonzero(ordinals >= 0)  # removed (tombstoned) passages have no article
    pids, scores, ranks, ordinals = pids[live], scores[live], ranks[live], ordinals[live]
    # Group the passages by article (each group stays in rank order) and order the articles
    # by their best passage.
    grouping = np.argsort(ordinals, kind="stable")
    articles, starts = np.unique(ordinals[grouping], return_index=True)
    ends = np.append(starts[1:], len(grouping))
    best = grouping[starts]  # position of each article's best passage
    chosen = np.argsort(best, kind="stable")[:limit].tolist()
    article_ids = catalog.ids_of([int(articles[index]) for index in chosen])
    ranked = []
    for index, article_id in zip(chosen, article_ids, strict=True):
        if not article_id:  # (on Milvus, an article an update removed meanwhile)
            continue
        members = grouping[starts[index] : ends[index]]
        top = int(best[index])
        hit = Hit(article_id, float(scores[top]), found=(leg, pids[members], ranks[members], scores[members]))
        ranked.append(hit)
    for article_rank, hit in enumerate(ranked, start=1):
        hit.explain = {leg: evidence(article_rank, hit.score)}
    return ranked


Restrict = Callable[[Filters | None], Restriction | None]  # the snapshot's restriction of filters


class KeywordSearcher:
    name = KEYWORD

    def __init__(self, index: KeywordIndex, catalog: ArticleCatalog, restrict: Restrict) -> None:
        """``restrict``: the filters as the snapshot restricts both legs by them."""
        self.index, self.catalog, self.restrict = index, catalog, restrict

    def search(self, query: str | PreparedQuery, k: int, filters: Filters | None = None,
               *, allowed: Restriction | None = None, budget: Budget = UNLIMITED) -> list[Hit]:
        """``allowed``: the filters' restriction, when the caller already decided it.
        ``budget``: the search's time budget; past it, what was ranked so far."""
        if allowed is None and filters:
            allowed = self.restrict(filters)
        parsed = query.parsed if isinstance(query, PreparedQuery) else self.index.parse(query)
        passage_hits = self.index.search(parsed, k * PASSAGES_PER_ARTICLE, allowed, budget=budget)
        return group_by_article(passage_hits, self.catalog, KEYWORD, k)


QueryEncoder = Callable[[], OnnxQueryEncoder | None]  # opens the checked ONNX query encoder (None: use torch)


class SemanticSearcher:
    name = SEMANTIC

    def __init__(self, index: VectorIndex, catalog: ArticleCatalog, embedder: Embedder, restrict: Restrict,
                 open_encoder: QueryEncoder | None = None) -> None:
        """``open_encoder``: opens the ONNX query encoder on the first search by meaning (so a
        keyword search never loads it); without it, or when it gives None, torch embeds queries.
        ``restrict``: the filters as the snapshot restricts both legs by them."""
        self.index, self.catalog, self.embedder, self.restrict = index, catalog, embedder, restrict
        self._open_encoder = open_encoder
        self.onnx: OnnxQueryEncoder | None = None
        self._checked = False
        self._check_lock = threading.Lock()
        self.encode_query = functools.lru_cache(maxsize=QUERY_CACHE_SIZE)(self._encode_query)

    def _encode_query(self, query: str) -> np.ndarray:
        self.check_model()
        vector = self.onnx.encode_queries([query])[0] if self.onnx is not None else self.embedder.encode_queries([query])[0]
        vector.setflags(write=False)  # shared through the cache
        return vector

    def check_model(self) -> None:
        """Open the query encoder; query vectors must have the index's dimension. Done on the
        first search by meaning, so that keyword searches never load a model."""
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            if self._open_encoder is not None:
                self.onnx = self._open_encoder()
            dimension = self.onnx.expected.shape[1] if self.onnx is not None else self.embedder.dimension
            if dimension != self.index.dimension:
                raise ModelError(
                    f"the index was built with {self.index.dimension}-dimensional vectors,"
                    f" but the model {self.embedder.name} gives {dimension}",
                    hint="open the index with the model it was built with, or rebuild it",
                )
            self._checked = True

    def search(self, query: str | PreparedQuery, k: int, filters: Filters | None = None,
               *, allowed: Restriction | None = None, budget: Budget = UNLIMITED) -> list[Hit]:
        """``budget`` is accepted for the common interface: a search by meaning costs a fixed,
        small time (one query embedding and one vector search)."""
        if allowed is None and filters:
            allowed = self.restrict(filters)
        vector = query.vector if isinstance(query, PreparedQuery) else self.encode_query(query)
        passage_hits = self.index.search(vector, k * PASSAGES_PER_ARTICLE, allowed)
        return group_by_article(passage_hits, self.catalog, SEMANTIC, k)


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

    def prepare(self, query: str) -> PreparedQuery:
        return PreparedQuery(query, self.keyword.index.parse, self.semantic.encode_query)

    def search(self, query: str | PreparedQuery, k: int | None, filters: Filters | None = None, *,
               mode: str = "hybrid", alpha: float | None = None, budget: Budget = UNLIMITED,
               depth: int | None = None) -> list[Hit]:
        """The best ``k`` articles (None: every one found) of the candidate pool: each leg's best
        ``depth`` articles (``max(settings.depth, k)`` unless told), fused in ``hybrid`` mode;
        ``keyword`` or ``semantic`` mode asks that leg alone.

        The legs run one after the other: the keyword leg takes about 1.5 ms and the query
        embedding uses every core it is given, so a second thread only added hand-over time
        (measured, side by side: 9.8 ms median in parallel against 9.6 ms in turn)."""
        if mode not in ("hybrid", "keyword", "semantic"):
            raise ValueError(f"unknown search mode {mode!r}")
        depth = max(self.settings.depth, k or 0) if depth is None else depth
        query = query if isinstance(query, PreparedQuery) else self.prepare(query)
        allowed = self.keyword.restrict(filters) if filters else None
        if mode == "keyword":
            ranked = self.keyword.search(query, depth, allowed=allowed, budget=budget)
        elif mode == "semantic":
            ranked = self.semantic.search(query, depth, allowed=allowed, budget=budget)
        else:
            keyword = self.keyword.search(query, depth, allowed=allowed, budget=budget)
            semantic = self.semantic.search(query, depth, allowed=allowed)
            ranked = fuse({KEYWORD: keyword, SEMANTIC: semantic}, self.settings, alpha)
        return ranked if k is None else ranked[:k]


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
            target = merged.get(hit.article_id)
            if target is None:
                target = merged[hit.article_id] = Hit(hit.article_id, 0.0, None, {KEYWORD: None, SEMANTIC: None}, [])
            target.explain[leg] = hit.explain[leg]
            target.sources.append(hit)  # type: ignore[union-attr]  # (a fused hit is made with a list)
    for article_id, hit in merged.items():
        hit.score = scores[article_id]
    return [merged[article_id] for article_id in fusion.rank(scores)]
