"""The keyword index: Whoosh over passages, BM25F, stemmed, with article-level booleans.

Stored fields are lean (only the passage id); everything shown comes from the store.
Words are searched in one field, ``body``, that holds the article's title followed by the
passage: so the title counts for every passage of its article. A separate ``title`` field
serves ``title:word`` queries. Measured on SciFact (docs/fusion.md), one field beat a
separately weighted title field by 0.02 nDCG@10, and Lucene's BM25 IDF beat Whoosh's.

A result is an article, so ``AND``, ``NOT`` and their mixes are decided per article: an
article matches ``Shoigu AND agreement`` when the two words are anywhere in it, not only
in one passage. Passages are then ranked by the query's positive parts, within the
articles that match.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import queue
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh import qparser, query, scoring, searching
from whoosh.analysis import StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import ID, NUMERIC, TEXT, Schema
from whoosh.matching.wrappers import WrappingMatcher

from ..errors import IndexCorruptError
from ..ingest.articles import Article
from .budget import UNLIMITED, Budget, OutOfTime
from .catalog import Catalog
from .expansion import MAX_QUERY_TERMS, Expansion, IndexTerms, expand
from .impacts import FIELDS as COMPILED_FIELDS
from .impacts import IMPACTS_NAME, ImpactIndex
from .names import NameEvidence, NameVariants

KEYWORD_DIRECTORY = "keyword"
WHOOSH_SEARCHERS = 4  # per generation; a Whoosh searcher holds about 45 MB
INDEX_NAME = "passages"
TOKEN_PATTERN = r"\w+(\.?\w+)*"  # the classic Whoosh pattern; the fork's default keeps "*" in tokens
BM25_K1 = 0.9  # Anserini's BEIR settings
BM25_B = 0.4
PARSE_CACHE_SIZE = 512
SYNTAX_NOTE = "query syntax error, searched as plain words"
OPERATORS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")
_SYNTAX_CHARACTERS = re.compile(r"[\"()\[\]{}:^~*?\\]|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
_ARTICLE_LEVEL = (query.And, query.AndNot, query.Not, query.Require, query.AndMaybe)


def text_analyzer():
    return StemmingAnalyzer(expression=TOKEN_PATTERN)


def keyword_schema() -> Schema:
    return Schema(
        pid=NUMERIC(int, bits=64, stored=True, unique=True, signed=False),
        article_id=ID(),
        title=TEXT(analyzer=text_analyzer(), phrase=True),
        body=TEXT(analyzer=text_analyzer(), phrase=True),
        source=TEXT(analyzer=StandardAnalyzer(expression=TOKEN_PATTERN, stoplist=None)),
        date=ID(),
    )


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
    their document numbers, which the compiled arrays index) untouched. Once there are many
    segments, Whoosh merges the small ones as usual (and the compiled arrays are rebuilt)."""
    index = whoosh_index.open_dir(str(directory), indexname=INDEX_NAME)
    merge = len(index._segments()) >= MAX_SEGMENTS
    writer = index.writer(limitmb=256)
    for document in documents:
        add_document(writer, document)
    writer.commit(merge=merge)


def write_impacts(keyword_directory: Path, target: Path, previous: Path | None = None) -> ImpactIndex:
    """The compiled arrays of a keyword index, saved as ``target``. With ``previous`` (the
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


class BudgetedMatcher(WrappingMatcher):
    """A term's postings that check the running search's budget every few hundred moves:
    every Whoosh matcher (phrases, unions, intersections) moves through these, so a slow
    query stops wherever it spends its time."""

    CHECK_EVERY = 256

    def __init__(self, child, budget: Budget, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self.budget = budget
        self.moves = 0

    def copy(self):
        return BudgetedMatcher(self.child.copy(), self.budget, self.boost)

    def _replacement(self, newchild):
        return BudgetedMatcher(newchild, self.budget, self.boost)

    def next(self):
        self.moves += 1
        if not self.moves % self.CHECK_EVERY:
            self.budget.check()
        return self.child.next()

    def skip_to(self, id):
        self.moves += 1
        if not self.moves % self.CHECK_EVERY:
            self.budget.check()
        return self.child.skip_to(id)


_running = threading.local()  # the budget of the search this thread runs


@contextlib.contextmanager
def running(budget: Budget):
    previous = getattr(_running, "budget", None)
    _running.budget = budget
    try:
        yield
    finally:
        _running.budget = previous


class BudgetedSearcher(searching.Searcher):
    """Whoosh's searcher, with each term's postings checking the running search's budget."""

    def postings(self, fieldname, text, weighting=None, qf=1):
        matcher = super().postings(fieldname, text, weighting, qf)
        budget = getattr(_running, "budget", None)
        return matcher if budget is None or budget.deadline is None else BudgetedMatcher(matcher, budget)


