"""What only the Milvus backend has: its switch-over, its crash safety and its connection
failures. (Search, update and the site run on both backends in their own modules.)"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import milvus_missing
from test_build import run_indexer
from test_update import backend_options, change_corpus, vocabulary

from archive.archive import Archive
from archive.backends import MilvusBackend
from archive.indexing.generation import CRASH_VARIABLE
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

pytestmark = pytest.mark.skipif(milvus_missing() is not None, reason=milvus_missing() or "")


def found(store, embedder) -> dict:
    archive = Archive.open(store, embedder=embedder)
    try:
        return {query: [result.id for result in archive.search(query, collapse="none").results]
                for query in ("potash exports", "Shahed drones Iranian", "Lukashenka")}
    finally:
        archive.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["milvus", "publish"])  # half the new collections written; all, not switched
def test_a_rebuild_killed_mid_way_leaves_the_old_generation_live(phase, corpus_copy, fresh_index, tmp_path, embedder):
    from archive.backends.milvus.client import connect, disconnect, generations

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
    from archive.backends.milvus.client import connect, generations

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
    summary = store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    assert (summary.embedded, summary.reused) == (0, summary.passages)  # moving to Milvus re-embeds nothing
    # Only caches of what the model computes, and the build lock: no generations, texts or indexes.
    assert {path.name for path in fresh_index.iterdir()} <= {"embedding-cache.sqlite", "query-encoder", "build.lock",
                                                             "precision.json"}


# Queries whose words Milvus's stemmer and ours stem differently (our "agreement" is "agre", which
# Milvus would stem again to "agr"), booleans over whole articles, patterns and fields: both
# backends find the same articles.
SAME_ARTICLES = ["Shoigu AND agreement", "offensive AND defense", "invasion NOT drones", "Belarus NOT potash",
                 "significant OR exclusively", "(Shoigu AND Hajun) OR Makei", "lukash*", "lukashenka~",
                 "Putin* AND Belarus*",
                 "title:lukashenko", "title:=lukashenko", "potash OR Lukashenka", "=Lukashenka"]


@pytest.mark.parametrize("query", SAME_ARTICLES)
def test_both_backends_find_the_same_articles(archive, milvus_archive, query):
    def found(opened):
        return {result.id for result in opened.search(query, mode="keyword", collapse="none").results}

    embedded = found(archive)
    assert embedded, "a query that finds nothing shows nothing"
    assert found(milvus_archive) == embedded


DATED = "002_e11880221c40fa9a"  # the one seed article with a date (2022-12-19)


def test_filters_apply_under_not_on_both_backends(archive, milvus_archive, monkeypatch):
    """``NOT word`` means "the filtered articles that lack the word": each word is matched
    within the filters, so a word's matches elsewhere cannot crowd out the filtered articles'
    matches. Milvus caps one search's matches; with the cap at one passage, a word whose best
    passage is in another article must still exclude the filtered article that has it."""
    from archive.backends.milvus import keyword as milvus_keyword

    filters = {"mode": "keyword", "collapse": "none", "date_from": "2022-12-19"}
    assert [result.id for result in milvus_archive.search("Belarus", **filters).results] == [DATED]
    best_elsewhere = [word for word in ("Putin", "Ukraine", "Russian", "Lukashenko", "military")
                      if milvus_archive.search(word, mode="keyword", collapse="none").results[0].id != DATED
                      and milvus_archive.search(word, **filters).results]
    assert best_elsewhere  # words of the dated article whose best passage is in another one
    monkeypatch.setattr(milvus_keyword, "QUERY_LIMIT", 1)
    for word in best_elsewhere:
        for opened in (archive, milvus_archive):
            assert opened.search(f"Belarus NOT {word}", **filters).results == [], (word, opened.backend.name)
            assert opened.search(f"Belarus AND NOT {word}", **filters).results == [], (word, opened.backend.name)


def test_a_fuzzy_term_is_matched_against_the_words_as_written(milvus_archive):
    # Milvus holds words, not our stems: "negotiatons~" (a typo) reaches "negotiations".
    found = milvus_archive.search("negotiatons~", mode="keyword", collapse="none")
    assert found.results and found.note is None
    assert "negotiations" in {passage.text[mark.start : mark.end].lower() for result in found.results
                              for passage in result.passages for mark in passage.marks}


def test_a_wildcard_is_matched_as_written_against_the_words(milvus_archive):
    # The parser stems "Zelensky*" to "zelenski*"; the stored words are "zelensky" and "zelenskyy".
    found = milvus_archive.search("Zelensky*", mode="keyword", collapse="none")
    marked = {passage.text[mark.start : mark.end] for result in found.results for passage in result.passages
              for mark in passage.marks}
    assert {"Zelensky", "Zelenskyy"} <= marked and found.note is None
    assert milvus_archive.search("negotiat?ons", mode="keyword", collapse="none").results  # "negotiations"


def test_words_of_other_fields_and_boosts_are_left_out_with_a_note(milvus_archive):
    response = milvus_archive.search("source:reuters potash", mode="keyword", collapse="none")
    assert response.note == ("the Milvus backend searches titles and texts only: use the date and source filters "
                             "instead of source:reuters")
    assert [result.id for result in response.results] == ["001_6d7df644afd5a1ff"]
    boosted = milvus_archive.search("potash^3 Shoigu", mode="keyword", collapse="none")
    assert boosted.note == "the Milvus backend does not weight words: searched without their boosts (potash)"


def test_an_article_id_with_any_characters_is_found_updated_and_removed(tmp_path, fresh_index, embedder):
    import json

    corpus = tmp_path / "odd.jsonl"
    odd = ['tab\there', 'quote"and\\backslash', "line\nbreak", "ünïcödé 🙂"]

    def write(texts):
        corpus.write_text("".join(json.dumps({"id": article_id, "title": f"Potash note {number}", "body": text}) + "\n"
                                  for number, (article_id, text) in enumerate(zip(odd, texts, strict=True))))

    write([f"Potash barges number {number} sailed from Klaipeda." for number in range(len(odd))])
    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    store.rebuild(corpus, DEFAULT_MODEL, embedder=embedder)
    archive = Archive.open(store, embedder=embedder)
    try:
        for article_id in odd:
            assert archive.article(article_id).id == article_id
        write(["Grain barges sailed from Odesa instead."] + [f"Potash barges number {n} sailed." for n in range(1, 4)])
        summary = store.update(corpus, embedder=embedder)
        assert (summary.changed, summary.passages) == (4, 4)  # every old passage went, none is left twice
        changed = Archive.open(store, embedder=embedder)
        assert "Odesa" in changed.article("tab\there").text
        changed.close()
    finally:
        archive.close()


def test_an_update_after_a_file_is_renamed_keeps_its_articles(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"id": "x", "title": "Potash", "body": "Potash exports fell."}\n'
                                    '{"id": "y", "title": "Grain", "body": "Grain exports rose."}\n')
    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    store.rebuild(corpus, DEFAULT_MODEL, embedder=embedder)
    (corpus / "a.jsonl").rename(corpus / "b.jsonl")
    (corpus / "c.txt").write_text("Drones\n\nDrones flew over Kyiv.\n")
    first = store.update(corpus, embedder=embedder)
    assert (first.added, first.removed, first.unchanged) == (1, 0, 2)
    second = store.update(corpus, embedder=embedder)
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 0, 0, 3)


@pytest.mark.slow
# milvus: pending marked, new passages written, old ones still there; restory: the story's other
# articles' passages given its new size, their article rows not yet
@pytest.mark.parametrize("phase", ["milvus", "restory"])
def test_an_update_killed_mid_way_is_finished_by_the_next(phase, corpus_copy, fresh_index, tmp_path, embedder):
    from test_update import ranked

    from archive.backends.milvus.client import disconnect

    store = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    built = store.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    before = found(store, embedder)
    change_corpus(corpus_copy)
    disconnect(store.uri)
    killed = run_indexer("update", "--corpus", str(corpus_copy), *backend_options(store),
                         env_extra={CRASH_VARIABLE: phase})
    assert killed.returncode == -9, killed.stderr
    assert store.live_name() == built.generation  # readers were not switched to a half-made update
    if phase == "milvus":  # (later, the changed articles' rows are written in place: readers see them)
        assert found(store, embedder) == before  # (new passages under ids no article owns yet are not found)
    checked = store.verify()
    assert checked["problems"] == [] and checked["note"] == (
        "an update is unfinished (running, or stopped: the next `indexer update` finishes it)")
    from indexer.cli import integrity_line

    assert integrity_line(checked) == f"not checked: {checked['note']}"
    if phase == "restory":  # the story's other articles are pending too: the next update writes them whole
        snapshot = store.open_snapshot()
        assert len(snapshot.store.records("pending")) > 3  # (more than the added, changed and removed ones)
        snapshot.close()
    if phase == "milvus":
        reader = Archive.open(store, embedder=embedder)  # opened while the update is unfinished
        assert reader.search("project", mode="keyword").matching.articles == 0  # only in the changed text
        assert reader.search("Hajun", mode="keyword").matching.articles == 1  # the text the generation holds
        reader.close()
    finished = store.update(corpus_copy, embedder=embedder)
    assert finished.added + finished.changed + finished.removed >= 1
    full = MilvusBackend(str(tmp_path / "full.db"), fresh_index)
    full.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    assert ranked(store, embedder) == ranked(full, embedder)
    assert vocabulary(store, embedder) == vocabulary(full, embedder)
    assert store.verify(full=True)["problems"] == []  # every row says its story's size, as counted
    assert store.update(corpus_copy, embedder=embedder).generation == store.live_name()  # nothing left to do


@pytest.mark.slow
def test_the_seed_corpus_served_from_milvus_has_the_same_pages_and_api(tmp_path, fresh_index, client):
    """The issue's "done when": `indexer rebuild --backend milvus --milvus-uri …`, then `indexer serve` with the same."""
    import json
    import re
    import urllib.request

    from conftest import SEED_CORPUS

    from bench.load import free_port, start_server

    options = ["--backend", "milvus", "--milvus-uri", str(tmp_path / "archive.db")]
    built = run_indexer("rebuild", "--corpus", str(SEED_CORPUS), "--index", str(fresh_index), *options)
    assert built.returncode == 0, built.stderr
    port = free_port()
    server = start_server(fresh_index, port, *options)
    try:
        def get(path: str) -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                return response.read().decode()

        def shape(data: dict) -> dict:  # scores differ a little (Milvus's BM25, fp32 vectors); all else is equal
            data.pop("took_ms")
            for result in data["results"]:
                result.pop("score")
                result["explain"] = {leg: evidence and evidence["rank"] for leg, evidence in result["explain"].items()}
            return data

        for query in ("potash+exports", "Shoigu+AND+agreement", "Lukashenka&collapse=none", "drones&mode=semantic"):
            ours = shape(json.loads(get(f"/api/search?q={query}")))
            assert ours == shape(client.get(f"/api/search?q={query}").get_json())
        article = "/articles/001_6d7df644afd5a1ff"
        assert get(article) == client.get(article).get_data(as_text=True)
        assert json.loads(get("/api" + article)) == client.get("/api" + article).get_json()
        page = get("/search?q=Shoigu+agreement&collapse=none")
        expected = client.get("/search?q=Shoigu+agreement&collapse=none").get_data(as_text=True)
        assert re.findall(r'href="/articles/([^?"]+)', page) == re.findall(r'href="/articles/([^?"]+)', expected)
    finally:
        server.terminate()
        server.wait(timeout=30)


