"""Stories: the articles that report one event, grouped at build time.

Two signals join an article to a story (thresholds chosen on Reuters-21578, docs/stories.md):

* **near-duplicates**: syndicated or lightly edited copies. MinHash signatures of the text's
  word 3-grams (``datasketch``) agree on at least ``NEAR_DUPLICATE_JACCARD``. A near-duplicate
  always joins, whatever the dates, and one that matches two stories merges them.
* **same event**: the article vectors (the mean of the passage vectors the index already has)
  have a cosine of at least ``SAME_EVENT_SIMILARITY``, the two dates (when both are known) are
  at most ``DATE_WINDOW_DAYS`` apart, and the story would span at most ``STORY_SPAN_DAYS``. The
  article joins the story of its closest such neighbour; this never merges stories, so that
  daily reports of one kind do not chain into one story for the whole year.

Articles are placed one at a time, oldest first (undated last). A rebuild places them all; an
update places only the new and changed ones among those already placed, so story ids survive
updates: a new version of a story joins it. A story's id comes from the article that founded
it, and stays when that article leaves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import faiss
import numpy as np
from datasketch import MinHash, MinHashLSH

SIGNATURE_PERMUTATIONS = 64
SHINGLE_WORDS = 3
NEAR_DUPLICATE_JACCARD = 0.7
SAME_EVENT_SIMILARITY = 0.85
DATE_WINDOW_DAYS = 2
STORY_SPAN_DAYS = 7
EXACT_COPY_CHARACTERS = 200  # a copy of a text this long joins whatever the dates; shorter ones are templates
NEIGHBOURS = 16  # vector neighbours considered per article
# Past this many article pairs to compare (new articles × all), neighbours are found with an IVF
# index instead of exactly: exact search is quadratic, minutes at 200k articles and hours at a
# million (docs/benchmarks.md, "The embedded backend's ceiling"). Updates stay exact.
EXACT_NEIGHBOUR_PAIRS = 20_000_000_000
NEIGHBOUR_PROBES = 32  # IVF lists searched per article, of 4·√N
LSH_BANDS = (16, 4)
LSH_FROM = 200  # placing this many articles at once finds near-duplicates with LSH; fewer, by direct comparison
SIGNATURE_SEED = 1
SIGNATURE_SCHEME = "affine32"  # datasketch 2's default, named because stored signatures must keep it

_WORD = re.compile(r"\w+")
_PERMUTATIONS = MinHash(num_perm=SIGNATURE_PERMUTATIONS, seed=SIGNATURE_SEED, scheme=SIGNATURE_SCHEME).permutations


def shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text.casefold())
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()}
    return {" ".join(words[start : start + SHINGLE_WORDS]).encode() for start in range(len(words) - SHINGLE_WORDS + 1)}


SIGNATURE_BATCH = 1000  # texts shingled at a time: every text's shingles at once took GBs at 200k articles


def text_signatures(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures, one row per text (uint64)."""
    signatures = np.zeros((len(texts), SIGNATURE_PERMUTATIONS), dtype=np.uint64)
    for start in range(0, len(texts), SIGNATURE_BATCH):
        hashes = MinHash.bulk([shingles(text) for text in texts[start : start + SIGNATURE_BATCH]],
                              num_perm=SIGNATURE_PERMUTATIONS, seed=SIGNATURE_SEED, permutations=_PERMUTATIONS,
                              scheme=SIGNATURE_SCHEME)
        signatures[start : start + len(hashes)] = np.stack([minhash.hashvalues for minhash in hashes])
    return signatures


def signature_sketch(signature: np.ndarray) -> MinHash:
    return MinHash(hashvalues=signature, seed=SIGNATURE_SEED, permutations=_PERMUTATIONS, scheme=SIGNATURE_SCHEME)


def article_vector(passage_vectors: Iterable[np.ndarray]) -> np.ndarray:
    """The unit-length mean of an article's passage vectors."""
    mean = np.mean(np.stack(list(passage_vectors)).astype(np.float32), axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def story_id(founder: str, taken: Container[str]) -> str:
    base = hashlib.blake2b(founder.encode(), digest_size=6).hexdigest()
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base}-{suffix}", suffix + 1
    return name


def day_number(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).toordinal()
    except ValueError:
        return None