@dataclass
class ParsedQuery:
    query: query.Query  # the whole query, as the user wrote it (NOT made explicit)
    note: str | None = None
    terms: set[str] = field(default_factory=set)  # analysed terms to highlight
    ranking: query.Query = query.NullQuery  # what ranks passages
    article_level: bool = False  # AND/NOT must be decided per article before ranking
    # name variants searched besides the query's names: variant's index term -> (the name's index
    # term, the name as the query wrote it), e.g. "naiev" -> ("naev", "Naev")
    variants: dict[str, tuple[str, str]] = field(default_factory=dict)
    spellings: dict[str, str] = field(default_factory=dict)  # index term -> the word as the query wrote it
    expanded: set[str] = field(default_factory=set)  # terms that wildcards, fuzzy terms and ranges expanded into


class QueryAnalysis:
    """The query language, apart from any index: the analyzer (tokens, stems, highlighting
    spans), the parser, name variants and exact words. ``KeywordIndex`` searches Whoosh and the
    compiled arrays with it; the Milvus backend maps the same parsed queries onto Milvus."""

    def __init__(self, name_evidence: Callable[[], NameEvidence] | None = None) -> None:
        """``name_evidence``: loads the archive's name counts, for name variants (none without)."""
        schema = keyword_schema()
        self._name_evidence = name_evidence
        self._name_variants: NameVariants | None = None
        self._name_variants_lock = threading.Lock()
        self.analyzer = schema["body"].analyzer
        tokenizer, _, stop_filter, stem_filter = self.analyzer.items  # the StemmingAnalyzer's chain
        self._token = tokenizer.expression
        self._stops, self._shortest, self._longest = stop_filter.stops, stop_filter.min, stop_filter.max
        self._stem = stem_filter.stemfn
        self._index_form = functools.lru_cache(maxsize=200_000)(self._index_form_uncached)
        self._candidates = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(self._candidate_tokens)
        self.parser = qparser.QueryParser("body", schema, group=qparser.OrGroup)
        self.parser.add_plugin(qparser.FuzzyTermPlugin())
        self.plain_parser = qparser.QueryParser("body", schema, group=qparser.OrGroup)
        self.plain_parser.remove_plugin_class(qparser.WildcardPlugin)
        # Recent parses (per generation: expanded terms depend on the index), shared by a
        # request's search, highlighting and suggestion, and by repeated queries.
        self.parse = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(self.parse_uncached)

    # Text analysis

    def analyze(self, text: str) -> list[str]:
        """The index terms of ``text`` (lowercased, stemmed, stop words dropped)."""
        return [token.text for token in self.analyzer(text)]

    def term_spans(self, text: str, terms: set[str]) -> list[tuple[int, int]]:
        """Character spans of the tokens of ``text`` whose index term is one of ``terms``:
        what ``analyzer(text, chars=True, removestops=False)`` gives, with the analyzer's own
        tokenizer, stop list and stemmer, but one cached lookup per distinct token instead of
        a chain of generators per token (this is most of the work of showing a result)."""
        if not terms:
            return []
        index_form = self._index_form
        pattern = self._candidates(frozenset(terms))
        return [match.span() for match in pattern.finditer(text) if index_form(match[0]) in terms]

    def index_form(self, token: str) -> str:
        """A token's index term, as the analyzer makes it."""
        return self._index_form(token)

    def _candidate_tokens(self, terms: frozenset[str]) -> re.Pattern:
        """The tokenizer's pattern, restricted to tokens that begin as one of ``terms`` does:
        a stem keeps its word's first letters, so only those tokens can match, and the regex
        engine skips the rest in C (a third of the cost of showing a page). A token starts
        where no word character, and no word character and a dot, come just before it."""
        if any(len(term) < 2 or not term.isascii() for term in terms):
            return self._token
        heads = "|".join(re.escape(head) for head in sorted({term[:2] for term in terms}))
        return re.compile(rf"(?<!\w)(?<!\w\.)(?=(?i:{heads})){TOKEN_PATTERN}")

    def _index_form_uncached(self, token: str) -> str:
        """A token as the analyzer leaves it: lowercased; stemmed unless it is a stop word or
        too short or long (those keep their lowercased text when stop words are kept)."""
        text = token.lower()
        if len(text) < self._shortest or (self._longest is not None and len(text) > self._longest) or text in self._stops:
            return text
        return self._stem(text)

    # Queries

    def parse_uncached(self, text: str) -> ParsedQuery:
        """Whoosh syntax; on malformed syntax, the same words searched plainly, with a note.
        A name also finds its variant spellings, unless it is quoted or written ``=Name``."""
        exact = self.exact_terms(text)
        text = EXACT_MARK.sub("", text)
        note = None
        parsed = None
        if syntax_is_balanced(text):
            try:
                parsed = exclude_negations(self.parser.parse(text))
            except Exception:  # the parser's failure modes are not a documented exception type
                note = SYNTAX_NOTE
        else:
            note = SYNTAX_NOTE
        if parsed is None:
            plain = " ".join(_SYNTAX_CHARACTERS.sub(" ", text).split())
            parsed = self.plain_parser.parse(plain) if plain else query.NullQuery
        expansion = Expansion()
        literal = {leaf.text for leaf in parsed.leaves() if type(leaf) is query.Term}
        spellings = self.query_spellings(text)
        parsed = self.expand(parsed, expansion, spellings, text).normalize()  # raises QueryTooBroadError
        parsed, variants = with_name_variants(parsed, self.name_variants(), exact, spellings, expansion, literal)
        note = "; ".join(([note] if note else []) + expansion.notes) or None
        terms = self.highlight_terms(parsed, expansion)
        article_level = needs_article_level(parsed)
        positives = list(dict.fromkeys(positive_leaves(parsed)))  # a word in two branches ranks once
        if not article_level:
            ranking = parsed
        elif not positives:
            ranking = query.NullQuery
        else:
            ranking = positives[0] if len(positives) == 1 else query.Or(positives)
        return ParsedQuery(parsed, note, terms, ranking, article_level, variants, spellings, expansion.words)

    def name_variants(self) -> NameVariants | None:
        """The archive's names and their variants (made on the first query)."""
        if self._name_evidence is None or self._name_variants is not None:
            return self._name_variants
        with self._name_variants_lock:
            if self._name_variants is None:
                self._name_variants = NameVariants(self._name_evidence(), self._index_form)
        return self._name_variants

    def exact_terms(self, text: str) -> set[str]:
        """Index terms of the words the query wants spelled as written: quoted, or ``=Word``."""
        words = [match[0] for quoted in QUOTED.findall(text) for match in self._token.finditer(quoted)]
        words += [match[1] for match in EXACT_WORD.finditer(text)]
        return {self._index_form(word) for word in words}

    def query_spellings(self, text: str) -> dict[str, str]:
        """Index term -> the word as the query wrote it (for "Naiev ≈ Naev")."""
        return {self._index_form(match[0]): match[0] for match in reversed(list(self._token.finditer(text)))}

    def expand(self, parsed: query.Query, expansion: Expansion, spellings: dict[str, str], text: str) -> query.Query:
        """Wildcards, fuzzy terms and ranges rewritten into the index's terms (see expansion.py).
        ``spellings``: index term -> the word as the query wrote it; ``text``: the query."""
        return expand(parsed, self.index_terms, expansion)

    def highlight_terms(self, parsed: query.Query, expansion: Expansion) -> set[str]:
        """The analysed title and text terms of the (expanded) query, to mark in results."""
        return highlight_terms(parsed, self.searcher)

    def index_terms(self) -> IndexTerms:
        """The index's terms, for ``expand`` (a subclass whose ``expand`` needs them provides them)."""
        raise NotImplementedError(f"{type(self).__name__} does not expand patterns from index terms")

    def searcher(self, budget: Budget = UNLIMITED):
        """A Whoosh searcher, for highlighting what a pattern matched (Whoosh indexes only)."""
        raise NotImplementedError(f"{type(self).__name__} has no Whoosh searcher")


