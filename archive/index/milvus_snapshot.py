"""The live generation of a Milvus backend, opened for searching: the same parts as an embedded
``Snapshot`` (store, catalog, keyword and vector index), each answered by Milvus.

The keyword and semantic legs run in Milvus (BM25 over the passages' analysed text, and a
FLAT inner-product search of their vectors), with the filters as a Milvus expression. Our
query language maps onto that (docs/design.md, "Two backends, one product"): words and their
name variants are BM25 terms, sent as written; ``title:`` words search the title's own BM25
field; wildcards and fuzzy terms expand into the archive's stored words; AND/OR/NOT are
decided per article (from each word's matches) and become an ``article_key in [...]``
expression. A phrase is searched as its words, and the search's note says so.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import numpy as np
from whoosh import query

from ..errors import IndexCorruptError, IndexNotFoundError
from ..ingest.articles import Article
from .budget import UNLIMITED, Budget
from .catalog import Catalog, source_key
from .expansion import Expansion, IndexTerms, expand, shown
from .keyword import QueryAnalysis, highlight_terms
from .manifest import Manifest, manifest_from_dict
from .milvus import (
    QUERY_LIMIT,
    SEARCH_TIMEOUT,
    article_key,
    REBUILD_HINT,
    Collections,
    Milvus,
    decode_array,
    literal,
    read_pointer,
)
from .names import NameEvidence
from .snapshot import HeldSnapshot
from .store import StoredPassage
from .stories import Stories

ARTICLE_FIELDS = ["article_id", "part", "text", "fields", "date", "story_id"]
PASSAGE_FIELDS = ["pid", "article_id", "ordinal", "start", "end", "sentence_spans", "sentence_vectors"]
PHRASE_NOTE = "the Milvus backend has no phrase search: the words of a phrase must all be in the article"
FIELD_NOTE = "the Milvus backend searches titles and texts only: use the date and source filters instead of"
BOOST_NOTE = "the Milvus backend does not weight words: searched without their boosts"
WRITTEN_PATTERN = re.compile(r"[^\s\"():^~]*[*?][^\s\"():^~]*")  # a wildcard or prefix as the query wrote it
CAP_NOTE = "AND and NOT were decided on each word's best {limit:,} passages (Milvus's most for one search)"


def filter_expression(date_from: str | None, date_to: str | None, source: str | None) -> str | None:
    """The filters' one rule (see catalog.py), as a Milvus expression over passages."""
    parts = []
    if date_from or date_to:
        parts.append('date != ""')
        if date_from:
            parts.append(f"date >= {literal(date_from)}")
        if date_to:
            parts.append(f"date <= {literal(date_to)}")
    if source:
        parts.append(f"source_key == {literal(source_key(source))}")
    return " and ".join(parts) if parts else None


def both(first: str | None, second: str | None) -> str | None:
    return f"({first}) and ({second})" if first and second else first or second


def metadata(row: dict) -> dict:
    try:
        fields = json.loads(row["fields"])
    except ValueError as problem:
        raise IndexCorruptError(f"article {row['article_id']!r} has unreadable metadata in Milvus: {problem}") from None
    if not isinstance(fields, dict):
        raise IndexCorruptError(f"article {row['article_id']!r} has unreadable metadata in Milvus")
    return fields


def article_of(row: dict, parts: list[dict]) -> Article:
    fields = metadata(row)
    text = "".join(part["text"] for part in sorted(parts, key=lambda part: part["part"]))
    return Article(id=row["article_id"], title=fields.get("title") or "", text=text, date=row["date"] or None,
                   source=fields.get("source"), url=fields.get("url"), path=fields.get("path"),
                   author=fields.get("author"), date_kind=fields.get("date_kind"))


