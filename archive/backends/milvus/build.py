"""Rebuilds and updates of a Milvus backend (collections: client.py).

Both read the corpus, split it and embed it exactly as the embedded backend does, through
the same embedding cache (in the work directory, ``--index``), so moving an archive to Milvus
re-embeds nothing. Story grouping is the same code too.

``rebuild`` writes a new generation's collections and only then switches the pointer (and
alias); a crash leaves the old generation live, and the next rebuild drops the leftovers.
``update`` changes the live collections in place, by article id: new passages are upserted
(under new pids) before the old ones are deleted, then the articles, the records and last
the pointer's manifest. A changed article keeps its number; a new one takes a number a
removed one left, or the next. Readers notice the new manifest within a second and reopen. A crashed
update is finished by the next one (see ``update_milvus``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ...errors import IndexCorruptError, IndexNotFoundError
from ...index.catalog import source_key
from ...index.embeddings import Embedder, PassageEmbedding
from ...index.manifest import manifest_from_dict
from ...index.names import NameEvidence, count_name_evidence
from ...index.precision import check_precision
from ...index.stories import Stories
from ...index.vocabulary import count_words
from ...indexing.generation import (
    BuildSummary,
    GenerationBuild,
    PassageRow,
    Progress,
    check_same_model,
    corpus_fingerprint,
    crash_point,
    passage_rows,
    story_articles,
    update_precision,
)
from ...ingest.articles import Article
from ...ingest.corpus import CorpusReading, FieldMapping
from ...settings import MilvusAccess
from .client import (
    DEFAULT_PREFIX,
    IN_BATCH,
    INSERT_BATCH,
    REBUILD_HINT,
    RECORD_VECTOR,
    Collections,
    Milvus,
    article_key,
    connect,
    create_generation,
    drop_generations,
    encode_array,
    literal,
    part_key,
    read_pointer,
    record_key,
    sentence_fields,
    story_key,
    text_parts,
    write_pointer,
)
from .store import MilvusStore

VECTOR_KIND = "milvus-flat"  # the manifest's vector index: Milvus, FLAT, inner product
VECTOR_PARAMETERS = {"index_type": "FLAT", "metric_type": "IP"}
FIELD_CHARACTERS = {"title": 2_000, "source": 500, "url": 2_000, "path": 2_000, "author": 500, "file": 2_000}
MAX_BYTES = 65_535
MAX_WORD_CHARACTERS = 100
SUMMARY_SOURCES = 50  # sources the summary keeps (the most frequent)
FREE_PER_RECORD = 4_000  # free article numbers per record: well within one VARCHAR as JSON


def fit(text: str) -> str:
    """Text cut to fit one Milvus VARCHAR (bytes, in UTF-8)."""
    encoded = text.encode("utf-8")
    return text if len(encoded) <= MAX_BYTES else encoded[:MAX_BYTES].decode("utf-8", errors="ignore")


def capped(field: str, value: str | None) -> str | None:
    """A metadata value cut so that an article's metadata always fits one VARCHAR as JSON."""
    return value[: FIELD_CHARACTERS[field]] if value else value


def passage_row(row: PassageRow, embedding: PassageEmbedding, story: tuple[str, int], number: int) -> dict:
    """(``story``: its id and size.)"""
    article = row.article
    return {"pid": row.pid, "article_key": article_key(article.id), "article_id": article.id, "number": number,
            "body": fit(f"{article.title}\n{article.text[row.start:row.end]}"), "title": fit(article.title),
            "dense": np.asarray(embedding.vector, dtype=np.float32).tolist(), "date": article.date or "",
            "source_key": source_key(capped("source", article.source)), "source": capped("source", article.source) or "",
            "story_id": story[0], "story_size": story[1], "story_key": story_key(story[0]),
            "ordinal": row.ordinal, "start": row.start, "end": row.end, "cache_key": row.key,
            **sentence_fields(embedding.sentence_spans, embedding.sentence_vectors)}


