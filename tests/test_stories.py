"""One story, many versions: grouping at build time, stable ids across updates, collapsed results
with honest totals and facets, other coverage and claims on the article page."""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REUTERS

from archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.backends.embedded.update import update
from archive.index.stories import Stories, StoryArticle, text_signatures
from archive.search.claims import agree, numbers, same_claim
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

SEED_IDS = ["000_a579cd71521fd787", "001_6d7df644afd5a1ff", "002_e11880221c40fa9a", "003_5efb497116866064",
            "004_223d587e292dbf6e"]


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def story_article(article_id: str, date: str | None, vector, text: str) -> StoryArticle:
    return StoryArticle(article_id, date, unit(vector), text_signatures([text])[0], len(text))


# Grouping, on made-up vectors (the rules themselves)

def test_copies_join_whatever_their_dates_and_same_event_needs_the_window():
    rng = np.random.default_rng(3)
    base, other = rng.normal(size=8), rng.normal(size=8)
    text = ("The central bank raised its key interest rate by half a point on Tuesday, citing inflation that has "
            "run above its target for a year, and said it stood ready to act again if prices kept rising this spring.")
    stories = Stories(8)
    stories.place([
        story_article("copy-1", "1987-03-01", base, text),
        story_article("copy-2", "1987-06-01", other, text),  # a re-run months later, other vector
        story_article("edited", "1987-03-02", other, text + " Reuters"),  # an edited copy, days later
        story_article("event-1", "1987-03-02", base + 0.01, "Rates went up at the central bank, analysts said."),
        story_article("event-late", "1987-03-20", base + 0.01, "Bankers reacted to rates at the central bank."),
        story_article("unrelated", "1987-03-01", other, "Cocoa exporters halted shipments from Bahia."),
    ])
    story = stories.story_of
    assert story["copy-1"] == story["copy-2"] == story["edited"] == story["event-1"]
    assert story["event-late"] != story["copy-1"]  # alike, but outside the date window
    assert story["unrelated"] not in (story["copy-1"], story["event-late"])
    assert stories.story_count() == 3


def test_daily_reports_do_not_chain_into_one_story():
    """Each day's report is alike to the next day's; a story still spans at most a week."""
    vector = np.ones(8)
    stories = Stories(8)
    stories.place([story_article(f"day-{day:02d}", f"1987-04-{day:02d}", vector, f"Report number {day} words here")
                   for day in range(1, 29)])
    spans = defaultdict(list)
    for article_id, story in stories.story_of.items():
        spans[story].append(int(article_id[-2:]))
    assert len(spans) > 1 and all(max(days) - min(days) <= 7 for days in spans.values())


def test_story_ids_survive_removal_and_a_new_version_joins():
    rng = np.random.default_rng(5)
    vector = rng.normal(size=8)
    stories = Stories(8)
    stories.place([story_article("a", "2022-12-19", vector, "Putin arrives in Minsk for talks with Lukashenko."),
                   story_article("b", "2022-12-19", vector + 0.01, "Putin lands in Belarus to meet Lukashenka.")])
    founded = stories.story_of["a"]
    stories.remove(["a"])  # the founder leaves: the story keeps its id
    stories.place([story_article("c", "2022-12-20", vector + 0.02, "The Russian leader met his ally in Minsk.")])
    assert stories.story_of["b"] == stories.story_of["c"] == founded
    assert stories.removed == {"a"} and stories.changed == {"a", "b", "c"} - {"a"}


def test_a_copy_of_two_stories_merges_them_keeping_the_larger_id():
    rng = np.random.default_rng(9)
    words = [f"word{number}" for number in range(100)]
    first, second, whole = " ".join(words[:80]), " ".join(words[20:]), " ".join(words)  # 0.59 alike; each 0.80 to whole
    stories = Stories(8)
    stories.place([story_article("first", "1987-03-01", rng.normal(size=8), first),
                   story_article("first-copy", "1987-03-01", rng.normal(size=8), first),
                   story_article("second", "1987-03-01", rng.normal(size=8), second)])
    larger = stories.story_of["first"]
    assert stories.story_of["first-copy"] == larger and stories.story_of["second"] != larger
    stories.place([story_article("whole", "1987-03-02", rng.normal(size=8), whole)])
    assert stories.story_of["whole"] == stories.story_of["second"] == larger and stories.story_count() == 1
    assert "second" in stories.changed