class MilvusStore:
    """The store's read side (as ``Store``), on a generation's collections."""

    def __init__(self, milvus: Milvus, collections: Collections, dimension: int) -> None:
        self.milvus, self.collections, self.dimension = milvus, collections, dimension
        self._headlines: dict[str, tuple] = {}  # id -> (title, source, date, date kind): read at open

    def articles(self, article_ids) -> dict[str, Article]:
        rows = self.milvus.rows_of(self.collections.articles, list(article_ids), ARTICLE_FIELDS)
        by_article: dict[str, list[dict]] = {}
        for row in rows:
            by_article.setdefault(row["article_id"], []).append(row)
        return {article_id: article_of(next(row for row in parts if row["part"] == 0), parts)
                for article_id, parts in by_article.items() if any(row["part"] == 0 for row in parts)}

    def article(self, article_id: str) -> Article | None:
        return self.articles([article_id]).get(article_id)

    def article_rows(self) -> list[tuple[str, str | None, str | None, str | None]]:
        """(id, date, source, story id) of every article, by id; keeps each one's headline."""
        rows = []
        for row in self.milvus.rows(self.collections.articles, "part == 0",
                                    ["article_id", "fields", "date", "story_id"]):
            fields = metadata(row)
            date = row["date"] or None
            self._headlines[row["article_id"]] = (fields.get("title") or "", fields.get("source"), date,
                                                  fields.get("date_kind"))
            rows.append((row["article_id"], date, fields.get("source"), row["story_id"] or None))
        return sorted(rows)

    def live_passage_rows(self) -> list[tuple[int, str]]:
        return [(row["pid"], row["article_id"])
                for row in self.milvus.rows(self.collections.passages, "pid >= 0", ["pid", "article_id"])]

    def headlines(self, article_ids) -> dict[str, tuple]:
        return {article_id: self._headlines[article_id] for article_id in article_ids if article_id in self._headlines}

    def story_headlines(self, story: str) -> list[tuple]:
        rows = self.milvus.query(self.collections.articles, filter=f"part == 0 and story_id == {literal(story)}",
                                 output_fields=["article_id"], limit=QUERY_LIMIT)
        found = [(row["article_id"], *self._headlines[row["article_id"]]) for row in rows
                 if row["article_id"] in self._headlines]
        dated = sorted((row for row in found if row[3]), key=lambda row: row[0])
        dated.sort(key=lambda row: row[3], reverse=True)
        return dated + sorted((row for row in found if not row[3]), key=lambda row: row[0])

    def passages(self, pids) -> dict[int, StoredPassage]:
        """The passages asked for that are still stored (an update may have replaced some meanwhile)."""
        rows = self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], PASSAGE_FIELDS)
        return {row["pid"]: StoredPassage(
            row["pid"], row["article_id"], row["ordinal"], row["start"], row["end"],
            decode_array(row["sentence_spans"], np.int32).reshape(-1, 2),
            decode_array(row["sentence_vectors"], np.float16).reshape(-1, self.dimension)) for row in rows}

    def passage_ids_of(self, article_ids) -> list[int]:
        return [row["pid"] for row in self.milvus.rows_of(self.collections.passages, list(article_ids), ["pid"])]

    def article_passage_ids(self, article_id: str) -> list[int]:
        rows = self.milvus.rows_of(self.collections.passages, [article_id], ["pid", "ordinal"])
        return [row["pid"] for row in sorted(rows, key=lambda row: row["ordinal"])]

    def records(self, kind: str) -> list:
        """The values of one kind of record (see build/milvus.py: word, file, owner, copy)."""
        return [json.loads(row["value"])
                for row in self.milvus.rows(self.collections.records, f"kind == {literal(kind)}", ["value"])]

    def vocabulary(self) -> dict[str, int]:
        return {word: count for word, count, _, _ in self.records("word") if count > 0}

    def name_evidence(self) -> NameEvidence:
        evidence = NameEvidence()
        for word, _, capitalised, lowercase in self.records("word"):
            if capitalised:
                evidence.capitalised[word] = capitalised
            if lowercase:
                evidence.lowercase[word] = lowercase
        return evidence

    def known_files(self) -> dict[str, tuple[tuple[int, int], list[str], list[str]]]:
        """As ``Store.known_files``: file -> ((size, mtime_ns), its articles, articles it holds a copy of)."""
        known = {path: ((size, mtime), [], []) for path, size, mtime in self.records("file")}
        for article_id, file in self.records("owner"):
            if file in known:
                known[file][1].append(article_id)
        for file, article_id in self.records("copy"):
            if file in known:
                known[file][2].append(article_id)
        return known

    def fingerprints(self) -> dict[str, str]:
        return {row["article_id"]: metadata(row)["fingerprint"]
                for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id", "fields"])}

    def stories(self) -> Stories:
        rows = []
        for row in self.milvus.rows(self.collections.articles, "part == 0",
                                    ["article_id", "story_id", "date", "vector", "signature", "fields"]):
            rows.append((row["article_id"], row["story_id"], row["date"] or None,
                         np.asarray(row["vector"], dtype=np.float16).tobytes(),
                         decode_array(row["signature"], np.uint32).tobytes(), metadata(row)["length"]))
        return Stories.loaded(self.dimension, rows)

    def date_span(self) -> tuple[str | None, str | None]:
        dates = [headline[2] for headline in self._headlines.values() if headline[2]]
        return (min(dates), max(dates)) if dates else (None, None)

    def sources(self, limit: int = 50) -> list[tuple[str, int]]:
        counts = Counter(headline[1] for headline in self._headlines.values() if headline[1] is not None)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]

    def counts(self) -> tuple[int, int]:
        return len(self._headlines), self.count(self.collections.passages)

    def count(self, collection: str, expression: str = "") -> int:
        return int(self.milvus.query(collection, filter=expression, output_fields=["count(*)"])[0]["count(*)"])

    def close(self) -> None:
        """Nothing to let go: the connection is the process's."""