# Issue 24: what is read back is checked, access is the caller's own, and no filter lists the archive.


def test_a_stray_passage_id_or_article_number_is_left_out_and_verify_names_it(milvus_seed, embedder):
    from archive.backends.milvus.client import Collections, connect, read_pointer, write_pointer
    from archive.errors import IndexCorruptError

    milvus = connect(milvus_seed.uri)
    pointer = read_pointer(milvus, milvus_seed.prefix)
    collections = Collections.of(milvus_seed.prefix, pointer["collections"])
    every = Archive.open(milvus_seed, embedder=embedder).search("Putin", collapse="none").results
    whole = {result.id for result in every}
    write_pointer(milvus, milvus_seed.prefix, collections, pointer["manifest"], 1, 5)  # as if rows held stray pids
    try:
        passages = Archive.open(milvus_seed, embedder=embedder).stats().passages
        problems = milvus_seed.verify()["problems"]
        assert problems == [f"{passages - 1} passages have ids past the 1 the generation recorded"]
        archive = Archive.open(milvus_seed, embedder=embedder)
        found = {result.id for result in archive.search("Putin", collapse="none").results}
        assert len(found) == 1 and found < whole  # only the article of pid 0: the others' are an update's
        write_pointer(milvus, milvus_seed.prefix, collections, pointer["manifest"], pointer["next_pid"], 2**41)
        with pytest.raises(IndexCorruptError, match=r"^the pointer to the live generation in Milvus at .* has no "
                                                    r"valid next_number$"):
            Archive.open(milvus_seed, embedder=embedder)
        write_pointer(milvus, milvus_seed.prefix, collections, pointer["manifest"], pointer["next_pid"], 7)
        with pytest.raises(IndexCorruptError, match=r"^the archive in Milvus at .* numbers 7 articles with 0 free, "
                                                    r"but holds 5$"):
            Archive.open(milvus_seed, embedder=embedder)  # (no process allocates for numbers nobody has)
    finally:
        write_pointer(milvus, milvus_seed.prefix, collections, pointer["manifest"], pointer["next_pid"], 5)
    assert Archive.open(milvus_seed, embedder=embedder).stats().articles == 5
    assert milvus_seed.verify()["problems"] == []


