import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import BACKENDS
from test_build import run_indexer

from archive.archive import Archive
from archive.backends import EmbeddedBackend, MilvusBackend
from archive.backends.embedded.rebuild import rebuild
from archive.backends.embedded.update import update
from archive.index.layout import IndexLayout
from archive.indexing.generation import CRASH_VARIABLE
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

QUERIES = ["potash exports", "Lukashenka", "ground operation", "Putin visit Minsk", "drones over Kyiv", "fertiliser sanctions"]


def change_corpus(corpus):
    (corpus / "new-story.txt").write_text(
        "Drones shot down over Kyiv\n\nNine Iranian-made Shahed drones were shot down over Kyiv on Monday, "
        "the city's military administration said, as Putin met Lukashenko in Minsk.\n")
    (corpus / "003_5efb497116866064.txt").unlink()
    path = corpus / "002_e11880221c40fa9a.txt"
    path.write_text(path.read_text().replace("Belarusian Hajun", "The Belarusian Hajun monitoring project"))


@pytest.fixture(params=BACKENDS)
def store(request, fresh_index, tmp_path):
    """Where the tests' index lives: each test runs on both backends (Milvus: a Milvus Lite file)."""
    if request.param == "embedded":
        return EmbeddedBackend(fresh_index)
    return MilvusBackend(str(tmp_path / "archive.db"), fresh_index)


def backend_options(store) -> list[str]:
    """The CLI options that choose ``store``."""
    if store.name == "embedded":
        return ["--index", str(store.layout.root)]
    return ["--index", str(store.work_dir), "--backend", "milvus", "--milvus-uri", store.uri]


def results(index_dir, embedder):
    archive = Archive.open(index_dir, embedder=embedder)
    try:
        found = {}
        for query in QUERIES:
            for mode in ("hybrid", "keyword", "semantic"):
                response = archive.search(query, mode=mode, k=10).to_dict()
                response.pop("took_ms")
                found[(query, mode)] = response
        return found
    finally:
        archive.close()


def test_update_equals_a_full_rebuild_of_the_same_corpus(store, corpus_copy, fresh_index, tmp_path, embedder):
    store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    change_corpus(corpus_copy)
    summary = store.update(corpus_copy, embedder=embedder)
    assert (summary.added, summary.changed, summary.removed, summary.unchanged) == (1, 1, 1, 3)
    assert summary.embedded >= 2 and summary.reused >= 1  # only passages with new text are embedded
    full = tmp_path / "full"
    full.mkdir()
    (full / "embedding-cache.sqlite").write_bytes((fresh_index / "embedding-cache.sqlite").read_bytes())
    rebuilt = EmbeddedBackend(full) if store.name == "embedded" else MilvusBackend(str(tmp_path / "full.db"), full)
    rebuilt.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    if store.name == "milvus":
        # Milvus counts deleted passages in its BM25 statistics until it compacts, so keyword
        # scores may differ a little after deletes; what is found, and in which order, may not.
        assert ranked(store, embedder) == ranked(rebuilt, embedder)
    else:
        assert results(store, embedder) == results(rebuilt, embedder)
    assert vocabulary(store, embedder) == vocabulary(rebuilt, embedder)


def ranked(index, embedder):
    return {key: [result["id"] for result in response["results"]] for key, response in results(index, embedder).items()}


def vocabulary(index_dir, embedder):
    archive = Archive.open(index_dir, embedder=embedder)
    try:
        return archive.current().snapshot.vocabulary.counts
    finally:
        archive.close()


def test_update_with_nothing_to_do_keeps_the_generation(store, corpus_copy, embedder):
    built = store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    summary = store.update(corpus_copy, embedder=embedder)
    assert (summary.added, summary.changed, summary.removed, summary.unchanged, summary.embedded) == (0, 0, 0, 5, 0)
    assert store.live_name() == built.generation == summary.generation


def test_a_running_archive_sees_the_update_without_reopening(store, corpus_copy, embedder, monkeypatch):
    import archive.archive as archive_module

    monkeypatch.setattr(archive_module, "RELOAD_CHECK_SECONDS", 0.0)
    store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    archive = Archive.open(store, embedder=embedder)
    assert archive.search("Shahed drones Iranian", mode="keyword").results[0].id == "004_223d587e292dbf6e"
    change_corpus(corpus_copy)
    store.update(corpus_copy, embedder=embedder)
    assert archive.search("Shahed drones Iranian", mode="keyword").results[0].id == "new-story"
    assert archive.stats().articles == 5
    archive.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["ingest", "embed", "keyword", "vectors", "stories", "publish"])