class KeywordIndex(QueryAnalysis):
    """An open keyword index. Plain term queries (and wildcards, fuzzy terms and ranges,
    rewritten into plain terms) are scored on the compiled arrays; phrases go through Whoosh,
    on a searcher borrowed from a small pool. Nothing is locked across a search."""

    def __init__(self, directory: Path, catalog: Catalog,
                 name_evidence: Callable[[], NameEvidence] | None = None) -> None:
        """``name_evidence``: loads the archive's name counts, for name variants (none without)."""
        super().__init__(name_evidence)
        failure = None
        # Whoosh leaves a half-opened segment's file to the garbage collector when opening
        # fails; let it be closed here, quietly, rather than warn later somewhere else.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                self.index = whoosh_index.open_dir(str(directory), indexname=INDEX_NAME)
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
            raise IndexCorruptError(f"compiled keyword arrays {IMPACTS_NAME} in {directory.parent} "
                                    f"cannot be read: {problem}") from None
        if self.impacts.doc_count_all != first.doc_count_all():
            first.close()
            raise IndexCorruptError(f"{IMPACTS_NAME} covers {self.impacts.doc_count_all} passages, "
                                    f"the keyword index holds {first.doc_count_all()}")
        self._document_count = first.doc_count()
        # Whoosh searchers, lent to one search at a time: its readers are not safe to share,
        # and each holds about 45 MB, so there are at most WHOOSH_SEARCHERS, opened as needed.
        self._searchers = [first]
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
        are scored on the compiled arrays. Raises OutOfTime if the budget ends while waiting."""
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
        """The compiled fields' terms, sorted, with their document frequencies (made on the
        first query that needs expanding)."""
        with self._index_terms_lock:  # made once, not by every request that arrives meanwhile
            if self._index_terms is None:
                fields = {}
                for name, impacts in self.impacts.fields.items():
                    order = sorted(range(len(impacts.terms)), key=impacts.terms.__getitem__)
                    frequencies = np.diff(np.asarray(impacts.indptr))
                    fields[name] = ([impacts.terms[row] for row in order], frequencies[order])
                self._index_terms = IndexTerms(fields, self.whoosh_candidates)
        return self._index_terms

    def whoosh_candidates(self, fieldname: str, node: query.Query) -> list[tuple[str, int]]:
        """(term, frequency) a multi-term query matches in a field that is not compiled (ids,
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

    def search(self, parsed: ParsedQuery, depth: int, allowed: np.ndarray | None = None,
               compiled: bool = True, budget: Budget = UNLIMITED) -> list[tuple[int, float]]:
        """(pid, BM25F score) best first. ``allowed``: a passage mask (by pid) from the filters.
        Plain term queries are scored on the compiled arrays; others by Whoosh (``compiled=False``
        forces Whoosh, for the equivalence test). Past the ``budget``, what is ranked so far."""
        if parsed.ranking is query.NullQuery or depth <= 0:
            return []
        docnums = None
        if parsed.article_level:
            try:
                articles = self.articles_matching(parsed.query, budget)
            except OutOfTime:  # a partial NOT would let excluded articles in: nothing rather than wrong
                return []
            docnums = (self.article_of_docnum >= 0) & articles[np.maximum(self.article_of_docnum, 0)]
        if allowed is not None:
            passes = self.passes_filter(allowed)
            docnums = passes if docnums is None else docnums & passes
        leaves = compiled_leaves(parsed.ranking) if compiled else None
        if leaves is not None:
            return [(int(self.pid_of_docnum[docnum]), score)
                    for docnum, score in self.impacts.search(leaves, depth, docnums, budget)]
        if docnums is not None:
            if not docnums.any():
                return []
            docnums = set(np.flatnonzero(docnums).tolist())
        try:
            with self.searcher(budget) as searcher, running(budget):
                collector = searcher.collector(limit=depth, filter=docnums)
                try:
                    searcher.search_with_collector(parsed.ranking, collector)
                except OutOfTime:  # keep what the collector ranked before the deadline
                    pass
                return [(int(self.pid_of_docnum[hit.docnum]), float(hit.score)) for hit in collector.results()]
        except OutOfTime:  # the budget ended while waiting for a searcher
            return []

    def passes_filter(self, allowed: np.ndarray) -> np.ndarray:
        """The docnum mask of the passages ``allowed`` (a mask by pid) lets through."""
        inside = self.pid_of_docnum < len(allowed)
        mask = np.zeros(len(self.pid_of_docnum), dtype=bool)
        mask[inside] = allowed[self.pid_of_docnum[inside]]
        return mask

    def matching_docnums(self, node: query.Query, budget: Budget = UNLIMITED) -> np.ndarray:
        if isinstance(node, query.Term) and node.fieldname in COMPILED_FIELDS:
            return self.impacts.docs_with(node.fieldname, node.text)
        with self.searcher(budget) as searcher, running(budget):  # OutOfTime goes to search()
            return np.fromiter(searcher.docs_for_query(node), dtype=np.int64)

    def articles_matching(self, node: query.Query, budget: Budget = UNLIMITED) -> np.ndarray:
        """The article mask of a query decided per article: a word counts wherever in the
        article it is, so ``a AND b`` matches an article with ``a`` and ``b`` in different passages."""
        count = self.catalog.article_count
        if isinstance(node, query.Or | query.DisjunctionMax):
            mask = np.zeros(count, dtype=bool)
            for child in node.children():
                mask |= self.articles_matching(child, budget)
            return mask
        if isinstance(node, query.And | query.Require):
            mask = np.ones(count, dtype=bool)
            for child in node.children():
                mask &= self.articles_matching(child, budget)
            return mask
        if isinstance(node, query.AndNot):
            return self.articles_matching(node.a, budget) & ~self.articles_matching(node.b, budget)
        if isinstance(node, query.AndMaybe):
            return self.articles_matching(node.a, budget)
        if isinstance(node, query.Not):
            return ~self.articles_matching(node.query, budget)
        mask = np.zeros(count, dtype=bool)
        if node is query.NullQuery:
            return mask
        articles = self.article_of_docnum[self.matching_docnums(node, budget)]
        mask[articles[articles >= 0]] = True
        return mask

    def word_frequency(self, word: str) -> int:
        """In how many passages the (analysed) word occurs, in the title or the body."""
        tokens = self.analyze(word)
        if not tokens:
            return 0
        return max(len(self.impacts.docs_with("body", tokens[0])), len(self.impacts.docs_with("title", tokens[0])))


def compiled_leaves(node: query.Query, boost: float = 1.0) -> list[tuple[str, str, float]] | None:
    """The ``(field, term, weight)`` leaves of a query that is a plain sum of terms (terms and
    ORs of them, with boosts, on the compiled fields), or None for anything else."""
    if node is query.NullQuery:
        return []
    if type(node) is query.Term and node.fieldname in COMPILED_FIELDS:
        return [(node.fieldname, node.text, boost * node.boost)]
    if type(node) is query.Or and not node.minmatch and not getattr(node, "scale", None):
        leaves: list[tuple[str, str, float]] = []
        for child in node.subqueries:
            found = compiled_leaves(child, boost * node.boost)
            if found is None:
                return None
            leaves += found
        return leaves
    return None


VARIANT_WEIGHT = 0.8  # a variant spelling counts a little less than the spelling asked for
QUOTED = re.compile(r'"([^"]*)"')
EXACT_WORD = re.compile(r"(?<![\w=])=(\w+)")
EXACT_MARK = re.compile(r"(?<![\w=])=(?=\w)")


def with_name_variants(node: query.Query, names: NameVariants | None, exact: set[str],
                       spellings: dict[str, str], expansion: Expansion,
                       literal: set[str]) -> tuple[query.Query, dict[str, tuple[str, str]]]:
    """Each title/body term the query wrote as a word (``literal``: not one a wildcard or fuzzy
    term produced), written as a name, not asked for exactly and not excluded, becomes an OR of
    itself and its variants (weighted ``VARIANT_WEIGHT``); variants count toward the query's term
    cap. Returns the query and the variants added (variant term -> (name term, as written))."""
    found: dict[str, tuple[str, str]] = {}
    if not names:
        return node, found
    asked = set()  # every word the query searches already, in terms, phrases and expansions
    for leaf in node.leaves():
        asked.update(leaf.words if isinstance(leaf, query.Phrase) else [leaf.text] if type(leaf) is query.Term else [])
    cut = []

    def rewrite(node: query.Query) -> query.Query:
        if type(node) is query.Term:
            written = spellings.get(node.text, "")
            if node.fieldname not in ("title", "body") or node.text in exact or node.text not in literal \
                    or not names.is_name(written):
                return node
            others = [other for other in names.of(node.text) if other not in asked]
            room = MAX_QUERY_TERMS - expansion.terms
            if len(others) > room:
                cut.append(written)
                others = others[: max(room, 0)]
            if not others:
                return node
            expansion.terms += len(others)
            for other in others:
                found.setdefault(other, (node.text, written))
            return query.Or([node] + [query.Term(node.fieldname, other, boost=node.boost * VARIANT_WEIGHT)
                                      for other in others])
        if isinstance(node, query.AndNot):
            return query.AndNot(rewrite(node.a), node.b)  # what is excluded stays as written
        if isinstance(node, query.Not) or node.is_leaf():
            return node  # phrases and patterns are not names
        return node.apply(rewrite)

    rewritten = rewrite(node)
    if cut:
        expansion.other.append(f"variant spellings of {', '.join(cut)} cut at the {MAX_QUERY_TERMS:,}-word limit")
    return rewritten, found


def needs_article_level(node: query.Query) -> bool:
    if isinstance(node, _ARTICLE_LEVEL):
        return True
    return not node.is_leaf() and any(needs_article_level(child) for child in node.children())


def highlight_terms(parsed: query.Query, searcher) -> set[str]:
    """Analysed title/body terms of the (expanded) query. Terms and phrases are read off the
    query; any other leaf asks Whoosh, through ``searcher()`` (a context manager).
    (Query.existing_terms would do, but it rebinds its ``fieldname`` argument in its loop and
    so skips every field after the first.)"""
    terms: set[str] = set()
    for leaf in positive_leaves(parsed):
        if leaf.field() not in ("title", "body"):
            continue
        if isinstance(leaf, query.Term):
            pairs = [(leaf.fieldname, leaf.text)]
        elif isinstance(leaf, query.Phrase):
            pairs = [(leaf.fieldname, word) for word in leaf.words]
        else:
            with searcher() as whoosh:
                pairs = list(leaf.expanded_terms(whoosh.reader(), phrases=True))
        for fieldname, text in pairs:
            if fieldname in ("title", "body"):
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    return terms


def positive_leaves(node: query.Query):
    """Leaf queries that add matches: what sits under NOT is excluded, not highlighted."""
    if isinstance(node, query.Not):
        return
    if isinstance(node, query.AndNot):
        yield from positive_leaves(node.a)
        return
    if node.is_leaf():
        if node is not query.NullQuery:
            yield node
        return
    for child in node.children():
        yield from positive_leaves(child)


def exclude_negations(node: query.Query) -> query.Query:
    """Words are OR-ed for ranking, so "a b NOT c" parses as Or(a, b, Not(c)), which would
    match everything without c. Make it mean what people expect: (a OR b) AND NOT c."""
    if isinstance(node, query.Or):
        children = [exclude_negations(child) for child in node.subqueries]
        negative = [child.query for child in children if isinstance(child, query.Not)]
        positive = [child for child in children if not isinstance(child, query.Not)]
        if negative and positive:
            kept = positive[0] if len(positive) == 1 else query.Or(positive)
            dropped = negative[0] if len(negative) == 1 else query.Or(negative)
            return query.AndNot(kept, dropped)
        return query.Or(children) if children != node.subqueries else node
    if isinstance(node, query.And | query.AndNot | query.AndMaybe | query.Not | query.Require):
        return node.apply(exclude_negations)
    return node


def syntax_is_balanced(text: str) -> bool:
    if text.count('"') % 2:
        return False
    depth = 0
    for character in text:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth < 0:
            return False
    if depth:
        return False
    return not re.search(r"\w+:\s*$|\w+:\s*[()]", text) and not re.search(r"(?:^|\s)(?:AND|OR|NOT)\s*$", text)