def test_verify_full_counts_each_story_against_the_size_its_rows_give(milvus_seed):
    from archive.backends.milvus.build import PASSAGE_COLUMNS, restory
    from archive.backends.milvus.client import Collections, connect, read_pointer

    milvus = connect(milvus_seed.uri)
    collections = Collections.of(milvus_seed.prefix, read_pointer(milvus, milvus_seed.prefix)["collections"])
    snapshot = milvus_seed.open_snapshot()
    placed = snapshot.store.placed()
    snapshot.close()
    article_id, (story, size) = sorted(placed.items())[0]
    assert size == len(placed) == 5  # (the seed's five articles are one story)
    report = milvus_seed.verify(full=True)
    assert (report["problems"], report["checked"]) == ([], "counts, passage ids, article numbers and story sizes")
    restory(milvus, collections, {article_id: (story, 4)})
    try:
        assert milvus_seed.verify(full=True)["problems"] == ["articles whose rows give their story's size wrong: 1 of 5"]
        assert milvus_seed.verify()["problems"] == []  # (only --full reads every article)
    finally:
        restory(milvus, collections, {article_id: (story, size)})
    assert milvus_seed.verify(full=True)["problems"] == []
    passage = milvus.rows_of(collections.passages, [article_id], PASSAGE_COLUMNS)[0]
    milvus.upsert(collections.passages, [{**passage, "story_size": 4, "dense": [float(value) for value in passage["dense"]]}])
    try:
        assert milvus_seed.verify(full=True)["problems"] == ["passages whose story is not their article's: 1"]
    finally:
        milvus.upsert(collections.passages, [{**passage, "dense": [float(value) for value in passage["dense"]]}])
    assert milvus_seed.verify(full=True)["problems"] == []


