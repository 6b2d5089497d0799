"""The Milvus backend's catalog: no table of every article in each web process.

Every passage row and article row carries its article's number (client.py), id, date, source,
story id and story size. So the catalog learns what a search needs from the rows the search returns
(``remember``), and asks Milvus for the rest in batches: the articles of a few pids, the ids
of a sample's numbers, the stories of a match set, the size of a story known by its id alone. Opening a
generation reads the pointer and, when an update left numbers free, which ones: the same at
any archive size. Rows numbered past the generation's numbers, or with one of its free ones,
are an update's, still writing: left out. What it learns is kept, up to ``KNOWN_FACTS`` articles (then it starts
again), as a generation's rows never change once its manifest is published.

Questions about every article (coverage's timelines and sources, export order, a search's
feed) need every article's date, source and story: ``whole()`` reads them once per process
and generation, when the first of them is asked, and keeps them as a ``Catalog`` of arrays
(about 100 bytes an article).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from ...index.budget import UNLIMITED, Budget
from ...index.catalog import Catalog, Filters
from .client import QUERY_LIMIT, Collections, Milvus, literal

FACT_FIELDS = ["number", "article_id", "date", "source", "story_id", "story_size"]  # on passage and article rows
KNOWN_FACTS = 32_768  # articles (and as many pids) remembered: about 8 MB at most, whatever the archive's size
NUMBER_BATCH = 4_096  # article numbers per ``number in [...]`` query
READ_STORIES = 16_384  # at most this many articles' stories are read for one count; past it, ``whole()``


class Fact(NamedTuple):
    """What the catalog knows of one article."""

    article_id: str
    date: str  # YYYY-MM-DD, or "" when undated
    source: str  # as written, "" for none
    story: str
    story_size: int  # articles in the story, as the generation's rows say


def fact_of(row: dict) -> Fact:
    return Fact(row["article_id"], row["date"] or "", row["source"] or "", row["story_id"] or row["article_id"],
                int(row["story_size"]))


class MilvusCatalog:
    """The catalog of a Milvus generation (``ArticleCatalog``), learnt from what searches
    return and asked of Milvus in batches, never read whole on open."""

    def __init__(self, milvus: Milvus, collections: Collections, size: int, free: Iterable[int],
                 pid_limit: int) -> None:
        self.milvus, self.collections = milvus, collections
        self.size, self.pid_limit = size, pid_limit
        self.free = np.array(sorted({int(number) for number in free if 0 <= int(number) < size}), dtype=np.int64)
        self._facts: dict[int, Fact] = {}  # article number -> what is known of it
        self._numbers: dict[str, int] = {}  # article id -> number
        self._owners: dict[int, int] = {}  # pid -> article number, -1 for a passage that is not live
        self._story_sizes: dict[str, int] = {}
        self._every: np.ndarray | None = None
        self._whole: Catalog | None = None
        self._whole_lock = threading.Lock()

    # What searches return

    def remember(self, rows: Iterable[dict]) -> tuple[dict[int, int], dict[int, Fact]]:
        """Learn from rows with ``FACT_FIELDS`` (and ``pid``, for passage rows); returns what they
        taught (pid -> number, number -> fact), for the caller to read: another thread may have
        replaced the dicts meanwhile (they are replaced, never cleared, when full)."""
        facts, numbers, owners = self._facts, self._numbers, self._owners
        if len(facts) >= KNOWN_FACTS or len(owners) >= KNOWN_FACTS:
            facts, numbers, owners = {}, {}, {}
            self._facts, self._numbers, self._owners = facts, numbers, owners
        every = self.every_article()
        learnt_owners: dict[int, int] = {}
        learnt_facts: dict[int, Fact] = {}
        for row in rows:
            number = int(row["number"])
            if not 0 <= number < self.size or not every[number]:  # an update writing: not this generation's
                continue
            if "pid" in row:
                if not 0 <= int(row["pid"]) < self.pid_limit:  # (an update's passage too)
                    continue
                owners[int(row["pid"])] = learnt_owners[int(row["pid"])] = number
            fact = facts.get(number) or fact_of(row)
            facts[number] = learnt_facts[number] = fact
            numbers[fact.article_id] = number
        return learnt_owners, learnt_facts

    def facts_of(self, numbers: Sequence[int], budget: Budget = UNLIMITED) -> dict[int, Fact]:
        """What is known of these article numbers, the unknown ones read from Milvus (a free
        number has none). ``budget`` is checked between batches."""
        facts = self._facts
        found = {number: facts[number] for number in numbers if number in facts}
        missing = [number for number in dict.fromkeys(numbers) if number not in found]
        for start in range(0, len(missing), NUMBER_BATCH):
            if start:
                budget.check()
            rows = self.milvus.query(self.collections.articles, output_fields=FACT_FIELDS, limit=QUERY_LIMIT,
                                     filter=f"part == 0 and number in {literal(missing[start : start + NUMBER_BATCH])}")
            found.update(self.remember(rows)[1])
        return found

    # Per hit

    @property
    def article_count(self) -> int:
        return self.size

    def every_article(self) -> np.ndarray:
        """(One array, shared: read-only.)"""
        if self._every is None:
            every = np.ones(self.size, dtype=bool)
            every[self.free] = False
            every.flags.writeable = False
            self._every = every
        return self._every

    def articles_of(self, pids: np.ndarray) -> np.ndarray:
        pids = np.asarray(pids, dtype=np.int64)
        owners = self._owners
        known = {int(pid): owners[int(pid)] for pid in pids.tolist() if int(pid) in owners}
        missing = sorted({int(pid) for pid in pids.tolist() if int(pid) not in known and 0 <= pid < self.pid_limit})
        if missing:
            rows = self.milvus.rows_in(self.collections.passages, "pid", missing, ["pid", *FACT_FIELDS])
            learnt, _ = self.remember(rows)
            known.update(learnt)
            gone = self._owners
            for pid in missing:
                if pid not in learnt:
                    gone[pid] = -1  # not live: removed, or not this generation's
        return np.fromiter((known.get(int(pid), -1) for pid in pids.tolist()), dtype=np.int32, count=len(pids))

    def ids_of(self, ordinals: Sequence[int]) -> list[str]:
        """The ids; "" for a number no article of this generation has (an update removed it)."""
        numbers = [int(ordinal) for ordinal in ordinals]
        facts = self.facts_of(numbers)
        return [facts[number].article_id if number in facts else "" for number in numbers]

    def fact(self, article_id: str) -> Fact | None:
        number = self.ordinal_of(article_id)
        return None if number is None else self.facts_of([number]).get(number)

    def ordinal_of(self, article_id: str) -> int | None:
        number = self._numbers.get(article_id)
        if number is None:
            _, learnt = self.remember(self.milvus.rows_of(self.collections.articles, [article_id], FACT_FIELDS,
                                                          extra="part == 0"))
            number = next((number for number, fact in learnt.items() if fact.article_id == article_id), None)
        return number

    def owners(self, pids: list[int]) -> dict[int, str]:
        numbers = self.articles_of(np.asarray(pids, dtype=np.int64))
        ids = iter(self.ids_of([int(number) for number in numbers if number >= 0]))
        found = {int(pid): next(ids) for pid, number in zip(pids, numbers.tolist(), strict=True) if number >= 0}
        return {pid: article_id for pid, article_id in found.items() if article_id}

    def _known(self, article_id: str) -> Fact:
        fact = self.fact(article_id)
        if fact is None:
            raise KeyError(article_id)
        return fact

    def date_of(self, article_id: str) -> str:
        return self._known(article_id).date

    def source_of(self, article_id: str) -> str:
        return self._known(article_id).source

    def story_id(self, article_id: str) -> str:
        return self._known(article_id).story

    def story_of(self, article_id: str) -> tuple[str, int]:
        return self.stories_of([article_id])[article_id]

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """(story id, articles in it) of each article, as its rows say: a page's hits brought them."""
        facts = {article_id: self._known(article_id) for article_id in article_ids}
        return {article_id: (fact.story, fact.story_size) for article_id, fact in facts.items()}

    def story_size(self, story: str) -> int:
        """Articles in a story known by its id alone (0 for none): counted by Milvus, then remembered."""
        known = self._story_sizes
        if story not in known:
            rows = self.milvus.rows_in(self.collections.articles, "story_id", [story], ["number"], extra="part == 0")
            every = self.every_article()
            size = sum(1 for row in rows if 0 <= int(row["number"]) < self.size and every[int(row["number"])])
            if len(known) >= KNOWN_FACTS:
                known = self._story_sizes = {}
            known[story] = size
        return known[story]

    def count_stories(self, articles: np.ndarray, budget: Budget = UNLIMITED) -> int:
        """From what is known and read (``facts_of``), or from ``whole()`` when it is loaded or
        more than ``READ_STORIES`` articles are asked. (A search's count does not ask:
        its words' searches return their articles' stories, Matching.stories.)"""
        if self._whole is not None:
            return self._whole.count_stories(articles)
        numbers = np.flatnonzero(articles).tolist()
        if len(numbers) > READ_STORIES:
            return self.whole().count_stories(articles)
        return len({fact.story for fact in self.facts_of(numbers, budget).values()})

    # Every article

    def article_mask(self, filters: Filters) -> np.ndarray:
        return self.whole().article_mask(filters) if filters else self.every_article()

    def whole(self) -> Catalog:
        """Every article's columns (by number; a free number is no article), read on first use."""
        with self._whole_lock:
            if self._whole is None:
                every = self.every_article()
                rows = [(int(row["number"]), row["article_id"], row["date"] or None, row["source"] or None,
                         row["story_id"] or None)
                        for row in self.milvus.rows(self.collections.articles, "part == 0", FACT_FIELDS)
                        if 0 <= int(row["number"]) < self.size and every[int(row["number"])]]
                self._whole = Catalog.from_numbered_rows(rows, [], self.size)
            return self._whole
