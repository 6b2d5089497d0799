"""The article and passage store of one generation (SQLite, ``store.sqlite``).

Passage rows hold offsets into their article's cleaned text (not a copy of it), the
embedding cache key, and the passage's sentence spans and sentence vectors used for
semantic highlighting.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import IndexCorruptError
from ...index.names import NameEvidence
from ...index.sql import select_in
from ...index.stored import PassageRecord, StoredPassage
from ...index.stories import Stories
from ...indexing.changes import KnownFiles, known_files
from ...ingest.articles import Article

STORE_NAME = "store.sqlite"
ARTICLE_COLUMNS = "id, title, text, date, source, url, path, author, date_kind"  # Article's fields, in order
SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, date TEXT, source TEXT,
    url TEXT, path TEXT, author TEXT, date_kind TEXT, fingerprint TEXT NOT NULL, file TEXT);
CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE TABLE copies (file TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (file, article_id));
CREATE TABLE vocabulary (word TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE name_evidence (word TEXT PRIMARY KEY, capitalised INTEGER NOT NULL, lowercase INTEGER NOT NULL);
CREATE INDEX articles_date ON articles(date);
CREATE INDEX articles_source ON articles(source COLLATE NOCASE);
CREATE TABLE passages (
    pid INTEGER PRIMARY KEY, article_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, cache_key TEXT NOT NULL,
    sentence_spans BLOB NOT NULL, sentence_vectors BLOB NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX passages_article ON passages(article_id);
CREATE TABLE stories (
    article_id TEXT PRIMARY KEY, story_id TEXT NOT NULL, vector BLOB NOT NULL, signature BLOB NOT NULL);
CREATE INDEX stories_story ON stories(story_id);
CREATE TABLE first_seen (article_id TEXT PRIMARY KEY, at TEXT NOT NULL);
"""
FIRST_SEEN_TABLE = "CREATE TABLE IF NOT EXISTS first_seen (article_id TEXT PRIMARY KEY, at TEXT NOT NULL)"


@dataclass(frozen=True)
class LivePassage:
    """A live passage with its article, for rewriting the keyword index."""

    pid: int
    article: Article
    start: int
    end: int