def article_rows(articles: list[Article], stories: Stories, first_seen: dict[str, str],
                 numbers: dict[str, int]) -> list[dict]:
    """Each article's rows: number, metadata (when it was first seen too), story, vector and
    signature on the first; its text in parts."""
    stored = {row[0]: row for row in stories.rows([article.id for article in articles])}
    rows = []
    for article in articles:
        _, story, vector, signature = stored[article.id]
        size = len(stories.members[story])
        fields = json.dumps({"title": capped("title", article.title), "source": capped("source", article.source),
                             "url": capped("url", article.url), "path": capped("path", article.path),
                             "author": capped("author", article.author), "date_kind": article.date_kind,
                             "fingerprint": article.fingerprint(), "length": len(article.text),
                             "first_seen": first_seen.get(article.id)}, ensure_ascii=False)
        vector_values = np.frombuffer(vector, dtype=np.float16).astype(np.float32).tolist()
        signature_text = encode_array(np.frombuffer(signature, dtype=np.uint32), np.uint32)
        parts = list(enumerate(text_parts(article.text)))
        for part, text in parts[1:] + parts[:1]:  # the first part (with the fingerprint) last: it says "stored"
            rows.append({"key": part_key(article.id, part), "article_key": article_key(article.id),
                         "article_id": article.id, "part": part, "number": numbers[article.id],
                         "source": capped("source", article.source) or "", "text": text, "fields": fields,
                         "date": article.date or "", "story_id": story, "story_size": size,
                         "signature": signature_text, "vector": vector_values})
    return rows


def earlier_first_seen(milvus: Milvus, prefix: str, live: dict | None, dimension: int) -> dict[str, str]:
    """The live generation's first-seen times (a rebuild keeps them); for one written before
    these were kept, its creation time for each of its articles."""
    if not live:
        return {}
    try:
        store = MilvusStore(milvus, Collections.of(prefix, live["collections"]), dimension)
        known = store.article_ids()
        seen = store.first_seen()
    except Exception:  # a live generation of another layout, or damaged: the rebuild is what replaces it
        return {}
    created = (live.get("manifest") or {}).get("created_at")
    return {**(dict.fromkeys(known, created) if created else {}), **seen}


def record(kind: str, about: tuple[str, ...], value: object) -> dict:
    return {"key": record_key(kind, *about), "kind": kind, "value": json.dumps(value, ensure_ascii=False),
            "vector": RECORD_VECTOR}


def summary_record(dated_sources: Iterable[tuple[str | None, str | None]]) -> dict:
    """The archive's date span and its most frequent sources (what the home page and ``stats``
    show), from (date, source) of every article: one record, so no web process reads them all."""
    dates: list[str] = []
    sources: Counter[str] = Counter()
    for date, source in dated_sources:
        if date:
            dates.append(date)
        if source:
            sources[source] += 1
    ranked = sorted(sources.items(), key=lambda item: (-item[1], item[0]))[:SUMMARY_SOURCES]
    return record("summary", (), {"dates": [min(dates), max(dates)] if dates else [None, None],
                                  "sources": [[source, count] for source, count in ranked]})


def free_records(free: list[int], generation: str) -> dict[str, dict]:
    """Key -> record of the article numbers no article of ``generation`` has, a few thousand to
    a record (each generation's apart: readers of the one before keep reading theirs)."""
    made = [record("free", (generation, str(start)), {"generation": generation,
                                                     "numbers": free[start : start + FREE_PER_RECORD]})
            for start in range(0, len(free), FREE_PER_RECORD)]
    return {row["key"]: row for row in made}


def numbered(stored: dict[str, int], removed: Iterable[str], incoming: Iterable[str], next_number: int,
             reusable: Iterable[int]) -> tuple[dict[str, int], list[int], int]:
    """Numbers for an update: articles kept keep theirs (a changed one too); new ones take the
    ``reusable`` numbers first (those the live generation left free: no reader of it counts
    them), then the next. A removed article's number is not given again before the next
    update: readers of the live generation still count it as that article's. Returns (every
    article's number, the numbers left free, the next number). A stored number outside those
    the pointer gave (``next_number``, or a crashed update's) is a damaged archive."""
    numbers = dict(stored)
    wrong = [number for number in numbers.values() if not 0 <= number < next_number]
    if wrong:
        raise IndexCorruptError(f"an article in Milvus has number {wrong[0]:,}, outside the {next_number:,} "
                                "the archive gave", hint=REBUILD_HINT)
    for article_id in removed:
        numbers.pop(article_id, None)
    used = set(stored.values())
    free = iter(sorted({number for number in reusable if 0 <= number < next_number} - used))
    for article_id in incoming:
        if article_id not in numbers:
            number = next(free, None)
            if number is None:
                number, next_number = next_number, next_number + 1
            numbers[article_id] = number
    taken = np.zeros(next_number, dtype=bool)
    taken[list(numbers.values())] = True
    return numbers, np.flatnonzero(~taken).tolist(), next_number


