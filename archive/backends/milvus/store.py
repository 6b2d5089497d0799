"""The store's read side on Milvus: articles (their text in parts), passages with their
sentences, and the records (words, name evidence, files, owners, copies)."""

from __future__ import annotations

import json

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


KNOWN_HEADLINES = 65_536  # headlines remembered per generation (a search's results ask for the same ones again)
HEADLINE_FIELDS = ["article_id", "fields", "date"]


def headline_of(row: dict) -> tuple:
    fields = metadata(row)
    return fields.get("title") or "", fields.get("source"), row["date"] or None, fields.get("date_kind")


class MilvusStore:
    """The store's read side (as ``Store``), on a generation's collections. Nothing of every
    article is read when it opens: headlines and first-seen times are read for the articles
    asked about (and remembered), and the archive's date span and sources come from the
    summary a build or update writes."""

    def __init__(self, milvus: Milvus, collections: Collections, dimension: int) -> None:
        self.milvus, self.collections, self.dimension = milvus, collections, dimension
        self._headlines: dict[str, tuple] = {}  # id -> (title, source, date, date kind), as asked for
        self._seen: dict[str, str | None] = {}  # id -> when first seen (None: not kept), as asked for
        self._seen_before: list | None = None  # the "seen_before" record, read once
        self._summary: dict | None = None

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
        """(id, date, source, story id) of every article, by id (builds: it reads every article)."""
        return sorted((row["article_id"], row["date"] or None, row["source"] or None, row["story_id"] or None)
                      for row in self.milvus.rows(self.collections.articles, "part == 0",
                                                  ["article_id", "date", "source", "story_id"]))

    def article_ids(self) -> list[str]:
        """Every article's id (builds)."""
        return [row["article_id"] for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id"])]

    def numbers(self) -> dict[str, int]:
        """Every article's number (updates: they give the free ones to new articles)."""
        return {row["article_id"]: int(row["number"])
                for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id", "number"])}

    def remember_headlines(self, article_ids) -> tuple[dict[str, tuple], dict[str, str | None]]:
        """The headlines and first-seen times of these articles (those an update removed have
        none): the known ones remembered, the others read and remembered."""
        headlines, seen = self._headlines, self._seen  # (the dicts are replaced, not cleared, when full)
        wanted = list(dict.fromkeys(article_ids))
        found = {article_id: headlines[article_id] for article_id in wanted if article_id in headlines}
        found_seen = {article_id: seen.get(article_id) for article_id in found}
        missing = [article_id for article_id in wanted if article_id not in found]
        if missing:
            rows = self.milvus.rows_of(self.collections.articles, missing, HEADLINE_FIELDS, extra="part == 0")
            if len(headlines) + len(rows) > KNOWN_HEADLINES:
                headlines, seen = self._headlines, self._seen = {}, {}
            for row in rows:
                found[row["article_id"]] = headlines[row["article_id"]] = headline_of(row)
                found_seen[row["article_id"]] = seen[row["article_id"]] = metadata(row).get("first_seen")
        return found, found_seen

    def seen_before(self) -> str | None:
        """When an update first found articles stored before first-seen times were kept, if one did."""
        if self._seen_before is None:
            self._seen_before = self.records("seen_before")
        return str(self._seen_before[0]) if self._seen_before else None

    def first_seen(self, article_ids=None) -> dict[str, str]:
        """When the archive first saw each article (every one for None: it reads them all); none
        for articles written before these were kept."""
        before = self.seen_before()
        if article_ids is None:
            seen: dict[str, str] = {}
            for row in self.milvus.rows(self.collections.articles, "part == 0", ["article_id", "fields"]):
                when = metadata(row).get("first_seen") or before
                if when:
                    seen[row["article_id"]] = when
            return seen
        headlines, known = self.remember_headlines(article_ids)
        found = {}
        for article_id in headlines:
            when = known.get(article_id) or before
            if when:
                found[article_id] = when
        return found

    def headlines(self, article_ids) -> dict[str, tuple]:
        return self.remember_headlines(article_ids)[0]

    def story_headlines(self, story: str, limit: int = -1) -> list[tuple]:
        rows = self.milvus.query(self.collections.articles, filter=f"part == 0 and story_id == {literal(story)}",
                                 output_fields=HEADLINE_FIELDS, limit=QUERY_LIMIT)
        found = [(row["article_id"], *headline_of(row)) for row in rows]
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

    def free_numbers(self, generation: str) -> list[int]:
        """The article numbers no article of the generation has (an update removed more than it added)."""
        return [int(number) for chunk in self.records("free")
                if isinstance(chunk, dict) and chunk.get("generation") == generation
                for number in chunk.get("numbers", [])]

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

    def placed(self) -> dict[str, tuple[str, int]]:
        """Each article's story and story size, as its rows say (verify)."""
        return {row["article_id"]: placement(row) for row in self.milvus.rows(self.collections.articles, "part == 0",
                                                                           ["article_id", "story_id", "story_size"])}

    def stories(self) -> tuple[Stories, dict[str, tuple[str, int]]]:
        """Every article's story, and each one's story and story size as its rows say (updates:
        what to write again), from one read of the articles."""
        rows = []
        placed = {}
        for row in self.milvus.rows(self.collections.articles, "part == 0",
                                    ["article_id", "story_id", "story_size", "date", "vector", "signature", "fields"]):
            rows.append((row["article_id"], row["story_id"], row["date"] or None,
                         np.asarray(row["vector"], dtype=np.float16).tobytes(),
                         decode_array(row["signature"], np.uint32).tobytes(), metadata(row)["length"]))
            placed[row["article_id"]] = placement(row)
        return Stories.loaded(self.dimension, rows), placed

    def date_span(self) -> tuple[str | None, str | None]:
        first, last = self.summary().get("dates") or (None, None)
        return first, last

    def sources(self, limit: int = 50) -> list[tuple[str, int]]:
        return [(source, count) for source, count in self.summary().get("sources", [])][:limit]

    def summary(self) -> dict:
        """The archive's date span and its sources by article count, as its build or update wrote
        them (read once: a snapshot's store is one generation's)."""
        if self._summary is None:
            found = self.records("summary")
            self._summary = found[0] if found and isinstance(found[0], dict) else {}
        return self._summary

    def counts(self) -> tuple[int, int]:
        """(articles, passages), counted by Milvus."""
        return self.count(self.collections.articles, "part == 0"), self.count(self.collections.passages)

    def count(self, collection: str, expression: str = "") -> int:
        return int(self.milvus.query(collection, filter=expression, output_fields=["count(*)"])[0]["count(*)"])

    def close(self) -> None:
        """Nothing to let go: the connection is the process's."""


def placement(row: dict) -> tuple[str, int]:
    """(story id, story size) as an article's row says them."""
    return row["story_id"], int(row["story_size"])