def test_an_update_killed_mid_way_leaves_the_previous_generation_live(phase, corpus_copy, built_index, embedder):
    fresh_index = built_index  # the seed corpus, built (its files match corpus_copy's: same names, sizes and times)
    generation = IndexLayout(fresh_index).current_name()
    before = results(fresh_index, embedder)
    change_corpus(corpus_copy)
    killed = run_indexer("update", "--corpus", str(corpus_copy), "--index", str(fresh_index),
                         env_extra={CRASH_VARIABLE: phase})
    assert killed.returncode == -9, killed.stderr
    assert IndexLayout(fresh_index).current_name() == generation
    assert results(fresh_index, embedder) == before
    assert update(corpus_copy, fresh_index, embedder=embedder).added == 1


def test_update_json_summary_and_status(store, corpus_copy, embedder):
    store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    change_corpus(corpus_copy)
    cli = CliRunner()
    options = backend_options(store)
    pending = json.loads(cli.invoke(main, ["status", *options, "--corpus", str(corpus_copy), "--json"]).output)
    assert pending["pending"] == {"new": 1, "changed": 1, "deleted": 1, "unchanged": 3}
    assert pending["backend"] == store.name
    result = cli.invoke(main, ["update", "--corpus", str(corpus_copy), *options, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {key: summary[key] for key in ("added", "changed", "removed", "unchanged")} == {
        "added": 1, "changed": 1, "removed": 1, "unchanged": 3}
    assert {"embedded", "reused", "seconds"} <= set(summary)
    after = json.loads(cli.invoke(main, ["status", *options, "--corpus", str(corpus_copy), "--json"]).output)
    assert after["up_to_date"] is True


def assert_the_stored_catalog_is_the_stores(index) -> None:
    """The catalog an update wrote into its generation equals one read from its store."""
    from archive.backends.embedded.catalog import CATALOG_NAME
    from archive.backends.embedded.mapped_arrays import mapped_npz
    from archive.backends.embedded.store import STORE_NAME, Store
    from archive.index.catalog import Catalog

    directory = IndexLayout(index).current_directory()
    store = Store(directory / STORE_NAME)
    try:
        expected = Catalog.from_rows(store.article_rows(), store.live_passage_rows()).to_arrays()
    finally:
        store.close()
    stored = Catalog.from_arrays(mapped_npz(directory / CATALOG_NAME)).to_arrays()
    assert stored.keys() == expected.keys()
    for name, values in expected.items():
        assert np.array_equal(stored[name], values), name


def test_hnsw_updates_tombstone_removed_passages_and_compact(corpus_copy, fresh_index, embedder, monkeypatch):
    from archive.backends.embedded import vectors

    monkeypatch.setattr(vectors, "FLAT_LIMIT", 1)  # force HNSW even for the seed corpus
    built = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert built.vector_index == "hnsw"
    before = Archive.open(fresh_index, embedder=embedder)
    removed_passages = len(before.article("003_5efb497116866064").passages)
    before.close()
    assert removed_passages / built.passages < 0.2  # under the compaction threshold
    (corpus_copy / "003_5efb497116866064.txt").unlink()
    summary = update(corpus_copy, fresh_index, embedder=embedder)
    manifest = json.loads((IndexLayout(fresh_index).current_directory() / "manifest.json").read_text())
    assert summary.removed == 1 and manifest["vector_index"] == "hnsw" and manifest["tombstones"] == removed_passages
    assert_the_stored_catalog_is_the_stores(fresh_index)
    archive = Archive.open(fresh_index, embedder=embedder)
    found = {result.id for mode in ("semantic", "hybrid") for result in archive.search("Lukashenka", mode=mode, k=10, collapse="none").results}
    assert "003_5efb497116866064" not in found and len(found) == 4
    assert "003_5efb497116866064" not in {item.id for item in archive.more_like("001_6d7df644afd5a1ff", k=10).results}
    archive.close()
    (corpus_copy / "002_e11880221c40fa9a.txt").unlink()  # tombstones now pass 20%: compacted
    update(corpus_copy, fresh_index, embedder=embedder)
    manifest = json.loads((IndexLayout(fresh_index).current_directory() / "manifest.json").read_text())
    assert manifest["tombstones"] == 0 and manifest["articles"] == 3
    assert_the_stored_catalog_is_the_stores(fresh_index)
    reopened = Archive.open(fresh_index, embedder=embedder)
    assert {r.id for r in reopened.search("Lukashenka", mode="semantic", k=10, collapse="none").results} == {
        "000_a579cd71521fd787", "001_6d7df644afd5a1ff", "004_223d587e292dbf6e"}
    reopened.close()


def test_an_add_only_update_links_the_live_keyword_segments_without_touching_them(corpus_copy, fresh_index, tmp_path, embedder):
    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    live = IndexLayout(fresh_index).current_directory()
    before = {path.name: path.read_bytes() for path in (live / "keyword").iterdir()} | {
        "store": (live / "store.sqlite").read_bytes(), "vectors": (live / "vectors.faiss").read_bytes()}
    (corpus_copy / "added.txt").write_text("Zebra crossings\n\nMinsk votes on zebra crossings next spring.\n")
    summary = update(corpus_copy, fresh_index, embedder=embedder)
    assert (summary.added, summary.changed, summary.removed, summary.embedded) == (1, 0, 0, 1)
    assert_the_stored_catalog_is_the_stores(fresh_index)
    after = {path.name: path.read_bytes() for path in (live / "keyword").iterdir()} | {
        "store": (live / "store.sqlite").read_bytes(), "vectors": (live / "vectors.faiss").read_bytes()}
    assert after == before  # the previous generation is intact for readers still using it
    full = tmp_path / "full"
    full.mkdir()
    (full / "embedding-cache.sqlite").write_bytes((fresh_index / "embedding-cache.sqlite").read_bytes())
    rebuild(corpus_copy, full, DEFAULT_MODEL, embedder=embedder)
    assert results(fresh_index, embedder) == results(full, embedder)


def test_watch_applies_changes_as_they_appear(corpus_copy, fresh_index, embedder):
    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    (corpus_copy / "watched.txt").write_text("Watched story\n\nA story that arrived while the watcher ran.\n")
    result = CliRunner().invoke(main, ["watch", "--corpus", str(corpus_copy), "--index", str(fresh_index), "--polls", "1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"generation \S+: 1 added, 0 changed, 0 removed \(1 embedded\)", result.output)
    quiet = CliRunner().invoke(main, ["watch", "--corpus", str(corpus_copy), "--index", str(fresh_index), "--polls", "1"])
    assert quiet.exit_code == 0 and "added" not in quiet.output


def test_a_request_keeps_its_generation_open_while_newer_ones_go_live(corpus_copy, fresh_index, embedder, monkeypatch):
    """A slow request on generation A must finish on A, even after B and C have gone live and
    other requests moved on: A closes when its last request ends, not on a timing guess."""
    import threading

    import archive.archive as archive_module
    from archive.backends.embedded.store import Store

    monkeypatch.setattr(archive_module, "RELOAD_CHECK_SECONDS", 0.0)
    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    opened = Archive.open(fresh_index, embedder=embedder)
    first = opened.current().snapshot
    started, release = threading.Event(), threading.Event()
    original = Store.articles

    def slow_articles(self, article_ids):
        if threading.current_thread().name == "slow-request":
            started.set()
            release.wait(60)
        return original(self, article_ids)

    monkeypatch.setattr(Store, "articles", slow_articles)
    outcome = {}

    def slow_request():
        try:
            outcome["ids"] = [result.id for result in opened.search("potash exports", mode="keyword").results]
        except BaseException as problem:  # reported by the assertion below
            outcome["error"] = problem

    thread = threading.Thread(target=slow_request, name="slow-request")
    thread.start()
    assert started.wait(60)
    for word in ("alpha", "omega"):  # generations B and C go live; other requests move on to each
        (corpus_copy / f"extra-{word}.txt").write_text(f"Zebra crossing {word}\n\nMinsk votes on zebra crossings, part {word}.\n")
        update(corpus_copy, fresh_index, embedder=embedder)
        assert opened.search(f"zebra crossings {word}", mode="keyword").results[0].id == f"extra-{word}"
    assert not first.closed  # still held by the slow request
    release.set()
    thread.join(60)
    assert outcome == {"ids": ["001_6d7df644afd5a1ff"]}
    assert first.closed  # and closed once that request let go
    opened.close()