def test_a_count_takes_one_story_for_each_article_and_none_when_an_article_was_not_found():
    from archive.backends.milvus.keyword import count_stories

    articles = np.array([True, True, False, True, False])
    numbers = [np.array([0, 1, 1, 2], dtype=np.int64), np.array([3, 0, 4], dtype=np.int64)]
    stories = [np.array([7, 7, 8, 9], dtype=np.int64), np.array([9, 7, 5], dtype=np.int64)]
    # (article 1's passages disagree, as while an update writes them: its first one counts)
    assert count_stories(articles, list(zip(numbers, stories, strict=True))) == 2  # stories 7 and 9
    assert count_stories(articles, [(numbers[0], stories[0])]) is None  # article 3 found by no word
    assert count_stories(np.zeros(5, dtype=bool), []) == 0


def test_opening_a_generation_reads_no_row_of_its_articles_or_passages(archive, milvus_seed, embedder, monkeypatch):
    """A web process keeps no catalog of every article: opening reads the pointer only, and a
    search (with NOT), its count, facets, collapsing, sorting, an article page and a story page
    read the rows of what they show, never every row of the archive."""
    from archive.backends.milvus.catalog import MilvusCatalog
    from archive.backends.milvus.client import connect

    milvus = connect(milvus_seed.uri)
    milvus.rows_read.clear()
    opened = Archive.open(milvus_seed, embedder=embedder)
    opened.current()  # (the snapshot opens)
    assert not any(name.endswith(("_articles", "_passages")) for name in milvus.rows_read), milvus.rows_read
    assert sum(milvus.rows_read.values()) <= 1  # the pointer
    scanned: list[str] = []
    every_row = milvus.rows
    monkeypatch.setattr(milvus, "rows", lambda collection, *arguments, **options: scanned.append(collection)
                        or every_row(collection, *arguments, **options))

    def whole(catalog):
        raise AssertionError("read every article")

    monkeypatch.setattr(MilvusCatalog, "whole", whole)
    try:
        for query in ("Putin NOT potash", "Putin", "drones OR Minsk"):
            for collapse in ("story", "none"):
                response = opened.search(query, collapse=collapse, sort="date", k=10)
                expected = archive.search(query, collapse=collapse, sort="date", k=10)
                assert response.results and response.matching == expected.matching, query
                assert response.facets == expected.facets
                assert {result.id for result in response.results} == {result.id for result in expected.results}
        article = opened.article(response.results[0].id)
        assert article.story and opened.story_feed(article.story.id).entries
        assert article.story.size == archive.article(article.id).story.size
    finally:
        opened.close()
    assert not [name for name in scanned if name.endswith(("_articles", "_passages"))], scanned


