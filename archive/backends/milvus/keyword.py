"""The keyword leg on Milvus: our query language (archive/query/), Milvus's BM25 for ranking.

Words and their name variants are BM25 terms, sent as written; ``title:`` words search the
title's own BM25 field; wildcards and fuzzy terms expand into the archive's stored words;
AND/OR/NOT are decided per article by the shared walk (archive/query/booleans.py), each word
matched within the filters, and become a ``number in [...]`` expression. A phrase is
searched as its words, and the search's note says so.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

import numpy as np
from whoosh import query

from ...index.budget import UNLIMITED, Budget, OutOfTime
from ...index.catalog import Restriction
from ...query.booleans import Matching, articles_matching
from ...query.expansion import Expansion, IndexTerms, expand, shown
from ...query.language import ParsedQuery, QueryAnalysis, query_terms
from .catalog import FACT_FIELDS, MilvusCatalog
from .client import QUERY_LIMIT, Collections, Milvus, hit_rows, literal
from .store import MilvusStore

PHRASE_NOTE = "the Milvus backend has no phrase search: the words of a phrase must all be in the article"
FIELD_NOTE = "the Milvus backend searches titles and texts only: use the date and source filters instead of"
BOOST_NOTE = "the Milvus backend does not weight words: searched without their boosts"
WRITTEN_PATTERN = re.compile(r"[^\s\"():^~]*[*?][^\s\"():^~]*")  # a wildcard or prefix as the query wrote it
MAX_FILTER_ARTICLES = 1024  # at most this many articles go to Milvus as a filter; past it, passages are kept here


def both(first: str | None, second: str | None) -> str | None:
    return f"({first}) and ({second})" if first and second else first or second


def count_stories(articles: np.ndarray, found: list[tuple[np.ndarray, np.ndarray]]) -> int | None:
    """How many stories the ``articles`` matched (a mask by number) belong to, from the (numbers,
    story keys) the words' searches found; None when a matched article is not among them (under
    NOT: what no word found)."""
    numbers = np.concatenate([numbers for numbers, _ in found]) if found else np.zeros(0, dtype=np.int64)
    stories = np.concatenate([stories for _, stories in found]) if found else np.zeros(0, dtype=np.int64)
    numbers, first = np.unique(numbers, return_index=True)  # one story an article (its passages could
    stories = stories[first]                                  # disagree while an update writes them)
    seen = np.zeros(len(articles), dtype=bool)
    seen[numbers] = True
    if (articles & ~seen).any():
        return None
    return int(len(np.unique(stories[articles[numbers]])))


class MilvusKeywordIndex:
    """The keyword leg on Milvus: our parser and analyzer (notes, name variants, highlighting
    spans), Milvus's BM25 for ranking. Milvus analyses what it is sent with its own English
    stemmer, so it is sent the words as the query wrote them, never our stems."""

    def __init__(self, milvus: Milvus, collections: Collections, catalog: MilvusCatalog, store: MilvusStore,
                 passages: int) -> None:
        self.analysis = QueryAnalysis(self, store.name_evidence)
        self.milvus, self.collections, self.catalog, self.store = milvus, collections, catalog, store
        self._document_count = passages
        self._words: IndexTerms | None = None
        self._frequencies: dict[str, int] | None = None
        self._names: dict[str, str] | None = None  # a name's index form -> the archive's most frequent spelling
        self._vocabulary_lock = threading.Lock()

    def document_count(self) -> int:
        return self._document_count

    def close(self) -> None:
        """Nothing to let go: the connection is the process's."""

    def index_terms(self) -> IndexTerms:
        """The archive's words as written (lowercased), with their counts: what wildcards, prefixes
        and fuzzy terms expand into here (read once, on the first query that has one)."""
        with self._vocabulary_lock:
            if self._words is None:
                vocabulary = self.store.vocabulary()
                words = sorted(vocabulary)
                counts = np.array([vocabulary[word] for word in words], dtype=np.int64)
                self._words = IndexTerms({"body": (words, counts), "title": (words, counts)})
        return self._words

    def expand(self, parsed: query.Query, expansion: Expansion, spellings: dict[str, str], text: str) -> query.Query:
        """Our syntax, mapped onto Milvus where it can be: wildcards, prefixes, fuzzy terms and
        ranges expand into the archive's words, from the pattern as written (the parser stems
        it, and the stored words are not stems); a phrase becomes its words, which must all be
        in the article; terms of other fields than title and text, and boosts, are left out.
        The note says what was changed."""
        phrases: list[str] = []
        fields: list[str] = []
        boosted: list[str] = []
        written = [match[0].lower() for match in WRITTEN_PATTERN.finditer(text)]

        def as_written(node: query.Query) -> query.Query:
            """A prefix or wildcard from the pattern the query wrote, which the parser stemmed."""
            for index, pattern in enumerate(written):
                simple = pattern.endswith("*") and not re.search(r"[*?]", pattern[:-1])
                if simple and isinstance(node, query.Prefix) and self.analysis.index_form(pattern[:-1]) == node.text:
                    del written[index]
                    return query.Prefix(node.fieldname, pattern[:-1], boost=node.boost)
                if isinstance(node, query.Wildcard) and self.analysis.index_form(pattern) == node.text:
                    del written[index]
                    return query.Wildcard(node.fieldname, pattern, boost=node.boost)
            return node

        def rewrite(node: query.Query) -> query.Query:
            if isinstance(node, query.Phrase):
                phrases.append(f'"{" ".join(spellings.get(word, word) for word in node.words)}"')
                return query.And([query.Term(node.fieldname, word) for word in node.words])
            if node.is_leaf() and node is not query.NullQuery and node.field() not in ("title", "body"):
                fields.append(shown(node) if not isinstance(node, query.Term) else f"{node.fieldname}:{node.text}")
                return query.NullQuery
            if node.is_leaf() and getattr(node, "boost", 1.0) != 1.0:
                boosted.append(shown(node) if not isinstance(node, query.Term) else spellings.get(node.text, node.text))
            if isinstance(node, query.FuzzyTerm):
                return query.FuzzyTerm(node.fieldname, spellings.get(node.text, node.text).lower(), boost=node.boost,
                                       maxdist=node.maxdist, prefixlength=node.prefixlength)
            if isinstance(node, query.Prefix | query.Wildcard):
                return as_written(node)
            return node if node.is_leaf() else node.apply(rewrite)

        rewritten = expand(rewrite(parsed), self.index_terms, expansion)  # refuses patterns too broad to search
        if phrases:
            expansion.other.append(f"{PHRASE_NOTE} ({', '.join(phrases)})")
        if fields:
            expansion.other.append(f"{FIELD_NOTE} {', '.join(fields)}")
        if boosted:
            expansion.other.append(f"{BOOST_NOTE} ({', '.join(boosted)})")
        return rewritten

    def highlight_terms(self, parsed: query.Query, expansion: Expansion) -> set[str]:
        """What to mark: the query's terms, and the index forms of the words patterns expanded into."""
        return query_terms(parsed) | {self.analysis.index_form(word) for word in expansion.words}

    def written_form(self, term: str, parsed) -> str:
        """What Milvus is sent for one of our terms: the word a pattern expanded into, as stored;
        a word as the query wrote it; a name variant as the archive most often writes it."""
        if term in parsed.expanded:
            return term
        if term in parsed.spellings:
            return parsed.spellings[term]
        if term in parsed.variants:
            with self._vocabulary_lock:
                if self._names is None:
                    names: dict[str, tuple[int, str]] = {}
                    for word, count in self.store.name_evidence().capitalised.items():
                        form = self.analysis.index_form(word)
                        if count > names.get(form, (0, ""))[0]:
                            names[form] = (count, word)
                    self._names = {form: word for form, (_, word) in names.items()}
            return self._names.get(term, term)
        return term

    def word_frequency(self, word: str) -> int:
        """How often the (analysed) word occurs in the archive's texts, from the stored vocabulary."""
        tokens = self.analysis.analyze(word)
        if not tokens:
            return 0
        with self._vocabulary_lock:
            if self._frequencies is None:
                frequencies: Counter = Counter()
                for written, count in self.store.vocabulary().items():
                    frequencies[self.analysis.index_form(written)] += count
                self._frequencies = dict(frequencies)
        return self._frequencies.get(tokens[0], 0)

    def parse(self, text: str, every_word: bool = False) -> ParsedQuery:
        return self.analysis.parse(text, every_word)

    def search(self, parsed: ParsedQuery, depth: int, allowed: Restriction | None = None,
               budget: Budget = UNLIMITED) -> list[tuple[int, float]]:
        """(pid, BM25 score) best first; ``allowed``: what the filters let through (its native
        form is a Milvus expression)."""
        if parsed.ranking is query.NullQuery or depth <= 0:
            return []
        expression = allowed.native if allowed is not None else None
        kept: np.ndarray | None = None  # articles the passages found must belong to (decided here, not by Milvus)
        if parsed.article_level:
            try:
                matched = self.matching_articles(parsed, allowed, budget)
            except OutOfTime:  # a partial NOT would let excluded articles in: nothing rather than wrong
                return []
            matching = matched.articles
            if not matching.any():
                return []
            numbers = np.flatnonzero(matching)
            if len(numbers) <= MAX_FILTER_ARTICLES:
                expression = both(expression, f"number in {literal(numbers.tolist())}")
            else:  # ("x OR (NOT y AND NOT z)" matches most articles: never sent to Milvus as a list of them all)
                kept = matching
        words: dict[str, list[str]] = {"body": [], "title": []}
        for leaf in parsed.ranking.leaves():
            if type(leaf) is query.Term and leaf.fieldname in words:
                words[leaf.fieldname].append(self.written_form(leaf.text, parsed))
        asked = depth if kept is None else min(QUERY_LIMIT, depth * 4)
        while True:
            scores: dict[int, float] = {}
            full = False
            for field, field_words in words.items():
                if field_words:
                    found = self.bm25(field, " ".join(field_words), asked, expression)
                    full = full or len(found) >= asked
                    for pid, score in found:
                        scores[pid] = scores.get(pid, 0.0) + score
            if kept is not None:
                articles = self.catalog.articles_of(np.fromiter(scores, dtype=np.int64, count=len(scores)))
                scores = {pid: score for (pid, score), ordinal in zip(scores.items(), articles.tolist(), strict=True)
                          if ordinal >= 0 and kept[ordinal]}
            if kept is None or len(scores) >= depth or not full or asked >= QUERY_LIMIT:
                break
            asked = QUERY_LIMIT  # too few were left: once more, as deep as Milvus goes
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [(int(pid), float(score)) for pid, score in ranked[:depth]]

    def matching_articles(self, parsed: ParsedQuery, allowed: Restriction | None = None,
                          budget: Budget = UNLIMITED) -> Matching:
        """Every article the query's words match, within the filters: exact, each word's
        passages read in as many searches as Milvus's most for one search needs."""
        expression = allowed.native if allowed is not None else None
        # Each word is matched within the filters by Milvus: the filters' mask by article (read
        # whole) is needed only under NOT.
        universe = (lambda: allowed.articles) if allowed is not None else self.catalog.every_article
        found: list[tuple[np.ndarray, np.ndarray]] = []  # (article numbers, story keys) the words' searches found
        articles = articles_matching(parsed.query,
                                     lambda leaf: self.leaf_articles(leaf, expression, parsed, budget, found),
                                     self.catalog.article_count, universe, budget, leaves_within=True,
                                     match_any=lambda leaves: self.any_leaf_articles(leaves, expression, parsed,
                                                                                     budget, found))
        return Matching(articles, count_stories(articles, found))

    def bm25(self, field: str, text: str, depth: int, expression: str | None) -> list[tuple[int, float]]:
        """(pid, score) of the best passages, whose articles the catalog learns."""
        pids, scores, columns = self.milvus.search_columns(self.collections.passages, text, f"{field}_sparse", "BM25",
                                                           min(depth, QUERY_LIMIT), expression or "", FACT_FIELDS)
        matched = scores > 0
        self.catalog.remember(hit_rows(pids, columns, matched))
        return [(int(pid), float(score)) for pid, score in zip(pids[matched].tolist(), scores[matched].tolist(),
                                                               strict=True)]

    def leaf_articles(self, node: query.Query, expression: str | None, parsed: ParsedQuery,
                      budget: Budget = UNLIMITED, found: list[tuple[np.ndarray, np.ndarray]] | None = None,
                      written: bool = False) -> np.ndarray:
        """The articles (a mask by number) with a passage that one word matches, within the
        filters' ``expression``; ``found`` gets their (numbers, story keys). ``written``: the
        term's text is what Milvus is sent already."""
        mask = np.zeros(self.catalog.article_count, dtype=bool)
        if type(node) is query.Term and node.fieldname in ("body", "title"):
            word = node.text if written else self.written_form(node.text, parsed)
            numbers, stories = self.word_passages(node.fieldname, word, expression, 0, self.catalog.pid_limit, budget)
            inside = (numbers >= 0) & (numbers < len(mask))
            numbers, stories = numbers[inside], stories[inside]
            mask[numbers] = True
            if len(self.catalog.free):  # (at a free number: an update writing)
                live = self.catalog.every_article()
                mask &= live
                numbers, stories = numbers[live[numbers]], stories[live[numbers]]
            if found is not None:
                found.append((numbers, stories))
        return mask

    def any_leaf_articles(self, leaves: list[query.Query], expression: str | None, parsed: ParsedQuery,
                          budget: Budget, found: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
        """The articles any of these words matches: one BM25 search series per field for all of
        them (its text is their union to Milvus's analyzer), where one per word read a passage
        again for each of its words. None when a leaf is not a word of the title or text."""
        if not all(type(leaf) is query.Term and leaf.fieldname in ("body", "title") for leaf in leaves):
            return None
        mask = np.zeros(self.catalog.article_count, dtype=bool)
        for field in ("body", "title"):
            words = list(dict.fromkeys(self.written_form(leaf.text, parsed) for leaf in leaves
                                       if leaf.fieldname == field))
            if words:
                mask |= self.leaf_articles(query.Term(field, " ".join(words)), expression, parsed, budget, found,
                                           written=True)
        return mask

    def word_passages(self, field: str, word: str, expression: str | None, low: int, high: int,
                      budget: Budget) -> tuple[np.ndarray, np.ndarray]:
        """(article numbers, story keys) of every passage with pid in [low, high) that the word
        matches; the generation's passages only (an update's have pids past them). One search
        returns at most ``QUERY_LIMIT``: a full answer is asked again as two halves of the pid
        range (a range no wider than the limit cannot hold more), so a word in N passages costs
        about 2N / QUERY_LIMIT searches, never a lower bound."""
        # (The whole range is asked unbounded: a filter makes Milvus test every row first. An
        # update's passages, past the generation's pids, are left out here.)
        limit = self.catalog.pid_limit
        bounded = both(expression, f"pid >= {low} and pid < {high}") if low > 0 or high < limit else expression
        pids, scores, columns = self.milvus.search_columns(self.collections.passages, word, f"{field}_sparse", "BM25",
                                                           QUERY_LIMIT, bounded or "", ["number", "story_key"])
        found = scores > 0
        if int(np.count_nonzero(found)) < QUERY_LIMIT or high - low <= QUERY_LIMIT:
            matched = found & (pids < limit)
            return (np.asarray(columns.get("number", pids[:0]), dtype=np.int64)[matched],
                    np.asarray(columns.get("story_key", pids[:0]), dtype=np.int64)[matched])
        budget.check()
        middle = (low + high) // 2
        lower = self.word_passages(field, word, expression, low, middle, budget)
        upper = self.word_passages(field, word, expression, middle, high, budget)
        return np.concatenate([lower[0], upper[0]]), np.concatenate([lower[1], upper[1]])