class MilvusVectorIndex:
    """The semantic leg's index: the passages' dense field, searched by inner product (cosine)."""

    def __init__(self, milvus: Milvus, collections: Collections, dimension: int, size: int) -> None:
        self.milvus, self.collections, self.dimension, self.size = milvus, collections, dimension, size

    def search(self, vector: np.ndarray, depth: int, allowed: str | None = None) -> list[tuple[int, float]]:
        """(pid, cosine) best first; ``allowed``: a filter expression."""
        if depth <= 0 or self.size == 0:
            return []
        found = self.milvus.search(self.collections.passages, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                   anns_field="dense", limit=min(depth, QUERY_LIMIT), filter=allowed or "",
                                   search_params={"metric_type": "IP"}, output_fields=[], timeout=SEARCH_TIMEOUT)
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def reconstruct(self, pids: list[int]) -> np.ndarray:
        rows = {row["pid"]: row["dense"] for row in
                self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], ["pid", "dense"])}
        missing = [pid for pid in pids if int(pid) not in rows]
        if missing:
            raise IndexCorruptError(f"{len(missing)} passage vectors are missing from Milvus (an update under way?)",
                                    hint="try again in a moment")
        return np.stack([np.asarray(rows[int(pid)], dtype=np.float32) for pid in pids])


