"""What a rebuild and an update share: one run that makes and publishes a new generation.

    with GenerationBuild(index_dir, corpus, wait) as build:   # build lock held, crash leftovers removed
        with build.timer.phase("ingest"):
            ...
        directory = build.new_directory()                     # generations/.building-<id>/
        ...
        build.publish(build.manifest(...))                    # manifest last, then the atomic switch

A crash anywhere before ``publish`` swaps ``CURRENT`` leaves the previous generation live.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import CorpusError, CorpusNotFoundError, IndexCorruptError, InvalidParameterError, ModelError
from ..index.embedding_cache import EmbeddingCache
from ..index.embeddings import Embedder, PassageEmbedding, cache_key, embedding_input
from ..index.integrity import record_files
from ..index.layout import IndexLayout, build_lock, new_generation_id
from ..index.manifest import Manifest, write_manifest
from ..index.precision import PROBE_TEXTS, PrecisionChoice, choose_precision
from ..index.query_encoder import current_export, encoder_directory, export_query_encoder
from ..index.stored import PassageRecord
from ..index.stories import Stories, StoryArticle, article_vector, text_signatures
from ..ingest.articles import Article
from ..ingest.corpus import CorpusReading, FieldMapping, ReadElsewhere, read_corpus
from ..ingest.passages import split_passages
from . import cluster as cluster_embedding
from .changes import Changes, RecordedCorpus, compare, unchanged_ids

EMBED_CHUNK = 256  # passages per encode call; each chunk's results are cached at once
CRASH_VARIABLE = "ARCHIVE_BUILD_CRASH_AT"  # fault injection for crash-safety tests: a phase name

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class PhaseTimer:
    """Seconds per named phase (repeated phases add up), and the total since creation. A phase
    inside another (the cluster started while reading) counts in its own, not in both."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self._nested: list[float] = []  # per open phase: the seconds of the phases inside it

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._nested.append(0.0)
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.add(name, seconds - self._nested.pop())
            if self._nested:
                self._nested[-1] += seconds

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)

    def finish(self) -> dict[str, float]:
        return {**self.seconds, "total": self.elapsed()}


@dataclass
class BuildSummary:
    articles: int = 0
    passages: int = 0
    stories: int = 0
    skipped: list[dict] = field(default_factory=list)
    records: dict[str, dict] = field(default_factory=dict)  # crawls and feeds: read, kept, skipped by reason
    embedded: int = 0
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    generation: str = ""
    location: str = ""  # the index directory, or the Milvus URI
    vector_index: str = ""
    precision: str = ""  # what the vectors were embedded at: fp32 or bf16
    precision_reason: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    cluster: dict | None = None  # where passages were embedded: {"address", "workers", "partitions"}; None here

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PassageRow:
    """A passage on its way into a generation: where it is, and what the model reads for it."""

    pid: int
    article: Article
    ordinal: int
    start: int
    end: int
    key: str
    model_input: str
    offset: int

    def record(self, embedding: PassageEmbedding) -> PassageRecord:
        return PassageRecord(self.pid, self.article.id, self.ordinal, self.start, self.end, self.key,
                             embedding.sentence_spans, embedding.sentence_vectors)


