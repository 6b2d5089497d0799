"""The catalog: what each live passage belongs to, and each article's date and source, as arrays.

One per generation (a generation never changes), so that filters become array masks that
both search legs share, and grouping passages by article needs no database round trip.

It is made of flat arrays only: ids as one UTF-8 blob with offsets, found through sorted
64-bit hashes; dates as 10-byte strings; sources and stories as small integers. About 100
bytes an article (with the story ids), where Python lists and dicts took about 270 (281 MB
for 1.07M articles, and 4.4 s to make). The embedded backend writes them into the generation at build time
(``to_arrays``) and memory-maps them on open (``from_arrays``), so that opening costs the
same at any size and every worker process of a machine shares one copy in the page cache.

Filters have one rule each, whichever leg asks:

* dates: ``date_from <= date <= date_to`` (ISO dates); an undated article passes no date bound.
* source: equal to the article's source, ignoring case and surrounding spaces.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

import numpy as np

from ..errors import IndexCorruptError
from .budget import UNLIMITED, Budget

UNDATED = np.iinfo(np.int64).min  # the day number of an article without a date
CATALOG_FORMAT = 2  # of the arrays a generation stores


def source_key(source: str | None) -> str:
    return " ".join((source or "").split()).casefold()


def string_hash(value: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little")


class Strings(Sequence[str]):
    """Strings as one UTF-8 blob and offsets, each found by its position (``index_of``) through
    hashes kept sorted: about 20 bytes a string, in memory or memory-mapped."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, hashes: np.ndarray, order: np.ndarray) -> None:
        self.blob, self.offsets, self.hashes, self.order = blob, offsets, hashes, order

    @classmethod
    def of(cls, values: Sequence[str]) -> Strings:
        encoded = [value.encode("utf-8", errors="surrogatepass") for value in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(value) for value in encoded], out=offsets[1:])
        hashes = np.fromiter((string_hash(value) for value in encoded), dtype=np.uint64, count=len(encoded))
        order = np.argsort(hashes, kind="stable").astype(np.int32 if len(encoded) < 2**31 else np.int64)
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets, hashes[order], order)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return bytes(self.blob[int(self.offsets[index]) : int(self.offsets[index + 1])]).decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        for index in range(len(self)):
            yield self[index]

    def index_of(self, value: str) -> int | None:
        """The position of ``value``, or None."""
        wanted = string_hash(value.encode("utf-8", errors="surrogatepass"))
        found = int(np.searchsorted(self.hashes, np.uint64(wanted)))
        while found < len(self.hashes) and int(self.hashes[found]) == wanted:
            position = int(self.order[found])
            if self[position] == value:
                return position
            found += 1
        return None

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        return {f"{name}.blob": self.blob, f"{name}.offsets": self.offsets, f"{name}.hashes": self.hashes,
                f"{name}.order": self.order}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], name: str) -> Strings:
        return cls(arrays[f"{name}.blob"], arrays[f"{name}.offsets"], arrays[f"{name}.hashes"], arrays[f"{name}.order"])


KNOWN_POSITIONS = 32_768  # lookups remembered (a search asks for the same few hundred ids several times)


class Positions(Mapping[str, int]):
    """String -> its position in ``Strings``: a dict's reading interface, without a dict of
    every string; the latest lookups are remembered (a hash lookup costs a few microseconds,
    and a search's facets, collapsing and results ask for each of its articles several times)."""

    def __init__(self, strings: Strings) -> None:
        self.strings = strings
        self._known: dict[str, int] = {}

    def __getitem__(self, key: str) -> int:
        if not isinstance(key, str):
            raise KeyError(key)
        try:
            return self._known[key]
        except KeyError:
            pass
        position = self.strings.index_of(key)
        if position is None:
            raise KeyError(key)
        if len(self._known) >= KNOWN_POSITIONS:
            self._known = {}  # (a new dict, not clear(): another thread may be reading the old one)
        self._known[key] = position
        return position

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.strings)

    def __len__(self) -> int:
        return len(self.strings)