def word_records(words: Counter, evidence: NameEvidence, only: set[str] | None = None) -> dict[str, dict]:
    """Key -> record of each word's (count, capitalised, lowercase), for the words in ``only`` (or
    all); a "word" longer than any real one (a run of letters in a URL, say) is not kept."""
    chosen = only if only is not None else set(words) | set(evidence.capitalised) | set(evidence.lowercase)
    records = {}
    for word in chosen:
        if len(word) > MAX_WORD_CHARACTERS:
            continue
        counts = [max(words[word], 0), max(evidence.capitalised[word], 0), max(evidence.lowercase[word], 0)]
        if any(counts):
            made = record("word", (word,), [word, *counts])
            records[made["key"]] = made
    return records


def file_records(reading: CorpusReading) -> dict[str, dict]:
    """Key -> record of the corpus files as read now, which file each article came from, and which
    files hold a second copy of an article: one row each (a crawl may own thousands)."""
    made = [record("file", (path,), [path, size, mtime]) for path, (size, mtime) in reading.files.items()]
    made += [record("owner", (article_id,), [article_id, fit_path(file)])
             for article_id, file in reading.article_files.items()]
    made += [record("copy", (file, article_id), [fit_path(file), article_id])
             for file, article_ids in reading.copies.items() for article_id in article_ids]
    return {row["key"]: row for row in made}


def fit_path(path: str) -> str:
    return path if len(path) <= FIELD_CHARACTERS["file"] * 4 else path[: FIELD_CHARACTERS["file"] * 4]


def sync_records(milvus: Milvus, collections: Collections, kinds: tuple[str, ...], wanted: dict[str, dict],
                 only: set[str] | None = None) -> None:
    """Make the stored records of ``kinds`` (those in ``only``, by key, when given) what ``wanted``
    says: changed ones written, missing ones deleted, unchanged ones left alone."""
    if only is not None:  # by key: a few words of a large vocabulary
        stored = {row["key"]: row["value"] for row in milvus.rows_in(collections.records, "key", sorted(only),
                                                                      ["key", "value"])}
    else:
        stored = {row["key"]: row["value"] for kind in kinds
                  for row in milvus.rows(collections.records, f"kind == {literal(kind)}", ["key", "value"])}
    changed = [row for key, row in wanted.items() if stored.get(key) != row["value"]]
    gone = [key for key in stored if key not in wanted]
    for start in range(0, len(changed), INSERT_BATCH):
        milvus.upsert(collections.records, changed[start : start + INSERT_BATCH])
    for start in range(0, len(gone), IN_BATCH):
        milvus.delete(collections.records, filter=f"key in {literal(gone[start : start + IN_BATCH])}")