def test_edited_daily_reports_do_not_chain_but_a_long_copy_joins_whatever_the_date():
    rng = np.random.default_rng(4)
    template = "The Federal Reserve added {} billion dlrs of temporary reserves to the banking system today via " \
               "customer repurchase agreements, a spokesman for the New York Fed said, as fed funds traded at {} pct " \
               "in the morning session."
    stories = Stories(8)
    stories.place([story_article(f"fed-{day:02d}", f"1987-03-{day:02d}", rng.normal(size=8),
                                 template.format(day % 4 + 1, 6 + day / 100)) for day in range(1, 31)])
    spans = defaultdict(list)
    for article_id, story in stories.story_of.items():
        spans[story].append(int(article_id[-2:]))
    assert len(spans) > 1 and all(max(days) - min(days) <= 7 for days in spans.values())
    rerun = ("Grain barges resumed sailing on the upper Danube on Wednesday after icebreakers cleared the channel "
             "near Vukovar, port officials said, adding that about 40 vessels had waited there for up to three weeks.")
    stories.place([story_article("original", "1987-04-01", rng.normal(size=8), rerun),
                   story_article("rerun", "1987-06-01", rng.normal(size=8), rerun)])
    assert stories.story_of["rerun"] == stories.story_of["original"]
    # The re-run does not widen the story: coverage the day after the original still joins.
    stories.place([story_article("follow-up", "1987-04-02", stories.vectors[stories.position["original"]],
                                 "Dealers said the Fed's move was expected given the tight reserve position.")])
    assert stories.story_of["follow-up"] == stories.story_of["original"]


# The seed corpus: five outlets, one event

def test_the_seed_articles_form_one_story(archive):
    stories = {archive.article(article_id).story.id for article_id in SEED_IDS}
    assert len(stories) == 1
    article = archive.article(SEED_IDS[2])
    assert article.story.size == 5
    assert [version.id for version in article.story.articles][0] == SEED_IDS[2]  # the only dated one: newest first
    assert {version.id for version in article.other_coverage()} == set(SEED_IDS) - {SEED_IDS[2]}


def test_collapsed_results_count_stories_and_list_the_other_versions(archive):
    every = archive.search("Putin Lukashenko talks in Minsk", mode="keyword", collapse="none", k=10)
    collapsed = archive.search("Putin Lukashenko talks in Minsk", mode="keyword", k=10)
    assert every.total == len(every.results) >= 3 and every.collapse == "none"
    assert collapsed.total == 1 and len(collapsed.results) == 1 and collapsed.collapse == "story"
    best = collapsed.results[0]
    assert best.id == every.results[0].id  # the best version stands for the story
    assert [version.id for version in best.story.others] == [result.id for result in every.results[1:]]
    assert best.story.size == 5
    assert all(result.story.others == [] and result.story.id == best.story.id for result in every.results)
    facets = collapsed.facets
    assert sum(bucket["count"] for bucket in facets.dates) + facets.undated == collapsed.total
    assert sum(bucket["count"] for bucket in facets.sources) + facets.unsourced + facets.other_sources == collapsed.total


def test_collapsed_total_is_the_number_of_stories_in_the_uncollapsed_pool(archive):
    for mode in ("keyword", "semantic", "hybrid"):
        every = archive.search("Belarus troops", mode=mode, collapse="none", k=100)
        collapsed = archive.search("Belarus troops", mode=mode, k=100)
        assert collapsed.total == len({result.story.id for result in every.results})
        shown = [[result.id] + [version.id for version in result.story.others] for result in collapsed.results]
        assert sorted(article for group in shown for article in group) == sorted(result.id for result in every.results)


