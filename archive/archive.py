"""``Archive``: the one public entry point for searching an index.

    archive = Archive.open("var/index")
    response = archive.search("potash exports", mode="hybrid", k=10)
    response.to_dict()  # the documented JSON shape

The index (searcher, FAISS index, model) opens once and is shared by every query and
thread. Each query first checks, at most once a second, whether ``CURRENT`` names a new
generation; if so the new one opens and later queries use it, while queries already
running finish on the old one.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from . import highlight
from .errors import ArticleNotFoundError, InvalidParameterError, ModelError
from .embeddings import Embedder
from .generations import IndexLayout
from .keyword import SYNTAX_NOTE
from .results import (
    ArticleResponse,
    LegExplanation,
    PassageResult,
    Result,
    SearchResponse,
    SimilarArticle,
    SimilarResponse,
    StatsResponse,
)
from .searchers import (
    KEYWORD,
    SEMANTIC,
    Filters,
    FusionSettings,
    Hit,
    HybridSearcher,
    KeywordSearcher,
    SemanticSearcher,
)
from .snapshot import Snapshot

MODES = ("hybrid", "keyword", "semantic")
SORTS = ("relevance", "date")
MAX_K = 100
MAX_RESULT_WINDOW = 1000  # page * k may not exceed this: deeper results are not fetched
MAX_QUERY_CHARACTERS = 1000
PASSAGES_PER_RESULT = 3
SEMANTIC_PASSAGE_MARGIN = 0.05  # further passages of a semantic hit shown when this close to its best
SUGGEST_BELOW = 3  # offer "did you mean" when the keyword leg finds fewer articles than this
RELOAD_CHECK_SECONDS = 1.0
# Chosen on SciFact's train split, reported on test (docs/fusion.md): weighted min-max, 0.4 on meaning.
DEFAULT_FUSION = FusionSettings(method="convex", alpha=0.4, depth=100)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


@dataclass
class Searchers:
    snapshot: Snapshot
    keyword: KeywordSearcher
    semantic: SemanticSearcher
    hybrid: HybridSearcher


class Archive:
    def __init__(self, index_dir: Path | str, *, fusion: FusionSettings = DEFAULT_FUSION,
                 embedder: Embedder | None = None) -> None:
        self.layout = IndexLayout(index_dir)
        self.fusion = fusion
        self._embedder = embedder
        self._lock = threading.Lock()
        self._current: Searchers | None = None
        self._previous: Searchers | None = None
        self._checked_at = 0.0

    @classmethod
    def open(cls, index_dir: Path | str, **options) -> Archive:
        """Open the live generation now, so that a missing or broken index fails here."""
        archive = cls(index_dir, **options)
        archive.searchers()
        return archive

    def close(self) -> None:
        with self._lock:
            for searchers in (self._current, self._previous):
                if searchers is not None:
                    searchers.snapshot.close()
            self._current = self._previous = None

    # Generations

    def searchers(self) -> Searchers:
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked_at < RELOAD_CHECK_SECONDS:
            return current
        with self._lock:
            self._checked_at = now
            name = self.layout.current_name()
            if self._current is not None and name == self._current.snapshot.directory.name:
                return self._current
            if name is None and self._current is None:
                self.layout.current_directory()  # raises the right "no index" error
            if name is None:
                return self._current
            snapshot = Snapshot.open_current(self.layout)
            embedder = self._embedder or Embedder.shared(snapshot.manifest.model)
            if embedder.dimension != snapshot.manifest.dimension:
                snapshot.close()
                raise ModelError(
                    f"the index was built with {snapshot.manifest.model} ({snapshot.manifest.dimension} dimensions),"
                    f" but the loaded model has {embedder.dimension}",
                    hint="open the index with the model it was built with, or rebuild it",
                )
            keyword = KeywordSearcher(snapshot.keyword, snapshot.store)
            semantic = SemanticSearcher(snapshot.vectors, snapshot.store, embedder, snapshot.manifest.tombstones)
            searchers = Searchers(snapshot, keyword, semantic, HybridSearcher(keyword, semantic, self.fusion))
            # The generation before the previous one can no longer have queries in flight.
            if self._previous is not None:
                self._previous.snapshot.close()
            self._previous, self._current = self._current, searchers
            return searchers

    @property
    def generation(self) -> str:
        return self.searchers().snapshot.generation

    # Search

    def search(
        self,
        query: str,
        mode: str = "hybrid",
        k: int = 10,
        page: int = 1,
        alpha: float | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        source: str | None = None,
        sort: str = "relevance",
    ) -> SearchResponse:
        started = time.perf_counter()
        query = validate_query(query)
        validate_choice("mode", mode, MODES)
        validate_choice("sort", sort, SORTS)
        validate_paging(k, page)
        if alpha is not None and not (isinstance(alpha, int | float) and 0.0 <= alpha <= 1.0):
            raise InvalidParameterError("alpha must be a number from 0 (keyword only) to 1 (semantic only)")
        filters = Filters(
            validate_date("date_from", date_from), validate_date("date_to", date_to), (source or "").strip() or None
        )
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            raise InvalidParameterError("date_from is after date_to")

        searchers = self.searchers()
        depth = max(self.fusion.depth, page * k)  # candidate articles per leg
        if mode == "hybrid":
            ranked = searchers.hybrid.pool(query, depth, filters, alpha)
        else:
            ranked = (searchers.keyword if mode == "keyword" else searchers.semantic).search(query, depth, filters)
        snapshot = searchers.snapshot
        if sort == "date":
            ranked = sort_by_date(ranked, snapshot)
        page_hits = ranked[(page - 1) * k : page * k]

        parsed = snapshot.keyword.parse(query) if mode != "semantic" else None
        query_vector = searchers.semantic.embedder.encode_query(query) if mode != "keyword" else None
        results = self.results(snapshot, page_hits, parsed.terms if parsed else set(), query_vector)
        suggestion = None
        found_by_keywords = sum(1 for hit in ranked if hit.explain.get(KEYWORD))
        if parsed is not None and parsed.note is None and found_by_keywords < SUGGEST_BELOW:
            suggestion = suggest(snapshot, query)
        return SearchResponse(
            query=query, mode=mode, k=k, page=page, total=len(ranked),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            note=parsed.note if parsed else None, suggestion=suggestion, results=results,
        )

    def results(self, snapshot: Snapshot, hits: list[Hit], terms: set[str],
                query_vector: np.ndarray | None) -> list[Result]:
        articles = snapshot.store.articles([hit.article_id for hit in hits])
        shown = {hit.article_id: choose_passages(hit) for hit in hits}
        stored = snapshot.store.passages([pid for pids in shown.values() for pid in pids])
        analyzer = snapshot.keyword.index.schema["body"].analyzer
        results = []
        for hit in hits:
            article = articles[hit.article_id]
            passages = []
            for pid in shown[hit.article_id]:
                passage = stored[pid]
                text = article.text[passage.start : passage.end]
                matched = [leg for leg in (KEYWORD, SEMANTIC) if leg in hit.passages[pid]]
                keyword_marks = highlight.keyword_spans(text, terms, analyzer) if KEYWORD in matched else []
                semantic_marks = (
                    highlight.semantic_spans(passage.sentence_spans, passage.sentence_vectors, query_vector)
                    if SEMANTIC in matched and query_vector is not None else []
                )
                passages.append(PassageResult(text, highlight.render(text, keyword_marks, semantic_marks),
                                              passage.start, passage.end, matched))
            results.append(Result(
                id=article.id, title=article.title, date=article.date, source=article.source,
                score=round(hit.score, 6),
                explain={leg: (LegExplanation(evidence.rank, round(evidence.score, 4)) if evidence else None)
                         for leg, evidence in ((leg, hit.explain.get(leg)) for leg in (KEYWORD, SEMANTIC))},
                passages=passages,
            ))
        return results

    # Articles

    def article(self, article_id: str) -> ArticleResponse:
        snapshot = self.searchers().snapshot
        article = snapshot.store.article(article_id)
        if article is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        spans = snapshot.store.passages(snapshot.store.article_passage_ids(article_id))
        return ArticleResponse(
            id=article.id, title=article.title, date=article.date, source=article.source, url=article.url,
            text=article.text,
            passages=[{"start": passage.start, "end": passage.end} for passage in sorted(spans.values(), key=lambda p: p.ordinal)],
        )

    def more_like(self, article_id: str, k: int = 5) -> SimilarResponse:
        """Articles nearest in meaning: the mean of this article's passage vectors, searched
        in the vector index, grouped by article, this article excluded."""
        validate_paging(k, 1)
        searchers = self.searchers()
        snapshot = searchers.snapshot
        if snapshot.store.article(article_id) is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        pids = snapshot.store.article_passage_ids(article_id)
        centroid = snapshot.vectors.reconstruct(pids).mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        allowed = None
        if snapshot.manifest.tombstones:
            allowed = snapshot.store.passage_ids_where(None, None, None)
        passage_hits = snapshot.vectors.search(centroid, (k + 1) * 4 + len(pids), allowed)
        owners = snapshot.store.passage_articles([pid for pid, _ in passage_hits])
        best: dict[str, float] = {}
        for pid, score in passage_hits:
            owner = owners.get(pid)
            if owner and owner != article_id and owner not in best:
                best[owner] = score
        top = list(best.items())[:k]
        articles = snapshot.store.articles([owner for owner, _ in top])
        return SimilarResponse(article_id, [
            SimilarArticle(owner, articles[owner].title, articles[owner].date, articles[owner].source, round(score, 4))
            for owner, score in top
        ])

    def stats(self) -> StatsResponse:
        snapshot = self.searchers().snapshot
        manifest = snapshot.manifest
        (first, last), sources = snapshot.summary
        return StatsResponse(
            generation=manifest.generation, created_at=manifest.created_at, articles=manifest.articles,
            passages=manifest.passages, date_from=first, date_to=last,
            sources=[{"source": source, "articles": count} for source, count in sources],
            model=manifest.model, dimension=manifest.dimension, faiss_type=manifest.faiss_type,
            corpus_path=manifest.corpus_path, corpus_fingerprint=manifest.corpus_fingerprint,
        )


def choose_passages(hit: Hit) -> list[int]:
    """Up to three passages: the best one, then others the keyword leg matched or that are
    nearly as close in meaning as the article's best."""
    def strength(pid: int) -> float:
        return sum(1.0 / (60 + evidence.rank) for evidence in hit.passages[pid].values())

    ordered = sorted(hit.passages, key=lambda pid: (-strength(pid), pid))
    best_semantic = max((legs[SEMANTIC].score for legs in hit.passages.values() if SEMANTIC in legs), default=None)
    chosen = ordered[:1]
    for pid in ordered[1:]:
        legs = hit.passages[pid]
        close = SEMANTIC in legs and best_semantic is not None and legs[SEMANTIC].score >= best_semantic - SEMANTIC_PASSAGE_MARGIN
        if KEYWORD in legs or close:
            chosen.append(pid)
        if len(chosen) == PASSAGES_PER_RESULT:
            break
    return chosen


