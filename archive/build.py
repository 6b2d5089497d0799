"""Building an index generation: ingest, split, embed (cached), keyword + vector indexes, publish.

``rebuild`` makes a whole new generation from the corpus. ``update`` (archive/update.py)
makes one from the live generation plus the corpus changes. Both publish atomically.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import keyword, vectors
from .articles import Article
from .corpus import CorpusReading, FieldMapping, read_corpus
from .embedding_cache import EmbeddingCache
from .embeddings import Embedder, PassageEmbedding, cache_key, embedding_input
from .errors import CorpusError, CorpusNotFoundError
from .generations import IndexLayout, build_lock
from .manifest import Manifest, write_manifest
from .passages import split_passages
from .store import STORE_NAME, Store
from .vocabulary import count_words

OVERLAP_MIN_FRACTION = 0.05  # share of passages to embed above which keyword writing overlaps embedding
EMBED_CHUNK = 256  # passages per encode call; each chunk's results are cached at once
CRASH_VARIABLE = "ARCHIVE_BUILD_CRASH_AT"  # fault injection for crash-safety tests: a phase name

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class BuildSummary:
    articles: int = 0
    passages: int = 0
    skipped: list[dict] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    generation: str = ""
    index_dir: str = ""
    faiss_type: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PassageRow:
    pid: int
    article: Article
    ordinal: int
    start: int
    end: int
    key: str
    model_input: str
    offset: int


def crash_point(phase: str) -> None:
    """Die here, as a kill would, when the crash-safety tests ask for it."""
    if os.environ.get(CRASH_VARIABLE) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def corpus_fingerprint(fingerprints: dict[str, str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for article_id in sorted(fingerprints):
        digest.update(f"{article_id}\0{fingerprints[article_id]}\n".encode())
    return digest.hexdigest()[:32]


def passage_rows(articles: list[Article], model_name: str, first_pid: int = 0) -> list[PassageRow]:
    rows = []
    pid = first_pid
    for article in articles:
        for passage in split_passages(article.id, article.text):
            model_input, offset = embedding_input(article.title, passage.text)
            rows.append(
                PassageRow(pid, article, passage.ordinal, passage.start, passage.end,
                           cache_key(model_name, model_input), model_input, offset)
            )
            pid += 1
    return rows


def embed_rows(
    rows: list[PassageRow], embedder: Embedder, cache: EmbeddingCache, progress: Progress | None,
    found: dict[str, PassageEmbedding] | None = None,
) -> tuple[dict[str, PassageEmbedding], int, int, float]:
    """Embeddings for every row: from the cache (``found``, if already looked up), or computed
    (longest-first batches) and cached. Returns (embeddings by key, computed, reused, model seconds)."""
    found = dict(found) if found is not None else cache.get_many(row.key for row in rows)
    reused = sum(1 for row in rows if row.key in found)
    missing: dict[str, PassageRow] = {}
    for row in rows:
        if row.key not in found:
            missing.setdefault(row.key, row)
    todo = sorted(missing.values(), key=lambda row: len(row.model_input), reverse=True)
    model_seconds = 0.0
    if progress:
        progress("embed", 0, len(todo))
    for index in range(0, len(todo), EMBED_CHUNK):
        chunk = todo[index : index + EMBED_CHUNK]
        started = time.perf_counter()
        computed = embedder.encode_passages([(row.model_input, row.offset) for row in chunk])
        model_seconds += time.perf_counter() - started
        pairs = list(zip((row.key for row in chunk), computed, strict=True))
        cache.put_many(pairs)
        found.update(pairs)
        if progress:
            progress("embed", min(index + EMBED_CHUNK, len(todo)), len(todo))
        if index == 0:
            crash_point("embed")
    return found, len(todo), reused, model_seconds


def keyword_documents(rows: list[PassageRow]):
    for row in rows:
        yield keyword.KeywordDocument(
            row.pid, row.article.id, row.article.title, row.article.text[row.start : row.end],
            row.article.source, row.article.date,
        )


class KeywordWriter(threading.Thread):
    """Writes the Whoosh index while the model embeds: the build stays embedding-bound."""

    def __init__(self, directory: Path, rows: list[PassageRow]) -> None:
        super().__init__(name="keyword-index", daemon=True)  # one process: the model has the cores
        self.directory, self.rows = directory, rows
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        try:
            keyword.write_keyword_index(self.directory, keyword_documents(self.rows))
        except BaseException as problem:  # re-raised in the building thread
            self.error = problem
        self.seconds = time.perf_counter() - started

    def finish(self) -> float:
        self.join()
        if self.error:
            raise self.error
        return self.seconds


def write_store(path: Path, reading: CorpusReading, rows: list[PassageRow],
                embeddings: dict[str, PassageEmbedding], dimension: int) -> None:
    store = Store(path, mode="create", dimension=dimension)
    try:
        store.add_articles(reading.articles, reading.article_files)
        store.set_files(reading.files, reading.article_files)
        store.set_vocabulary(count_words(reading.articles))
        store.add_passages(
            (row.pid, row.article.id, row.ordinal, row.start, row.end, row.key,
             embeddings[row.key].sentence_spans, embeddings[row.key].sentence_vectors)
            for row in rows
        )
        store.commit()
    finally:
        store.close()


def existing_corpus(corpus: Path | str) -> Path:
    """Checked before the build lock creates any directory (the two may be the same path)."""
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusNotFoundError(f"corpus not found: {corpus}")
    return corpus


def read_checked(corpus: Path, fields: FieldMapping | None, strict: bool, known=None) -> CorpusReading:
    reading = read_corpus(corpus, fields, known)
    if strict and reading.skipped:
        first = reading.skipped[0]
        raise CorpusError(
            f"{len(reading.skipped)} corpus item(s) could not be indexed; first: {first.path}: {first.reason}",
            hint="fix or remove them, or drop --strict to skip them",
        )
    if not reading.articles and not reading.unchanged_files:
        raise CorpusError(f"no articles found in {corpus}",
                          hint="supported: .txt .md .html .htm .json .jsonl, optionally .gz")
    return reading


def rebuild(
    corpus: Path | str,
    index_dir: Path | str,
    model_name: str,
    *,
    fields: FieldMapping | None = None,
    strict: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> BuildSummary:
    layout = IndexLayout(index_dir)
    corpus = existing_corpus(corpus)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    with build_lock(layout, wait=wait):
        layout.remove_leftovers()
        phase = time.perf_counter()
        reading = read_checked(corpus, fields, strict)
        crash_point("ingest")
        articles = reading.articles
        embedder = embedder or Embedder.shared(model_name)  # loads the model only if it must embed
        rows = passage_rows(articles, embedder.name)
        seconds["ingest"] = round(time.perf_counter() - phase, 3)

        generation, build_directory = layout.new_build_directory()
        keyword_directory = build_directory / keyword.KEYWORD_DIRECTORY
        cache = EmbeddingCache(layout.cache_path)
        try:
            phase = time.perf_counter()
            found = cache.get_many(row.key for row in rows)
            to_embed = len({row.key for row in rows if row.key not in found})
            # Much to embed: write the keyword index meanwhile, in a thread, so the build stays
            # embedding-bound. Little: write it afterwards with every core, without contention.
            overlap = to_embed >= OVERLAP_MIN_FRACTION * len(rows)
            was_loaded = embedder.loaded
            if to_embed:
                embedder.load()  # before the keyword thread starts: imports would contend with it
            load_seconds = embedder.load_seconds if embedder.loaded and not was_loaded else 0.0
            writer = KeywordWriter(keyword_directory, rows) if overlap else None
            if writer:
                writer.start()
            embeddings, embedded, reused, _ = embed_rows(rows, embedder, cache, progress, found)
            seconds["load_model"] = round(load_seconds, 3)
            seconds["embed"] = round(time.perf_counter() - phase - load_seconds, 3)
        finally:
            cache.close()
        if progress:
            progress("keyword", 0, 1)
        if writer:
            seconds["keyword"] = round(writer.finish(), 3)
        else:
            phase = time.perf_counter()
            keyword.write_keyword_index(keyword_directory, keyword_documents(rows), keyword.writer_processes(len(rows)))
            seconds["keyword"] = round(time.perf_counter() - phase, 3)
        crash_point("keyword")

        phase = time.perf_counter()
        dimension = int(embeddings[rows[0].key].vector.shape[0])
        kind = vectors.choose_index_type(len(rows))
        matrix = np.stack([embeddings[row.key].vector for row in rows])
        index = vectors.build_vector_index(matrix, np.array([row.pid for row in rows]), kind, dimension)
        vectors.write_vector_index(index, build_directory / vectors.VECTORS_NAME)
        seconds["vectors"] = round(time.perf_counter() - phase, 3)
        crash_point("vectors")

        phase = time.perf_counter()
        write_store(build_directory / STORE_NAME, reading, rows, embeddings, dimension)
        seconds["store"] = round(time.perf_counter() - phase, 3)

        manifest = Manifest(
            generation=generation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model=embedder.name,
            dimension=dimension,
            articles=len(articles),
            passages=len(rows),
            corpus_path=str(corpus.resolve()),
            corpus_fingerprint=corpus_fingerprint({article.id: article.fingerprint() for article in articles}),
            faiss_type=kind,
            faiss_parameters=vectors.index_parameters(kind),
            build_seconds=round(time.perf_counter() - started, 3),
        )
        write_manifest(build_directory, manifest)
        crash_point("publish")
        layout.publish(build_directory, generation)
        layout.prune()
    seconds["total"] = round(time.perf_counter() - started, 3)
    return BuildSummary(
        articles=len(articles), passages=len(rows), skipped=[item.to_dict() for item in reading.skipped],
        embedded=embedded, reused=reused, seconds=seconds, generation=generation,
        index_dir=str(layout.root), faiss_type=kind, added=len(articles),
    )