def store_integrity(path: Path) -> list[str]:
    """SQLite's own check of the whole store file: what it finds wrong (nothing: [])."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as problem:
        return [f"{path.name}: {problem}"]
    found = [str(row[0]) for row in rows if row and row[0] != "ok"]
    return [f"{path.name}: {message}" for message in found[:5]]


class Store:
    """One SQLite connection. A read-only store is shared by the web server's threads behind
    a lock: measured with four threads, separate connections per thread gave 981 reads/s
    between them (SQLite's own mutexes contended) and one locked connection 1,864."""

    def __init__(self, path: Path, *, mode: str = "read", dimension: int = 384) -> None:
        """``mode``: "read" (shared, read-only), "create" (a new store) or "write" (edit a copy)."""
        if mode != "create" and not path.exists():
            raise IndexCorruptError(f"index store {path.name} is missing from {path.parent}")
        self.path = path
        self.dimension = dimension
        # A published generation never changes: readers open it immutable, so SQLite takes no
        # file locks.
        uri = f"file:{path}?mode=ro&immutable=1" if mode == "read" else f"file:{path}?mode=rwc"
        self.connection = sqlite3.connect(uri, uri=True, check_same_thread=mode != "read")
        self._lock = threading.Lock()
        if mode == "create":
            self.connection.executescript(SCHEMA)
        if mode != "read":
            return
        try:
            self.rows("SELECT 1 FROM passages LIMIT 1")
        except sqlite3.DatabaseError as problem:
            self.close()
            raise IndexCorruptError(f"index store {path} is unreadable: {problem}") from None

    def rows(self, query: str, parameters: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self.connection.execute(query, parameters).fetchall()

    def rows_in(self, query: str, values: Sequence) -> list[tuple]:
        with self._lock:
            return list(select_in(self.connection, query, values))

    def close(self) -> None:
        self.connection.close()

    # Writing (builds and updates only)

    def add_articles(self, articles: Iterable[Article], files: dict[str, str]) -> None:
        """``files`` maps article id to the corpus file it came from."""
        self.connection.executemany(
            f"INSERT INTO articles ({ARTICLE_COLUMNS}, fingerprint, file) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (a.id, a.title, a.text, a.date, a.source, a.url, a.path, a.author, a.date_kind, a.fingerprint(),
                 files.get(a.id))
                for a in articles
            ],
        )

    def set_first_seen(self, seen: dict[str, str], keep: bool = False) -> None:
        """When the archive first saw each article (UTC, ISO 8601); ``keep``: an article that
        already has a time keeps it (a changed article is not news)."""
        self.connection.execute(FIRST_SEEN_TABLE)
        verb = "INSERT OR IGNORE" if keep else "INSERT OR REPLACE"
        self.connection.executemany(f"{verb} INTO first_seen (article_id, at) VALUES (?, ?)", sorted(seen.items()))

    def backfill_first_seen(self, at: str) -> None:
        """A store written before first-seen times were kept: its articles were seen no later
        than ``at`` (their generation's creation)."""
        self.connection.execute(FIRST_SEEN_TABLE)
        self.connection.execute("INSERT OR IGNORE INTO first_seen (article_id, at) SELECT id, ? FROM articles", (at,))

    def forget_first_seen(self, article_ids: Sequence[str]) -> None:
        self.connection.executemany("DELETE FROM first_seen WHERE article_id = ?", [(key,) for key in article_ids])

    def set_files(self, signatures: dict[str, tuple[int, int]], article_files: dict[str, str],
                  copies: dict[str, set[str]] | None = None) -> None:
        """Record the corpus files as read now (replacing the old list), each article's file, and
        which files hold a second copy of an article (a page in a crawl and in a feed)."""
        self.connection.execute("DELETE FROM files")
        self.connection.executemany(
            "INSERT INTO files (path, size, mtime_ns) VALUES (?,?,?)",
            [(path, size, mtime) for path, (size, mtime) in signatures.items()],
        )
        self.connection.executemany("UPDATE articles SET file = ? WHERE id = ?",
                                    [(file, article_id) for article_id, file in article_files.items()])
        self.connection.execute("DELETE FROM copies")
        self.connection.executemany("INSERT INTO copies (file, article_id) VALUES (?, ?)",
                                    [(file, article_id) for file, ids in (copies or {}).items() for article_id in ids])

    def set_vocabulary(self, counts: dict[str, int]) -> None:
        self.connection.execute("DELETE FROM vocabulary")
        self.connection.executemany("INSERT INTO vocabulary (word, count) VALUES (?, ?)",
                                    [(word, count) for word, count in counts.items() if count > 0])

    def vocabulary(self) -> dict[str, int]:
        return dict(self.rows("SELECT word, count FROM vocabulary"))

    def set_name_evidence(self, evidence: NameEvidence) -> None:
        self.connection.execute("DELETE FROM name_evidence")
        self.connection.executemany("INSERT INTO name_evidence (word, capitalised, lowercase) VALUES (?, ?, ?)",
                                    evidence.rows())

    def name_evidence(self) -> NameEvidence:
        evidence = NameEvidence()
        for word, capitalised, lowercase in self.rows("SELECT word, capitalised, lowercase FROM name_evidence"):
            evidence.capitalised[word] = capitalised
            evidence.lowercase[word] = lowercase
        return evidence

    def known_files(self) -> KnownFiles:
        return known_files(self.rows("SELECT path, size, mtime_ns FROM files"),
                           self.rows("SELECT id, file FROM articles WHERE file IS NOT NULL"),
                           self.rows("SELECT file, article_id FROM copies"))

    def add_passages(self, records: Iterable[PassageRecord]) -> None:
        self.connection.executemany(
            'INSERT INTO passages (pid, article_id, ordinal, start, "end", cache_key, sentence_spans,'
            " sentence_vectors) VALUES (?,?,?,?,?,?,?,?)",
            (  # streamed: a list would hold a second copy of every passage's sentence vectors
                (record.pid, record.article_id, record.ordinal, record.start, record.end, record.cache_key,
                 record.sentence_spans.astype(np.int32).tobytes(), record.sentence_vectors.astype(np.float16).tobytes())
                for record in records
            ),
        )

    def remove_articles(self, article_ids: Sequence[str], tombstone: bool) -> list[int]:
        """Drop articles; their passages are deleted, or only marked when the vector index
        cannot remove vectors (HNSW), so that search can skip them."""
        removed: list[int] = []
        for article_id in article_ids:
            removed += [row[0] for row in self.connection.execute(
                "SELECT pid FROM passages WHERE article_id = ? AND deleted = 0", (article_id,))]
            if tombstone:
                self.connection.execute("UPDATE passages SET deleted = 1 WHERE article_id = ?", (article_id,))
            else:
                self.connection.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            self.connection.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return removed

    def save_stories(self, stories: Stories) -> None:
        """Write what changed since the stories were loaded: articles placed or moved, and those removed."""
        self.connection.executemany("DELETE FROM stories WHERE article_id = ?",
                                    [(article_id,) for article_id in stories.removed])
        self.connection.executemany(
            "INSERT OR REPLACE INTO stories (article_id, story_id, vector, signature) VALUES (?,?,?,?)",
            stories.rows(sorted(stories.changed)))
        stories.changed.clear()
        stories.removed.clear()

    def stories(self) -> Stories:
        return Stories.loaded(self.dimension, self.rows(
            "SELECT s.article_id, s.story_id, a.date, s.vector, s.signature, length(a.text) FROM stories s"
            " LEFT JOIN articles a ON a.id = s.article_id ORDER BY s.rowid"))

    def story_headlines(self, story: str, limit: int = -1) -> list[tuple[str, str, str | None, str | None, str | None]]:
        """(id, title, source, date, date kind) of one story's articles, newest first (undated
        last), at most ``limit`` (-1: all), without their texts."""
        return self.rows("SELECT a.id, a.title, a.source, a.date, a.date_kind FROM stories s"
                         " JOIN articles a ON a.id = s.article_id WHERE s.story_id = ?"
                         " ORDER BY a.date IS NULL, a.date DESC, a.id LIMIT ?", (story, limit))

    def commit(self) -> None:
        self.connection.commit()

    # Reading

    def first_seen(self, article_ids: Sequence[str] | None = None) -> dict[str, str]:
        """When the archive first saw each article (every one for None); none for a store
        written before these were kept."""
        try:
            if article_ids is None:
                return dict(self.rows("SELECT article_id, at FROM first_seen"))
            return dict(self.rows_in("SELECT article_id, at FROM first_seen WHERE article_id IN ({placeholders})",
                                     list(article_ids)))
        except sqlite3.OperationalError:  # (no such table: an older generation)
            return {}

    def article(self, article_id: str) -> Article | None:
        rows = self.rows(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,))
        return Article(*rows[0]) if rows else None

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        rows = self.rows_in(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({{placeholders}})", article_ids)
        return {row[0]: Article(*row) for row in rows}

    def headlines(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str | None, str | None, str | None]]:
        """id -> (title, source, date, date kind), without the texts."""
        rows = self.rows_in("SELECT id, title, source, date, date_kind FROM articles WHERE id IN ({placeholders})",
                            article_ids)
        return {row[0]: row[1:] for row in rows}

    def passages(self, pids: Sequence[int]) -> dict[int, StoredPassage]:
        rows = self.rows_in('SELECT pid, article_id, ordinal, start, "end", sentence_spans, sentence_vectors FROM passages'
                            " WHERE pid IN ({placeholders})", [int(pid) for pid in pids])
        return {
            pid: StoredPassage(pid, article_id, ordinal, start, end,
                               np.frombuffer(spans, dtype=np.int32).reshape(-1, 2),
                               np.frombuffer(vectors, dtype=np.float16).reshape(-1, self.dimension))
            for pid, article_id, ordinal, start, end, spans, vectors in rows
        }

    def passage_ids_of(self, article_ids: Sequence[str]) -> list[int]:
        """The live passages of several articles."""
        return [row[0] for row in self.rows_in(
            "SELECT pid FROM passages WHERE deleted = 0 AND article_id IN ({placeholders})", list(article_ids))]

    def article_passage_ids(self, article_id: str) -> list[int]:
        return [row[0] for row in self.rows(
            "SELECT pid FROM passages WHERE article_id = ? AND deleted = 0 ORDER BY ordinal", (article_id,))]

    def article_rows(self) -> list[tuple[str, str | None, str | None, str | None]]:
        """(id, date, source, story id) of every article, for the in-memory catalog."""
        return self.rows("SELECT a.id, a.date, a.source, s.story_id FROM articles a"
                         " LEFT JOIN stories s ON s.article_id = a.id ORDER BY a.id")

    def live_passage_rows(self) -> list[tuple[int, str]]:
        """(pid, article id) of every live passage."""
        return self.rows("SELECT pid, article_id FROM passages WHERE deleted = 0")

    def live_passages(self) -> Iterator[LivePassage]:
        """Every live passage with its article, in pid order."""
        rows = self.connection.execute(
            'SELECT p.pid, p.start, p."end", ' + ", ".join(f"a.{name}" for name in ARTICLE_COLUMNS.split(", "))
            + " FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.deleted = 0 ORDER BY p.pid"
        )
        for pid, start, end, *article in rows:
            yield LivePassage(pid, Article(*article), start, end)

    def live_cache_keys(self) -> list[tuple[int, str]]:
        """(pid, embedding cache key) of every live passage, in pid order."""
        return self.rows("SELECT pid, cache_key FROM passages WHERE deleted = 0 ORDER BY pid")

    def drop_tombstones(self) -> None:
        self.connection.execute("DELETE FROM passages WHERE deleted = 1")

    def fingerprints(self) -> dict[str, str]:
        return dict(self.rows("SELECT id, fingerprint FROM articles"))

    def counts(self) -> tuple[int, int]:
        articles = self.rows("SELECT COUNT(*) FROM articles")[0][0]
        passages = self.rows("SELECT COUNT(*) FROM passages WHERE deleted = 0")[0][0]
        return articles, passages

    def stored_counts(self) -> tuple[int, int]:
        """(articles, passages with tombstones): both counted through an index, so that opening a
        generation does not read the passages table (a second at a million articles)."""
        return (self.rows("SELECT COUNT(*) FROM articles")[0][0], self.rows("SELECT COUNT(*) FROM passages")[0][0])

    def tombstones(self) -> int:
        return self.rows("SELECT COUNT(*) FROM passages WHERE deleted = 1")[0][0]

    def max_pid(self) -> int:
        return self.rows("SELECT COALESCE(MAX(pid), -1) FROM passages")[0][0]

    def date_span(self) -> tuple[str | None, str | None]:
        return self.rows("SELECT MIN(date), MAX(date) FROM articles")[0]

    def sources(self, limit: int = 50) -> list[tuple[str, int]]:
        return self.rows("SELECT source, COUNT(*) FROM articles WHERE source IS NOT NULL GROUP BY source"
                         " ORDER BY COUNT(*) DESC, source LIMIT ?", (limit,))

