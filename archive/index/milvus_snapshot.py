"""The live generation of a Milvus backend, opened for searching: the same parts as an embedded
``Snapshot`` (store, catalog, keyword and vector index), each answered by Milvus.

The keyword and semantic legs run in Milvus (BM25 over the passages' analysed text, and a
FLAT inner-product search of their vectors), with the filters as a Milvus expression. Our
query language maps onto that: words and their name variants are BM25 terms, ``title:`` words
search the title's own BM25 field, AND/OR/NOT are decided per article (from each word's
matches) and become an ``article_id in [...]`` expression. Milvus has no phrases, wildcards
or fuzzy terms: those are searched as plain words, and the search's note says so.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import numpy as np
from whoosh import query

from ..errors import IndexNotFoundError, QueryTooBroadError
from ..ingest.articles import Article
from .budget import UNLIMITED, Budget
from .catalog import Catalog, source_key
from .expansion import ALLOWED, MINIMUM_LITERAL_PREFIX, Expansion, literal_prefix, shown
from .keyword import QueryAnalysis
from .manifest import Manifest, manifest_from_dict
from .milvus import (
    QUERY_LIMIT,
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
UNSUPPORTED_NOTE = "the Milvus backend has no phrases, wildcards or fuzzy terms: searched as plain words"


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


def article_of(row: dict, parts: list[dict]) -> Article:
    fields = json.loads(row["fields"])
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
        rows = self.milvus.rows_in(self.collections.articles, "article_id", list(article_ids), ARTICLE_FIELDS)
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
            fields = json.loads(row["fields"])
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
        rows = self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], PASSAGE_FIELDS)
        return {row["pid"]: StoredPassage(
            row["pid"], row["article_id"], row["ordinal"], row["start"], row["end"],
            decode_array(row["sentence_spans"], np.int32).reshape(-1, 2),
            decode_array(row["sentence_vectors"], np.float16).reshape(-1, self.dimension)) for row in rows}

    def passage_ids_of(self, article_ids) -> list[int]:
        return [row["pid"] for row in self.milvus.rows_in(self.collections.passages, "article_id", list(article_ids),
                                                           ["pid"])]

    def article_passage_ids(self, article_id: str) -> list[int]:
        rows = self.milvus.rows_in(self.collections.passages, "article_id", [article_id], ["pid", "ordinal"])
        return [row["pid"] for row in sorted(rows, key=lambda row: row["ordinal"])]

    def records(self, kind: str) -> dict[str, object]:
        return {row["key"].split(":", 1)[1]: json.loads(row["value"])
                for row in self.milvus.rows(self.collections.records, f"kind == {literal(kind)}", ["key", "value"])}

    def vocabulary(self) -> dict[str, int]:
        return {word: counts[0] for word, counts in self.records("word").items() if counts[0] > 0}

    def name_evidence(self) -> NameEvidence:
        evidence = NameEvidence()
        for word, (_, capitalised, lowercase) in self.records("word").items():
            if capitalised:
                evidence.capitalised[word] = capitalised
            if lowercase:
                evidence.lowercase[word] = lowercase
        return evidence

    def known_files(self) -> dict[str, tuple[tuple[int, int], list[str], list[str]]]:
        known = {path: ((size, mtime), [], list(copies))
                 for path, (size, mtime, copies) in self.records("file").items()}
        for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id", "fields"]):
            file = json.loads(row["fields"]).get("file")
            if file in known:
                known[file][1].append(row["article_id"])
        return known

    def fingerprints(self) -> dict[str, str]:
        return {row["article_id"]: json.loads(row["fields"])["fingerprint"]
                for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id", "fields"])}

    def stories(self) -> Stories:
        rows = []
        for row in self.milvus.rows(self.collections.articles, "part == 0",
                                    ["article_id", "story_id", "date", "vector", "signature", "fields"]):
            rows.append((row["article_id"], row["story_id"], row["date"] or None,
                         np.asarray(row["vector"], dtype=np.float16).tobytes(),
                         decode_array(row["signature"], np.uint32).tobytes(), json.loads(row["fields"])["length"]))
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
                                   search_params={"metric_type": "IP"}, output_fields=[])
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def reconstruct(self, pids: list[int]) -> np.ndarray:
        rows = {row["pid"]: row["dense"] for row in
                self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], ["pid", "dense"])}
        return np.stack([np.asarray(rows[int(pid)], dtype=np.float32) for pid in pids])


class MilvusKeywordIndex(QueryAnalysis):
    """The keyword leg on Milvus: our parser and analyzer (notes, name variants, highlighting
    spans), Milvus's BM25 for ranking."""

    def __init__(self, milvus: Milvus, collections: Collections, catalog: Catalog, store: MilvusStore,
                 passages: int) -> None:
        super().__init__(store.name_evidence)
        self.milvus, self.collections, self.catalog, self.store = milvus, collections, catalog, store
        self._document_count = passages
        self._frequencies: dict[str, int] | None = None
        self._frequencies_lock = threading.Lock()

    def document_count(self) -> int:
        return self._document_count

    def close(self) -> None:
        """Nothing to let go: the connection is the process's."""

    def expand(self, parsed: query.Query, expansion: Expansion, spellings: dict[str, str]) -> query.Query:
        """Milvus has no phrases, wildcards, fuzzy terms or ranges: each is searched as its plain
        words (a phrase's words must all be in the article), and the note says so. A pattern too
        broad to search is refused, as on the embedded backend."""
        unsupported: list[str] = []

        def plain(node: query.Query) -> query.Query:
            if isinstance(node, query.Phrase):
                unsupported.append(f'"{" ".join(spellings.get(word, word) for word in node.words)}"')
                return query.And([query.Term(node.fieldname, word) for word in node.words])
            if isinstance(node, query.Prefix | query.Wildcard | query.FuzzyTerm):
                unsupported.append(shown(node))
                words = self.analyze(node.text.replace("*", " ").replace("?", " "))
                return query.Term(node.fieldname, words[0]) if words else query.NullQuery
            if isinstance(node, query.TermRange | query.NumericRange):
                unsupported.append(shown(node))
                return query.NullQuery
            return node if node.is_leaf() else node.apply(plain)

        for leaf in parsed.leaves():
            too_broad = isinstance(leaf, query.Prefix | query.Wildcard) and len(literal_prefix(leaf)) < MINIMUM_LITERAL_PREFIX
            if isinstance(leaf, query.Every) or too_broad:
                raise QueryTooBroadError(f"{shown(leaf)} is too broad to search", hint=ALLOWED)
        rewritten = plain(parsed)
        expansion.terms += sum(1 for _ in rewritten.leaves())
        if unsupported:
            expansion.other.append(f"{UNSUPPORTED_NOTE} ({', '.join(unsupported)})")
        return rewritten

    def word_frequency(self, word: str) -> int:
        """How often the (analysed) word occurs in the archive's texts, from the stored vocabulary."""
        tokens = self.analyze(word)
        if not tokens:
            return 0
        with self._frequencies_lock:
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
            matching = self.articles_matching(parsed.query, allowed)
            if not matching:
                return []
            expression = both(expression, f"article_id in {literal(sorted(matching))}")
        words: dict[str, list[str]] = {"body": [], "title": []}
        for leaf in parsed.ranking.leaves():
            if type(leaf) is query.Term and leaf.fieldname in words:
                words[leaf.fieldname].append(parsed.spellings.get(leaf.text, leaf.text))
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
                                   search_params={"metric_type": "BM25"}, output_fields=[])
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0] if hit["distance"] > 0]

    def articles_matching(self, node: query.Query, allowed: str | None) -> set[str]:
        """The articles a query decided per article matches: a word counts wherever in the article it is."""
        if isinstance(node, query.Or | query.DisjunctionMax):
            return set().union(*(self.articles_matching(child, allowed) for child in node.children()))
        if isinstance(node, query.And | query.Require):
            children = list(node.children())
            found = self.articles_matching(children[0], allowed) if children else set()
            for child in children[1:]:
                found &= self.articles_matching(child, allowed)
            return found
        if isinstance(node, query.AndNot):
            return self.articles_matching(node.a, allowed) - self.articles_matching(node.b, None)
        if isinstance(node, query.AndMaybe):
            return self.articles_matching(node.a, allowed)
        if isinstance(node, query.Not):
            return set(self.catalog.article_ids) - self.articles_matching(node.query, None)
        if type(node) is query.Term and node.fieldname in ("body", "title"):
            pids = [pid for pid, _ in self.bm25(node.fieldname, node.text, QUERY_LIMIT, allowed)]
            return set(self.catalog.owners(pids).values())
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