def test_a_stray_passage_id_never_makes_a_process_allocate_for_it():
    from archive.errors import IndexCorruptError
    from archive.index.catalog import Catalog

    rows = [("a", None, None, None)]
    with pytest.raises(IndexCorruptError, match="passage id 17,179,869,184 is outside"):
        Catalog.from_rows(rows, [(0, "a"), (2**34, "a")], pid_limit=10)
    with pytest.raises(IndexCorruptError, match="passage id -1 is outside"):
        Catalog.from_rows(rows, [(-1, "a")])
    assert Catalog.from_rows(rows, [(0, "a"), (9, "a")], pid_limit=10).owners([9]) == {9: "a"}


def test_a_token_and_tls_files_reach_the_client_and_the_token_is_never_shown(tmp_path, monkeypatch):
    import pymilvus

    from archive import settings

    seen: dict = {}

    class Refusing:
        def __init__(self, **options) -> None:
            seen.update(options)
            raise ConnectionError(f"authentication failed for token {options.get('token')}")

    monkeypatch.setattr(pymilvus, "MilvusClient", Refusing)
    certificate = tmp_path / "ca.pem"
    certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("ARCHIVE_MILVUS_TOKEN", "root:s3cret")
    monkeypatch.setenv("ARCHIVE_MILVUS_TLS_CA", str(certificate))
    monkeypatch.setenv("ARCHIVE_MILVUS_TLS_SERVER_NAME", "milvus.internal")
    result = CliRunner().invoke(main, ["status", "--backend", "milvus", "--milvus-uri", "https://milvus.example:19530",
                                       "--index", str(tmp_path / "work")])
    assert seen["token"] == "root:s3cret" and seen["secure"] is True
    assert seen["server_pem_path"] == str(certificate) and seen["server_name"] == "milvus.internal"
    assert result.exit_code == 7
    assert "s3cret" not in result.output and "token ***" in result.output
    assert "s3cret" not in repr(settings.milvus_access())
    monkeypatch.setenv("ARCHIVE_MILVUS_TLS_CA", str(tmp_path / "missing.pem"))
    result = CliRunner().invoke(main, ["status", "--backend", "milvus", "--milvus-uri", "https://milvus.example:19530"])
    assert result.exit_code == 2 and f"error: ARCHIVE_MILVUS_TLS_CA names no file: {tmp_path / 'missing.pem'}" \
        in result.output


def test_a_boolean_matching_most_articles_sends_no_list_of_them_to_milvus(archive, milvus_archive, monkeypatch):
    from archive.backends.milvus import keyword as milvus_keyword

    monkeypatch.setattr(milvus_keyword, "MAX_FILTER_ARTICLES", 1)
    index = milvus_archive.current().snapshot.keyword
    filters: list[str] = []
    search = index.milvus.search_columns
    monkeypatch.setattr(index.milvus, "search_columns", lambda *arguments: filters.append(arguments[5])
                        or search(*arguments))
    query = "Putin OR (NOT potash AND NOT drones)"
    ours = {result.id for result in milvus_archive.search(query, mode="keyword", collapse="none").results}
    theirs = {result.id for result in archive.search(query, mode="keyword", collapse="none").results}
    assert ours == theirs and len(ours) >= 2
    assert filters and not any("number in" in expression for expression in filters)