def test_collapsing_across_stories_counts_dates_pages_and_sorts_stories(corpus_copy, fresh_index, embedder):
    cocoa = ("Bahia cocoa exporters halted shipments on Tuesday after a dispute over port fees, traders said, "
             "adding that about 40,000 bags were waiting at the docks in Ilheus and that talks would resume.")
    records = [{"id": "cocoa-wire", "title": "Cocoa shipments halted", "source": "Cocoa Wire", "date": "2022-11-02",
                "body": cocoa},
               {"id": "cocoa-farm", "title": "Bahia halts cocoa", "source": "Farm Daily", "date": "2022-11-03",
                "body": cocoa},  # a syndicated copy
               {"id": "grain", "title": "Grain barges resume", "source": "River News", "date": "2023-01-05",
                "body": "Grain barges resumed sailing on the Danube after the ice cleared, port officials said."}]
    (corpus_copy / "more.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    opened = Archive.open(fresh_index, embedder=embedder)
    try:
        query = "cocoa OR grain OR Lukashenko"
        every = opened.search(query, mode="keyword", collapse="none", k=100)
        collapsed = opened.search(query, mode="keyword", k=100)
        assert every.total == 8 and collapsed.total == 3
        assert collapsed.total == len({result.story.id for result in every.results})
        dates = {bucket["key"]: bucket["count"] for bucket in collapsed.facets.dates}
        assert collapsed.facets.unit == "month" and dates == {"2022-11": 1, "2022-12": 1, "2023-01": 1}
        assert collapsed.facets.undated == 0  # the seed story is dated by its one dated version
        sources = {bucket["source"]: bucket["count"] for bucket in collapsed.facets.sources}
        assert sum(sources.values()) + collapsed.facets.unsourced + collapsed.facets.other_sources == 3
        newest = opened.search(query, mode="keyword", sort="date", k=100)
        assert [result.story.size for result in newest.results] == [1, 5, 2]  # 2023-01, 2022-12, 2022-11
        pages = [opened.search(query, mode="keyword", k=1, page=page).results for page in (1, 2, 3, 4)]
        assert [len(results) for results in pages] == [1, 1, 1, 0]
        assert len({results[0].story.id for results in pages[:3]}) == 3
        cocoa_story = next(result for result in collapsed.results if result.story.size == 2)
        assert {cocoa_story.id, *(version.id for version in cocoa_story.story.others)} == {"cocoa-wire", "cocoa-farm"}
        only_farm = opened.search(query, mode="keyword", source="Farm Daily")
        assert only_farm.total == 1 and only_farm.results[0].id == "cocoa-farm" and only_farm.results[0].story.others == []
    finally:
        opened.close()


# Updates keep story ids

def test_update_keeps_story_ids_and_a_new_version_joins(corpus_copy, fresh_index, embedder):
    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    before = Archive.open(fresh_index, embedder=embedder)
    story = before.article(SEED_IDS[0]).story.id
    before.close()
    source = (corpus_copy / f"{SEED_IDS[4]}.txt").read_text(encoding="utf-8")
    edited = source.replace("Putin", "Russian President Vladimir Putin", 3) + "\n\nThis copy was edited for a wire service.\n"
    (corpus_copy / "005_wire_copy.txt").write_text(edited, encoding="utf-8")
    (corpus_copy / f"{SEED_IDS[1]}.txt").unlink()
    (corpus_copy / "006_unrelated.txt").write_text(
        "Cocoa exporters halt shipments from Bahia\n\nPublished March 3, 1987\n\nBahia cocoa exporters halted "
        "shipments on Tuesday after a dispute over port fees, traders said, adding that 40,000 bags were waiting.\n",
        encoding="utf-8")
    summary = update(corpus_copy, fresh_index, embedder=embedder)
    assert summary.added == 2 and summary.removed == 1 and summary.stories == 2
    after = Archive.open(fresh_index, embedder=embedder)
    try:
        assert after.article("005_wire_copy").story.id == story
        assert after.article(SEED_IDS[0]).story.id == story and after.article(SEED_IDS[0]).story.size == 5
        assert after.article("006_unrelated").story.id != story
        assert after.article("006_unrelated").story.size == 1
    finally:
        after.close()


# Reuters: exact copies land in one story

@pytest.mark.skipif(not REUTERS.exists(), reason="shared Reuters-21578 dataset not present")
def test_reuters_exact_duplicate_bodies_land_in_one_story(tmp_path, embedder):
    records, by_body = [], defaultdict(list)
    with gzip.open(REUTERS, "rt", encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            if record.get("body") and len(record["body"]) > 200:
                by_body[record["body"]].append(record)
    groups = [group for group in by_body.values() if len(group) > 1][:8]
    singles = [group[0] for group in by_body.values() if len(group) == 1][:24]
    for group in groups:
        records += group
    records += singles
    corpus = tmp_path / "reuters-subset.jsonl"
    corpus.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    rebuild(corpus, tmp_path / "index", DEFAULT_MODEL, embedder=embedder)
    opened = Archive.open(tmp_path / "index", embedder=embedder)
    try:
        catalog = opened.current().snapshot.catalog
        for group in groups:
            assert len({catalog.story_of(str(record["id"]))[0] for record in group}) == 1
        assert catalog.story_of(str(groups[0][0]["id"]))[1] >= len(groups[0])
        # Unrelated single articles are not swept into one story.
        assert len({catalog.story_of(str(record["id"]))[0] for record in singles}) >= len(singles) * 3 // 4
    finally:
        opened.close()


# Claims

def test_names_and_numbers_must_agree():
    assert not agree("The talks began on December 3 in Minsk.", "The talks began on December 5 in Minsk.")
    assert agree("Ford extended the program to April 30 from April 6.", "Ford extended its program to April 30.")
    assert not agree("Putin met Lukashenko in the capital.", "Zelensky met Biden in the capital.")
    assert agree("Putin met Lukashenko in Minsk.", "Putin met Lukashenka in Minsk.")  # one name, two spellings
    assert numbers("It sold 1,200 tonnes at 3.5 dlrs.") == {"1200", "3.5"}
    assert not same_claim("Putin will visit Minsk on Monday for talks.", "Cocoa prices fell sharply in London.", 0.99)


def test_claims_link_both_ways(archive):
    pages = {article_id: archive.article(article_id) for article_id in SEED_IDS}
    links = 0
    for article_id, page in pages.items():
        for claim in page.claims:
            assert page.text[claim.start : claim.end] == claim.text and claim.also
            for link in claim.also:
                links += 1
                other = pages[link.article_id]
                assert other.text[link.start : link.end] == link.text
                back = [found for found in other.claims if (found.start, found.end) == (link.start, link.end)]
                assert back and article_id in {item.article_id for item in back[0].also}
    assert links >= 4


# The edges

def test_api_and_pages_show_stories_and_claims(client):
    body = client.get("/api/search", query_string={"q": "Putin Lukashenko talks", "mode": "keyword"}).get_json()
    assert body["collapse"] == "story" and body["total"] == 1
    story = body["results"][0]["story"]
    assert story["size"] == 5 and len(story["others"]) == 4
    assert set(story["others"][0]) == {"id", "title", "source", "date", "date_kind"}
    every = client.get("/api/search", query_string={"q": "Putin Lukashenko talks", "mode": "keyword",
                                                     "collapse": "none"}).get_json()
    assert every["total"] == 5 and all(result["story"]["others"] == [] for result in every["results"])
    bad = client.get("/api/search", query_string={"q": "Putin", "collapse": "stories"})
    assert bad.status_code == 400 and "collapse" in bad.get_json()["error"]["message"]

    article = client.get(f"/api/articles/{SEED_IDS[0]}").get_json()
    assert article["story"]["size"] == 5 and len(article["story"]["articles"]) == 5
    assert article["claims"] and {"start", "end", "text", "first", "also"} == set(article["claims"][0])

    page = client.get("/search", query_string={"q": "Putin Lukashenko talks", "mode": "keyword"}).get_data(as_text=True)
    assert '<details class="versions">' in page and "4 other versions" in page and "1 story found" in page
    every_page = client.get("/search", query_string={"q": "Putin Lukashenko talks", "mode": "keyword",
                                                      "collapse": "none"}).get_data(as_text=True)
    assert "5 articles found" in every_page and '<details class="versions">' not in every_page

    html = client.get(f"/articles/{SEED_IDS[0]}").get_data(as_text=True)
    assert "Other coverage of this story" in html
    coverage = html.split('id="coverage"')[1].split("</section>")[0]
    # The story's timeline: all five versions, oldest first, this one marked and not a link.
    assert coverage.count("<li") == 5 and f'href="/articles/{SEED_IDS[0]}"' not in coverage
    assert "(this article)" in coverage and 'href="/stories/' in coverage
    assert '<mark class="claim">' in html and "also reported by" in html
    target = re.search(r'also reported by <a href="([^"]+)"', html).group(1)
    assert "start=" in target and target.endswith("#match")
    opened = client.get(target.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="match"' in opened


def test_cli_lists_other_versions_and_collapse_none(seed_index):
    runner = CliRunner()
    result = runner.invoke(main, ["search", "--index", str(seed_index), "--mode", "keyword", "Putin Lukashenko talks"])
    assert result.exit_code == 0, result.output
    assert "1 story in the candidate pool" in result.output
    assert "+ 4 other versions of this story" in result.output
    result = runner.invoke(main, ["search", "--index", str(seed_index), "--mode", "keyword", "--collapse", "none",
                                  "Putin Lukashenko talks"])
    assert result.exit_code == 0 and "5 articles in the candidate pool" in result.output
    assert "other version" not in result.output
    result = runner.invoke(main, ["search", "--index", str(seed_index), "--collapse", "stories", "Putin"])
    assert result.exit_code == 2 and "'stories' is not one of 'story', 'none'" in result.output


def test_many_articles_find_their_neighbours_through_ivf_as_exact_search_does(monkeypatch):
    """Past EXACT_NEIGHBOUR_PAIRS the neighbours come from an IVF index: the close ones (those
    that can join a story) are the ones exact search finds."""
    from archive.index import stories as stories_module

    generator = np.random.default_rng(3)
    centres = generator.normal(size=(400, 64)).astype(np.float32)
    vectors = centres[generator.integers(0, 400, 6000)] + generator.normal(scale=0.35, size=(6000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    placed = Stories(64, vectors=vectors, ids=[f"a{index}" for index in range(6000)],
                     story_of={f"a{index}": "s" for index in range(6000)})

    def neighbours() -> dict[int, list[tuple[int, float]]]:
        similarities, positions = placed.neighbour_arrays(0)
        return {own: [(int(other), float(similarity)) for other, similarity in zip(row, row_similarities, strict=True)
                      if other >= 0 and other != own]
                for own, (row, row_similarities) in enumerate(zip(positions, similarities, strict=True))}

    exact = neighbours()
    monkeypatch.setattr(stories_module, "EXACT_NEIGHBOUR_PAIRS", 1000)
    assert not isinstance(stories_module.neighbour_index(vectors, 6000), stories_module.faiss.IndexFlatIP)
    approximate = neighbours()
    close = {(own, other) for own, found in exact.items() for other, similarity in found
             if similarity >= stories_module.SAME_EVENT_SIMILARITY}
    found = {(own, other) for own, pairs in approximate.items() for other, _ in pairs}
    assert len(close) > 5000 and len(close & found) / len(close) >= 0.97