class MilvusKeywordIndex(QueryAnalysis):
    """The keyword leg on Milvus: our parser and analyzer (notes, name variants, highlighting
    spans), Milvus's BM25 for ranking. Milvus analyses what it is sent with its own English
    stemmer, so it is sent the words as the query wrote them, never our stems."""

    def __init__(self, milvus: Milvus, collections: Collections, catalog: Catalog, store: MilvusStore,
                 passages: int) -> None:
        super().__init__(store.name_evidence)
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
                if simple and isinstance(node, query.Prefix) and self.index_form(pattern[:-1]) == node.text:
                    del written[index]
                    return query.Prefix(node.fieldname, pattern[:-1], boost=node.boost)
                if isinstance(node, query.Wildcard) and self.index_form(pattern) == node.text:
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
        return highlight_terms(parsed, self.searcher) | {self.index_form(word) for word in expansion.words}

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
                        form = self.index_form(word)
                        if count > names.get(form, (0, ""))[0]:
                            names[form] = (count, word)
                    self._names = {form: word for form, (_, word) in names.items()}
            return self._names.get(term, term)
        return term

    def word_frequency(self, word: str) -> int:
        """How often the (analysed) word occurs in the archive's texts, from the stored vocabulary."""
        tokens = self.analyze(word)
        if not tokens:
            return 0
        with self._vocabulary_lock:
            if self._frequencies is None:
                frequencies: Counter = Counter()
                for written, count in self.store.vocabulary().items():
                    frequencies[self.index_form(written)] += count
                self._frequencies = dict(frequencies)
        return self._frequencies.get(tokens[0], 0)

    def search(self, parsed, depth: int, allowed: str | None = None, budget: Budget = UNLIMITED) -> list[tuple[int, float]]:
        """(pid, BM25 score) best first; ``allowed``: a filter expression."""
        if parsed.ranking is query.NullQuery or depth <= 0:
            return []
        expression = allowed
        if parsed.article_level:
            capped: list[str] = []
            matching = self.articles_matching(parsed.query, allowed, parsed, capped)
            if capped and budget is not UNLIMITED:
                budget.notes.append(CAP_NOTE.format(limit=QUERY_LIMIT) + f" ({', '.join(sorted(set(capped)))})")
            if not matching:
                return []
            keys = sorted({article_key(article_id) for article_id in matching})
            expression = both(expression, f"article_key in {literal(keys)}")
        words: dict[str, list[str]] = {"body": [], "title": []}
        for leaf in parsed.ranking.leaves():
            if type(leaf) is query.Term and leaf.fieldname in words:
                words[leaf.fieldname].append(self.written_form(leaf.text, parsed))
        scores: Counter = Counter()
        for field, field_words in words.items():
            if field_words:
                for pid, score in self.bm25(field, " ".join(field_words), depth, expression):
                    scores[pid] += score
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [(int(pid), float(score)) for pid, score in ranked[:depth]]

    def bm25(self, field: str, text: str, depth: int, expression: str | None) -> list[tuple[int, float]]:
        found = self.milvus.search(self.collections.passages, data=[text], anns_field=f"{field}_sparse",
                                   limit=min(depth, QUERY_LIMIT), filter=expression or "",
                                   search_params={"metric_type": "BM25"}, output_fields=[], timeout=SEARCH_TIMEOUT)
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0] if hit["distance"] > 0]

    def articles_matching(self, node: query.Query, allowed: str | None, parsed, capped: list[str]) -> set[str]:
        """The articles a query decided per article matches: a word counts wherever in the article
        it is. ``capped`` collects the words whose matches passed Milvus's cap for one search."""
        def matching(child: query.Query, restricted: str | None = allowed) -> set[str]:
            return self.articles_matching(child, restricted, parsed, capped)

        if isinstance(node, query.Or | query.DisjunctionMax):
            return set().union(*(matching(child) for child in node.children()))
        if isinstance(node, query.And | query.Require):
            children = list(node.children())
            found = matching(children[0]) if children else set()
            for child in children[1:]:
                found &= matching(child)
            return found
        if isinstance(node, query.AndNot):
            return matching(node.a) - matching(node.b, None)
        if isinstance(node, query.AndMaybe):
            return matching(node.a)
        if isinstance(node, query.Not):
            return set(self.catalog.article_ids) - matching(node.query, None)
        if type(node) is query.Term and node.fieldname in ("body", "title"):
            word = self.written_form(node.text, parsed)
            passages = self.bm25(node.fieldname, word, QUERY_LIMIT, allowed)
            if len(passages) >= QUERY_LIMIT:
                capped.append(word)
            return set(self.catalog.owners([pid for pid, _ in passages]).values())
        return set()


class MilvusSnapshot(HeldSnapshot):
    """The live generation of a Milvus backend; reopened when the pointer names another
    generation or an update changed it (its manifest's generation)."""

    def __init__(self, milvus: Milvus, prefix: str) -> None:
        super().__init__()
        pointer = read_pointer(milvus, prefix)
        if pointer is None:
            raise IndexNotFoundError(f"no archive in Milvus at {milvus.uri} (collections {prefix}_*)", hint=REBUILD_HINT)
        self.manifest: Manifest = manifest_from_dict(pointer.get("manifest"), f"the manifest in Milvus at {milvus.uri}")
        self.generation = self.manifest.generation
        self.name = self.generation
        self.directory = None
        self.collections = Collections.of(prefix, pointer["collections"])
        self.store = MilvusStore(milvus, self.collections, self.manifest.dimension)
        self.catalog = Catalog.from_rows(self.store.article_rows(), self.store.live_passage_rows())
        self.keyword = MilvusKeywordIndex(milvus, self.collections, self.catalog, self.store, self.manifest.passages)
        self.vectors = MilvusVectorIndex(milvus, self.collections, self.manifest.dimension, self.manifest.passages)

    def restriction(self, filters) -> str | None:
        """The filters as the Milvus expression both legs search with."""
        return filter_expression(filters.date_from, filters.date_to, filters.source)