def test_a_word_in_more_passages_than_one_milvus_search_returns_is_still_counted_exactly(
        archive, milvus_archive, monkeypatch):
    from archive.backends.milvus import keyword as milvus_keyword

    keyword = milvus_archive.current().snapshot.keyword
    whole = keyword.matching_articles(keyword.parse("Putin")).articles
    searches: list[str] = []
    search = keyword.milvus.search_columns
    monkeypatch.setattr(keyword.milvus, "search_columns", lambda *arguments: searches.append(arguments[5])
                        or search(*arguments))
    monkeypatch.setattr(milvus_keyword, "QUERY_LIMIT", 2)  # each search returns at most two passages
    split = keyword.matching_articles(keyword.parse("Putin")).articles
    assert split.tolist() == whole.tolist() and whole.sum() == 5  # all five seed articles, none lost
    assert len(searches) > 3 and any("pid >= " in expression for expression in searches)
    embedded = archive.current().snapshot.keyword
    assert embedded.matching_articles(embedded.parse("Putin")).articles.sum() == 5


def test_the_words_of_an_or_are_matched_by_one_search_series_and_counted_as_each_alone(
        archive, milvus_archive, monkeypatch):
    from archive.backends.milvus import keyword as milvus_keyword

    keyword, embedded = milvus_archive.current().snapshot.keyword, archive.current().snapshot.keyword
    searches: list[str] = []
    search = keyword.milvus.search_columns
    monkeypatch.setattr(keyword.milvus, "search_columns", lambda *arguments: searches.append(arguments[1])
                        or search(*arguments))
    for text in ("drones Lukashenko potash", "Shahed OR title:Minsk OR Wagner", "(potash OR Wagner) AND NOT Shahed"):
        for limit in (16_384, 2):  # (2: each search returns at most two passages, and the range is halved)
            monkeypatch.setattr(milvus_keyword, "QUERY_LIMIT", limit)
            searches.clear()
            ours, theirs = keyword.matching_articles(keyword.parse(text)), embedded.matching_articles(embedded.parse(text))
            assert ours.articles.tolist() == theirs.articles.tolist() and ours.articles.any(), text
            stories = archive.current().snapshot.catalog.count_stories(theirs.articles)
            assert ours.stories == stories == 1, text  # (the five seed articles are one story)
            if limit > 2:
                assert len(searches) == (1 if "title:" not in text else 2) + ("NOT" in text), (text, searches)
    words = [keyword.parse(word) for word in ("drones", "Lukashenko", "potash")]
    each = np.logical_or.reduce([keyword.matching_articles(parsed).articles for parsed in words])
    assert each.tolist() == keyword.matching_articles(keyword.parse("drones Lukashenko potash")).articles.tolist()


def test_numbers_for_an_update_keep_changed_articles_and_fill_what_removed_ones_left():
    from archive.backends.milvus.build import numbered
    from archive.errors import IndexCorruptError

    stored = {"a": 0, "c": 2, "d": 3, "x": 4}  # 1 is free in the live generation
    numbers, free, next_number = numbered(stored, ["d", "x"], ["c", "e", "f"], 5, [1])
    assert numbers == {"a": 0, "c": 2, "e": 1, "f": 5} and free == [3, 4] and next_number == 6  # c changed: still 2
    numbers, free, next_number = numbered(numbers, [], ["g", "h", "i"], 6, free)
    assert numbers == {"a": 0, "c": 2, "e": 1, "f": 5, "g": 3, "h": 4, "i": 6} and free == [] and next_number == 7
    assert numbered({"a": 0}, ["a"], [], 1, []) == ({}, [0], 1)
    # a crashed update gave "b" the free 1 and "c" 9: the update that finishes it keeps them
    assert numbered({"a": 0, "b": 1, "c": 9}, [], ["b", "c", "d"], 10, [1, 2]) == (
        {"a": 0, "b": 1, "c": 9, "d": 2}, [3, 4, 5, 6, 7, 8], 10)
    with pytest.raises(IndexCorruptError, match=r"^an article in Milvus has number 12, outside the 9 the archive gave$"):
        numbered({"a": 12}, [], [], 9, [])