def rebuild_milvus(corpus: Path | str, uri: str, work_dir: Path | str, model_name: str, *,
                   prefix: str = DEFAULT_PREFIX, fields: FieldMapping | None = None, strict: bool = False,
                   wait: bool = False, follow_links: bool = False, access: MilvusAccess | None = None,
                   progress: Progress | None = None,
                   embedder: Embedder | None = None,
                   precision: str = "auto", cluster: str | None = None) -> BuildSummary:
    """A whole new generation in Milvus, then the switch. ``work_dir`` holds the embedding
    cache, the ONNX query encoder and the build lock; nothing of the archive itself."""
    check_precision(precision)
    with GenerationBuild(work_dir, corpus, wait, follow_links, cluster) as build:
        reading = build.read(fields, strict, progress)
        articles = reading.articles
        embedder = embedder or Embedder.shared(model_name)
        milvus = connect(uri, create=True, access=access)  # fails early when Milvus is not there
        choice = build.choose_precision(precision, embedder, articles)
        rows = passage_rows(articles, embedder.name, precision=choice.precision, spans=reading.passage_spans)
        embeddings, embedded, reused = build.embed_cached(rows, embedder, progress, choice.precision)
        dimension = embeddings.dimension
        stories = build.group_stories(articles, rows, embeddings, dimension)

        collections = Collections.of(prefix, build.new_generation())
        live = read_pointer(milvus, prefix, for_rebuild=True)
        with build.timer.phase("milvus"):
            drop_generations(milvus, prefix, keep={live["collections"]} if live else set())  # crashed builds' too
            create_generation(milvus, collections, dimension)
            numbers = {article_id: number for number, article_id in enumerate(sorted(article.id for article in articles))}
            placed = stories.placed()
            milvus.insert_rows(collections.passages, (
                passage_row(row, embedding, placed[row.article.id], numbers[row.article.id])
                for row, embedding in embeddings.with_sentences(rows)))
            crash_point("milvus")
            earlier = earlier_first_seen(milvus, prefix, live, dimension)
            seen = build.first_seen((article.id for article in articles), earlier)
            milvus.insert_rows(collections.articles, article_rows(articles, stories, seen, numbers))
            records = word_records(count_words(articles), count_name_evidence(articles)) | file_records(reading)
            summary_row = summary_record((article.date, capped("source", article.source)) for article in articles)
            milvus.insert_rows(collections.records, [*records.values(), summary_row])
        build.export_query_encoder(embedder)
        manifest = build.manifest(
            model=embedder.name, dimension=dimension, articles=len(articles), passages=len(rows),
            fingerprint=corpus_fingerprint({article.id: article.fingerprint() for article in articles}),
            vector_index=VECTOR_KIND, vector_parameters=VECTOR_PARAMETERS, precision=choice,
            stories=stories.story_count())
        crash_point("publish")
        with build.timer.phase("publish"):
            write_pointer(milvus, prefix, collections, manifest.to_dict(), len(rows), len(articles))
            drop_generations(milvus, prefix, keep={collections.generation} | ({live["collections"]} if live else set()))
    summary = build.summary(
        articles=len(articles), passages=len(rows), skipped=[item.to_dict() for item in reading.skipped],
        records=reading.records_dict(), embedded=embedded, reused=reused, vector_index=VECTOR_KIND, added=len(articles),
        stories=stories.story_count(), precision=choice.precision, precision_reason=choice.reason)
    summary.location = uri
    return summary


