"""``indexer update``: bring the live index in line with the corpus without a full rebuild.

The live generation is copied to a new build directory; removed and changed articles are
deleted from the copy's keyword index, vector index and store; new and changed ones are
added (re-embedding only passages whose text the cache has not seen); then the copy is
published exactly as a rebuild is. Readers never see a half-applied update, and a crash
leaves the previous generation live.

Keyword statistics: when an update deletes anything, the keyword index is merged into one
segment so that BM25 statistics count no deleted passages and results equal a full rebuild's.
Vector index: flat indexes remove vectors; HNSW cannot, so removed passages are tombstoned
in the store (search skips them) and the vectors are rebuilt from the cache once tombstones
pass ``COMPACT_TOMBSTONE_FRACTION`` of the index.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
import time
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
from whoosh import index as whoosh_index

from . import keyword, vectors
from .build import (
    BuildSummary,
    Progress,
    corpus_fingerprint,
    crash_point,
    embed_rows,
    existing_corpus,
    keyword_documents,
    passage_rows,
    read_checked,
)
from .changes import compare
from .corpus import FieldMapping
from .embedding_cache import EmbeddingCache
from .embeddings import Embedder
from .errors import IndexCorruptError, ModelError
from .generations import IndexLayout, build_lock
from .manifest import Manifest, read_manifest, write_manifest
from .store import STORE_NAME, Store
from .vocabulary import count_words


def update(
    corpus: Path | str,
    index_dir: Path | str,
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
        live = layout.current_directory()
        manifest = read_manifest(live)
        phase = time.perf_counter()
        live_store = Store(live / STORE_NAME, dimension=manifest.dimension)
        try:
            known, indexed = live_store.known_files(), live_store.fingerprints()
        finally:
            live_store.close()
        reading = read_checked(corpus, fields, strict, known)
        changes = compare(reading.articles, indexed, unchanged_ids(reading, known))
        seconds["ingest"] = round(time.perf_counter() - phase, 3)
        summary = BuildSummary(
            articles=manifest.articles, passages=manifest.passages, skipped=[item.to_dict() for item in reading.skipped],
            generation=manifest.generation, index_dir=str(layout.root), faiss_type=manifest.faiss_type,
            added=len(changes.added), changed=len(changes.changed), removed=len(changes.removed),
            unchanged=changes.unchanged,
        )
        if changes.pending == 0:
            seconds["total"] = round(time.perf_counter() - started, 3)
            summary.seconds = seconds
            return summary

        embedder = embedder or Embedder.shared(manifest.model)  # loaded only if something needs embedding
        if embedder.name != manifest.model:
            raise ModelError(f"the index was built with {manifest.model}, not {embedder.name}",
                             hint="run `indexer rebuild --model ...` to change models")

        generation, build_directory = layout.new_build_directory()
        phase = time.perf_counter()
        incoming = changes.added + changes.changed
        outgoing = changes.removed + [article.id for article in changes.changed]
        # The store changes in place, so it is copied. The vector index is read from the live
        # generation and written anew. Whoosh only ever adds files, so an add-only update links
        # the live segments; an update that deletes builds a fresh keyword index instead.
        shutil.copy2(live / STORE_NAME, build_directory / STORE_NAME)
        if not outgoing:
            link_tree(live / keyword.KEYWORD_DIRECTORY, build_directory / keyword.KEYWORD_DIRECTORY)
        seconds["copy"] = round(time.perf_counter() - phase, 3)
        crash_point("ingest")

        store = Store(build_directory / STORE_NAME, mode="write", dimension=manifest.dimension)
        try:
            rows = passage_rows(incoming, embedder.name, first_pid=store.max_pid() + 1)
            cache = EmbeddingCache(layout.cache_path)
            try:
                phase = time.perf_counter()
                was_loaded = embedder.loaded
                embeddings, summary.embedded, summary.reused, _ = embed_rows(rows, embedder, cache, progress)
                load_seconds = embedder.load_seconds if embedder.loaded and not was_loaded else 0.0
                seconds["load_model"] = round(load_seconds, 3)
                seconds["embed"] = round(time.perf_counter() - phase - load_seconds, 3)
            finally:
                cache.close()
            if any(embedding.vector.shape[0] != manifest.dimension for embedding in embeddings.values()):
                raise ModelError(f"{embedder.name} does not give {manifest.dimension}-dimensional vectors",
                                 hint="run `indexer rebuild` to rebuild with this model")

            phase = time.perf_counter()
            tombstoning = manifest.faiss_type == "hnsw"
            words = Counter(store.vocabulary())
            words.subtract(count_words(article for article in store.articles(outgoing).values()))
            words.update(count_words(incoming))
            store.set_vocabulary(words)
            removed_pids = store.remove_articles(outgoing, tombstone=tombstoning)
            store.add_articles(incoming, reading.article_files)
            store.set_files(reading.files, reading.article_files)
            store.add_passages(
                (row.pid, row.article.id, row.ordinal, row.start, row.end, row.key,
                 embeddings[row.key].sentence_spans, embeddings[row.key].sentence_vectors)
                for row in rows
            )
            store.commit()
            seconds["store"] = round(time.perf_counter() - phase, 3)

            phase = time.perf_counter()
            keyword_directory = build_directory / keyword.KEYWORD_DIRECTORY
            if outgoing:
                # Whoosh keeps deleted passages' lengths in its merged statistics, which would
                # skew BM25; a fresh keyword index of the live passages is exact.
                keyword.write_keyword_index(keyword_directory, store.keyword_documents(),
                                            keyword.writer_processes(store.counts()[1]))
            else:
                index = whoosh_index.open_dir(str(keyword_directory), indexname=keyword.INDEX_NAME)
                writer = index.writer(limitmb=256)
                for document in keyword_documents(rows):
                    keyword.add_document(writer, document)
                writer.commit()
            seconds["keyword"] = round(time.perf_counter() - phase, 3)
            crash_point("keyword")

            phase = time.perf_counter()
            article_count, passage_count = store.counts()
            tombstones = store.tombstones()
            vector_path = build_directory / vectors.VECTORS_NAME
            kind = vectors.choose_index_type(passage_count) if not tombstoning else manifest.faiss_type
            index_vectors = faiss.read_index(str(live / vectors.VECTORS_NAME))
            needs_compaction = tombstoning and tombstones > vectors.COMPACT_TOMBSTONE_FRACTION * (passage_count + tombstones)
            if kind != manifest.faiss_type or needs_compaction:
                index_vectors = rebuild_vectors(store, layout, embedder.name, manifest.dimension, kind)
                if tombstones:
                    store.connection.execute("DELETE FROM passages WHERE deleted = 1")
                    store.commit()
                    tombstones = 0
            else:
                if removed_pids and not tombstoning:
                    index_vectors.remove_ids(np.array(removed_pids, dtype=np.int64))
                if rows:
                    index_vectors.add_with_ids(
                        np.stack([embeddings[row.key].vector for row in rows]).astype(np.float32),
                        np.array([row.pid for row in rows], dtype=np.int64))
            vectors.write_vector_index(index_vectors, vector_path)
            seconds["vectors"] = round(time.perf_counter() - phase, 3)
            crash_point("vectors")
            fingerprints = store.fingerprints()
        finally:
            store.close()

        write_manifest(build_directory, Manifest(
            generation=generation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model=manifest.model, dimension=manifest.dimension, articles=article_count, passages=passage_count,
            corpus_path=str(corpus.resolve()), corpus_fingerprint=corpus_fingerprint(fingerprints),
            faiss_type=kind, faiss_parameters=vectors.index_parameters(kind), tombstones=tombstones,
            build_seconds=round(time.perf_counter() - started, 3),
        ))
        crash_point("publish")
        phase = time.perf_counter()
        layout.publish(build_directory, generation)
        layout.prune()
        seconds["publish"] = round(time.perf_counter() - phase, 3)
    seconds["total"] = round(time.perf_counter() - started, 3)
    summary.articles, summary.passages, summary.generation, summary.faiss_type = article_count, passage_count, generation, kind
    summary.seconds = seconds
    return summary


def link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of ``source`` into ``target`` (Whoosh's lock file excepted)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.endswith("_WRITELOCK"):
            os.link(path, target / path.name)


def unchanged_ids(reading, known) -> set[str]:
    """Articles of files skipped because their size and modification time are unchanged."""
    return {article_id for file in reading.unchanged_files for article_id in known[file][1]}


def rebuild_vectors(store: Store, layout: IndexLayout, model_name: str, dimension: int, kind: str):
    """A fresh vector index of the live passages, from the embedding cache (compaction)."""
    rows = list(store.connection.execute("SELECT pid, cache_key FROM passages WHERE deleted = 0 ORDER BY pid"))
    cache = EmbeddingCache(layout.cache_path)
    try:
        found = cache.get_many(key for _, key in rows)
    finally:
        cache.close()
    missing = [key for _, key in rows if key not in found]
    if missing:
        raise IndexCorruptError(f"{len(missing)} passage embeddings are missing from the cache")
    matrix = np.stack([found[key].vector for _, key in rows]) if rows else np.zeros((0, dimension))
    return vectors.build_vector_index(matrix, np.array([pid for pid, _ in rows]), kind, dimension)