def crash_point(phase: str) -> None:
    """Die here, as a kill would, when the crash-safety tests ask for it."""
    if os.environ.get(CRASH_VARIABLE) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def corpus_fingerprint(fingerprints: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for article_id in sorted(fingerprints):
        digest.update(f"{article_id}\0{fingerprints[article_id]}\n".encode())
    return digest.hexdigest()[:32]


def passage_rows(articles: list[Article], model_name: str, first_pid: int = 0, precision: str = "fp32",
                 spans: Mapping[str, list[tuple[int, int]]] | None = None) -> list[PassageRow]:
    """Every article's passages, with their embedding cache keys; ``spans``: articles already
    split where they were read (``CorpusReading.passage_spans``), split the same way."""
    rows = []
    pid = first_pid
    for article in articles:
        for passage in split_passages(article.id, article.text, spans=spans.get(article.id) if spans else None):
            model_input, offset = embedding_input(article.title, passage.text)
            rows.append(PassageRow(pid, article, passage.ordinal, passage.start, passage.end,
                                   cache_key(model_name, model_input, precision), model_input, offset))
            pid += 1
    return rows


WRITE_BATCH = 2048  # passages whose sentence data a build reads back from the cache at a time


class BuildEmbeddings:
    """A build's passage embeddings: every passage's vector in memory, and its sentences' spans
    and vectors (most of the bytes) read back from the embedding cache a batch at a time as they
    are written. Held whole, they took about 13 KB a passage: 6.4 GB for Reuters × 10, and more
    than this machine's memory at × 50 (docs/benchmarks.md, "The embedded backend's ceiling")."""

    def __init__(self, cache_path: Path, vectors: dict[str, np.ndarray]) -> None:
        self.cache_path, self.vectors = cache_path, vectors

    def vector(self, key: str) -> np.ndarray:
        return self.vectors[key]

    @property
    def dimension(self) -> int:
        return len(next(iter(self.vectors.values()))) if self.vectors else 0

    def with_sentences(self, rows: Sequence[PassageRow]) -> Iterator[tuple[PassageRow, PassageEmbedding]]:
        """Each row with its whole embedding, read from the cache ``WRITE_BATCH`` rows at a time."""
        cache = EmbeddingCache(self.cache_path)
        try:
            for start in range(0, len(rows), WRITE_BATCH):
                batch = rows[start : start + WRITE_BATCH]
                found = cache.get_many(row.key for row in batch)
                missing = [row.key for row in batch if row.key not in found]
                if missing:
                    raise IndexCorruptError(f"{len(missing)} passage embeddings left the embedding cache during the build",
                                            hint="run the build again")
                for row in batch:
                    yield row, found[row.key]
        finally:
            cache.close()


def story_articles(articles: list[Article], rows: list[PassageRow], embeddings: BuildEmbeddings) -> list[StoryArticle]:
    """What story grouping needs of each article: its vector (from its passages') and its text's signature."""
    passage_vectors: dict[str, list] = {}
    for row in rows:
        passage_vectors.setdefault(row.article.id, []).append(embeddings.vector(row.key))
    signatures = text_signatures([article.text if article.text.strip() else article.title for article in articles])
    dimension = embeddings.dimension
    return [StoryArticle(article.id, article.date,
                         article_vector(passage_vectors[article.id]) if article.id in passage_vectors
                         else np.zeros(dimension, dtype=np.float32), signature, len(article.text))
            for article, signature in zip(articles, signatures, strict=True)]


def update_precision(setting: str, manifest: Manifest) -> PrecisionChoice:
    """An update embeds at the index's own precision: ``auto`` keeps it; asking for another one is
    refused, as the index would mix vectors."""
    if setting not in ("auto", manifest.precision):
        raise InvalidParameterError(
            f"the index holds {manifest.precision} vectors; an update adds vectors at the same precision",
            hint=f"run `indexer rebuild --precision {setting}` to re-embed everything at {setting}")
    return PrecisionChoice(manifest.precision, manifest.precision_reason or "the index's own")


def check_same_model(embedder: Embedder, manifest: Manifest) -> None:
    if embedder.name != manifest.model:
        raise ModelError(f"the index was built with {manifest.model}, not {embedder.name}",
                         hint="run `indexer rebuild --model ...` to change models")


def probe_sample(articles: list[Article], count: int = PROBE_TEXTS) -> list[str]:
    """Model inputs spread over the corpus, for the precision probe."""
    inputs = []
    step = max(1, len(articles) // count)
    for article in articles[::step][:count]:
        for passage in split_passages(article.id, article.text)[:1]:
            inputs.append(embedding_input(article.title, passage.text)[0])
    return inputs


def existing_corpus(corpus: Path | str) -> Path:
    """Checked before the build lock creates any directory (the two may be the same path)."""
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusNotFoundError(f"corpus not found: {corpus}")
    return corpus


@dataclass
class CorpusChanges:
    """What an update found: the corpus as read, and how it differs from the index."""

    reading: CorpusReading
    changes: Changes

    def counts(self) -> dict:
        """The summary's counts of an update."""
        changes, reading = self.changes, self.reading
        return dict(added=len(changes.added), changed=len(changes.changed), removed=len(changes.removed),
                    unchanged=changes.unchanged, skipped=[item.to_dict() for item in reading.skipped],
                    records=reading.records_dict())


def read_checked(corpus: Path, fields: FieldMapping | None, strict: bool, known=None,
                 progress: Progress | None = None, follow_links: bool = False,
                 read_elsewhere: ReadElsewhere | None = None) -> CorpusReading:
    reading = read_corpus(corpus, fields, known, progress, follow_links, read_elsewhere)
    if strict and reading.skipped:
        first = reading.skipped[0]
        raise CorpusError(
            f"{len(reading.skipped)} corpus item(s) could not be indexed; first: {first.path}: {first.reason}",
            hint="fix or remove them, or drop --strict to skip them",
        )
    if not reading.articles and not reading.unchanged_files:
        raise CorpusError(f"no articles found in {corpus}",
                          hint="supported: .txt .md .html .htm .json .jsonl .warc .rss .atom .xml, optionally .gz")
    return reading


class GenerationBuild:
    """One build or update run: the lock, the timer, the new directory, and publishing."""

    def __init__(self, index_dir: Path | str, corpus: Path | str, wait: bool = False,
                 follow_links: bool = False, cluster: str | None = None) -> None:
        """``follow_links``: read file symlinks that leave the corpus folder too. ``cluster``: a
        Dask cluster to embed on (archive/indexing/cluster.py), or None for this process."""
        self.cluster = cluster
        self.cluster_report: cluster_embedding.ClusterReport | None = None
        self._cluster: cluster_embedding.Cluster | None = None  # started or joined on first use, for the whole build
        self.layout = IndexLayout(index_dir)
        self.follow_links = follow_links
        self.corpus = existing_corpus(corpus)
        self.wait = wait
        self.timer = PhaseTimer()
        self.generation = ""
        self.directory: Path | None = None
        self._lock: contextlib.AbstractContextManager | None = None
        self.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")  # when this build sees what is new

    def first_seen(self, article_ids: Iterable[str], earlier: dict[str, str]) -> dict[str, str]:
        """When the archive first saw each article: as an earlier generation recorded it, or now
        (a rebuild keeps the times of the articles it had; feeds order undated articles by it)."""
        return {article_id: earlier.get(article_id, self.started_at) for article_id in article_ids}

    def __enter__(self) -> GenerationBuild:
        self._lock = build_lock(self.layout, wait=self.wait)
        self._lock.__enter__()
        self.layout.remove_leftovers()
        return self

    def __exit__(self, *exception) -> None:
        try:
            self.close_cluster()
        finally:
            if self._lock is not None:
                self._lock.__exit__(*exception)

    def cluster_session(self) -> tuple[cluster_embedding.Cluster, cluster_embedding.ClusterReport]:
        """The build's cluster (started or joined once, kept until the build ends) and its report."""
        assert self.cluster is not None
        if self._cluster is None:
            with self.timer.phase("cluster"):  # starting or joining it
                self._cluster = cluster_embedding.Cluster(self.cluster)
            self.cluster_report = cluster_embedding.ClusterReport(self.cluster, self._cluster.workers())
        assert self.cluster_report is not None
        return self._cluster, self.cluster_report

    def close_cluster(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()

    def read_on_cluster(self, fields: FieldMapping | None) -> ReadElsewhere | None:
        """Reading, cleaning and splitting on the cluster, for a build given one: files worth
        reading there (``MIN_READ_BYTES``) go to its workers."""
        if not self.cluster:
            return None

        def read_elsewhere(files: list[tuple[Path, str]]):
            if cluster_embedding.read_bytes(files) < cluster_embedding.MIN_READ_BYTES:
                return None
            cluster, report = self.cluster_session()
            return cluster.read(files, fields or FieldMapping(), report)

        return read_elsewhere

    def new_generation(self) -> str:
        """A generation that lives elsewhere (in Milvus): its id, and no directory."""
        self.generation = new_generation_id()
        return self.generation

    def new_directory(self) -> Path:
        self.generation, self.directory = self.layout.new_build_directory()
        return self.directory

    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.layout.cache_path)

    def read(self, fields: FieldMapping | None, strict: bool, progress: Progress | None) -> CorpusReading:
        """The whole corpus (a rebuild's ingest phase)."""
        with self.timer.phase("ingest"):
            reading = read_checked(self.corpus, fields, strict, progress=progress, follow_links=self.follow_links,
                                   read_elsewhere=self.read_on_cluster(fields))
            crash_point("ingest")
        return reading

    def embed_cached(self, rows: list[PassageRow], embedder: Embedder, progress: Progress | None, precision: str,
                     dimension: int | None = None) -> tuple[BuildEmbeddings, int, int]:
        """Embeddings for every row, from the cache where it has them (see ``embed``); every one
        is in the cache afterwards. ``dimension``: the index's, which an update's new vectors must have."""
        cache = self.cache()
        try:
            with self.timer.phase("embed"):
                found = cache.get_vectors(row.key for row in rows)
            vectors, embedded, reused = self.embed(rows, embedder, cache, progress, found, precision)
        finally:
            cache.close()
        if dimension is not None and any(vector.shape[0] != dimension for vector in vectors.values()):
            raise ModelError(f"{embedder.name} does not give {dimension}-dimensional vectors",
                             hint="run `indexer rebuild` to rebuild with this model")
        return BuildEmbeddings(self.layout.cache_path, vectors), embedded, reused

    def group_stories(self, articles: list[Article], rows: list[PassageRow], embeddings: BuildEmbeddings,
                      dimension: int) -> Stories:
        """A rebuild's stories: every article placed, in corpus order."""
        with self.timer.phase("stories"):
            stories = Stories(dimension)
            stories.place(story_articles(articles, rows, embeddings))
        crash_point("stories")
        return stories

    def load_model(self, embedder: Embedder) -> None:
        """Load the model now (timed on its own), before anything else competes for the cores."""
        if not embedder.loaded:
            with self.timer.phase("load_model"):
                embedder.load()

    def choose_precision(self, setting: str, embedder: Embedder, articles: list[Article]) -> PrecisionChoice:
        """fp32 or bf16 for this build (``auto`` may load the model and probe, once per machine;
        on a remote cluster, whose workers' CPUs this machine cannot probe, fp32)."""
        if setting == "auto" and self.cluster and not cluster_embedding.is_local(self.cluster):
            return PrecisionChoice("fp32", "auto: fp32 on a remote cluster (its workers' CPUs were not probed)")
        with self.timer.phase("precision"):
            return choose_precision(setting, embedder, self.layout.root, probe_sample(articles))

    def embed(self, rows: list[PassageRow], embedder: Embedder, cache: EmbeddingCache, progress: Progress | None,
              found: dict[str, np.ndarray], precision: str = "fp32") -> tuple[dict[str, np.ndarray], int, int]:
        """Vectors for every row: ``found`` in the cache, the rest computed (longest first, so
        batches pad little) and cached chunk by chunk, sentences and all. Returns (vectors by
        key, computed, reused)."""
        found = dict(found)
        reused = sum(1 for row in rows if row.key in found)
        missing: dict[str, PassageRow] = {}
        for row in rows:
            if row.key not in found:
                missing.setdefault(row.key, row)
        todo = sorted(missing.values(), key=lambda row: len(row.model_input), reverse=True)
        if self.cluster and len(todo) >= cluster_embedding.MIN_PASSAGES:
            try:
                return self.embed_on_cluster(todo, embedder, cache, progress, found, precision), len(todo), reused
            finally:
                self.close_cluster()  # its last use: the workers' memory is let go before the indexes are written
        self.close_cluster()
        if todo:
            self.load_model(embedder)
        with self.timer.phase("embed"):
            if progress:
                progress("embed", 0, len(todo))
            for index in range(0, len(todo), EMBED_CHUNK):
                chunk = todo[index : index + EMBED_CHUNK]
                computed = embedder.encode_passages([(row.model_input, row.offset) for row in chunk], precision)
                pairs = list(zip((row.key for row in chunk), computed, strict=True))
                cache.put_many(pairs)
                found.update((key, embedding.vector) for key, embedding in pairs)
                if progress:
                    progress("embed", min(index + EMBED_CHUNK, len(todo)), len(todo))
                if index == 0:
                    crash_point("embed")
        return found, len(todo), reused

    def embed_on_cluster(self, todo: list[PassageRow], embedder: Embedder, cache: EmbeddingCache,
                         progress: Progress | None, found: dict[str, np.ndarray],
                         precision: str) -> dict[str, np.ndarray]:
        """The rows the cache lacks, embedded on the cluster's workers partition by partition;
        each partition cached as it arrives (so a killed driver loses only what was in flight)."""
        cluster, report = self.cluster_session()
        with self.timer.phase("embed"):
            if progress:
                progress("embed", 0, len(todo))
            done = 0
            for pairs in cluster.embed(embedder.name, precision, [(row.model_input, row.offset) for row in todo],
                                       [row.key for row in todo], report):
                cache.put_many(pairs)
                found.update((key, embedding.vector) for key, embedding in pairs)
                done += len(pairs)
                if progress:
                    progress("embed", done, len(todo))
                crash_point("embed")
        return found

    def export_query_encoder(self, embedder: Embedder) -> None:
        """Export the model to ONNX for query embedding, once per model and index directory
        (it loads the model if nothing else did)."""
        if not current_export(encoder_directory(self.layout.root, embedder.name)):
            self.load_model(embedder)
            with self.timer.phase("query_encoder"):
                export_query_encoder(embedder, self.layout.root)

    def read_changes(self, store: RecordedCorpus, fields: FieldMapping | None, strict: bool,
                     progress: Progress | None = None, crashed: set[str] | None = None) -> CorpusChanges:
        """The start of every update, on either backend: the corpus read (only the files changed
        since the store recorded them) and compared with the store's articles by fingerprint.
        ``crashed``: articles a crashed update touched, which nothing about can be trusted: the
        whole corpus is read again, and they are written anew (or removed, if they are gone)."""
        with self.timer.phase("ingest"):
            known, indexed = store.known_files(), store.fingerprints()
            reading = read_checked(self.corpus, fields, strict, None if crashed is not None else known, progress,
                                   self.follow_links, self.read_on_cluster(fields))
            if crashed:
                indexed = {article_id: "" if article_id in crashed else fingerprint
                           for article_id, fingerprint in indexed.items()}
            return CorpusChanges(reading, compare(reading.articles, indexed, unchanged_ids(reading, known)))

    def unchanged_summary(self, manifest: Manifest, precision: PrecisionChoice, found: CorpusChanges,
                          location: str | None = None) -> BuildSummary:
        """The summary of an update that found nothing to change: the live generation stays."""
        summary = self.summary(articles=manifest.articles, passages=manifest.passages, stories=manifest.stories,
                               vector_index=manifest.vector_index, precision=precision.precision,
                               precision_reason=precision.reason, **found.counts())
        summary.generation = manifest.generation
        summary.location = location or summary.location
        return summary

    def manifest(self, *, model: str, dimension: int, articles: int, passages: int, fingerprint: str,
                 vector_index: str, vector_parameters: dict, precision: PrecisionChoice, stories: int,
                 tombstones: int = 0) -> Manifest:
        return Manifest(
            generation=self.generation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model=model, dimension=dimension, articles=articles, passages=passages, stories=stories,
            corpus_path=str(self.corpus.resolve()), corpus_fingerprint=fingerprint,
            vector_index=vector_index, vector_parameters=vector_parameters, tombstones=tombstones,
            precision=precision.precision, precision_reason=precision.reason,
            build_seconds=self.timer.elapsed(),
        )

    def publish(self, manifest: Manifest) -> None:
        """Write the manifest last, then make the generation live atomically."""
        if self.directory is None:
            raise RuntimeError("publish() before new_directory()")  # a bug of ours, not the user's
        with self.timer.phase("checksums"):
            manifest.files = record_files(self.directory)
        write_manifest(self.directory, manifest)
        crash_point("publish")
        with self.timer.phase("publish"):
            self.layout.publish(self.directory, self.generation)
            self.layout.prune()

    def summary(self, **values) -> BuildSummary:
        return BuildSummary(generation=self.generation, location=str(self.layout.root),
                            seconds=self.timer.finish(), **values,
                            cluster=self.cluster_report.to_dict() if self.cluster_report else None)