def update_milvus(corpus: Path | str, uri: str, work_dir: Path | str, *, prefix: str = DEFAULT_PREFIX,
                  fields: FieldMapping | None = None, strict: bool = False, wait: bool = False,
                  follow_links: bool = False, access: MilvusAccess | None = None,
                  progress: Progress | None = None, embedder: Embedder | None = None,
                  precision: str = "auto", cluster: str | None = None) -> BuildSummary:
    """Bring the live Milvus generation in line with the corpus, in place, by article id.

    Before it changes anything, an update marks the pointer ``pending`` with the passage ids it
    takes. A crash then leaves that mark, and the next update finishes the job: it redoes what
    is still different (new passages get fresh ids, and every passage of an article it writes
    that is older than its own ids goes), and counts the vocabulary and the manifest afresh."""
    check_precision(precision)
    milvus = connect(uri, access=access)
    with GenerationBuild(work_dir, corpus, wait, follow_links, cluster) as build:
        pointer = read_pointer(milvus, prefix)
        if pointer is None:
            raise IndexNotFoundError(f"no archive in Milvus at {uri}", hint="run `indexer rebuild --backend milvus` first")
        manifest = manifest_from_dict(pointer.get("manifest"), f"the manifest in Milvus at {uri}")
        choice = update_precision(precision, manifest)
        collections = Collections.of(prefix, pointer["collections"])
        store = MilvusStore(milvus, collections, manifest.dimension)
        pending = pointer.get("pending")  # an update crashed: finish its job
        recovering = pending is not None
        crashed = {str(article_id) for article_id in store.records("pending")} if recovering else None
        found = build.read_changes(store, fields, strict, progress, crashed)
        reading, changes, counts = found.reading, found.changes, found.counts()
        crashed = crashed or set()
        if changes.pending == 0 and not recovering:
            with build.timer.phase("milvus"):
                sync_records(milvus, collections, ("file", "owner", "copy"), file_records(reading))  # renamed files
            return build.unchanged_summary(manifest, choice, found, uri)
        incoming = changes.added + changes.changed
        outgoing = changes.removed + [article.id for article in changes.changed]
        embedder = embedder or Embedder.shared(manifest.model)
        if incoming:
            check_same_model(embedder, manifest)
        first_pid = max(int(pointer.get("next_pid", 0)), int((pending or {}).get("next_pid", 0)))
        rows = passage_rows(incoming, embedder.name, first_pid=first_pid, precision=choice.precision,
                            spans=found.reading.passage_spans)
        embeddings, embedded, reused = build.embed_cached(rows, embedder, progress, choice.precision, manifest.dimension)
        with build.timer.phase("stories"):
            stories, written_before = store.stories()
            stories.remove(outgoing)
            stories.place(story_articles(incoming, rows, embeddings))
            placed = stories.placed()
            # Every other article whose story or story size its rows do not say (a merge, a story that
            # gained or lost articles, or what a crashed update left half written) is written again.
            written = {article.id for article in incoming}
            restoried = {article_id: story for article_id, story in written_before.items()
                         if article_id not in written and article_id in placed and placed[article_id] != story}
        crash_point("stories")

        next_pid = first_pid + len(rows)
        touched = list(dict.fromkeys(outgoing + [article.id for article in incoming] + sorted(crashed)))
        published = int(pointer.get("next_number", 0))  # what readers of the live manifest count with
        numbers, free, next_number = numbered(store.numbers(), changes.removed, [article.id for article in incoming],
                                              max(published, int((pending or {}).get("next_number", 0))),
                                              store.free_numbers(manifest.generation))
        generation = build.new_generation()
        with build.timer.phase("milvus"):
            # Say what is about to change before changing it: the articles (those whose story rows are
            # written again too: a crash leaves them to the next update to write whole), then the passage ids.
            milvus.insert_rows(collections.records, (record("pending", (article_id,), article_id)
                                                     for article_id in touched + sorted(set(restoried) - set(touched))))
            # (The pointer keeps the live generation's limits, so readers leave out what is being written.)
            write_pointer(milvus, prefix, collections, manifest.to_dict(), int(pointer.get("next_pid", 0)), published,
                          pending={"first_pid": first_pid, "next_pid": next_pid, "next_number": next_number})
            leaving = list(store.articles(outgoing).values())
            if not store.records("seen_before"):  # articles stored before first-seen times were kept
                milvus.insert_rows(collections.records, [record("seen_before", (), manifest.created_at)])
            kept = store.first_seen([article.id for article in changes.changed])  # a changed article is not news
            seen = build.first_seen((article.id for article in incoming),
                                    {**dict.fromkeys((article.id for article in changes.changed),
                                                     manifest.created_at), **kept})
            # New passages first, under fresh ids; then every older passage of the articles written or removed.
            for start in range(0, len(rows), INSERT_BATCH):
                milvus.upsert(collections.passages, [
                    passage_row(row, embedding, placed[row.article.id], numbers[row.article.id])
                    for row, embedding in embeddings.with_sentences(rows[start : start + INSERT_BATCH])])
            crash_point("milvus")
            milvus.delete_articles(collections.passages, touched, extra=f"pid < {first_pid}")
            milvus.delete_articles(collections.articles, touched)
            milvus.insert_rows(collections.articles, article_rows(incoming, stories, seen, numbers))
            restory(milvus, collections, {article_id: placed[article_id] for article_id in restoried})
            sync_records(milvus, collections, ("file", "owner", "copy"), file_records(reading))
            freed = free_records(free, generation)  # (the live generation's stay until the new one is published)
            if freed:
                milvus.upsert(collections.records, list(freed.values()))
            summary_row = summary_record((row[1], row[2]) for row in store.article_rows())
            sync_records(milvus, collections, ("summary",), {summary_row["key"]: summary_row})
            if recovering:  # what a crashed update applied is unknown: count the vocabulary afresh
                sync_records(milvus, collections, ("word",), word_records(*count_stored(store)))
            else:
                update_words(milvus, collections, store, leaving, incoming)
            fingerprints = store.fingerprints()
            passages = store.count(collections.passages)
        updated = build.manifest(
            model=manifest.model, dimension=manifest.dimension, articles=len(fingerprints), passages=passages,
            fingerprint=corpus_fingerprint(fingerprints), vector_index=manifest.vector_index,
            vector_parameters=VECTOR_PARAMETERS, precision=choice,
            stories=stories.story_count())
        updated.generation = generation
        with build.timer.phase("publish"):
            write_pointer(milvus, prefix, collections, updated.to_dict(), next_pid, next_number)
            milvus.delete(collections.records, filter='kind == "pending"')
            # Free numbers of the generations before the one just replaced go (a reader that read its pointer
            # a moment ago still finds its own).
            replaced = free_records(store.free_numbers(manifest.generation), manifest.generation)
            sync_records(milvus, collections, ("free",), {**replaced, **freed})
    summary = build.summary(articles=len(fingerprints), passages=passages, stories=stories.story_count(),
                            embedded=embedded, reused=reused, vector_index=manifest.vector_index,
                            precision=choice.precision, precision_reason=choice.reason, **counts)
    summary.location = uri
    return summary


