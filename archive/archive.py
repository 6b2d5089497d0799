"""``Archive``: the one public entry point for searching an index.

    archive = Archive.open("var/index")
    response = archive.search("potash exports", mode="hybrid", k=10)   # or archive.search(SearchRequest(...))
    response.to_dict()  # the documented JSON shape

The index (searchers, FAISS index, model) opens once and is shared by every query and
thread. Each request holds the generation it started on until it finishes. At most once a
second a request checks whether ``CURRENT`` names a new generation; if so, the new one
opens and later requests use it, and the old one closes when its last request lets go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build.backends import EmbeddedBackend, MilvusBackend
from .errors import ArchiveError, ArticleNotFoundError
from .index.budget import DEFAULT_BUDGET_MS, Budget
from .index.embeddings import Embedder
from .index.query_encoder import EncoderStatus, OnnxQueryEncoder, open_query_encoder
from .index.snapshot import HeldSnapshot as Snapshot
from .search.claims import MAX_STORY_ARTICLES, Claim, article_sentences, match_claims
from .search.facets import count_facets
from .search.request import SIMILAR_K, SearchRequest
from .search.results import (
    ArticleResponse,
    ArticleStory,
    SearchResponse,
    SimilarArticle,
    SimilarResponse,
    StatsResponse,
    StoryVersion,
    make_results,
)
from .search.searchers import (
    KEYWORD,
    Filters,
    FusionSettings,
    Hit,
    HybridSearcher,
    KeywordSearcher,
    PreparedQuery,
    SemanticSearcher,
)
from .search.stories import collapse_stories, story_value
from .search.suggestions import suggest

log = logging.getLogger(__name__)

SUGGEST_BELOW = 3  # offer "did you mean" when the keyword leg finds fewer articles than this
RELOAD_CHECK_SECONDS = 1.0
# Chosen on SciFact's train split, reported on test (docs/fusion.md): weighted min-max, 0.4 on meaning.
DEFAULT_FUSION = FusionSettings(method="convex", alpha=0.4, depth=100)


@dataclass
class Searchers:
    snapshot: Snapshot
    keyword: KeywordSearcher
    semantic: SemanticSearcher
    hybrid: HybridSearcher


class Archive:
    def __init__(self, index: Path | str | EmbeddedBackend | MilvusBackend, *, fusion: FusionSettings = DEFAULT_FUSION,
                 embedder: Embedder | None = None, query_threads: int | None = None,
                 query_budget_ms: float | None = DEFAULT_BUDGET_MS) -> None:
        """``index``: an embedded index directory, or a backend (archive/build/backends.py).
        ``query_budget_ms``: how long one search may run (None: no limit); past it, the
        search returns what it ranked so far, marked ``timed_out``."""
        self.backend = index if isinstance(index, EmbeddedBackend | MilvusBackend) else EmbeddedBackend(index)
        # Threads for embedding a query: the process's share of the cores (all, unless told).
        self.query_threads = query_threads or os.cpu_count() or 1
        self.query_budget_ms = query_budget_ms
        self.fusion = fusion
        self._embedder = embedder
        self._lock = threading.Lock()
        self._current: Searchers | None = None
        self._checked_at = 0.0
        self._opening = False  # a newer generation is being opened
        self._query_encoders: dict[str, tuple] = {}  # model -> (ONNX encoder or None, status), checked once

    @classmethod
    def open(cls, index: Path | str | EmbeddedBackend | MilvusBackend, **options) -> Archive:
        """Open the live generation now, so that a missing or broken index fails here."""
        archive = cls(index, **options)
        archive.current()
        return archive

    def prepare(self) -> None:
        """Open the index and load the model now, so that the first search by meaning is fast."""
        self.current().semantic.check_model()

    def close(self) -> None:
        """Let the open generation go; it closes once the requests still on it finish."""
        with self._lock:
            if self._current is not None:
                self._current.snapshot.retire()
            self._current = None

    # Generations

    def current(self) -> Searchers:
        """The live generation's searchers (opening a newer generation when there is one).
        Requests use ``holding()`` instead, which keeps the generation open while they run."""
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked_at < RELOAD_CHECK_SECONDS:
            return current
        with self._lock:
            if self._current is None:  # nothing to answer with yet: open it here, and others wait
                self._current = self.open_searchers()
                self._checked_at = time.monotonic()
                return self._current
            current = self._current
            if self._opening or now - self._checked_at < RELOAD_CHECK_SECONDS:
                return current
            self._checked_at = now
            self._opening = True  # this request checks; the others keep being answered meanwhile
        # Check (a network call on Milvus) and open a newer generation without holding the lock.
        searchers = None
        try:
            try:
                name = self.backend.live_name()
            except ArchiveError as problem:  # Milvus went away: keep answering what can be answered
                log.warning("cannot check for a new generation: %s", problem)
                return current
            if name is None or name == current.snapshot.name:
                return current
            searchers = self.open_searchers()
        except ArchiveError as problem:
            # One that cannot be opened must not take the site down: keep answering from the
            # one that works, and try again at the next check.
            log.warning("staying on generation %s: %s", current.snapshot.generation, problem)
            return current
        finally:
            with self._lock:  # the new one goes live in the same step that ends the check
                self._opening = False
                previous = None
                if searchers is not None:
                    previous, self._current = self._current, searchers
        if previous is not None:
            previous.snapshot.retire()  # closes once the requests still on it finish
        return searchers

    def open_searchers(self) -> Searchers:
        snapshot = self.backend.open_snapshot()  # raises the right "no index" error
        try:
            embedder = self._embedder or Embedder.shared(snapshot.manifest.model)  # loaded on first use, if ever
            onnx, _ = self.query_encoder(snapshot.manifest.model)
        except BaseException:
            snapshot.close()
            raise
        keyword = KeywordSearcher(snapshot.keyword, snapshot.catalog, snapshot.restriction)
        semantic = SemanticSearcher(snapshot.vectors, snapshot.catalog, embedder, snapshot.manifest.tombstones, onnx,
                                    snapshot.restriction)
        return Searchers(snapshot, keyword, semantic, HybridSearcher(keyword, semantic, self.fusion))

    def query_encoder(self, model: str) -> tuple[OnnxQueryEncoder | None, EncoderStatus]:
        """The ONNX query encoder of a model, checked against torch once per process."""
        if model not in self._query_encoders:
            self._query_encoders[model] = open_query_encoder(self.backend.work_dir, model, self.query_threads)
        return self._query_encoders[model]

    @contextlib.contextmanager
    def holding(self) -> Iterator[Searchers]:
        """The live generation, held open until the block ends."""
        while True:
            searchers = self.current()
            if searchers.snapshot.acquire():
                break
        try:
            yield searchers
        finally:
            searchers.snapshot.release()

    @property
    def generation(self) -> str:
        return self.current().snapshot.generation

    # Search

    def search(self, request: SearchRequest | str | None = None, /, **options) -> SearchResponse:
        """``request``: a ``SearchRequest``; or the query text, with the other parameters as
        keywords (``mode``, ``k``, ``page``, ``alpha``, ``date_from``, ``date_to``, ``source``, ``sort``, ``collapse``)."""
        started = time.perf_counter()
        if request is None:
            request = SearchRequest(**options)
        elif not isinstance(request, SearchRequest):
            request = SearchRequest(request, **options)
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            filters = Filters(request.date_from, request.date_to, request.source)
            query = searchers.hybrid.prepare(request.query)  # parsed and embedded once, when first needed
            budget = Budget(self.query_budget_ms)
            ranked = self.rank(searchers, request, query, filters, max(self.fusion.depth, request.page * request.k),
                               budget)
            keyword_found = sum(1 for hit in ranked if hit.explain.get(KEYWORD))  # articles, before collapsing
            others = None
            if request.collapse == "story":
                ranked, others = collapse_stories(ranked, snapshot.catalog)
            if request.sort == "date":
                ranked = sort_by_date(ranked, snapshot, others)
            page_hits = ranked[(request.page - 1) * request.k : request.page * request.k]

            parsed = query.parsed if request.mode != "semantic" else None
            query_vector = query.vector if request.mode != "keyword" and page_hits else None
            results = make_results(snapshot, page_hits, parsed.terms if parsed else set(), query_vector,
                                   parsed.variants if parsed else None, others)
            suggestion = None
            if parsed is not None and parsed.note is None and not budget.spent():
                if keyword_found < SUGGEST_BELOW:
                    suggestion = self.better_query(searchers, request, filters, keyword_found, budget)
        return SearchResponse(
            query=request.query, mode=request.mode, k=request.k, page=request.page, total=len(ranked),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            note="; ".join(([parsed.note] if parsed and parsed.note else []) + budget.notes) or None,
            suggestion=suggestion, results=results,
            timed_out=budget.timed_out, facets=count_facets(ranked, snapshot.catalog, others), collapse=request.collapse,
        )

    def rank(self, searchers: Searchers, request: SearchRequest, query: PreparedQuery, filters: Filters,
             depth: int, budget: Budget) -> list[Hit]:
        if request.mode == "hybrid":
            return searchers.hybrid.pool(query, depth, filters, request.alpha, budget)
        leg = searchers.keyword if request.mode == "keyword" else searchers.semantic
        return leg.search(query, depth, filters, budget=budget)

    def better_query(self, searchers: Searchers, request: SearchRequest, filters: Filters, found: int,
                     budget: Budget) -> str | None:
        """A "did you mean" query, offered only when its keywords find more articles than these did."""
        suggestion = suggest(searchers.snapshot, request.query)
        if suggestion is None:
            return None
        depth = max(self.fusion.depth, request.page * request.k)
        notes = list(budget.notes)
        finds = len(searchers.keyword.search(suggestion, depth, filters, budget=budget))
        budget.notes[:] = notes  # what searching the suggestion noted is not about the query asked
        return suggestion if finds > found else None

    # Articles

    def article(self, article_id: str) -> ArticleResponse:
        with self.holding() as searchers:
            store = searchers.snapshot.store
            article = store.article(article_id)
            if article is None or article_id not in searchers.snapshot.catalog.ordinal:  # (not yet: an update under way)
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            # (Only the passages this generation knows: on Milvus an update may be writing new ones.)
            live = searchers.snapshot.catalog.owners(store.article_passage_ids(article_id))
            spans = store.passages([pid for pid, owner in live.items() if owner == article_id])
            story, size = searchers.snapshot.catalog.story_of(article_id)
            versions = [StoryVersion(*row) for row in store.story_headlines(story)]
            claims = self.claims(store, article, spans.values(),
                                 [version.id for version in versions if version.id != article_id])
        return ArticleResponse(
            id=article.id, title=article.title, date=article.date, source=article.source, url=article.url,
            text=article.text, author=article.author, date_kind=article.date_kind,
            passages=[{"start": passage.start, "end": passage.end}
                      for passage in sorted(spans.values(), key=lambda passage: passage.ordinal)],
            story=ArticleStory(story, size, versions), claims=claims,
        )

    @staticmethod
    def claims(store, article, passages, other_ids: list[str]) -> list[Claim]:
        """The article's sentences that other articles of its story (the newest ones first) also report."""
        others = list(store.articles(other_ids[:MAX_STORY_ARTICLES]).values())
        if not others:
            return []
        texts = {other.id: other.text for other in others}
        by_article: dict[str, list] = {}
        for passage in store.passages(store.passage_ids_of(list(texts))).values():
            by_article.setdefault(passage.article_id, []).append(passage)
        other_sentences = [sentence for other_id, stored in by_article.items()
                           for sentence in article_sentences(other_id, texts[other_id], stored)]
        return match_claims(article_sentences(article.id, article.text, passages), other_sentences,
                            {other.id: other.source for other in others})

    def more_like(self, article_id: str, k: int = SIMILAR_K) -> SimilarResponse:
        """Articles nearest in meaning: the mean of this article's passage vectors, searched
        in the vector index, grouped by article, this article excluded."""
        SearchRequest.check_k(k)
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            if snapshot.store.article(article_id) is None:
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            pids = snapshot.store.article_passage_ids(article_id)
            centroid = snapshot.vectors.reconstruct(pids).mean(axis=0)
            centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
            allowed = snapshot.catalog.passage_mask(None) if snapshot.manifest.tombstones else None
            passage_hits = snapshot.vectors.search(centroid, (k + 1) * 4 + len(pids), allowed)
            owners = snapshot.catalog.owners([pid for pid, _ in passage_hits])
            best: dict[str, float] = {}
            for pid, score in passage_hits:
                owner = owners.get(pid)
                if owner and owner != article_id and owner not in best:
                    best[owner] = score
            top = list(best.items())[: k + 4]
            articles = snapshot.store.articles([owner for owner, _ in top])
            top = [(owner, score) for owner, score in top if owner in articles][:k]  # (one an update just removed)
        return SimilarResponse(article_id, [
            SimilarArticle(owner, articles[owner].title, articles[owner].date, articles[owner].source, round(score, 4),
                           articles[owner].date_kind)
            for owner, score in top
        ])

    def stats(self) -> StatsResponse:
        with self.holding() as searchers:
            manifest = searchers.snapshot.manifest
            (first, last), sources = searchers.snapshot.summary
        return StatsResponse(
            generation=manifest.generation, created_at=manifest.created_at, articles=manifest.articles,
            passages=manifest.passages, date_from=first, date_to=last,
            sources=[{"source": source, "articles": count} for source, count in sources],
            model=manifest.model, dimension=manifest.dimension, faiss_type=manifest.faiss_type,
            corpus_path=manifest.corpus_path, corpus_fingerprint=manifest.corpus_fingerprint,
        )


def sort_by_date(hits: list[Hit], snapshot: Snapshot, others: dict[str, list[str]] | None = None) -> list[Hit]:
    """Newest first; undated articles last; relevance order kept among equal dates. Collapsed
    (``others``), a story is dated as the facets date it."""
    dates = {hit.article_id: story_value(snapshot.catalog.date_of, hit.article_id, others) for hit in hits}
    dated = sorted((hit for hit in hits if dates[hit.article_id]), key=lambda hit: dates[hit.article_id], reverse=True)
    return dated + [hit for hit in hits if not dates[hit.article_id]]
