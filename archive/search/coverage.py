"""Coverage: how much, when, where and about whom, over every article a query's words match.

A search answers "which articles?" with a ranked pool. Coverage answers "how much?" over the
matching set: every article of the archive, within the filters, that the query's words match
as the keyword leg decides it (``KeywordIndex.matching_articles``: stemmed words, name
variants, phrases, AND/OR/NOT, ``title:``, patterns within their caps). It is exact, never
sampled and never a ranked pool. Counted from it, with the catalog's arrays:

* ``articles`` and ``stories``: how many articles match, and how many distinct stories
  (archive/index/stories.py) they belong to: syndicated copies and versions count once.
* ``over_time``: per bucket (day, week from Monday, month or year), the matching articles
  and stories, every article of the archive in that bucket under the same filters (the
  denominator), and the share. Every bucket from the first dated article the filters let
  through to the last is listed, empty ones too. Undated articles are counted apart.
* ``sources``: per source, its matching articles, all its articles, and the share.
* ``names`` and ``terms``: what sets the matches apart (archive/search/distinctive.py), read
  from a stated sample of them.
* ``sample``: the best-ranked stories of the search, among the matches.

A count the time budget cut short is never a number: the query says ``timed_out``.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import threading
import weakref
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError
from ..index.catalog import UNDATED, Catalog

DAYS_AT_MOST = 62  # auto: a span up to this many days is counted by day
WEEKS_UP_TO_DAYS = 366  # by week up to a year
MONTHS_UP_TO_YEARS = 10  # by month up to ten years; longer, by year
MAX_BUCKETS = 2000  # an interval that would give more is refused (a day bucket over 30 years is 11,000)
MAX_SOURCES = 20
SAMPLE_STORIES = 10
EXPORT_BATCH = 500  # articles read from the store at a time, when exporting
EXPORT_FIELDS = ("id", "date", "source", "title", "url", "story_id")
EXPORT_FORMATS = ("csv", "jsonl")
EPOCH = datetime.date(1970, 1, 1)


def choose_interval(first: int, last: int) -> str:
    """The interval for a span of day numbers (days since 1970-01-01)."""
    days = last - first
    if days <= DAYS_AT_MOST:
        return "day"
    if days <= WEEKS_UP_TO_DAYS:
        return "week"
    years = day_date(last).year - day_date(first).year
    return "month" if years <= MONTHS_UP_TO_YEARS else "year"


def day_date(day: int) -> datetime.date:
    return EPOCH + datetime.timedelta(days=int(day))


def bucket_numbers(days: np.ndarray, interval: str) -> np.ndarray:
    """Each day number's bucket: a day, the Monday of its week (1970-01-01 was a Thursday),
    or months or years since 1970."""
    if interval == "day":
        return days
    if interval == "week":
        return days - (days + 3) % 7
    unit = "M" if interval == "month" else "Y"
    return days.astype("datetime64[D]").astype(f"datetime64[{unit}]").astype(np.int64)


def bucket_bounds(number: int, interval: str) -> tuple[str, str, str]:
    """(key, first day, last day) of a bucket: 1987-03-02 (a day, or a week's Monday), 1987-03, 1987."""
    if interval in ("day", "week"):
        start = day_date(number)
        end = start + datetime.timedelta(days=0 if interval == "day" else 6)
        return start.isoformat(), start.isoformat(), end.isoformat()
    if interval == "month":
        year, month = 1970 + number // 12, number % 12 + 1
        following = datetime.date(year + month // 12, month % 12 + 1, 1)
        return f"{year:04d}-{month:02d}", f"{year:04d}-{month:02d}-01", (following - datetime.timedelta(days=1)).isoformat()
    year = 1970 + number
    return f"{year:04d}", f"{year:04d}-01-01", f"{year:04d}-12-31"


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@dataclass(frozen=True)
class Timeline:
    """The buckets of one coverage request, shared by its queries: which bucket each dated
    article falls in, and every article the filters let through in each (the denominators)."""

    interval: str
    keys: list[tuple[str, str, str]]  # (key, first day, last day) per bucket, oldest first
    bucket_of: np.ndarray  # article ordinal -> bucket index; -1 for undated or outside
    totals: np.ndarray  # bucket -> articles the filters let through
    undated_total: int

    @classmethod
    def of(cls, catalog: Catalog, allowed: np.ndarray, interval: str) -> Timeline:
        days = catalog.day_numbers
        dated = days != UNDATED
        inside = dated & allowed
        if not inside.any():
            return cls(interval if interval != "auto" else "month", [], np.full(len(days), -1, dtype=np.int64),
                       np.zeros(0, dtype=np.int64), int(np.count_nonzero(allowed & ~dated)))
        first, last = int(days[inside].min()), int(days[inside].max())
        if interval == "auto":
            interval = choose_interval(first, last)
        numbers = np.full(len(days), -1, dtype=np.int64)
        numbers[dated] = bucket_numbers(days[dated], interval)
        low, high = int(numbers[inside].min()), int(numbers[inside].max())
        if interval == "week":
            count = (high - low) // 7 + 1
            bucket_of = np.where(dated, (numbers - low) // 7, -1)
        else:
            count = high - low + 1
            bucket_of = np.where(dated, numbers - low, -1)
        if count > MAX_BUCKETS:
            raise InvalidParameterError(
                f"counting by {interval} would make {count:,} buckets; at most {MAX_BUCKETS:,}",
                hint="choose a longer interval, or narrow the dates")
        bucket_of = np.where(inside, bucket_of, -1)
        step = 7 if interval == "week" else 1
        keys = [bucket_bounds(low + index * step, interval) for index in range(count)]
        totals = np.bincount(bucket_of[inside], minlength=count)
        return cls(interval, keys, bucket_of, totals, int(np.count_nonzero(allowed & ~dated)))

    def buckets(self) -> list[dict]:
        return [{"key": key, "start": start, "end": end, "all": int(total)}
                for (key, start, end), total in zip(self.keys, self.totals.tolist(), strict=True)]


def count_over_time(catalog: Catalog, timeline: Timeline, matching: np.ndarray) -> tuple[list[dict], dict]:
    """Per bucket: matching articles, matching stories, every article, share; and the undated."""
    count = len(timeline.keys)
    placed = matching & (timeline.bucket_of >= 0)
    buckets = timeline.bucket_of[placed]
    articles = np.bincount(buckets, minlength=count)
    story_count = max(len(catalog.story_ids), 1)
    pairs = np.unique(buckets * story_count + catalog.stories[placed])  # a story once per bucket it is in
    stories = np.bincount(pairs // story_count, minlength=count)
    over_time = [{"key": key, "start": start, "end": end, "articles": int(articles[index]),
                  "stories": int(stories[index]), "all": int(timeline.totals[index]),
                  "share": share(int(articles[index]), int(timeline.totals[index]))}
                 for index, (key, start, end) in enumerate(timeline.keys)]
    undated = matching & (catalog.day_numbers == UNDATED)
    return over_time, {"articles": int(np.count_nonzero(undated)), "stories": catalog.count_stories(undated),
                       "all": timeline.undated_total}


def count_sources(catalog: Catalog, allowed: np.ndarray, matching: np.ndarray) -> dict:
    """Per source, most matches first: its matching articles, all its articles (within the
    filters) and the share; the sources past ``MAX_SOURCES``, and articles without a source,
    summed apart."""
    groups, shown = catalog.source_groups
    matches = np.bincount(groups[matching], minlength=len(shown))
    totals = np.bincount(groups[allowed], minlength=len(shown))
    order = sorted((group for group in range(len(shown)) if matches[group] and shown[group]),
                   key=lambda group: (-matches[group], shown[group].casefold()))
    listed = [{"source": shown[group], "articles": int(matches[group]), "all": int(totals[group]),
               "share": share(int(matches[group]), int(totals[group]))} for group in order[:MAX_SOURCES]]
    rest = order[MAX_SOURCES:]
    other = {"sources": len(rest), "articles": int(sum(matches[group] for group in rest)),
             "all": int(sum(totals[group] for group in rest))}
    unsourced = [group for group in range(len(shown)) if not shown[group]]
    return {"buckets": listed, "other": other,
            "unsourced": {"articles": int(sum(matches[group] for group in unsourced)),
                          "all": int(sum(totals[group] for group in unsourced))}}


@dataclass
class QueryCoverage:
    """One query's coverage. The counts are None when the query has no words to match, or
    when the time budget ran out before they were made (``timed_out``)."""

    query: str
    understood: str  # the query as searched: its words, variants and operators
    note: str | None = None
    timed_out: bool = False  # the counts ran out of time: they are None, never a partial number
    details_timed_out: bool = False  # names, terms or the sample ran out of time (the counts are whole)
    articles: int | None = None
    stories: int | None = None
    share: float | None = None  # of every article the filters let through
    over_time: list[dict] | None = None
    undated: dict | None = None
    sources: dict | None = None
    names: list | None = None  # of Distinctive
    terms: list | None = None
    read: int = 0  # matching articles read for names and terms
    sample: list[dict] = field(default_factory=list)

    def to_dict(self, background: int) -> dict:
        distinctive = None
        if self.names is not None and self.terms is not None:
            distinctive = {"read": self.read, "archive_read": background}
        return {
            "query": self.query, "understood": self.understood, "note": self.note, "timed_out": self.timed_out,
            "details_timed_out": self.details_timed_out,
            "articles": self.articles, "stories": self.stories, "share": self.share,
            "over_time": self.over_time, "undated": self.undated, "sources": self.sources,
            "names": None if self.names is None else [name.to_dict("name") for name in self.names],
            "terms": None if self.terms is None else [term.to_dict("word") for term in self.terms],
            "distinctive": distinctive, "sample": self.sample,
        }


@dataclass
class CoverageResponse:
    interval: str  # the buckets' interval (chosen, when asked for auto)
    words: str  # "any" or "all"
    filters: dict
    archive: dict  # every article the filters let through: {"articles", "dated", "undated"}
    queries: list[QueryCoverage]
    buckets: list[dict] = field(default_factory=list)  # every query's buckets: key, start, end, all
    background: int = 0  # archive articles read for names and terms
    statistic: str = ""
    took_ms: float = 0.0

    def to_dict(self) -> dict:
        return {"interval": self.interval, "words": self.words, "filters": self.filters, "archive": self.archive,
                "buckets": self.buckets, "statistic": self.statistic, "took_ms": self.took_ms,
                "queries": [query.to_dict(self.background) for query in self.queries]}

    def timed_out(self) -> bool:
        return any(query.timed_out for query in self.queries)


def coverage_csv(response: CoverageResponse) -> str:
    """One row per bucket (then one for undated articles) and, per query, its matching
    articles, matching stories, all articles and share. A count that timed out reads
    ``timed_out``; a query with no words to match, ``no_words``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header: list[object] = ["bucket", "start", "end"]
    for query in response.queries:
        header += [spreadsheet_safe(f"{query.query}: {column}")
                   for column in ("articles", "stories", "all articles", "share")]
    writer.writerow(header)
    rows = [(bucket["key"], bucket["start"], bucket["end"]) for bucket in response.buckets]
    for index, (key, start, end) in enumerate(rows):
        line = [key, start, end]
        for query in response.queries:
            line += cells(query, query.over_time[index] if query.over_time is not None else None)
        writer.writerow(line)
    if response.archive.get("undated"):
        line = ["undated", "", ""]
        for query in response.queries:
            undated = None if query.undated is None else {**query.undated,
                                                          "share": share(query.undated["articles"],
                                                                         query.undated["all"])}
            line += cells(query, undated)
        writer.writerow(line)
    return buffer.getvalue()


def cells(query: QueryCoverage, bucket: dict | None) -> list:
    if bucket is None:
        reason = "timed_out" if query.timed_out else "no_words"
        return [reason] * 4
    return [bucket["articles"], bucket["stories"], bucket["all"], "" if bucket["share"] is None else bucket["share"]]


def export_rows(catalog: Catalog, load_articles, matching: np.ndarray) -> Iterator[dict]:
    """Every matching article, oldest first (undated last, then by id), a batch of
    ``EXPORT_BATCH`` at a time: what is held does not grow with the number of matches."""
    order = catalog.date_order
    for start in range(0, len(order), EXPORT_BATCH * 8):
        chunk = order[start : start + EXPORT_BATCH * 8]
        chosen = chunk[matching[chunk]]
        for batch_start in range(0, len(chosen), EXPORT_BATCH):
            ids = [catalog.article_ids[ordinal] for ordinal in chosen[batch_start : batch_start + EXPORT_BATCH]]
            articles = load_articles(ids)
            for ordinal, article_id in zip(chosen[batch_start : batch_start + EXPORT_BATCH].tolist(), ids, strict=True):
                article = articles.get(article_id)
                if article is None:  # (removed by an update since the catalog was read: not in this generation)
                    continue
                yield {"id": article_id, "date": catalog.date_at(ordinal) or None,
                       "source": article.source, "title": article.title, "url": article.url,
                       "story_id": catalog.story_ids[int(catalog.stories[ordinal])]}


def once(function: Callable[[], None]) -> Callable[[], None]:
    """``function``, run at most once however often it is called, from any thread."""
    lock = threading.Lock()
    done = False

    def run_once() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        function()

    return run_once


class Export:
    """Every article one query's words match, as rows read while they are taken. It holds its
    generation open until the rows are read to the end, ``close()`` is called (a ``with``
    block does), or it is garbage-collected: whichever comes first lets the generation go."""

    def __init__(self, query: str, understood: str, articles: int, rows: Iterator[dict],
                 release: Callable[[], None]) -> None:
        self.query, self.understood = query, understood
        self.articles = articles  # how many rows there will be
        self._release = release  # (idempotent: see ``once``)
        self.rows = self._rows(rows)
        self._finalizer = weakref.finalize(self, release)

    def _rows(self, rows: Iterator[dict]) -> Generator[dict, None, None]:
        try:
            yield from rows
        finally:
            self._release()

    def close(self) -> None:
        self.rows.close()  # (a generator never started runs no finally: hence the release below)
        self._release()

    def __iter__(self) -> Iterator[dict]:
        return self.rows

    def __enter__(self) -> Export:
        return self

    def __exit__(self, *problem) -> None:
        self.close()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (=, +, -, @ first), behind an
    apostrophe, as OWASP advises for CSV; JSON Lines carries every value as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_lines(rows: Iterator[dict], format: str) -> Iterator[str]:
    """The rows as CSV (a header, then a line per article) or JSON Lines, a line at a time."""
    if format not in EXPORT_FORMATS:
        raise InvalidParameterError(f"unknown format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    if format == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(["" if row[name] is None else spreadsheet_safe(row[name]) for name in EXPORT_FIELDS])
        yield buffer.getvalue()
