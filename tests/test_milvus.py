"""What only the Milvus backend has: its switch-over, its crash safety and its connection
failures. (Search, update and the site run on both backends in their own modules.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archive.archive import Archive
from archive.backend import MilvusBackend
from archive.build.generation import CRASH_VARIABLE
from archive.settings import DEFAULT_MODEL
from conftest import milvus_missing
from indexer.cli import main
from test_build import run_indexer
from test_update import backend_options, change_corpus

pytestmark = pytest.mark.skipif(milvus_missing() is not None, reason=milvus_missing() or "")


def found(store, embedder) -> dict:
    archive = Archive.open(store, embedder=embedder)
    try:
        return {query: [result.id for result in archive.search(query, collapse="none").results]
                for query in ("potash exports", "Shahed drones Iranian", "Lukashenka")}
    finally:
        archive.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["embed", "stories", "milvus", "publish"])
def test_a_rebuild_killed_mid_way_leaves_the_old_generation_live(phase, corpus_copy, fresh_index, tmp_path, embedder):
    from archive.index.milvus import connect, disconnect, generations

    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    built = store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    before = found(store, embedder)
    change_corpus(corpus_copy)
    (corpus_copy / "extra.txt").write_text("Grain corridor\n\nShips left Odesa with grain on Tuesday.\n")
    disconnect(store.uri)  # Milvus Lite opens a database in one process at a time
    killed = run_indexer("rebuild", "--corpus", str(corpus_copy), *backend_options(store),
                         env_extra={CRASH_VARIABLE: phase})
    assert killed.returncode == -9, killed.stderr
    assert store.live_name() == built.generation
    assert found(store, embedder) == before
    again = store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)  # drops what the crash left
    assert [name.replace("_", "-") for name in generations(connect(store.uri), store.prefix)] == [
        built.generation, again.generation]
    assert found(store, embedder)["Shahed drones Iranian"][0] == "new-story"


def test_a_rebuild_switches_generations_and_keeps_only_the_one_before(corpus_copy, fresh_index, tmp_path, embedder):
    from archive.index.milvus import connect, generations

    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    names = [store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder).generation for _ in range(3)]
    assert store.live_name() == names[-1]
    assert [name.replace("_", "-") for name in generations(connect(store.uri), store.prefix)] == names[1:]


def test_an_unreachable_milvus_is_one_error_line_and_exit_code_7():
    result = CliRunner().invoke(main, ["search", "potash", "--backend", "milvus", "--milvus-uri", "http://127.0.0.1:9"])
    assert result.exit_code == 7
    lines = result.output.splitlines()
    assert lines[0].startswith("error: cannot connect to Milvus at http://127.0.0.1:9: ")
    assert lines[1:] == ["hint: check that Milvus is running and that --milvus-uri (ARCHIVE_MILVUS_URI) points at it"]


def test_the_milvus_backend_needs_a_uri_and_a_missing_database_is_a_missing_index(tmp_path):
    result = CliRunner().invoke(main, ["search", "potash", "--backend", "milvus"], env={"ARCHIVE_MILVUS_URI": ""})
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: the milvus backend needs a Milvus URI",
        "hint: pass --milvus-uri var/archive.db (Milvus Lite) or http://host:19530, or set ARCHIVE_MILVUS_URI"]
    missing = tmp_path / "none.db"
    result = CliRunner().invoke(main, ["status", "--backend", "milvus", "--milvus-uri", str(missing)])
    assert result.exit_code == 3
    assert result.output.splitlines() == [
        f"error: no Milvus Lite database at {missing}",
        "hint: run `indexer rebuild --backend milvus --milvus-uri URI` to build it"]
    assert not missing.exists()  # reading never creates a database


def test_nothing_of_the_archive_is_in_the_work_directory(corpus_copy, fresh_index, tmp_path, embedder):
    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    # Only caches of what the model computes, and the build lock: no generations, texts or indexes.
    assert {path.name for path in fresh_index.iterdir()} <= {"embedding-cache.sqlite", "query-encoder", "build.lock",
                                                             "precision.json"}