def count_stored(store: MilvusStore, batch: int = 256) -> tuple[Counter, NameEvidence]:
    """The vocabulary and name evidence of every stored article, read a batch at a time."""
    words: Counter[str] = Counter()
    evidence = NameEvidence()
    article_ids = sorted(store.fingerprints())
    for start in range(0, len(article_ids), batch):
        articles = list(store.articles(article_ids[start : start + batch]).values())
        words.update(count_words(articles))
        evidence.add(count_name_evidence(articles))
    return words, evidence


def update_words(milvus: Milvus, collections: Collections, store: MilvusStore, leaving: list[Article],
                 incoming: list[Article]) -> None:
    """The vocabulary and name evidence, less the articles leaving and plus those coming in:
    only the words whose counts change are written."""
    words = Counter(store.vocabulary())
    evidence = store.name_evidence()
    leaving_words, incoming_words = count_words(leaving), count_words(incoming)
    leaving_evidence, incoming_evidence = count_name_evidence(leaving), count_name_evidence(incoming)
    words.subtract(leaving_words)
    words.update(incoming_words)
    evidence.remove(leaving_evidence)
    evidence.add(incoming_evidence)
    touched = set(leaving_words) | set(incoming_words) | set(leaving_evidence.capitalised) \
        | set(leaving_evidence.lowercase) | set(incoming_evidence.capitalised) | set(incoming_evidence.lowercase)
    sync_records(milvus, collections, ("word",), word_records(words, evidence, touched),
                 only={record_key("word", word) for word in touched})


PASSAGE_COLUMNS = ["pid", "article_key", "article_id", "number", "body", "title", "dense", "date", "source_key",
                   "source", "story_id", "story_size", "story_key", "ordinal", "start", "end", "cache_key", "sentence_spans",
                   "sentence_vectors"]
ARTICLE_COLUMNS = ["key", "article_key", "article_id", "part", "number", "source", "text", "fields", "date",
                   "story_id", "story_size", "signature", "vector"]


def restory(milvus: Milvus, collections: Collections, stories: dict[str, tuple[str, int]]) -> None:
    """Articles whose story or story size an update changed: their rows are written again with
    it, passages first, each article's first part last, ``IN_BATCH`` articles at a time. (Until
    the update is published, readers of the live generation may see a story's new size on
    some of its hits: a count of versions, never of matches. A crash here leaves these articles
    among the pending ones, and the next update writes them whole.)"""
    article_ids = sorted(stories)
    for start in range(0, len(article_ids), IN_BATCH):
        batch = article_ids[start : start + IN_BATCH]
        for collection, columns in ((collections.passages, PASSAGE_COLUMNS), (collections.articles, ARTICLE_COLUMNS)):
            rows = milvus.rows_of(collection, batch, columns)
            rows.sort(key=lambda row: row.get("part") == 0)
            for row in rows:
                row["story_id"], row["story_size"] = stories[row["article_id"]]
                if "story_key" in row:  # (passage rows)
                    row["story_key"] = story_key(row["story_id"])
                for field in ("dense", "vector"):
                    if field in row:
                        row[field] = [float(value) for value in row[field]]
            for first in range(0, len(rows), INSERT_BATCH):
                milvus.upsert(collection, rows[first : first + INSERT_BATCH])
            crash_point("restory")  # (the tests': passages written again, their articles' rows not yet)
