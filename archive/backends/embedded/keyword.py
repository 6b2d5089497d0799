"""The keyword index: Whoosh over passages, BM25F, stemmed, with article-level booleans.

Stored fields are lean (only the passage id); everything shown comes from the store.
Words are searched in one field, ``body``, that holds the article's title followed by the
passage: so the title counts for every passage of its article. A separate ``title`` field
serves ``title:word`` queries. Measured on SciFact (docs/fusion.md), one field beat a
separately weighted title field by 0.02 nDCG@10, and Lucene's BM25 IDF beat Whoosh's.

A result is an article, so ``AND``, ``NOT`` and their mixes are decided per article
(archive/query/booleans.py, shared with the Milvus backend); passages are then ranked by the
query's positive parts, within the articles that match. The query language itself is
archive/query/language.py; the budgeted Whoosh matchers are matchers.py.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import queue
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh import query, scoring
from whoosh.filedb.filestore import FileStorage

from ...errors import IndexCorruptError
from ...index.budget import UNLIMITED, Budget, OutOfTime
from ...index.catalog import Catalog, Restriction
from ...index.names import NameEvidence
from ...ingest.articles import Article
from ...query.booleans import Matching, articles_matching
from ...query.expansion import Expansion, IndexTerms, expand
from ...query.language import ParsedQuery, QueryAnalysis, keyword_schema, query_terms
from .impacts import FIELDS as IMPACT_FIELDS
from .impacts import IMPACTS_NAME, ImpactIndex
from .matchers import BudgetedSearcher, running

KEYWORD_DIRECTORY = "keyword"
WHOOSH_SEARCHERS = 4  # per generation; a Whoosh searcher holds about 45 MB
INDEX_NAME = "passages"
BM25_K1 = 0.9  # Anserini's BEIR settings
BM25_B = 0.4


@dataclass(frozen=True)
class KeywordDocument:
    pid: int
    article_id: str
    title: str
    body: str
    source: str | None
    date: str | None

    @classmethod
    def of(cls, pid: int, article: Article, start: int, end: int) -> KeywordDocument:
        """The document of one passage: the span ``[start, end)`` of its article."""
        return cls(pid, article.id, article.title, article.text[start:end], article.source, article.date)


class NewsBM25F(scoring.BM25F):
    """BM25F with Lucene's (and Anserini's) IDF, log(1 + (N - n + 0.5) / (n + 0.5)), in place
    of Whoosh's log(N / (n + 1)) + 1: it matches the published BM25 baselines and ranked
    SciFact better (docs/fusion.md)."""

    def idf(self, searcher, fieldname, text):
        documents = searcher.doc_count()
        frequency = searcher.doc_frequency(fieldname, text)
        return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


PARALLEL_MIN_DOCUMENTS = 5000  # below this, starting writer processes costs more than it saves


def writer_processes(documents: int) -> int:
    return min(os.cpu_count() or 1, 4) if documents >= PARALLEL_MIN_DOCUMENTS else 1


def write_keyword_index(directory: Path, documents: Iterable[KeywordDocument], processes: int = 1) -> int:
    """With ``processes`` > 1, Whoosh's multi-process writer leaves one segment per process;
    statistics are summed across segments, so scores are the same."""
    directory.mkdir(parents=True, exist_ok=True)
    index = whoosh_index.create_in(str(directory), keyword_schema(), indexname=INDEX_NAME)
    writer = index.writer(limitmb=256, procs=processes, multisegment=processes > 1)
    count = 0
    for document in documents:
        add_document(writer, document)
        count += 1
    writer.commit(optimize=processes == 1)
    return count


MAX_SEGMENTS = 12  # add-only updates append a segment each; past this many, Whoosh merges them


def append_documents(directory: Path, documents: Iterable[KeywordDocument]) -> None:
    """Add documents to an existing index as a new segment, leaving the old segments (and so
    their document numbers, which the impact arrays index) untouched. Once there are many
    segments, Whoosh merges the small ones as usual (and the impact arrays are rebuilt)."""
    index = whoosh_index.open_dir(str(directory), indexname=INDEX_NAME)
    merge = len(index._segments()) >= MAX_SEGMENTS
    writer = index.writer(limitmb=256)
    for document in documents:
        add_document(writer, document)
    writer.commit(merge=merge)


def write_impacts(keyword_directory: Path, target: Path, previous: Path | None = None) -> ImpactIndex:
    """The impact arrays of a keyword index, saved as ``target``. With ``previous`` (the
    arrays of the index this one was appended to), only the new segments are read."""
    index = whoosh_index.open_dir(str(keyword_directory), indexname=INDEX_NAME)
    with index.reader() as reader:
        impacts = None
        if previous is not None and previous.exists():
            impacts = ImpactIndex.open(previous).appended(reader)
        if impacts is None:
            impacts = ImpactIndex.from_whoosh(reader, BM25_K1, BM25_B)
    impacts.save(target)
    return impacts


def add_document(writer, document: KeywordDocument) -> None:
    writer.add_document(
        pid=document.pid,
        article_id=document.article_id,
        title=document.title,
        body=f"{document.title}\n{document.body}",
        source=document.source or "",
        date=document.date or "",
    )


def close_searchers(searchers: list) -> None:
    for searcher in searchers:
        if not searcher.is_closed:
            searcher.close()


class KeywordIndex:
    """An open keyword index. Plain term queries (and wildcards, fuzzy terms and ranges,
    rewritten into plain terms) are scored on the impact arrays; phrases go through Whoosh,
    on a searcher borrowed from a small pool. Nothing is locked across a search."""

    def __init__(self, directory: Path, catalog: Catalog,
                 name_evidence: Callable[[], NameEvidence] | None = None) -> None:
        """``name_evidence``: loads the archive's name counts, for name variants (none without)."""
        self.analysis = QueryAnalysis(self, name_evidence)
        failure = None
        # Whoosh leaves a half-opened segment's file to the garbage collector when opening
        # fails; let it be closed here, quietly, rather than warn later somewhere else.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                # Files read through the page cache, not memory-mapped: Whoosh copies each segment
                # of a mapped index into every reader's memory (350 MB a reader at Reuters × 10,
                # up to four a worker; docs/scale.md, "Where the embedded backend stops").
                self.index = FileStorage(str(directory), supports_mmap=False, readonly=True).open_index(INDEX_NAME)
                first = self.open_searcher()
            except Exception as problem:  # Whoosh raises bare OSError/EmptyIndexError/struct errors
                failure = f"keyword index in {directory} cannot be opened: {problem}"
            if failure:
                gc.collect()
        if failure:
            raise IndexCorruptError(failure)
        try:
            self.impacts = ImpactIndex.open(directory.parent / IMPACTS_NAME)
        except (OSError, ValueError, KeyError) as problem:
            first.close()
            raise IndexCorruptError(f"keyword impact arrays {IMPACTS_NAME} in {directory.parent} "
                                    f"cannot be read: {problem}") from None
        except BaseException:  # (whatever else a damaged file raises: the snapshot names it)
            first.close()
            raise
        if self.impacts.doc_count_all != first.doc_count_all():
            first.close()
            raise IndexCorruptError(f"{IMPACTS_NAME} covers {self.impacts.doc_count_all} passages, "
                                    f"the keyword index holds {first.doc_count_all()}")
        self._document_count = first.doc_count()
        # Whoosh searchers, lent to one search at a time: its readers are not safe to share,
        # and each holds about 45 MB, so there are at most WHOOSH_SEARCHERS, opened as needed.
        self._searchers = [first]
        # An archive nobody closed still lets its files go when it is collected.
        weakref.finalize(self, close_searchers, self._searchers)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._idle.put(first)
        self._searchers_lock = threading.Lock()
        self._index_terms: IndexTerms | None = None
        self._index_terms_lock = threading.Lock()
        self.pid_of_docnum = np.asarray(self.impacts.pid_of_docnum)
        self.catalog = catalog
        self.article_of_docnum = catalog.articles_of(self.pid_of_docnum)

    def open_searcher(self) -> BudgetedSearcher:
        return BudgetedSearcher(self.index.reader(), fromindex=self.index, weighting=NewsBM25F(B=BM25_B, K1=BM25_K1))

    @contextlib.contextmanager
    def searcher(self, budget: Budget = UNLIMITED) -> Iterator[BudgetedSearcher]:
        """A Whoosh searcher of one's own for the block: an idle one, or a new one while there
        are fewer than WHOOSH_SEARCHERS, or else the first one returned (one lock over a shared
        searcher made every search wait for the slowest). Plain queries never need one: they
        are scored on the impact arrays. Raises OutOfTime if the budget ends while waiting."""
        try:
            searcher = self._idle.get_nowait()
        except queue.Empty:
            searcher = None
            with self._searchers_lock:
                if len(self._searchers) < WHOOSH_SEARCHERS:
                    searcher = self.open_searcher()
                    self._searchers.append(searcher)
            if searcher is None:
                try:
                    searcher = self._idle.get(timeout=budget.remaining())
                except queue.Empty:
                    budget.timed_out = True
                    raise OutOfTime from None
        try:
            yield searcher
        finally:
            self._idle.put(searcher)

    def close(self) -> None:
        with self._searchers_lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()
            self._idle = queue.LifoQueue()

    def document_count(self) -> int:
        return self._document_count

    def index_terms(self) -> IndexTerms:
        """The impact fields' terms, sorted, with their document frequencies (made on the
        first query that needs expanding)."""
        with self._index_terms_lock:  # made once, not by every request that arrives meanwhile
            if self._index_terms is None:
                fields = {}
                for name, impacts in self.impacts.fields.items():
                    words = impacts.term_list()
                    order = sorted(range(len(words)), key=words.__getitem__)
                    frequencies = np.diff(np.asarray(impacts.indptr))
                    fields[name] = ([words[row] for row in order], frequencies[order])
                self._index_terms = IndexTerms(fields, self.whoosh_candidates)
        return self._index_terms

    def whoosh_candidates(self, fieldname: str, node: query.Query) -> list[tuple[str, int]]:
        """(term, frequency) a multi-term query matches in a field that has no impact arrays (ids,
        dates), as Whoosh expands it."""
        if fieldname not in self.index.schema:
            return []
        field = self.index.schema[fieldname]
        found = []
        with self.searcher() as searcher:
            reader = searcher.reader()
            for _, btext in node.expanded_terms(reader):
                text = field.from_bytes(btext) if isinstance(btext, bytes) else btext
                found.append((text, reader.doc_frequency(fieldname, btext)))
        return found

    # The query language's expander: patterns become the index's own terms

    def expand(self, parsed: query.Query, expansion: Expansion, spellings: dict[str, str], text: str) -> query.Query:
        """Wildcards, fuzzy terms and ranges rewritten into the index's terms (see expansion.py)."""
        return expand(parsed, self.index_terms, expansion)

    def highlight_terms(self, parsed: query.Query, expansion: Expansion) -> set[str]:
        return query_terms(parsed)

    def parse(self, text: str, every_word: bool = False) -> ParsedQuery:
        return self.analysis.parse(text, every_word)

    def search(self, parsed: ParsedQuery, depth: int, allowed: Restriction | None = None,
               budget: Budget = UNLIMITED, use_impacts: bool = True) -> list[tuple[int, float]]:
        """(pid, BM25F score) best first. ``allowed``: what the filters let through. Plain term
        queries are scored on the impact arrays; others by Whoosh (``use_impacts=False`` forces
        Whoosh, for the equivalence test). Past the ``budget``, what is ranked so far."""
        if parsed.ranking is query.NullQuery or depth <= 0:
            return []
        docnums = None
        if parsed.article_level:
            try:
                articles = self.matching_articles(parsed, allowed, budget).articles
            except OutOfTime:  # a partial NOT would let excluded articles in: nothing rather than wrong
                return []
            docnums = (self.article_of_docnum >= 0) & articles[np.maximum(self.article_of_docnum, 0)]
        if allowed is not None:
            passes = self.passes_filter(allowed.native)
            docnums = passes if docnums is None else docnums & passes
        leaves = impact_leaves(parsed.ranking) if use_impacts else None
        if leaves is not None:
            return [(int(self.pid_of_docnum[docnum]), score)
                    for docnum, score in self.impacts.search(leaves, depth, docnums, budget)]
        allowed_docnums = None
        if docnums is not None:
            if not docnums.any():
                return []
            allowed_docnums = set(np.flatnonzero(docnums).tolist())
        try:
            with self.searcher(budget) as searcher, running(budget):
                collector = searcher.collector(limit=depth, filter=allowed_docnums)
                try:
                    searcher.search_with_collector(parsed.ranking, collector)
                except OutOfTime:  # keep what the collector ranked before the deadline
                    pass
                return [(int(self.pid_of_docnum[hit.docnum]), float(hit.score)) for hit in collector.results()]
        except OutOfTime:  # the budget ended while waiting for a searcher
            return []

    def matching_articles(self, parsed: ParsedQuery, allowed: Restriction | None = None,
                          budget: Budget = UNLIMITED) -> Matching:
        """Every article the query's words match, within the filters: exact, from the impact
        arrays (and Whoosh for phrases and other fields), decided per article."""
        return Matching(articles_matching(parsed.query, lambda leaf: self.leaf_articles(leaf, budget),
                                          self.catalog.article_count,
                                          allowed.articles if allowed is not None else None, budget))

    def passes_filter(self, allowed: np.ndarray) -> np.ndarray:
        """The docnum mask of the passages ``allowed`` (a mask by pid) lets through."""
        inside = self.pid_of_docnum < len(allowed)
        mask = np.zeros(len(self.pid_of_docnum), dtype=bool)
        mask[inside] = allowed[self.pid_of_docnum[inside]]
        return mask

    def matching_docnums(self, node: query.Query, budget: Budget = UNLIMITED) -> np.ndarray:
        if isinstance(node, query.Term) and node.fieldname in IMPACT_FIELDS:
            return self.impacts.docs_with(node.fieldname, node.text)
        with self.searcher(budget) as searcher, running(budget):  # OutOfTime goes to search()
            return np.fromiter(searcher.docs_for_query(node), dtype=np.int64)

    def leaf_articles(self, node: query.Query, budget: Budget = UNLIMITED) -> np.ndarray:
        """The articles (a mask by ordinal) with a passage that one leaf of a query matches."""
        mask = np.zeros(self.catalog.article_count, dtype=bool)
        articles = self.article_of_docnum[self.matching_docnums(node, budget)]
        mask[articles[articles >= 0]] = True
        return mask

    def word_frequency(self, word: str) -> int:
        """In how many passages the (analysed) word occurs, in the title or the body."""
        tokens = self.analysis.analyze(word)
        if not tokens:
            return 0
        return max(len(self.impacts.docs_with("body", tokens[0])), len(self.impacts.docs_with("title", tokens[0])))


def impact_leaves(node: query.Query, boost: float = 1.0) -> list[tuple[str, str, float]] | None:
    """The ``(field, term, weight)`` leaves of a query that is a plain sum of terms (terms and
    ORs of them, with boosts, on the fields with impact arrays), or None for anything else."""
    if node is query.NullQuery:
        return []
    if type(node) is query.Term and node.fieldname in IMPACT_FIELDS:
        return [(node.fieldname, node.text, boost * node.boost)]
    if type(node) is query.Or and not node.minmatch and not getattr(node, "scale", None):
        leaves: list[tuple[str, str, float]] = []
        for child in node.subqueries:
            found = impact_leaves(child, boost * node.boost)
            if found is None:
                return None
            leaves += found
        return leaves
    return None


