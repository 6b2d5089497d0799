"""The catalog: what each live passage belongs to, and each article's date and source, as arrays.

It is read from the store once per generation (a generation never changes), so that
filters become array masks that both search legs share, and grouping passages by
article needs no database round trip.

Filters have one rule each, whichever leg asks:

* dates: ``date_from <= date <= date_to`` (ISO dates); an undated article passes no date bound.
* source: equal to the article's source, ignoring case and surrounding spaces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import IndexCorruptError

UNDATED = np.iinfo(np.int64).min  # the day number of an article without a date


def source_key(source: str | None) -> str:
    return " ".join((source or "").split()).casefold()


def story_arrays(stories: list[str]) -> dict:
    """Story ordinals per article, the ids they stand for, and each story's size."""
    story_ids: Sequence[object] = []
    ordinals = np.zeros(0, dtype=np.int32)
    if stories:
        unique, story_ordinals = np.unique(np.array(stories, dtype=object), return_inverse=True)
        story_ids, ordinals = unique.tolist(), np.asarray(story_ordinals, dtype=np.int32)
    return {"stories": ordinals, "story_ids": [str(story) for story in story_ids],
            "story_sizes": np.bincount(ordinals, minlength=len(story_ids)).astype(np.int32)}


@dataclass(frozen=True)
class Filters:
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.source)


@dataclass(frozen=True)
class Restriction:
    """What a search's filters let through, decided once per search and shared by both legs:
    ``native``, as this backend's indexes take it (a passage mask, or a Milvus expression),
    and ``articles``, a mask by article ordinal (the one rule, for every backend), made on
    first use (only AND/OR/NOT need it)."""

    native: Any
    mask_articles: Callable[[], np.ndarray]

    @functools.cached_property
    def articles(self) -> np.ndarray:
        return self.mask_articles()