def day_numbers_of(dates: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of ``YYYY-MM-DD`` byte strings, ``UNDATED`` for b"" or a date numpy cannot read."""
    days = np.full(len(dates), UNDATED, dtype=np.int64)
    dated = np.flatnonzero(dates != b"")
    try:
        days[dated] = dates[dated].astype("U10").astype("datetime64[D]").astype(np.int64)
    except ValueError:  # one date numpy cannot read: read them one by one, leaving it undated
        for ordinal in dated:
            try:
                days[ordinal] = np.datetime64(dates[ordinal].decode("ascii", "replace"), "D").astype(np.int64)
            except ValueError:
                continue
    return days


def groups_of(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each value's group (an int32 per value) and the distinct values, sorted."""
    names = sorted(set(values))
    position = {name: index for index, name in enumerate(names)}
    return np.fromiter((position[value] for value in values), dtype=np.int32, count=len(values)), names


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


class ArticleCatalog(Protocol):
    """What a search asks of a generation's catalog, per hit and per match set: the embedded
    backend answers from its arrays (``Catalog``), the Milvus backend from the fields its
    searches return and small queries (backends/milvus/catalog.py). Questions about every
    article (coverage, export, feeds) go to ``whole()``.

    Article ordinals index the masks that AND/OR/NOT, counts and coverage share. Some
    ordinals may name no article (a Milvus archive's numbers that an update left free):
    ``every_article()`` is the mask of those that do."""

    @property
    def article_count(self) -> int:
        """The length of a mask by article ordinal."""
        ...

    def every_article(self) -> np.ndarray:
        """The mask of the ordinals that are articles."""
        ...

    def articles_of(self, pids: np.ndarray) -> np.ndarray:
        """Article ordinal of each pid; -1 where the passage is not live."""
        ...

    def ids_of(self, ordinals: Sequence[int]) -> list[str]:
        """The ids of these article ordinals."""
        ...

    def ordinal_of(self, article_id: str) -> int | None:
        """The article's ordinal, or None when the generation has no such article."""
        ...

    def owners(self, pids: list[int]) -> dict[int, str]:
        """pid -> article id, for live passages only."""
        ...

    def date_of(self, article_id: str) -> str: ...

    def source_of(self, article_id: str) -> str: ...

    def story_of(self, article_id: str) -> tuple[str, int]:
        """(story id, articles in it) of an article."""
        ...

    def story_id(self, article_id: str) -> str:
        """The id of the article's story."""
        ...

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """(story id, articles in it) of each article (a page's, at once)."""
        ...

    def story_size(self, story: str) -> int:
        """Articles in the story; 0 when there is no such story."""
        ...

    def count_stories(self, articles: np.ndarray, budget: Budget = UNLIMITED) -> int:
        """How many stories the articles (a mask) belong to."""
        ...

    def article_mask(self, filters: Filters) -> np.ndarray:
        """The articles that pass the filters (every one, for no filters)."""
        ...

    def whole(self) -> Catalog:
        """Every article's columns, as arrays (coverage, export, feeds)."""
        ...


@dataclass(eq=False)
class Catalog:
    """Per article ordinal (articles in id order): id, date, source, story; per pid: the
    article ordinal of the passage (-1 for no live passage)."""

    article_ids: Strings  # article ordinal -> id
    dates: np.ndarray  # article ordinal -> b"YYYY-MM-DD" or b"" ("S10")
    day_numbers: np.ndarray  # article ordinal -> days since 1970-01-01, or UNDATED
    source_group: np.ndarray  # article ordinal -> index into source_names (its key)
    source_names: list[str]  # source_key(...) of every source, sorted ("" for none)
    source_shown: list[str]  # each source key's source as first written
    written: np.ndarray  # article ordinal -> index into written_names
    written_names: list[str]  # every source as written ("" for none)
    passage_article: np.ndarray  # pid -> article ordinal, -1 for no live passage
    stories: np.ndarray  # article ordinal -> story ordinal
    story_ids: Strings  # story ordinal -> story id
    story_sizes: np.ndarray  # story ordinal -> articles in it

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str | None, str | None, str | None]],
                  passages: list[tuple[int, str]], pid_limit: int | None = None) -> Catalog:
        """``rows``: (id, date, source, story id) of every article, by id; ``passages``: (pid,
        article id). ``pid_limit``: passage ids read back from elsewhere (Milvus) must be below
        it, as the generation recorded, or they are refused (one pid of 2**34 would make every
        process allocate 64 GiB). A story id of None makes the article a story of its own."""
        ordinal = {article_id: index for index, (article_id, *_) in enumerate(rows)}  # (only while it is made)
        pids = np.fromiter((pid for pid, _ in passages), dtype=np.int64, count=len(passages))
        owners = np.fromiter((ordinal.get(article_id, -1) for _, article_id in passages), dtype=np.int64,
                             count=len(passages))
        return cls.assembled(rows, pids, owners, pid_limit)

    @classmethod
    def from_numbered_rows(cls, rows: list[tuple[int, str, str | None, str | None, str | None]],
                           passages: list[tuple[int, int]], size: int, pid_limit: int | None = None) -> Catalog:
        """A catalog whose ordinals are numbers the rows carry (a Milvus archive's article
        numbers): ``rows`` are (number, id, date, source, story id), ``passages`` (pid, number);
        ``size`` numbers in all. A number no row has is no article (id "", no story of its
        own); a number past ``size`` (an update writing) is left out."""
        placed: list[tuple[str, str | None, str | None, str | None]] = [("", None, None, "")] * size
        for number, article_id, date, source, story in rows:
            if 0 <= number < size:
                placed[number] = (article_id, date, source, story)
        pids = np.fromiter((pid for pid, _ in passages), dtype=np.int64, count=len(passages))
        owners = np.fromiter((number for _, number in passages), dtype=np.int64, count=len(passages))
        owners[(owners < 0) | (owners >= size)] = -1
        return cls.assembled(placed, pids, owners, pid_limit)

    @classmethod
    def assembled(cls, rows: list[tuple[str, str | None, str | None, str | None]], pids: np.ndarray,
                  owners: np.ndarray, pid_limit: int | None) -> Catalog:
        """The catalog of ``rows`` (id, date, source, story id), by ordinal, whose passages
        ``pids`` belong to the ordinals ``owners`` (-1: none)."""
        article_ids = Strings.of([article_id for article_id, *_ in rows])
        if len(pids) and (pids.min() < 0 or (pid_limit is not None and pids.max() >= pid_limit)):
            wrong = int(pids.min()) if pids.min() < 0 else int(pids.max())
            raise IndexCorruptError(f"passage id {wrong:,} is outside the ids the generation recorded "
                                    f"(0 to {(pid_limit or 0) - 1:,})")
        size = int(pids.max()) + 1 if len(pids) else 0
        passage_article = np.full(size, -1, dtype=np.int32)
        if len(pids):
            passage_article[pids] = owners
        dates = np.array([(date or "").encode("ascii", "replace")[:10] for _, date, _, _ in rows], dtype="S10")
        source_group, source_names = groups_of([source_key(source) for _, _, source, _ in rows])
        written, written_names = groups_of([source or "" for _, _, source, _ in rows])
        source_shown = [""] * len(source_names)
        for group, form in zip(source_group.tolist(), written.tolist(), strict=True):
            if not source_shown[group] and source_names[group]:
                source_shown[group] = " ".join((written_names[form] or source_names[group]).split())
        stories, story_names = groups_of([story or article_id for article_id, _, _, story in rows])
        return cls(article_ids=article_ids, dates=dates, day_numbers=day_numbers_of(dates), source_group=source_group,
                   source_names=source_names, source_shown=source_shown, written=written, written_names=written_names,
                   passage_article=passage_article, stories=stories, story_ids=Strings.of(story_names),
                   story_sizes=np.bincount(stories, minlength=len(story_names)).astype(np.int32))

    # Stored in a generation (the embedded backend): flat arrays, memory-mapped on open.

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"format": np.array([CATALOG_FORMAT], dtype=np.int64),
                **self.article_ids.arrays("article_ids"), **self.story_ids.arrays("story_ids"),
                **Strings.of(self.source_names).arrays("source_names"),
                **Strings.of(self.source_shown).arrays("source_shown"),
                **Strings.of(self.written_names).arrays("written_names"),
                "dates": self.dates, "day_numbers": self.day_numbers, "source_group": self.source_group,
                "written": self.written, "passage_article": self.passage_article, "stories": self.stories,
                "story_sizes": self.story_sizes}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Catalog:
        """A catalog of the arrays ``to_arrays`` gave (memory-mapped, say). A wrong format, or
        arrays that disagree (in length, or an index past what it indexes), raise
        ``IndexCorruptError``: a generation too large to checksum on open is checked this much."""
        try:
            catalog_format = int(arrays["format"][0])
            if catalog_format != CATALOG_FORMAT:
                raise IndexCorruptError(f"the catalog is in format {catalog_format}, not {CATALOG_FORMAT}")
            strings = {name: Strings.from_arrays(arrays, name)
                       for name in ("article_ids", "story_ids", "source_names", "source_shown", "written_names")}
            for name, column in strings.items():
                if not (len(column.hashes) == len(column.order) == len(column) and len(column.offsets)
                        and int(column.offsets[-1]) == len(column.blob)):
                    raise IndexCorruptError(f"the catalog's {name} disagree with their offsets")
            catalog = cls(article_ids=strings["article_ids"], dates=arrays["dates"], day_numbers=arrays["day_numbers"],
                          source_group=arrays["source_group"], source_names=list(strings["source_names"]),
                          source_shown=list(strings["source_shown"]), written=arrays["written"],
                          written_names=list(strings["written_names"]), passage_article=arrays["passage_article"],
                          stories=arrays["stories"], story_ids=strings["story_ids"], story_sizes=arrays["story_sizes"])
        except KeyError as problem:
            raise IndexCorruptError(f"the catalog lacks {problem}") from None
        count = catalog.article_count
        lengths = {"dates": len(catalog.dates), "day_numbers": len(catalog.day_numbers),
                   "source_group": len(catalog.source_group), "written": len(catalog.written),
                   "stories": len(catalog.stories)}
        wrong = {name: length for name, length in lengths.items() if length != count}
        if wrong or len(catalog.story_sizes) != len(catalog.story_ids) or len(catalog.source_shown) != len(catalog.source_names):
            raise IndexCorruptError(f"the catalog's arrays disagree: {count} articles, but {wrong or 'stories or sources'}")
        bounds = {"passage_article": (catalog.passage_article, count), "stories": (catalog.stories, len(catalog.story_ids)),
                  "source_group": (catalog.source_group, len(catalog.source_names)),
                  "written": (catalog.written, len(catalog.written_names))}
        for name, (values, limit) in bounds.items():
            if len(values) and (int(values.max()) >= limit or int(values.min()) < (-1 if name == "passage_article" else 0)):
                raise IndexCorruptError(f"the catalog's {name} points past the {limit:,} it indexes")
        return catalog

    # Made on first use (coverage and export), once per generation: a catalog never changes.

    @functools.cached_property
    def ordinal(self) -> Positions:
        """Article id -> ordinal."""
        return Positions(self.article_ids)

    @functools.cached_property
    def story_ordinal(self) -> Positions:
        """Story id -> story ordinal."""
        return Positions(self.story_ids)

    @functools.cached_property
    def date_order(self) -> np.ndarray:
        """Article ordinals by date, oldest first, then by id; undated articles last."""
        days = self.day_numbers
        undated = days == UNDATED
        return np.lexsort((np.arange(self.article_count), np.where(undated, np.iinfo(np.int64).max, days)))

    @property
    def source_groups(self) -> tuple[np.ndarray, list[str]]:
        """(article ordinal -> source group, group -> the source as first written); the group
        of articles without a source is named ""."""
        return self.source_group, self.source_shown

    def date_at(self, ordinal: int) -> str:
        """The article's date as YYYY-MM-DD, or "" when undated."""
        return self.dates[ordinal].decode("ascii", "replace")

    def date_of(self, article_id: str) -> str:
        """The article's date as YYYY-MM-DD, or "" when undated."""
        return self.date_at(self.ordinal[article_id])

    def source_of(self, article_id: str) -> str:
        """The article's source as written, or "" when it has none."""
        return self.written_names[int(self.written[self.ordinal[article_id]])]

    def story_of(self, article_id: str) -> tuple[str, int]:
        """(story id, articles in it) of an article."""
        story = int(self.stories[self.ordinal[article_id]])
        return self.story_ids[story], int(self.story_sizes[story])

    def story_id(self, article_id: str) -> str:
        return self.story_ids[int(self.stories[self.ordinal[article_id]])]

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        return {article_id: self.story_of(article_id) for article_id in article_ids}

    def story_size(self, story: str) -> int:
        """Articles in the story; 0 when there is no such story."""
        ordinal = self.story_ordinal.get(story)
        return 0 if ordinal is None else int(self.story_sizes[ordinal])

    def count_stories(self, articles: np.ndarray, budget: Budget = UNLIMITED) -> int:
        """How many stories the articles (a mask) belong to."""
        present = np.zeros(len(self.story_ids), dtype=bool)
        present[self.stories[articles]] = True
        return int(np.count_nonzero(present))

    def ids_of(self, ordinals: Sequence[int]) -> list[str]:
        return [self.article_ids[int(ordinal)] for ordinal in ordinals]

    def ordinal_of(self, article_id: str) -> int | None:
        return self.ordinal.get(article_id)

    def every_article(self) -> np.ndarray:
        """Every ordinal is an article here."""
        return np.ones(self.article_count, dtype=bool)

    def whole(self) -> Catalog:
        return self

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
            mask &= self.dates != b""
            if date_from:
                mask &= self.dates >= date_from.encode("ascii", "replace")
            if date_to:
                mask &= self.dates <= date_to.encode("ascii", "replace")
        if source:
            wanted = source_key(source)
            group = bisect.bisect_left(self.source_names, wanted)
            if group == len(self.source_names) or self.source_names[group] != wanted:
                return np.zeros(self.article_count, dtype=bool)
            mask &= self.source_group == group
        return mask

    def passage_mask(self, articles: np.ndarray | None) -> np.ndarray:
        """Live passages (by pid) of the articles in the mask; every live passage for None."""
        live = self.passage_article >= 0
        if articles is None:
            return live
        return live & articles[np.maximum(self.passage_article, 0)]