def neighbour_index(vectors: np.ndarray, queries: int) -> faiss.Index:
    """Exact inner product over ``vectors``, or IVF (4·√N lists, ``NEIGHBOUR_PROBES`` searched,
    trained on a fixed sample) when ``queries`` × N passes ``EXACT_NEIGHBOUR_PAIRS``."""
    dimension = vectors.shape[1]
    if queries * len(vectors) <= EXACT_NEIGHBOUR_PAIRS:
        exact = faiss.IndexFlatIP(dimension)
        exact.add(vectors)
        return exact
    lists = int(4 * np.sqrt(len(vectors)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 40 * lists), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = NEIGHBOUR_PROBES
    return index


@dataclass
class StoryArticle:
    """What grouping needs of one article."""

    id: str
    date: str | None
    vector: np.ndarray  # unit length, float32
    signature: np.ndarray  # MinHash, uint64
    length: int = 0  # characters of the article's text


@dataclass
class Stories:
    """Every article's story, with the vectors and signatures that placed it."""

    dimension: int
    ids: list[str] = field(default_factory=list)
    story_of: dict[str, str] = field(default_factory=dict)
    days: list[int | None] = field(default_factory=list)
    long_text: list[bool] = field(default_factory=list)  # text of at least EXACT_COPY_CHARACTERS
    vectors: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # (articles, dimension)
    signatures: np.ndarray = field(default_factory=lambda: np.zeros((0, SIGNATURE_PERMUTATIONS), dtype=np.uint64))
    changed: set[str] = field(default_factory=set)  # articles whose story was set since loading
    removed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not len(self.vectors):
            self.vectors = np.zeros((0, self.dimension), dtype=np.float32)
        self.position = {article_id: index for index, article_id in enumerate(self.ids)}
        self.members: dict[str, list[str]] = {}
        for article_id in self.ids:
            self.members.setdefault(self.story_of[article_id], []).append(article_id)

    @classmethod
    def loaded(cls, dimension: int, rows: Iterable[tuple[str, str, str | None, bytes, bytes, int]]) -> Stories:
        """From stored rows: (article id, story id, date, vector float16, signature uint32, text length)."""
        rows = list(rows)
        if not rows:
            return cls(dimension)
        # One buffer per column: converting 21,000 small blobs one by one took most of an update's second.
        vectors = np.frombuffer(b"".join(row[3] for row in rows), dtype=np.float16).reshape(len(rows), dimension)
        signatures = np.frombuffer(b"".join(row[4] for row in rows), dtype=np.uint32).reshape(len(rows), -1)
        return cls(dimension, [row[0] for row in rows], {row[0]: row[1] for row in rows},
                   [day_number(row[2]) for row in rows], [(row[5] or 0) >= EXACT_COPY_CHARACTERS for row in rows],
                   vectors.astype(np.float32), signatures.astype(np.uint64))

    def story_count(self) -> int:
        return len(self.members)

    def placed(self) -> dict[str, tuple[str, int]]:
        """Each article's story and the number of articles in it."""
        return {article_id: (story, len(self.members[story])) for article_id, story in self.story_of.items()}

    def remove(self, article_ids: Iterable[str]) -> None:
        leaving = {article_id for article_id in article_ids if article_id in self.position}
        if not leaving:
            return
        keep = np.ones(len(self.ids), dtype=bool)
        keep[[self.position[article_id] for article_id in leaving]] = False
        for article_id in leaving:
            story = self.story_of.pop(article_id)
            self.members[story].remove(article_id)
            if not self.members[story]:
                del self.members[story]
        self.ids = [article_id for article_id, kept in zip(self.ids, keep.tolist(), strict=True) if kept]
        self.days = [day for day, kept in zip(self.days, keep.tolist(), strict=True) if kept]
        self.long_text = [long for long, kept in zip(self.long_text, keep.tolist(), strict=True) if kept]
        self.vectors = self.vectors[keep]
        self.signatures = self.signatures[keep]
        self.position = {article_id: index for index, article_id in enumerate(self.ids)}
        self.removed |= leaving
        self.changed -= leaving

    def place(self, articles: Sequence[StoryArticle]) -> None:
        """Add articles, each joining a story or founding one, oldest first."""
        if not articles:
            return
        first_new = len(self.ids)
        for article in articles:
            self.position[article.id] = len(self.ids)
            self.ids.append(article.id)
            self.days.append(day_number(article.date))
            self.long_text.append(article.length >= EXACT_COPY_CHARACTERS)
        self.vectors = np.concatenate([self.vectors, np.stack([a.vector for a in articles]).astype(np.float32)])
        self.signatures = np.concatenate([self.signatures, np.stack([a.signature for a in articles])])
        self.removed -= {article.id for article in articles}
        duplicates = self.near_duplicates(first_new)
        similarities, positions = self.neighbour_arrays(first_new)
        order = sorted(range(first_new, len(self.ids)),
                       key=lambda index: (self.days[index] is None, self.days[index] or 0, self.ids[index]))
        for index in order:
            row = index - first_new
            found = [(int(position), float(similarity))
                     for position, similarity in zip(positions[row].tolist(), similarities[row].tolist(), strict=True)
                     if position >= 0 and position != index]
            self.place_one(index, duplicates.get(index, ()), found)

    def place_one(self, index: int, duplicates: Iterable[int], neighbours: Iterable[tuple[int, float]]) -> None:
        article_id = self.ids[index]
        placed = [other for other in duplicates if self.ids[other] in self.story_of]
        exact = {self.story_of[self.ids[other]] for other in placed
                 if self.long_text[index] and np.array_equal(self.signatures[other], self.signatures[index])}
        if exact:  # a copy of the same text joins whatever the dates
            story = self.merge(exact)
        else:
            story = self.copied_story(index, placed) or self.closest_story(index, neighbours)  # type: ignore[assignment]
        if story is None:
            story = story_id(article_id, self.members)  # (a set of every story per new one made a rebuild quadratic)
            self.members[story] = []
        self.story_of[article_id] = story
        self.members[story].append(article_id)
        self.changed.add(article_id)

    def story_days(self, story: str) -> list[int]:
        """The dates a story spans: each text's earliest (a re-run of one text widens nothing)."""
        earliest: dict[bytes, int] = {}
        for member in self.members[story]:
            position = self.position[member]
            day = self.days[position]
            if day is not None:
                key = self.signatures[position].tobytes()
                earliest[key] = min(day, earliest.get(key, day))
        return list(earliest.values())

    def fits(self, stories: Iterable[str], day: int | None) -> bool:
        """Whether these stories and an article of this date together span at most STORY_SPAN_DAYS."""
        days = [value for story in stories for value in self.story_days(story)] + ([day] if day is not None else [])
        return not days or max(days) - min(days) <= STORY_SPAN_DAYS

    def copied_story(self, index: int, placed: list[int]) -> str | None:
        """A near-duplicate joins its closest copy's story, and merges the others', as far as the
        dates allow: edited daily reports of one kind ("Fed adds reserves ...") must not chain."""
        agreement = {other: float((self.signatures[other] == self.signatures[index]).mean()) for other in placed}
        day = self.days[index]
        chosen: list[str] = []
        for other in sorted(placed, key=lambda other: (-agreement[other], self.ids[other])):
            story = self.story_of[self.ids[other]]
            if story not in chosen and self.fits([*chosen, story], day):
                chosen.append(story)
        return self.merge(set(chosen)) if chosen else None

    def closest_story(self, index: int, neighbours: Iterable[tuple[int, float]]) -> str | None:
        day = self.days[index]
        for other, similarity in sorted(neighbours, key=lambda pair: -pair[1]):
            if similarity < SAME_EVENT_SIMILARITY:
                break
            story = self.story_of.get(self.ids[other])
            if story is None:  # not placed yet: it will consider this one when it is
                continue
            other_day = self.days[other]
            if day is not None and other_day is not None and abs(day - other_day) > DATE_WINDOW_DAYS:
                continue
            if self.fits([story], day):
                return story
        return None

    def merge(self, stories: set[str]) -> str:
        """One story of several: the largest keeps its id (ties: the smallest id)."""
        keep = min(stories, key=lambda story: (-len(self.members[story]), story))
        for story in stories - {keep}:
            for member in self.members.pop(story):
                self.story_of[member] = keep
                self.members[keep].append(member)
                self.changed.add(member)
        return keep

    def near_duplicates(self, first_new: int) -> dict[int, list[int]]:
        """For each new article: the articles (placed or new) whose signatures agree enough."""
        found: dict[int, list[int]] = {}
        new = range(first_new, len(self.ids))
        if len(new) >= LSH_FROM:
            # 16 bands of 4 rows: a pair agreeing on 70% is a candidate 99% of the time (datasketch's
            # own choice for 0.7, 8 bands of 8, finds only 38% of them); the exact check follows.
            lsh = MinHashLSH(num_perm=SIGNATURE_PERMUTATIONS, params=LSH_BANDS)
            with lsh.insertion_session() as session:
                for index in range(len(self.ids)):
                    session.insert(index, signature_sketch(self.signatures[index]))
            for index in new:
                candidates = [other for other in lsh.query(signature_sketch(self.signatures[index])) if other != index]
                if candidates:
                    agreement = (self.signatures[candidates] == self.signatures[index]).mean(axis=1)
                    found[index] = [other for other, share in zip(candidates, agreement, strict=True)
                                    if share >= NEAR_DUPLICATE_JACCARD]
            return found
        for index in new:
            agreement = (self.signatures == self.signatures[index]).mean(axis=1)
            agreement[index] = 0.0
            found[index] = np.flatnonzero(agreement >= NEAR_DUPLICATE_JACCARD).tolist()
        return found

    def neighbour_arrays(self, first_new: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, positions) of each new article's nearest articles by vector (placed or new),
        a row per new article, its own position among them: exact, or through an IVF index when
        there are too many pairs to compare. Arrays, not lists of pairs: 2 GB less at a million."""
        vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        queries = np.ascontiguousarray(self.vectors[first_new:], dtype=np.float32)
        index = neighbour_index(vectors, len(queries))
        return index.search(queries, min(NEIGHBOURS + 1, len(self.ids)))

    def rows(self, article_ids: Iterable[str]) -> list[tuple[str, str, bytes, bytes]]:
        """(article id, story id, vector float16, signature uint32) for storing (the affine32
        scheme's hash values fit 32 bits; datasketch keeps them in uint64)."""
        rows = []
        for article_id in article_ids:
            index = self.position[article_id]
            rows.append((article_id, self.story_of[article_id], self.vectors[index].astype(np.float16).tobytes(),
                         self.signatures[index].astype(np.uint32).tobytes()))
        return rows