def test_after_updates_that_remove_and_add_articles_milvus_counts_as_the_embedded_backend(
        corpus_copy, fresh_index, tmp_path, seed_index, embedder):
    """Removing articles leaves free numbers (no article, in no count, under NOT too, nor in
    coverage's totals); the next update gives them to new articles. Every row of every article
    says its story's size as the embedded backend counts it, those of articles the update left
    alone too."""
    from conftest import warm_directory

    from archive.backends import EmbeddedBackend
    from archive.backends.milvus.client import Collections, connect, read_pointer

    milvus_backend = MilvusBackend(str(tmp_path / "archive.db"), fresh_index)
    embedded_backend = EmbeddedBackend(warm_directory(tmp_path / "embedded", seed_index))
    for backend in (milvus_backend, embedded_backend):
        backend.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    queries = ["Putin", "Minsk NOT potash", "NOT potash", "drones OR Lukashenko", "Belarus AND NOT Minsk", "Shahed"]

    def counted(backend):
        opened = Archive.open(backend, embedder=embedder)
        try:
            return ({query: opened.search(query, mode="keyword").matching for query in queries},
                    opened.coverage("Putin").archive, opened.stats().articles)
        finally:
            opened.close()

    def pointer():
        return read_pointer(connect(milvus_backend.uri), milvus_backend.prefix)

    def stories_on_rows() -> dict[str, set[tuple[str, int]]]:
        """(story, size) as each article's passage and article rows say them."""
        collections = Collections.of(milvus_backend.prefix, pointer()["collections"])
        found: dict[str, set[tuple[str, int]]] = {}
        for collection in (collections.passages, collections.articles):
            for row in connect(milvus_backend.uri).rows(collection, "", ["article_id", "story_id", "story_size"]):
                found.setdefault(row["article_id"], set()).add((row["story_id"], int(row["story_size"])))
        return found

    def stories_embedded() -> dict[str, set[tuple[str, int]]]:
        opened = Archive.open(embedded_backend, embedder=embedder)
        try:
            catalog = opened.current().snapshot.catalog
            article_ids = catalog.ids_of(range(catalog.article_count))
            return {article_id: {story} for article_id, story in catalog.stories_of(article_ids).items()}
        finally:
            opened.close()

    assert stories_on_rows() == stories_embedded() and {size for (_, size), in stories_on_rows().values()} == {5}

    (corpus_copy / "000_a579cd71521fd787.txt").unlink()
    (corpus_copy / "004_223d587e292dbf6e.txt").unlink()
    for backend in (milvus_backend, embedded_backend):
        backend.update(corpus_copy, embedder=embedder)
    assert (pointer()["next_number"], pointer()["manifest"]["articles"]) == (5, 3)
    found = counted(milvus_backend)
    assert found == counted(embedded_backend) and found[2] == 3 and found[1]["articles"] == 3
    assert stories_on_rows() == stories_embedded() and {size for (_, size), in stories_on_rows().values()} == {3}
    snapshot = Archive.open(milvus_backend, embedder=embedder).current().snapshot
    assert snapshot.catalog.free.tolist() == [0, 4]  # (numbered in id order: 000_… and 004_… were 0 and 4)

    change_corpus(corpus_copy)  # adds one article, changes one and removes 003_… (its number is free next time)
    (corpus_copy / "another.txt").write_text("Potash exports resume\n\nBelarus said potash exports resumed by rail.\n")
    for backend in (milvus_backend, embedded_backend):
        backend.update(corpus_copy, embedder=embedder)
    assert (pointer()["next_number"], pointer()["manifest"]["articles"]) == (5, 4)
    assert Archive.open(milvus_backend, embedder=embedder).current().snapshot.catalog.free.tolist() == [3]  # 003_…'s
    found = counted(milvus_backend)
    assert found == counted(embedded_backend) and found[2] == 4
    assert stories_on_rows() == stories_embedded()
    assert milvus_backend.verify()["problems"] == []
