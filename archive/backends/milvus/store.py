"""The store's read side on Milvus: articles (their text in parts), passages with their
sentences, and the records (words, name evidence, files, owners, copies)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from ...errors import IndexCorruptError
from ...index.names import NameEvidence
from ...index.stored import StoredPassage
from ...index.stories import Stories
from ...indexing.changes import KnownFiles, known_files
from ...ingest.articles import Article
from .client import QUERY_LIMIT, Collections, Milvus, decode_array, literal

ARTICLE_FIELDS = ["article_id", "part", "text", "fields", "date", "story_id"]
PASSAGE_FIELDS = ["pid", "article_id", "ordinal", "start", "end", "sentence_spans", "sentence_vectors"]


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
        self._first_seen: dict[str, str] | None = None  # id -> when first seen: read at open too
        self.article_rows_cache: list[tuple] = []

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
        """(id, date, source, story id) of every article, by id; keeps each one's headline and
        when it was first seen."""
        rows = []
        seen: dict[str, str] = {}
        for row in self.milvus.rows(self.collections.articles, "part == 0",
                                    ["article_id", "fields", "date", "story_id"]):
            fields = metadata(row)
            date = row["date"] or None
            self._headlines[row["article_id"]] = (fields.get("title") or "", fields.get("source"), date,
                                                  fields.get("date_kind"))
            if fields.get("first_seen"):
                seen[row["article_id"]] = fields["first_seen"]
            rows.append((row["article_id"], date, fields.get("source"), row["story_id"] or None))
        self._first_seen = seen
        self.article_rows_cache = rows
        return sorted(rows)

    def first_seen(self, article_ids=None) -> dict[str, str]:
        """When the archive first saw each article (every one for None); none for articles
        written before these were kept."""
        if self._first_seen is None:
            self.article_rows()
            before = self.records("seen_before")  # when an update first found articles without times
            if before:
                known = {article_id for article_id, *_ in self.article_rows_cache}
                self._first_seen = {**dict.fromkeys(known, str(before[0])), **(self._first_seen or {})}
        seen = self._first_seen or {}
        if article_ids is None:
            return dict(seen)
        return {article_id: seen[article_id] for article_id in article_ids if article_id in seen}

    def live_passage_rows(self) -> list[tuple[int, str]]:
        return [(row["pid"], row["article_id"])
                for row in self.milvus.rows(self.collections.passages, "pid >= 0", ["pid", "article_id"])]

    def headlines(self, article_ids) -> dict[str, tuple]:
        return {article_id: self._headlines[article_id] for article_id in article_ids if article_id in self._headlines}

    def story_headlines(self, story: str, limit: int = -1) -> list[tuple]:
        rows = self.milvus.query(self.collections.articles, filter=f"part == 0 and story_id == {literal(story)}",
                                 output_fields=["article_id"], limit=QUERY_LIMIT)
        found = [(row["article_id"], *self._headlines[row["article_id"]]) for row in rows
                 if row["article_id"] in self._headlines]
        dated = sorted((row for row in found if row[3]), key=lambda row: row[0])
        dated.sort(key=lambda row: row[3], reverse=True)
        ordered = dated + sorted((row for row in found if not row[3]), key=lambda row: row[0])
        return ordered if limit < 0 else ordered[:limit]

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
        """The values of one kind of record (see build.py: word, file, owner, copy)."""
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

    def known_files(self) -> KnownFiles:
        return known_files(self.records("file"), self.records("owner"), self.records("copy"))

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
