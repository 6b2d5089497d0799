"""Coverage (issue 25): every article the words match, counted over time, by source, with the
names and words that set them apart, on both backends, from the library, the API and the CLI.

The corpus is tests/data/coverage: thirteen short articles over three months of 2023 from three
sources (one article undated, one without a source), written for these checks. Each count is
checked against a plain scan of the texts, not against the archive's own search.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from conftest import BACKENDS, ROOT, warm_directory

from archive import Archive, CoverageRequest, InvalidParameterError, coverage_csv, export_lines
from archive.backends.embedded.rebuild import rebuild
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

CORPUS = ROOT / "tests" / "data" / "coverage"
ARTICLES = [json.loads(line) for line in (CORPUS / "articles.jsonl").read_text().splitlines()]


def scan(word: str, articles=ARTICLES) -> set[str]:
    """The ids of the articles whose title or text has the word (or its plural), by a regex."""
    pattern = re.compile(rf"\b{word}s?\b", re.IGNORECASE)
    return {article["id"] for article in articles if pattern.search(article["title"] + "\n" + article["text"])}


@pytest.fixture(scope="session")
def coverage_index(tmp_path_factory, seed_index, embedder):
    directory = warm_directory(tmp_path_factory.mktemp("coverage") / "index", seed_index)
    rebuild(CORPUS, directory, DEFAULT_MODEL, embedder=embedder)
    return directory


@pytest.fixture(scope="session")
def coverage_milvus(tmp_path_factory, coverage_index, embedder):
    from archive.backends import MilvusBackend

    root = tmp_path_factory.mktemp("coverage-milvus")
    backend = MilvusBackend(str(root / "archive.db"), warm_directory(root / "work", coverage_index))
    backend.rebuild(CORPUS, DEFAULT_MODEL, embedder=embedder)
    return backend


@pytest.fixture(scope="session", params=BACKENDS)
def covered(request, coverage_index, embedder):
    """An archive of the coverage corpus, on each backend."""
    backend = coverage_index if request.param == "embedded" else request.getfixturevalue("coverage_milvus")
    opened = Archive.open(backend, embedder=embedder)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def embedded(coverage_index, embedder):
    opened = Archive.open(coverage_index, embedder=embedder)
    yield opened
    opened.close()


def story_count(archive: Archive, ids: set[str]) -> int:
    catalog = archive.current().snapshot.catalog
    return len({catalog.story_of(article_id)[0] for article_id in ids})


@pytest.mark.parametrize("word", ["coffee", "cocoa", "beans", "harvest", "rain", "repairs"])
def test_the_count_is_every_article_a_scan_of_the_texts_finds(covered, word):
    expected = scan(word)
    found = covered.coverage(word, interval="month").queries[0]
    assert found.articles == len(expected) > 0 and not found.timed_out
    assert found.stories == story_count(covered, expected)
    dated = sum(bucket["articles"] for bucket in found.over_time)
    assert dated + found.undated["articles"] == found.articles  # every match in a bucket or undated
    assert sum(bucket["articles"] for bucket in found.sources["buckets"]) + found.sources["unsourced"]["articles"] \
        + found.sources["other"]["articles"] == found.articles
    with covered.export(word) as exported:
        assert {row["id"] for row in exported} == expected
    assert covered.search(word).matching.articles == len(expected)  # the results page's count is the same set


def test_over_time_counts_the_matches_against_every_article_of_each_bucket(covered):
    response = covered.coverage("coffee", interval="month")
    assert response.interval == "month"
    assert response.archive == {"articles": 13, "dated": 12, "undated": 1}
    coffee = response.queries[0]
    assert [(bucket["key"], bucket["start"], bucket["end"], bucket["articles"], bucket["all"], bucket["share"])
            for bucket in coffee.over_time] == [
        ("2023-01", "2023-01-01", "2023-01-31", 2, 4, 0.5),
        ("2023-02", "2023-02-01", "2023-02-28", 2, 4, 0.5),
        ("2023-03", "2023-03-01", "2023-03-31", 2, 4, 0.5)]
    assert coffee.undated == {"articles": 1, "stories": 1, "all": 1}  # the letters page has no date
    assert coffee.share == round(7 / 13, 6)


def test_buckets_are_contiguous_weeks_from_monday_and_days_and_auto_chooses_from_the_span(covered):
    weeks = covered.coverage("coffee", interval="week").queries[0].over_time
    assert weeks[0]["key"] == weeks[0]["start"] == "2023-01-02" and weeks[0]["end"] == "2023-01-08"  # a Monday
    import datetime

    starts = [datetime.date.fromisoformat(bucket["start"]) for bucket in weeks]
    assert all(start.weekday() == 0 for start in starts)
    assert all((later - earlier).days == 7 for earlier, later in zip(starts, starts[1:], strict=False))
    assert weeks[-1]["start"] == "2023-03-20"  # the last dated article's week, empty weeks between included
    assert sum(bucket["all"] for bucket in weeks) == 12
    days = covered.coverage("coffee", interval="day", date_from="2023-01-01", date_to="2023-01-31").queries[0].over_time
    assert [bucket["key"] for bucket in days][0] == "2023-01-03" and len(days) == 23  # Jan 3 to Jan 25
    assert covered.coverage("coffee").interval == "week"  # 76 days: by week
    assert covered.coverage("coffee", date_to="2023-01-31").interval == "day"
    assert covered.coverage("coffee", interval="year").queries[0].over_time[0]["key"] == "2023"


def test_the_filters_narrow_the_matches_and_the_denominator_alike(covered):
    later = covered.coverage("coffee", date_from="2023-02-01")
    assert later.archive["articles"] == 8 and later.queries[0].articles == 4  # undated ones are left out by a date
    valley = covered.coverage("coffee", source="valley times")
    assert valley.archive["articles"] == 4 and valley.queries[0].articles == 2
    assert valley.queries[0].sources["buckets"] == [{"source": "Valley Times", "articles": 2, "all": 4, "share": 0.5}]


def test_sources_give_each_source_its_matches_and_its_size(covered):
    sources = covered.coverage("coffee").queries[0].sources
    assert sources["buckets"] == [
        {"source": "Wire Daily", "articles": 3, "all": 4, "share": 0.75},
        {"source": "Harbour Post", "articles": 2, "all": 4, "share": 0.5},
        {"source": "Valley Times", "articles": 2, "all": 4, "share": 0.5}]
    assert sources["unsourced"] == {"articles": 0, "all": 1}


def test_all_of_the_words_and_the_query_as_understood(covered):
    any_word = covered.coverage("coffee cocoa").queries[0]
    every_word = covered.coverage("coffee cocoa", words="all").queries[0]
    assert any_word.articles == len(scan("coffee") | scan("cocoa")) == 9
    assert every_word.articles == len(scan("coffee") & scan("cocoa")) == 1
    assert (any_word.understood, every_word.understood) == ("coffee OR cocoa", "coffee AND cocoa")
    excluded = covered.coverage("coffee NOT Brazil").queries[0]
    assert excluded.understood == "coffee AND NOT Brazil" and excluded.articles == len(scan("coffee") - scan("brazil"))
    phrase = covered.coverage('"coffee shop"').queries[0]
    # Milvus has no phrase search: it says it searched the words, which must all be in the article.
    assert phrase.understood == ('"coffee shop"' if covered.backend.name == "embedded" else "coffee AND shop")
    assert phrase.articles == 2  # the opening and the letters page


def test_a_query_with_no_words_says_so_and_is_not_counted(covered):
    found = covered.coverage("the of").queries[0]
    assert found.articles is None and found.over_time is None and not found.timed_out
    assert "no words to match" in found.note
    with pytest.raises(InvalidParameterError, match="no words to match"):
        covered.export("the")


def test_a_count_past_the_time_budget_is_never_a_number(coverage_index, embedder):
    hurried = Archive.open(coverage_index, embedder=embedder, query_budget_ms=1e-6)
    try:
        found = hurried.coverage("coffee").queries[0]
        assert found.timed_out and found.articles is None and found.over_time is None
        assert "timed_out" in coverage_csv(hurried.coverage(["coffee", "cocoa"], interval="month"))
        search = hurried.search("coffee", mode="keyword")
        assert search.timed_out and search.matching is None
        assert "the time budget ran out before every article the words match was counted" in search.note
        from archive import OutOfTimeError

        with pytest.raises(OutOfTimeError, match="time budget ran out"):
            hurried.export("coffee")
        assert hurried.current().snapshot._holders == 0  # the refused export let its generation go
    finally:
        hurried.close()


def test_names_and_words_that_set_the_matches_apart(embedded):
    found = embedded.coverage("coffee").queries[0]
    response = embedded.coverage("coffee")
    assert response.background == 13 and found.read == 7  # every match and every article: few enough to read all
    words = [term.text for term in found.terms]
    assert "beans" in words and "coffee" not in words  # the query's own word is no finding
    assert not set(words) & {"the", "said", "and"}
    names = {name.text: name for name in found.names}
    assert "Brazil" in names and names["Brazil"].matches == len(scan("brazil") & scan("coffee"))
    assert all(item.matches / found.read > item.archive / response.background for item in found.terms + found.names)
    scores = [term.score for term in found.terms]
    assert scores == sorted(scores, reverse=True)


def test_the_sample_is_the_best_stories_among_the_matches(covered):
    sample = covered.coverage("coffee").queries[0].sample
    assert sample and {story["id"] for story in sample} <= scan("coffee")
    assert len({story["story"]["id"] for story in sample}) == len(sample)  # one per story


def test_compare_counts_each_query_over_the_same_buckets_and_writes_one_csv(covered):
    response = covered.coverage(["coffee", "cocoa", "repairs"], interval="month")
    assert [query.articles for query in response.queries] == [len(scan(word)) for word in ("coffee", "cocoa", "repairs")]
    assert len({tuple(bucket["key"] for bucket in query.over_time) for query in response.queries}) == 1
    rows = list(csv.reader(io.StringIO(coverage_csv(response))))
    assert rows[0] == ["bucket", "start", "end"] + [f"{query}: {column}" for query in ("coffee", "cocoa", "repairs")
                                                    for column in ("articles", "stories", "all articles", "share")]
    assert [row[0] for row in rows[1:]] == ["2023-01", "2023-02", "2023-03", "undated"]
    assert rows[1][3:7] == ["2", str(response.queries[0].over_time[0]["stories"]), "4", "0.5"]
    assert rows[4][3:6] == ["1", "1", "1"]  # coffee's undated article
    with pytest.raises(InvalidParameterError, match="at most 5 queries"):
        CoverageRequest(("a", "b", "c", "d", "e", "f"))


def test_export_lists_every_match_by_date_undated_last_and_holds_its_generation_until_closed(covered):
    snapshot = covered.current().snapshot
    held = snapshot._holders
    exported = covered.export("coffee")
    assert exported.articles == 7 and snapshot._holders == held + 1
    rows = list(exported)
    assert snapshot._holders == held  # read to the end: let go
    assert [row["id"] for row in rows] == ["c01", "c02", "c05", "c06", "c09", "c11", "c12"]
    assert rows[-1]["date"] is None and rows[0] == {
        "id": "c01", "date": "2023-01-03", "source": "Harbour Post",
        "title": "Coffee exports climb as Brazil harvest ends", "url": None,
        "story_id": covered.current().snapshot.catalog.story_of("c01")[0]}
    covered.export("coffee").close()  # never read: let go all the same
    assert snapshot._holders == held
    lines = list(export_lines(iter(covered.export("coffee", source="Wire Daily")), "csv"))
    assert lines[0] == "id,date,source,title,url,story_id\n" and len(lines) == 4
    assert [json.loads(line)["id"] for line in export_lines(iter(covered.export("cocoa")), "jsonl")] == \
        ["c03", "c08", "c11"]


def test_export_streams_in_batches(covered, monkeypatch):
    from archive.search import coverage

    monkeypatch.setattr(coverage, "EXPORT_BATCH", 2)
    asked: list[int] = []
    store = covered.current().snapshot.store
    original = store.articles
    monkeypatch.setattr(store, "articles", lambda ids: asked.append(len(ids)) or original(ids))
    assert len(list(covered.export("coffee"))) == 7
    assert max(asked) <= 2 and sum(asked) == 7  # never every row at once


# The command line


@pytest.fixture
def cli():
    return CliRunner()


def test_indexer_coverage_prints_a_table_and_the_csv_and_json(cli, coverage_index):
    result = cli.invoke(main, ["coverage", "coffee", "cocoa", "--index", str(coverage_index), "--interval", "month"])
    assert result.exit_code == 0, result.output
    assert "out of 13 articles in the archive; by month" in result.output
    assert "coffee\n  7 articles (" in result.output and "53.8% of the archive" in result.output
    assert re.search(r"\n2023-01\s+4\s+2\s+1\n", result.output)  # bucket, all, coffee, cocoa
    assert re.search(r"\nundated\s+1\s+1\s+0\n", result.output)
    shares = cli.invoke(main, ["coverage", "coffee", "--index", str(coverage_index), "--interval", "month", "--share"])
    assert re.search(r"\n2023-02\s+4\s+50%\n", shares.output)
    table = cli.invoke(main, ["coverage", "coffee", "--index", str(coverage_index), "--interval", "month", "--csv"])
    january = Archive.open(coverage_index).coverage("coffee", interval="month").queries[0].over_time[0]
    assert table.output.splitlines()[1] == f"2023-01,2023-01-01,2023-01-31,2,{january['stories']},4,0.5"
    data = json.loads(cli.invoke(main, ["coverage", "coffee", "--index", str(coverage_index), "--json"]).output)
    assert data["queries"][0]["articles"] == 7
    refused = cli.invoke(main, ["coverage", "a", "b", "c", "d", "e", "f", "--index", str(coverage_index)])
    assert refused.exit_code == 2 and "error: at most 5 queries can be compared; 6 were given" in refused.output


def test_indexer_export_writes_every_match(cli, coverage_index, tmp_path):
    result = cli.invoke(main, ["export", "coffee", "--index", str(coverage_index)])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "id,date,source,title,url,story_id" and len(result.output.splitlines()) == 8
    target = tmp_path / "coffee.jsonl"
    result = cli.invoke(main, ["export", "coffee", "--index", str(coverage_index), "--format", "jsonl",
                               "--output", str(target)])
    assert result.exit_code == 0 and "wrote 7 articles to" in result.output
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()][-1] == "c12"
    nowhere = cli.invoke(main, ["export", "coffee", "--index", str(coverage_index), "--output",
                                str(tmp_path / "no such folder" / "coffee.csv")])
    assert nowhere.exit_code == 1 and "Could not open file" in nowhere.output and "No such file or directory" in \
        nowhere.output and "Traceback" not in nowhere.output
    refused = cli.invoke(main, ["export", "the", "--index", str(coverage_index)])
    assert refused.exit_code == 2 and "no words to match" in refused.output


def test_names_and_words_out_of_time_leave_the_counts_whole(embedded, monkeypatch):
    from archive import archive as facade
    from archive.index.budget import OutOfTime

    def out_of_time(*arguments, **options):
        raise OutOfTime

    monkeypatch.setattr(facade, "read_articles", out_of_time)
    found = embedded.coverage("cocoa").queries[0]
    assert found.articles == 3 and found.over_time is not None and not found.timed_out
    assert found.details_timed_out and found.names is None and found.terms is None
    assert "names, words and best stories" in found.note


def test_an_export_let_go_without_being_read_lets_its_generation_go(covered):
    import gc

    snapshot = covered.current().snapshot
    held = snapshot._holders
    exported = covered.export("coffee")
    assert exported.articles == 7 and snapshot._holders == held + 1
    del exported
    gc.collect()
    assert snapshot._holders == held
    rows = covered.export("coffee").rows  # the rows alone, read to the end
    assert len(list(rows)) == 7 and snapshot._holders == held


def test_a_csv_never_hands_a_spreadsheet_a_formula():
    from archive.search.coverage import export_lines

    row = {"id": "x", "date": None, "source": "@evil", "title": "=HYPERLINK(\"http://x\")", "url": None,
           "story_id": "s"}
    assert list(export_lines(iter([row]), "csv"))[1] == "x,,'@evil,\"'=HYPERLINK(\"\"http://x\"\")\",,s\n"
    assert json.loads(list(export_lines(iter([row]), "jsonl"))[0])["title"] == row["title"]  # JSON Lines: as it is
