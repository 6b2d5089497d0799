"""``indexer update``: bring the live index in line with the corpus without a full rebuild.

The live generation is copied to a new build directory; removed and changed articles are
deleted from the copy's keyword index, vector index and store; new and changed ones are
added (re-embedding only passages whose text the cache has not seen); then the copy is
published exactly as a rebuild is. Readers never see a half-applied update, and a crash
leaves the previous generation live.

Keyword statistics: when an update deletes anything, the keyword index is written anew
from the store, so that BM25 statistics count no deleted passages and results equal a
full rebuild's. Vector index: flat indexes remove vectors; HNSW cannot, so removed
passages are tombstoned in the store (search skips them) and the vectors are rebuilt from
the cache once tombstones pass ``COMPACT_TOMBSTONE_FRACTION`` of the index.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

from ...errors import IndexCorruptError
from ...index.embedding_cache import EmbeddingCache
from ...index.embeddings import Embedder
from ...index.manifest import read_manifest
from ...index.names import count_name_evidence
from ...index.precision import check_precision
from ...index.vocabulary import count_words
from ...indexing.generation import (
    BuildSummary,
    GenerationBuild,
    Progress,
    check_same_model,
    corpus_fingerprint,
    crash_point,
    passage_rows,
    story_articles,
    update_precision,
)
from ...ingest.corpus import FieldMapping
from . import keyword, vectors
from .catalog import CATALOG_NAME, write_catalog
from .store import STORE_NAME, Store


def update(
    corpus: Path | str,
    index_dir: Path | str,
    *,
    fields: FieldMapping | None = None,
    strict: bool = False,
    wait: bool = False,
    follow_links: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
    precision: str = "auto",
    cluster: str | None = None,
) -> BuildSummary:
    """``precision``: an update embeds at the index's own precision (``auto`` keeps it; asking
    for another one is refused, as the index would mix vectors)."""
    check_precision(precision)
    with GenerationBuild(index_dir, corpus, wait, follow_links, cluster) as build:
        live = build.layout.current_directory()
        manifest = read_manifest(live)
        choice = update_precision(precision, manifest)
        live_store = Store(live / STORE_NAME, dimension=manifest.dimension)
        try:
            found = build.read_changes(live_store, fields, strict, progress)
        finally:
            live_store.close()
        reading, changes, counts = found.reading, found.changes, found.counts()
        if changes.pending == 0:
            return build.unchanged_summary(manifest, choice, found)

        embedder = embedder or Embedder.shared(manifest.model)  # loaded only if something needs embedding
        check_same_model(embedder, manifest)

        directory = build.new_directory()
        incoming = changes.added + changes.changed
        outgoing = changes.removed + [article.id for article in changes.changed]
        with build.timer.phase("copy"):
            # The store changes in place, so it is copied. The vector index is read from the live
            # generation and written anew. Whoosh only ever adds files, so an add-only update links
            # the live segments; an update that deletes builds a fresh keyword index instead.
            shutil.copy2(live / STORE_NAME, directory / STORE_NAME)
            if not outgoing:
                link_tree(live / keyword.KEYWORD_DIRECTORY, directory / keyword.KEYWORD_DIRECTORY)
        crash_point("ingest")

        store = Store(directory / STORE_NAME, mode="write", dimension=manifest.dimension)
        try:
            rows = passage_rows(incoming, embedder.name, first_pid=store.max_pid() + 1, precision=choice.precision,
                                spans=found.reading.passage_spans)
            embeddings, embedded, reused = build.embed_cached(rows, embedder, progress, choice.precision,
                                                              manifest.dimension)

            with build.timer.phase("store"):
                tombstoning = manifest.vector_index == "hnsw"
                leaving = list(store.articles(outgoing).values())
                words = Counter(store.vocabulary())
                words.subtract(count_words(leaving))
                words.update(count_words(incoming))
                store.set_vocabulary(words)
                evidence = store.name_evidence()
                evidence.remove(count_name_evidence(leaving))
                evidence.add(count_name_evidence(incoming))
                store.set_name_evidence(evidence)
                # When each article was first seen: a changed one keeps its time; a store from
                # before these were kept says "no later than its generation".
                store.backfill_first_seen(manifest.created_at)
                removed_pids = store.remove_articles(outgoing, tombstone=tombstoning)
                store.add_articles(incoming, reading.article_files)
                store.forget_first_seen(changes.removed)
                store.set_first_seen(build.first_seen((article.id for article in changes.added), {}), keep=True)
                store.set_files(reading.files, reading.article_files, reading.copies)
                store.add_passages(row.record(embedding) for row, embedding in embeddings.with_sentences(rows))
            with build.timer.phase("stories"):
                # Changed articles leave and are placed again: most rejoin the story they were in.
                stories = store.stories()
                stories.remove(outgoing)
                stories.place(story_articles(incoming, rows, embeddings))
                store.save_stories(stories)
                story_count = stories.story_count()
                store.commit()
            crash_point("stories")
            with build.timer.phase("catalog"):
                write_catalog(store, directory / CATALOG_NAME)

            with build.timer.phase("keyword"):
                keyword_directory = directory / keyword.KEYWORD_DIRECTORY
                if outgoing:
                    # Whoosh keeps deleted passages' lengths in its merged statistics, which would
                    # skew BM25; a fresh keyword index of the live passages is exact.
                    documents = (keyword.KeywordDocument.of(passage.pid, passage.article, passage.start, passage.end)
                                 for passage in store.live_passages())
                    keyword.write_keyword_index(keyword_directory, documents,
                                                keyword.writer_processes(store.counts()[1]))
                else:
                    keyword.append_documents(keyword_directory, (
                        keyword.KeywordDocument.of(row.pid, row.article, row.start, row.end) for row in rows))
            with build.timer.phase("impacts"):
                # An add-only update appends the new segment's columns to the live arrays.
                keyword.write_impacts(keyword_directory, directory / keyword.IMPACTS_NAME,
                                      previous=None if outgoing else live / keyword.IMPACTS_NAME)
            crash_point("keyword")

            with build.timer.phase("vectors"):
                article_count, passage_count = store.counts()
                tombstones = store.tombstones()
                kind = vectors.choose_index_type(passage_count) if not tombstoning else manifest.vector_index
                index = faiss.read_index(str(live / vectors.VECTORS_NAME))
                compact = tombstoning and tombstones > vectors.COMPACT_TOMBSTONE_FRACTION * (passage_count + tombstones)
                if kind != manifest.vector_index or compact:
                    index = rebuild_vectors(store, build.cache(), manifest.dimension, kind)
                    if tombstones:
                        store.drop_tombstones()
                        store.commit()
                        tombstones = 0
                else:
                    if removed_pids and not tombstoning:
                        index.remove_ids(np.array(removed_pids, dtype=np.int64))  # type: ignore[arg-type]  # (SWIG converts)
                    if rows:
                        index.add_with_ids(np.stack([embeddings.vector(row.key) for row in rows]).astype(np.float32),
                                           np.array([row.pid for row in rows], dtype=np.int64))
                vectors.write_vector_index(index, directory / vectors.VECTORS_NAME)
            crash_point("vectors")
            fingerprints = store.fingerprints()
            build.export_query_encoder(embedder)
        finally:
            store.close()

        build.publish(build.manifest(
            model=manifest.model, dimension=manifest.dimension, articles=article_count, passages=passage_count,
            fingerprint=corpus_fingerprint(fingerprints), vector_index=kind, vector_parameters=vectors.index_parameters(kind),
            tombstones=tombstones, precision=choice,
            stories=story_count,
        ))
    return build.summary(articles=article_count, passages=passage_count, stories=story_count, embedded=embedded,
                         reused=reused,
                         vector_index=kind, precision=choice.precision, precision_reason=choice.reason, **counts)


def link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of ``source`` into ``target`` (Whoosh's lock file excepted)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.endswith("_WRITELOCK"):
            os.link(path, target / path.name)


def rebuild_vectors(store: Store, cache: EmbeddingCache, dimension: int, kind: str):
    """A fresh vector index of the live passages, from the embedding cache (compaction)."""
    rows = store.live_cache_keys()
    try:
        found = cache.get_many(key for _, key in rows)
    finally:
        cache.close()
    missing = [key for _, key in rows if key not in found]
    if missing:
        raise IndexCorruptError(f"{len(missing)} passage embeddings are missing from the cache")
    matrix = np.stack([found[key].vector for _, key in rows]) if rows else np.zeros((0, dimension))
    return vectors.build_vector_index(matrix, np.array([pid for pid, _ in rows]), kind, dimension)
