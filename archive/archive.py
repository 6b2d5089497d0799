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
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .backends import open_backend
from .backends.contract import Backend, Snapshot
from .errors import (
    ArchiveError,
    ArticleNotFoundError,
    IndexCorruptError,
    InvalidParameterError,
    ModelError,
    OutOfTimeError,
    QueryTooBroadError,
)
from .index.budget import DEFAULT_BUDGET_MS, Budget, OutOfTime
from .index.catalog import Filters, Restriction
from .index.embeddings import Embedder
from .index.query_encoder import EncoderStatus, OnnxQueryEncoder, open_query_encoder
from .query.booleans import Matching
from .query.language import ParsedQuery, understood
from .search.claims import NameForms, StoryClaims, in_time_order, story_claims
from .search.collapsing import collapse_stories
from .search.coverage import (
    SAMPLE_STORIES,
    CoverageResponse,
    Export,
    QueryCoverage,
    Timeline,
    count_over_time,
    count_sources,
    export_rows,
    once,
    share,
)
from .search.distinctive import (
    BACKGROUND_SAMPLE,
    FOREGROUND_SAMPLE,
    STATISTIC,
    ArticleCounts,
    Reader,
    distinctive_names,
    distinctive_terms,
    read_articles,
    spread_sample,
)
from .search.facets import count_facets
from .search.feeds import (
    MAX_ENTRIES,
    Feed,
    FeedEntry,
    best_passage,
    newest,
    newest_articles,
    ordered,
    search_feed_id,
    story_feed_id,
)
from .search.ordering import sort_by_date
from .search.request import SIMILAR_K, CoverageRequest, SearchRequest
from .search.results import (
    ArticleResponse,
    ArticleStory,
    MatchCount,
    SearchResponse,
    SimilarArticle,
    SimilarResponse,
    StatsResponse,
    StoryVersion,
    make_results,
)
from .search.searchers import (
    KEYWORD,
    FusionSettings,
    HybridSearcher,
    KeywordSearcher,
    PreparedQuery,
    SemanticSearcher,
)
from .search.similar import similar_articles
from .search.suggestions import suggest

log = logging.getLogger(__name__)

SUGGEST_BELOW = 3  # offer "did you mean" when the keyword leg finds fewer articles than this
RELOAD_CHECK_SECONDS = 1.0
RETRY_REFUSED_SECONDS = 60.0  # a generation that could not be opened is tried again after this long
MAX_STORY_VERSIONS = 100  # listed with an article (its story's size counts them all)
CLAIMS_CACHE_SIZE = 256  # articles whose claims are kept (per process, keyed by generation)
MATCHING_CACHE_SIZE = 32  # matching sets kept (a results page, its coverage page and its export share one)
COUNT_TIMED_OUT_NOTE = "the time budget ran out before every article the words match was counted"
NO_WORDS_NOTE = ("no words to match: only meaning could find articles for this query, and coverage counts "
                 "what the words match (stop words alone match nothing)")
# Chosen on SciFact's train split, reported on test (docs/fusion.md): weighted min-max, 0.4 on meaning.
DEFAULT_FUSION = FusionSettings(method="convex", alpha=0.4, depth=100)


@dataclass
class Searchers:
    snapshot: Snapshot
    keyword: KeywordSearcher
    semantic: SemanticSearcher
    hybrid: HybridSearcher