def sort_by_date(hits: list[Hit], snapshot: Snapshot) -> list[Hit]:
    """Newest first; undated articles last; relevance order kept among equal dates."""
    articles = snapshot.store.articles([hit.article_id for hit in hits])
    order = {hit.article_id: index for index, hit in enumerate(hits)}
    return sorted(hits, key=lambda hit: (articles[hit.article_id].date is None,
                                         _descending(articles[hit.article_id].date or ""), order[hit.article_id]))


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(character) for character in text)


def suggest(snapshot: Snapshot, query: str) -> str | None:
    """Replace words the archive does not know by the closest frequent word it does."""
    changed = False
    words = []
    for match in _WORD.finditer(query):
        word = match.group()
        replacement = None
        if len(word) > 2 and snapshot.keyword.word_frequency(word) == 0:
            replacement = snapshot.vocabulary.suggest(word)
        if replacement and replacement != word.lower():
            words.append(replacement)
            changed = True
        else:
            words.append(word.lower())
    return " ".join(words) if changed else None


def validate_query(query: object) -> str:
    if not isinstance(query, str):
        raise InvalidParameterError("the query must be text")
    cleaned = " ".join(_CONTROL.sub(" ", query).split())
    if not cleaned:
        raise InvalidParameterError("the query is empty", hint="type some words to search for")
    if len(cleaned) > MAX_QUERY_CHARACTERS:
        raise InvalidParameterError(f"the query is too long ({len(cleaned)} characters; the limit is {MAX_QUERY_CHARACTERS})")
    return cleaned


def validate_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidParameterError(f"unknown {name} {value!r}; use one of: {', '.join(choices)}")


def validate_paging(k: object, page: object) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidParameterError(f"k must be a whole number from 1 to {MAX_K}")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise InvalidParameterError("page must be a whole number from 1")
    if page * k > MAX_RESULT_WINDOW:
        raise InvalidParameterError(f"page * k may not exceed {MAX_RESULT_WINDOW}; narrow the query instead")


def validate_date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidParameterError(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from None


__all__ = ["Archive", "MODES", "SORTS", "MAX_K", "MAX_RESULT_WINDOW", "MAX_QUERY_CHARACTERS", "SYNTAX_NOTE"]
