"""``indexer rebuild``: a whole new generation from the corpus (ingest, split, embed with the
cache, keyword and vector indexes, store), published atomically."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from ...errors import ArchiveError
from ...index.embeddings import Embedder
from ...index.manifest import read_manifest
from ...index.names import count_name_evidence
from ...index.precision import check_precision
from ...index.stories import Stories
from ...index.vocabulary import count_words
from ...indexing.generation import (
    BuildEmbeddings,
    BuildSummary,
    GenerationBuild,
    PassageRow,
    Progress,
    corpus_fingerprint,
    crash_point,
    passage_rows,
)
from ...ingest.corpus import CorpusReading, FieldMapping
from . import keyword, vectors
from .catalog import CATALOG_NAME, write_catalog
from .store import STORE_NAME, Store


def keyword_documents(rows: list[PassageRow]):
    for row in rows:
        yield keyword.KeywordDocument.of(row.pid, row.article, row.start, row.end)


def write_store(path: Path, reading: CorpusReading, rows: list[PassageRow],
                embeddings: BuildEmbeddings, dimension: int, stories: Stories,
                first_seen: dict[str, str]) -> None:
    store = Store(path, mode="create", dimension=dimension)
    try:
        store.add_articles(reading.articles, reading.article_files)
        store.set_first_seen(first_seen)
        store.set_files(reading.files, reading.article_files, reading.copies)
        store.set_vocabulary(count_words(reading.articles))
        store.set_name_evidence(count_name_evidence(reading.articles))
        store.add_passages(row.record(embedding) for row, embedding in embeddings.with_sentences(rows))
        store.save_stories(stories)
        store.commit()
    finally:
        store.close()


def earlier_first_seen(layout) -> dict[str, str]:
    """The first-seen times of the live generation, if there is one that can be read (a rebuild
    keeps them: rebuilding is not seeing the articles again)."""
    try:
        live = layout.current_directory()
        manifest = read_manifest(live)
        store = Store(live / STORE_NAME, dimension=manifest.dimension)
    except ArchiveError:  # damaged or unreadable: the rebuild is what repairs it
        return {}
    try:
        return store.first_seen() or dict.fromkeys((row[0] for row in store.article_rows()), manifest.created_at)
    except sqlite3.DatabaseError:
        return {}
    finally:
        store.close()


def rebuild(
    corpus: Path | str,
    index_dir: Path | str,
    model_name: str,
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
    """``precision``: auto, fp32 or bf16 (see archive/index/precision.py)."""
    check_precision(precision)
    with GenerationBuild(index_dir, corpus, wait, follow_links, cluster) as build:
        reading = build.read(fields, strict, progress)
        articles = reading.articles
        embedder = embedder or Embedder.shared(model_name)  # loads the model only if it must embed
        choice = build.choose_precision(precision, embedder, articles)
        rows = passage_rows(articles, embedder.name, precision=choice.precision, spans=reading.passage_spans)

        directory = build.new_directory()
        keyword_directory = directory / keyword.KEYWORD_DIRECTORY
        embeddings, embedded, reused = build.embed_cached(rows, embedder, progress, choice.precision)
        # After embedding, not beside it: a writer thread beside the model cost the embed phase
        # more than Whoosh's multi-process writer takes afterwards on every core (docs/design.md).
        if progress:
            progress("keyword", 0, 1)
        with build.timer.phase("keyword"):
            keyword.write_keyword_index(keyword_directory, keyword_documents(rows),
                                        keyword.writer_processes(len(rows)))
        with build.timer.phase("impacts"):
            keyword.write_impacts(keyword_directory, directory / keyword.IMPACTS_NAME)
        crash_point("keyword")

        with build.timer.phase("vectors"):
            dimension = embeddings.dimension
            kind = vectors.choose_index_type(len(rows))
            matrix = np.stack([embeddings.vector(row.key) for row in rows])
            index = vectors.build_vector_index(matrix, np.array([row.pid for row in rows]), kind, dimension)
            vectors.write_vector_index(index, directory / vectors.VECTORS_NAME)
            del index, matrix  # written: 5 GB at 1.5M passages that stories and the store need more
        crash_point("vectors")

        stories = build.group_stories(articles, rows, embeddings, dimension)

        with build.timer.phase("store"):
            seen = build.first_seen((article.id for article in articles), earlier_first_seen(build.layout))
            write_store(directory / STORE_NAME, reading, rows, embeddings, dimension, stories, seen)
        with build.timer.phase("catalog"):
            store = Store(directory / STORE_NAME, dimension=dimension)
            try:
                write_catalog(store, directory / CATALOG_NAME)
            finally:
                store.close()
        build.export_query_encoder(embedder)

        build.publish(build.manifest(
            model=embedder.name, dimension=dimension, articles=len(articles), passages=len(rows),
            fingerprint=corpus_fingerprint({article.id: article.fingerprint() for article in articles}),
            vector_index=kind, vector_parameters=vectors.index_parameters(kind), precision=choice,
            stories=stories.story_count(),
        ))
    return build.summary(
        articles=len(articles), passages=len(rows), skipped=[item.to_dict() for item in reading.skipped],
        records=reading.records_dict(), embedded=embedded, reused=reused, vector_index=kind, added=len(articles),
        stories=stories.story_count(),
        precision=choice.precision, precision_reason=choice.reason,
    )