@dataclass
class Catalog:
    article_ids: list[str]  # article ordinal -> id
    dates: np.ndarray  # article ordinal -> "YYYY-MM-DD" or "" (unicode array)
    source_keys: np.ndarray  # article ordinal -> source_key(source)
    passage_article: np.ndarray  # pid -> article ordinal, -1 for no live passage
    ordinal: dict[str, int]  # article id -> ordinal
    sources: list[str | None] | None = None  # article ordinal -> source as written (for facets)
    # article ordinal -> story ordinal; story ordinal -> story id; story ordinal -> articles in it
    # (a catalog made without stories has each article as a story of its own)
    stories: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    story_ids: list[str] = field(default_factory=list)
    story_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def __post_init__(self) -> None:
        if not len(self.stories) and not self.story_ids and self.article_ids:  # made without stories
            for name, value in story_arrays(list(self.article_ids)).items():
                setattr(self, name, value)

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str | None, str | None, str | None]],
                  passages: list[tuple[int, str]], pid_limit: int | None = None) -> Catalog:
        """``rows``: (id, date, source, story id) of every article, by id; ``passages``: (pid,
        article id). ``pid_limit``: passage ids read back from elsewhere (Milvus) must be below
        it, as the generation recorded, or they are refused (one pid of 2**34 would make every
        process allocate 64 GiB)."""
        article_ids = [article_id for article_id, *_ in rows]
        ordinal = {article_id: index for index, article_id in enumerate(article_ids)}
        pids = np.fromiter((pid for pid, _ in passages), dtype=np.int64, count=len(passages))
        if len(pids) and (pids.min() < 0 or (pid_limit is not None and pids.max() >= pid_limit)):
            wrong = int(pids.min()) if pids.min() < 0 else int(pids.max())
            raise IndexCorruptError(f"passage id {wrong:,} is outside the ids the generation recorded "
                                    f"(0 to {(pid_limit or 0) - 1:,})")
        size = int(pids.max()) + 1 if len(pids) else 0
        passage_article = np.full(size, -1, dtype=np.int32)
        if len(pids):
            passage_article[pids] = [ordinal.get(article_id, -1) for _, article_id in passages]
        return cls(
            article_ids=article_ids,
            dates=np.array([date or "" for _, date, _, _ in rows], dtype="<U10"),
            source_keys=np.array([source_key(source) for _, _, source, _ in rows], dtype=object),
            passage_article=passage_article,
            ordinal=ordinal,
            sources=[source for _, _, source, _ in rows],
            **story_arrays([story or article_id for article_id, _, _, story in rows]),
        )

    # Made on first use (coverage and export), once per generation: a catalog never changes.

    @functools.cached_property
    def day_numbers(self) -> np.ndarray:
        """Article ordinal -> days since 1970-01-01, or ``UNDATED``."""
        days = np.full(self.article_count, UNDATED, dtype=np.int64)
        dated = np.flatnonzero(self.dates != "")
        try:
            days[dated] = self.dates[dated].astype("datetime64[D]").astype(np.int64)
        except ValueError:  # one date numpy cannot read: read them one by one, leaving it undated
            for ordinal in dated:
                try:
                    days[ordinal] = np.datetime64(str(self.dates[ordinal]), "D").astype(np.int64)
                except ValueError:
                    continue
        return days

    @functools.cached_property
    def story_ordinal(self) -> dict[str, int]:
        """Story id -> story ordinal."""
        return {story: ordinal for ordinal, story in enumerate(self.story_ids)}

    @functools.cached_property
    def date_order(self) -> np.ndarray:
        """Article ordinals by date, oldest first, then by id; undated articles last."""
        days = self.day_numbers
        undated = days == UNDATED
        return np.lexsort((np.arange(self.article_count), np.where(undated, np.iinfo(np.int64).max, days)))

    @functools.cached_property
    def source_groups(self) -> tuple[np.ndarray, list[str]]:
        """(article ordinal -> source group, group -> the source as first written); the group
        of articles without a source is named ""."""
        keys, groups = np.unique(np.asarray(self.source_keys, dtype=str), return_inverse=True)
        shown: list[str] = [""] * len(keys)
        for ordinal, group in enumerate(groups.tolist()):
            if not shown[group] and keys[group]:
                shown[group] = " ".join(((self.sources[ordinal] if self.sources else None) or keys[group]).split())
        return np.asarray(groups, dtype=np.int32), shown

    def date_of(self, article_id: str) -> str:
        """The article's date as YYYY-MM-DD, or "" when undated."""
        return str(self.dates[self.ordinal[article_id]])

    def source_of(self, article_id: str) -> str:
        """The article's source as written, or "" when it has none."""
        return (self.sources[self.ordinal[article_id]] or "") if self.sources else ""

    def story_of(self, article_id: str) -> tuple[str, int]:
        """(story id, articles in it) of an article."""
        story = int(self.stories[self.ordinal[article_id]])
        return self.story_ids[story], int(self.story_sizes[story])

    @property
    def article_count(self) -> int:
        return len(self.article_ids)

    def articles_of(self, pids: np.ndarray) -> np.ndarray:
        """Article ordinal of each pid; -1 where the passage is not live."""
        pids = np.asarray(pids, dtype=np.int64)
        inside = (pids >= 0) & (pids < len(self.passage_article))
        found = np.full(len(pids), -1, dtype=np.int32)
        found[inside] = self.passage_article[pids[inside]]
        return found

    def article_id(self, ordinal: int) -> str:
        return self.article_ids[ordinal]

    def owners(self, pids: list[int]) -> dict[int, str]:
        """pid -> article id, for live passages only."""
        ordinals = self.articles_of(np.asarray(pids, dtype=np.int64))
        return {int(pid): self.article_ids[ordinal] for pid, ordinal in zip(pids, ordinals, strict=True) if ordinal >= 0}

    def article_mask(self, filters: Filters) -> np.ndarray:
        """The articles that pass the filters (every one, for no filters)."""
        date_from, date_to, source = filters.date_from, filters.date_to, filters.source
        mask = np.ones(self.article_count, dtype=bool)
        if date_from or date_to:
            mask &= self.dates != ""
            if date_from:
                mask &= self.dates >= date_from
            if date_to:
                mask &= self.dates <= date_to
        if source:
            mask &= self.source_keys == source_key(source)
        return mask

    def passage_mask(self, articles: np.ndarray | None) -> np.ndarray:
        """Live passages (by pid) of the articles in the mask; every live passage for None."""
        live = self.passage_article >= 0
        if articles is None:
            return live
        return live & articles[np.maximum(self.passage_article, 0)]