class Archive:
    def __init__(self, index: Path | str | Backend, *, fusion: FusionSettings = DEFAULT_FUSION,
                 embedder: Embedder | None = None, query_threads: int | None = None,
                 query_budget_ms: float | None = DEFAULT_BUDGET_MS) -> None:
        """``index``: an embedded index directory, or a backend (``open_backend``).
        ``query_budget_ms``: how long one search may run (None: no limit); past it, the
        search returns what it ranked so far, marked ``timed_out``."""
        self.backend: Backend = open_backend(None, index) if isinstance(index, str | os.PathLike) else index
        # Threads for embedding a query: the process's share of the cores (all, unless told).
        self.query_threads = query_threads or os.cpu_count() or 1
        self.query_budget_ms = query_budget_ms
        self.fusion = fusion
        self._embedder = embedder
        self._lock = threading.Lock()
        self._current: Searchers | None = None
        self._checked_at = 0.0
        self._opening = False  # a newer generation is being opened
        self.problem: str | None = None  # why the generation the backend names live is not served (None: it is)
        self._refused: tuple[str | None, float, ArchiveError] | None = None  # (generation, when, why) not opened
        self._query_encoders: dict[str, tuple[OnnxQueryEncoder | None, EncoderStatus]] = {}  # model -> checked once
        self._encoders_lock = threading.Lock()
        self._claims: OrderedDict[tuple[str, str], StoryClaims] = OrderedDict()  # (generation, article) -> claims
        self._claims_lock = threading.Lock()
        self._name_forms: dict[str, NameForms] = {}  # generation -> how its claims tell names apart
        # (generation, query, words, filters) -> (the set as bits, its length, its stories): a bit an
        # article, not a byte (1 MB a set at a million articles)
        self._matchings: OrderedDict[tuple, tuple[np.ndarray, int, int | None]] = OrderedDict()
        self._matchings_lock = threading.Lock()
        self._backgrounds: dict[str, tuple[Reader, ArticleCounts]] = {}  # generation -> archive sample's counts
        self._backgrounds_lock = threading.Lock()

    @classmethod
    def open(cls, index: Path | str | Backend, **options) -> Archive:
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
                self._current = self.open_first()
                self._checked_at = time.monotonic()
                return self._current
            current = self._current
            if self._opening or now - self._checked_at < RELOAD_CHECK_SECONDS:
                return current
            self._checked_at = now
            self._opening = True  # this request checks; the others keep being answered meanwhile
        # Check (a network call on Milvus) and open a newer generation without holding the lock.
        searchers = None
        name: str | None = None
        try:
            try:
                name = self.backend.live_name()
            except ArchiveError as problem:  # Milvus went away: keep answering what can be answered
                self.degrade(f"cannot check for a new generation: {problem.message}")
                return current
            if name is None or name == current.snapshot.name:
                self.degrade(None)
                return current
            if self.refused(name):
                return current
            searchers = self.open_searchers()
            self._refused = None
            self.degrade(None)
        except ArchiveError as problem:
            # One that cannot be opened must not take the site down: keep answering from the
            # one that works; say why once, and try that generation again only after a while.
            self._refused = (name, now, problem)
            self.degrade(f"generation {name} is not served (still serving {current.snapshot.generation}): "
                         f"{problem.message}" + (f"; {problem.hint}" if problem.hint else ""))
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

    def open_first(self) -> Searchers:
        """The first generation to serve. A damaged one is not opened (and checked) again by
        every request that comes: its refusal stands while the backend names it, for a while."""
        refused = self._refused
        if refused is not None and self.refused(self.backend.live_name()):
            raise refused[2]
        try:
            searchers = self.open_searchers()
        except IndexCorruptError as problem:
            self._refused = (self.backend.live_name(), time.monotonic(), problem)
            raise
        self._refused = None
        return searchers

    def refused(self, name: str | None) -> bool:
        """Whether the generation named could not be opened a short while ago (not tried again yet)."""
        refused = self._refused
        return refused is not None and refused[0] == name and time.monotonic() - refused[1] < RETRY_REFUSED_SECONDS

    def degrade(self, problem: str | None) -> None:
        """Record why the live generation is not the one served (None: it is); logged once."""
        if problem is not None and problem != self.problem:
            log.warning("%s", problem)
        elif problem is None and self.problem is not None:
            log.info("serving the live generation again")
        self.problem = problem

    def open_searchers(self) -> Searchers:
        snapshot = self.backend.open_snapshot()  # raises the right "no index" error
        model = snapshot.manifest.model
        embedder = self._embedder or Embedder.shared(model)  # loaded on first use, if ever
        keyword = KeywordSearcher(snapshot.keyword, snapshot.catalog, snapshot.restriction)
        semantic = SemanticSearcher(snapshot.vectors, snapshot.catalog, embedder, snapshot.restriction,
                                    lambda: self.query_encoder(model)[0])  # opened on the first search by meaning
        return Searchers(snapshot, keyword, semantic, HybridSearcher(keyword, semantic, self.fusion))

    def query_encoder(self, model: str) -> tuple[OnnxQueryEncoder | None, EncoderStatus]:
        """The ONNX query encoder of a model, checked against torch once per process (or once in
        the parent of ``indexer serve``'s workers, which share it: ``share_query_encoder``)."""
        with self._encoders_lock:
            if model not in self._query_encoders:
                self._query_encoders[model] = open_query_encoder(self.backend.work_dir, model, self.query_threads)
            return self._query_encoders[model]

    @contextlib.contextmanager
    def holding(self) -> Iterator[Searchers]:
        """The live generation, held open until the block ends."""
        searchers = self.held()
        try:
            yield searchers
        finally:
            searchers.snapshot.release()

    def held(self) -> Searchers:
        """The live generation, held until its snapshot is ``release``d: for answers read
        after the call returns (an export's rows)."""
        while True:
            searchers = self.current()
            if searchers.snapshot.acquire():
                return searchers

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
            if request.mode != "keyword":
                searchers.semantic.check_model()  # the query encoder opens once: not this search's time
            budget = Budget(self.query_budget_ms)  # before parsing: parsing and expanding count against it
            filters = Filters(request.date_from, request.date_to, request.source)
            query = searchers.hybrid.prepare(request.query)  # parsed and embedded once, when first needed
            ranked = searchers.hybrid.search(query, None, filters, mode=request.mode, alpha=request.alpha,
                                             budget=budget, depth=max(self.fusion.depth, request.page * request.k))
            keyword_found = sum(1 for hit in ranked if hit.explain.get(KEYWORD))  # articles, before collapsing
            others = None
            if request.collapse == "story":
                ranked, others = collapse_stories(ranked, snapshot.catalog)
            if request.sort == "date":
                ranked = sort_by_date(ranked, snapshot.catalog, others)
            page_hits = ranked[(request.page - 1) * request.k : request.page * request.k]

            parsed = query.parsed if request.mode != "semantic" else None
            query_vector = query.vector if request.mode != "keyword" and page_hits else None
            results = make_results(snapshot, page_hits, parsed.terms if parsed else set(), query_vector,
                                   parsed.variants if parsed else None, others)
            suggestion = None
            if parsed is not None and parsed.note is None and not budget.spent():
                if keyword_found < SUGGEST_BELOW:
                    suggestion = self.better_query(searchers, request, filters, keyword_found, budget)
            matching = self.count_matching(snapshot, query, filters, budget)
        return SearchResponse(
            query=request.query, mode=request.mode, k=request.k, page=request.page, total=len(ranked),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            note="; ".join(([parsed.note] if parsed and parsed.note else []) + budget.notes) or None,
            suggestion=suggestion, results=results,
            timed_out=budget.timed_out, facets=count_facets(ranked, snapshot.catalog, others), collapse=request.collapse,
            matching=matching,
        )

    # Coverage: every article the words match, not a ranked pool

    def matching_set(self, snapshot: Snapshot, parsed: ParsedQuery, filters: Filters, budget: Budget,
                     restriction: Restriction | None = None) -> Matching:
        """Every article the parsed query's words match within the filters, kept for the
        ``MATCHING_CACHE_SIZE`` latest (a results page, its coverage and its export ask alike).
        Raises ``OutOfTime`` past the budget."""
        key = (snapshot.name, parsed.query, filters)
        with self._matchings_lock:
            kept = self._matchings.get(key)
            if kept is not None:
                self._matchings.move_to_end(key)
        if kept is not None:
            bits, count, stories = kept
            return Matching(np.unpackbits(bits, count=count).view(bool), stories)
        if restriction is None:
            restriction = snapshot.restriction(filters)
        found = snapshot.keyword.matching_articles(parsed, restriction, budget)
        kept = (np.packbits(found.articles), len(found.articles), found.stories)
        with self._matchings_lock:
            self._matchings[key] = kept
            while len(self._matchings) > MATCHING_CACHE_SIZE:
                self._matchings.popitem(last=False)
        return found

    def forget_matches(self) -> None:
        """Forget the matching sets kept for the latest queries (a benchmark times each query
        as if it were new)."""
        with self._matchings_lock:
            self._matchings.clear()

    def count_matching(self, snapshot: Snapshot, query: PreparedQuery, filters: Filters,
                       budget: Budget) -> MatchCount | None:
        """How many articles the words match, and their stories; None for a query with no words
        to match, in semantic mode for a pattern too broad to count (meaning still searches
        it), and past the budget: a count cut short is never shown as a number, and the note
        says so (the ranked results are whole: the search is not ``timed_out`` for it)."""
        try:
            parsed = query.parsed
        except QueryTooBroadError:
            return None
        if not understood(parsed):
            return None
        ranked_in_time = budget.timed_out
        try:
            if budget.spent():
                raise OutOfTime
            found = self.matching_set(snapshot, parsed, filters, budget)
            stories = found.stories if found.stories is not None else snapshot.catalog.count_stories(found.articles,
                                                                                                     budget)
        except OutOfTime:
            budget.timed_out = ranked_in_time
            budget.notes.append(COUNT_TIMED_OUT_NOTE)
            return None
        return MatchCount(int(np.count_nonzero(found.articles)), stories)

    def coverage(self, request: CoverageRequest | str | list[str] | tuple[str, ...] | None = None, /,
                 **options) -> CoverageResponse:
        """How much coverage each query's words have: counts over time and by source, the names
        and words that set the matches apart, and the best stories (archive/search/coverage.py).
        ``request``: a ``CoverageRequest``, or the query text (or up to five), with the other
        parameters as keywords (``words``, ``interval``, ``date_from``, ``date_to``, ``source``).
        Each query has the per-search time budget."""
        started = time.perf_counter()
        if request is None:
            request = CoverageRequest(**options)
        elif not isinstance(request, CoverageRequest):
            request = CoverageRequest(tuple([request] if isinstance(request, str) else request), **options)
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            catalog = snapshot.catalog
            filters = Filters(request.date_from, request.date_to, request.source)
            restriction = snapshot.restriction(filters)
            allowed = restriction.articles if restriction is not None else catalog.every_article()
            timeline = Timeline.of(catalog.whole(), allowed, request.interval)
            reader, background = self.background_of(snapshot)  # once per generation, not a query's time
            total = int(np.count_nonzero(allowed))
            queries = [self.query_coverage(searchers, text, request.words == "all", filters, restriction, allowed,
                                           timeline, reader, background) for text in request.queries]
        return CoverageResponse(
            interval=timeline.interval, words=request.words,
            filters={"date_from": request.date_from, "date_to": request.date_to, "source": request.source},
            archive={"articles": total, "undated": timeline.undated_total, "dated": total - timeline.undated_total},
            queries=queries, buckets=timeline.buckets(), background=background.read, statistic=STATISTIC,
            took_ms=round((time.perf_counter() - started) * 1000, 2))

    def query_coverage(self, searchers: Searchers, text: str, every_word: bool, filters: Filters,
                       restriction: Restriction | None, allowed: np.ndarray, timeline: Timeline, reader: Reader,
                       background: ArticleCounts) -> QueryCoverage:
        snapshot = searchers.snapshot
        catalog = snapshot.catalog
        budget = Budget(self.query_budget_ms)
        parsed = snapshot.keyword.parse(text, every_word)
        found = QueryCoverage(text, understood(parsed), note=parsed.note)
        if not found.understood:
            found.note = "; ".join(filter(None, [parsed.note, NO_WORDS_NOTE]))
            return found
        try:
            matched = self.matching_set(snapshot, parsed, filters, budget, restriction)
            matching = matched.articles
            found.stories = matched.stories if matched.stories is not None else catalog.count_stories(matching, budget)
        except OutOfTime:
            found.timed_out = True
            found.note = "; ".join(filter(None, [parsed.note, "the time budget ran out before the count was made"]))
            return found
        found.articles = int(np.count_nonzero(matching))
        found.share = share(found.articles, int(np.count_nonzero(allowed)))
        found.over_time, found.undated = count_over_time(catalog.whole(), timeline, matching)
        found.sources = count_sources(catalog.whole(), allowed, matching)
        notes = [parsed.note] if parsed.note else []
        try:
            found.sample = self.sample_stories(searchers, text, filters, matching, budget)
            sample = spread_sample(np.flatnonzero(matching), FOREGROUND_SAMPLE)
            counts = ArticleCounts()
            read_articles(snapshot.store.articles, catalog.ids_of(sample.tolist()), reader, counts,
                          frozenset(parsed.terms | set(parsed.variants)), budget)
            found.read = counts.read
            found.names = distinctive_names(counts, background)
            found.terms = distinctive_terms(counts, background)
        except OutOfTime:
            found.details_timed_out = True
            notes.append("the time budget ran out before the names, words and best stories were all read: "
                         "the counts are whole")
        found.note = "; ".join(notes + [note for note in budget.notes if note not in notes]) or None
        return found

    def sample_stories(self, searchers: Searchers, text: str, filters: Filters, matching: np.ndarray,
                       budget: Budget) -> list[dict]:
        """The best-ranked stories of the search (both legs; keywords alone when the model cannot
        be opened: the counts never need it) among the matching articles."""
        catalog = searchers.snapshot.catalog
        mode = "hybrid"
        try:
            searchers.semantic.check_model()  # the query encoder opens once: not this query's time
        except ModelError:
            mode = "keyword"
        ranked = searchers.hybrid.search(searchers.hybrid.prepare(text), None, filters, mode=mode, budget=budget,
                                         depth=self.fusion.depth)
        budget.check()
        ordinals = {hit.article_id: catalog.ordinal_of(hit.article_id) for hit in ranked}
        ranked = [hit for hit in ranked if ordinals[hit.article_id] is not None and matching[ordinals[hit.article_id]]]
        ranked, others = collapse_stories(ranked, catalog)
        ranked = ranked[:SAMPLE_STORIES]
        headlines = searchers.snapshot.store.headlines([hit.article_id for hit in ranked])
        stories = catalog.stories_of([hit.article_id for hit in ranked if hit.article_id in headlines])
        sample = []
        for hit in ranked:
            if hit.article_id not in headlines:
                continue
            title, source, date, date_kind = headlines[hit.article_id]
            story, size = stories[hit.article_id]
            sample.append({"id": hit.article_id, "title": title, "date": date, "date_kind": date_kind, "source": source,
                           "story": {"id": story, "size": size, "matched": 1 + len(others.get(hit.article_id, []))}})
        return sample

    def background_of(self, snapshot: Snapshot) -> tuple[Reader, ArticleCounts]:
        """The words and names of an even sample of the whole archive (``BACKGROUND_SAMPLE``
        articles), counted once per generation: what matches are compared with. Read outside
        the lock (two requests may both read it once; neither waits on the other), and kept
        for the two latest generations (requests on the old one finish while the new one serves)."""
        with self._backgrounds_lock:
            found = self._backgrounds.get(snapshot.name)
        if found is not None:
            return found
        analysis = snapshot.keyword.analysis
        reader = Reader(analysis.index_form, analysis.name_variants())
        catalog = snapshot.catalog
        sample = spread_sample(np.flatnonzero(catalog.every_article()), BACKGROUND_SAMPLE)
        counts = ArticleCounts()
        read_articles(snapshot.store.articles, catalog.ids_of(sample.tolist()), reader, counts)
        with self._backgrounds_lock:
            self._backgrounds[snapshot.name] = (reader, counts)
            while len(self._backgrounds) > 2:
                del self._backgrounds[next(iter(self._backgrounds))]
            return self._backgrounds[snapshot.name]

    def export(self, request: CoverageRequest | str, /, **options) -> Export:
        """Every article one query's words match, oldest first (undated last): id, date,
        source, title, url, story id, read from the store in batches as the rows are taken.
        The matching set is made first, within the time budget (``OutOfTimeError`` past it: a
        partial export would read as the whole). The generation stays open until the rows are
        read or ``close()``d."""
        if not isinstance(request, CoverageRequest):
            request = CoverageRequest((request,), **options)
        if len(request.queries) != 1:
            raise InvalidParameterError(f"an export takes one query; {len(request.queries)} were given")
        searchers = self.held()
        try:
            snapshot = searchers.snapshot
            budget = Budget(self.query_budget_ms)
            parsed = snapshot.keyword.parse(request.queries[0], request.words == "all")
            shown = understood(parsed)
            if not shown:
                raise InvalidParameterError(NO_WORDS_NOTE, hint="give words to match")
            filters = Filters(request.date_from, request.date_to, request.source)
            try:
                matching = self.matching_set(snapshot, parsed, filters, budget).articles
            except OutOfTime:
                raise OutOfTimeError("the time budget ran out before every matching article was found",
                                     hint="narrow the query or its dates, or raise ARCHIVE_QUERY_BUDGET_MS") from None
        except BaseException:
            searchers.snapshot.release()
            raise
        return Export(request.queries[0], shown, int(np.count_nonzero(matching)),
                      export_rows(snapshot.catalog.whole(), snapshot.store.articles, matching), once(snapshot.release))

    def better_query(self, searchers: Searchers, request: SearchRequest, filters: Filters, found: int,
                     budget: Budget) -> str | None:
        """A "did you mean" query, offered only when its keywords find more articles than these did."""
        suggestion = suggest(searchers.snapshot, request.query, budget)
        if suggestion is None:
            return None
        depth = max(self.fusion.depth, request.page * request.k)
        notes = list(budget.notes)
        finds = len(searchers.hybrid.search(suggestion, None, filters, mode="keyword", budget=budget, depth=depth))
        budget.notes[:] = notes  # what searching the suggestion noted is not about the query asked
        return suggestion if finds > found else None

    # Articles

    def article(self, article_id: str) -> ArticleResponse:
        with self.holding() as searchers:
            store = searchers.snapshot.store
            article = store.article(article_id)
            if article is None or searchers.snapshot.catalog.ordinal_of(article_id) is None:  # (an update under way)
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            # (Only the passages this generation knows: on Milvus an update may be writing new ones.)
            live = searchers.snapshot.catalog.owners(store.article_passage_ids(article_id))
            spans = store.passages([pid for pid, owner in live.items() if owner == article_id])
            story, size = searchers.snapshot.catalog.story_of(article_id)
            versions = [StoryVersion(*row) for row in store.story_headlines(story, MAX_STORY_VERSIONS)]
            claims = self.claims_of(searchers.snapshot, article, spans.values(), versions, size)
        return ArticleResponse(
            id=article.id, title=article.title, date=article.date, source=article.source, url=article.url,
            text=article.text, author=article.author, date_kind=article.date_kind,
            passages=[{"start": passage.start, "end": passage.end}
                      for passage in sorted(spans.values(), key=lambda passage: passage.ordinal)],
            story=ArticleStory(story, size, versions), claims=claims.claims, claims_note=claims.note,
        )

    def claims_of(self, snapshot: Snapshot, article, passages, versions: list[StoryVersion], size: int) -> StoryClaims:
        """The article's claims, computed once per generation (an article's story and texts
        change only with a new generation) and kept for the ``CLAIMS_CACHE_SIZE`` latest articles."""
        key = (snapshot.name, article.id)
        with self._claims_lock:
            if key in self._claims:
                self._claims.move_to_end(key)
                return self._claims[key]
        others = [version.id for version in versions if version.id != article.id]  # the newest first
        found = story_claims(snapshot.store, article, passages, others, size - 1, self.name_forms(snapshot))
        in_time_order(found.claims, article, {version.id: version.date for version in versions},
                      snapshot.store.first_seen([article.id, *others]))
        with self._claims_lock:
            self._claims[key] = found
            while len(self._claims) > CLAIMS_CACHE_SIZE:
                self._claims.popitem(last=False)
        return found

    def name_forms(self, snapshot: Snapshot) -> NameForms:
        """How claims tell names apart in this generation: by sound, and by the archive's own
        variant spellings (made once per generation, with the search's name variants)."""
        with self._claims_lock:
            forms = self._name_forms.get(snapshot.name)
        if forms is None:  # made outside the lock: claims of other articles do not wait for it
            analysis = snapshot.keyword.analysis
            forms = NameForms(analysis.name_variants(), analysis.index_form)
            with self._claims_lock:
                forms = self._name_forms.setdefault(snapshot.name, forms)
                while len(self._name_forms) > 2:  # the two latest generations (requests on the old one finish)
                    del self._name_forms[next(iter(self._name_forms))]
        return forms

    def more_like(self, article_id: str, k: int = SIMILAR_K) -> SimilarResponse:
        """Articles nearest in meaning (archive/search/similar.py), this article excluded."""
        SearchRequest.check_k(k)
        with self.holding() as searchers:
            nearest = similar_articles(searchers.snapshot, article_id, k)
            articles = searchers.snapshot.store.articles([owner for owner, _ in nearest])
            top = [(owner, score) for owner, score in nearest if owner in articles][:k]  # (one an update just removed)
        return SimilarResponse(article_id, [
            SimilarArticle(owner, articles[owner].title, articles[owner].date, articles[owner].source, round(score, 4),
                           articles[owner].date_kind)
            for owner, score in top
        ])

    # Feeds (archive/search/feeds.py)

    def version(self) -> tuple[str, str]:
        """(generation, when it was created): what changes whenever anything the archive
        answers may change, for conditional requests."""
        manifest = self.current().snapshot.manifest
        return manifest.generation, manifest.created_at

    def search_feed(self, request: SearchRequest | str, /, **options) -> Feed:
        """A search as a feed: the newest ``MAX_ENTRIES`` articles (every version unless
        ``collapse="story"``), newest first by the article's date, undated last (the most
        recently seen first). With words to match (keyword and hybrid modes), they are the
        newest of every article the words match, not of a ranked pool: a new article is in the
        feed however it ranks. By meaning alone, they are the newest of the search's pool."""
        if not isinstance(request, SearchRequest):
            options.setdefault("collapse", "none")
            request = SearchRequest(request, **options)
        request = replace(request, sort="date", k=MAX_ENTRIES, page=1)
        filters = ", ".join(f"{name} {value}" for name, value in (("from", request.date_from), ("to", request.date_to),
                                                                   ("source", request.source)) if value)
        title = f"News archive: {request.query}"
        subtitle = (f"The newest articles for “{request.query}”" + (f" ({filters})" if filters else "")
                    + f", {request.mode} search" + ("; one per story" if request.collapse == "story" else ""))
        if request.mode != "semantic":
            found = self.newest_matching_entries(request)
            if found is not None:
                entries, seen, generation, created = found
                return Feed(search_feed_id(request), title, subtitle, generation, newest(entries, created),
                            ordered(entries, seen))
        response = self.search(request)
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            ids = [result.id for result in response.results]
            seen = snapshot.store.first_seen(ids)
            created = snapshot.manifest.created_at
            known = snapshot.store.headlines(ids)
            entries = [FeedEntry.of(
                result.id, result.title, result.date, result.source,
                result.passages[0].text if result.passages else "",
                result.story.id if result.story else snapshot.catalog.story_id(result.id), seen.get(result.id),
                created) for result in response.results if result.id in known]
            generation = snapshot.manifest.generation
        return Feed(search_feed_id(request), title, subtitle, generation, newest(entries, created),
                    ordered(entries, seen), timed_out=response.timed_out)

    def newest_matching_entries(self, request: SearchRequest):
        """(entries, first-seen times, generation, its creation) of the newest articles the
        query's words match, each summarised by its passage with most of them; None when the
        query has no words to match or the budget ran out (the pool stands in then)."""
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            catalog, store = snapshot.catalog, snapshot.store
            budget = Budget(self.query_budget_ms)
            try:
                parsed = snapshot.keyword.parse(request.query)
                if not understood(parsed):
                    return None
                filters = Filters(request.date_from, request.date_to, request.source)
                matching = self.matching_set(snapshot, parsed, filters, budget).articles
            except OutOfTime:
                return None
            whole = catalog.whole()
            chosen, seen = newest_articles(whole, matching, request.collapse == "story", MAX_ENTRIES,
                                           store.first_seen)
            ids = whole.ids_of(chosen)
            articles = store.articles(ids)
            live = catalog.owners(store.passage_ids_of(ids))
            spans: dict[str, list[tuple[int, int]]] = {}
            for passage in store.passages(list(live)).values():
                if live.get(passage.pid) == passage.article_id:
                    spans.setdefault(passage.article_id, []).append((passage.start, passage.end))
            created = snapshot.manifest.created_at
            entries = []
            for ordinal, article_id in zip(chosen, ids, strict=True):
                article = articles.get(article_id)
                if article is None:
                    continue
                best = best_passage(article.text, sorted(spans.get(article_id, [])), parsed.terms,
                                    snapshot.keyword.analysis.term_spans)
                entries.append(FeedEntry.of(article_id, article.title, article.date, article.source, best,
                                            whole.story_ids[int(whole.stories[ordinal])], seen.get(article_id),
                                            created, article.url))
            return entries, seen, snapshot.manifest.generation, created

    def check_story(self, story: str) -> None:
        """Raises ``ArticleNotFoundError`` when no story has this id."""
        if not self.current().snapshot.catalog.story_size(story):
            raise ArticleNotFoundError(f"no story with id {story!r}")

    def story_feed(self, story: str) -> Feed:
        """A story's versions as a feed, newest first (undated last): the newest ``MAX_ENTRIES``."""
        with self.holding() as searchers:
            snapshot = searchers.snapshot
            size = snapshot.catalog.story_size(story)
            if not size:
                raise ArticleNotFoundError(f"no story with id {story!r}")
            versions = snapshot.store.story_headlines(story, MAX_ENTRIES)
            ids = [version[0] for version in versions]
            articles = snapshot.store.articles(ids)
            seen = snapshot.store.first_seen(ids)
            created = snapshot.manifest.created_at
            entries = [FeedEntry.of(article_id, title, date, source, articles[article_id].text, story,
                                    seen.get(article_id), created, articles[article_id].url)
                       for article_id, title, source, date, _ in versions if article_id in articles]
            generation = snapshot.manifest.generation
        entries = ordered(entries, seen)
        headline = entries[0].title if entries else story
        return Feed(story_feed_id(story), f"News archive story: {headline}",
                    f"Every version of this story ({size} article{'s' if size != 1 else ''}), newest first",
                    generation, newest(entries, created), entries)

    def stats(self) -> StatsResponse:
        with self.holding() as searchers:
            manifest = searchers.snapshot.manifest
            (first, last), sources = searchers.snapshot.summary
        return StatsResponse(
            generation=manifest.generation, created_at=manifest.created_at, articles=manifest.articles,
            passages=manifest.passages, date_from=first, date_to=last,
            sources=[{"source": source, "articles": count} for source, count in sources],
            model=manifest.model, dimension=manifest.dimension, vector_index=manifest.vector_index,
            corpus_path=manifest.corpus_path, corpus_fingerprint=manifest.corpus_fingerprint,
        )

