"""Following a search or a story (issue 26): Atom feeds, conditional requests, when the archive
first saw each article, and who reported a claim first. On both backends."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import feedparser
import pytest
from click.testing import CliRunner
from conftest import BACKENDS

from archive.archive import Archive
from archive.backends import EmbeddedBackend, MilvusBackend
from archive.search.feeds import ATOM
from archive.settings import DEFAULT_MODEL
from indexer.cli import main
from web import create_app

NS = {"atom": ATOM}
NEWER = {  # a later version of the seed story's dated article, as a wire service would file it
    "id": "later-report", "date": "2022-12-20", "source": "Evening Wire",
    "title": "Putin and Lukashenko meet in Minsk as Ukraine guards its border",
    "text": ("Russian President Vladimir Putin met Belarus President Alexander Lukashenko in Minsk on Monday, his "
             "first visit to Belarus in three years, as Ukraine's military warned of a possible escalation on the "
             "border. The talks come amid reports that Russia is stepping up its deployment in Belarus."),
}


@pytest.fixture(params=BACKENDS)
def backend(request, fresh_index, tmp_path):
    if request.param == "embedded":
        return EmbeddedBackend(fresh_index)
    return MilvusBackend(str(tmp_path / "archive.db"), fresh_index)


@pytest.fixture
def built(backend, corpus_copy, embedder, monkeypatch):
    from archive import archive as facade

    monkeypatch.setattr(facade, "RELOAD_CHECK_SECONDS", 0.0)  # a request sees an update at once
    backend.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
    return backend


def client_of(backend, embedder):
    config = {"INDEX_DIR": str(backend.work_dir), "TESTING": False, "EMBEDDER": embedder}
    if backend.name == "milvus":
        config.update(BACKEND="milvus", MILVUS_URI=backend.uri)
    return create_app(config).test_client()


def required_elements(document: str) -> None:
    """RFC 4287: a feed has id, title and updated; so does each entry (and a link, having no content)."""
    root = ElementTree.fromstring(document)
    assert root.tag == f"{{{ATOM}}}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"atom:{name}", NS) is not None and root.find(f"atom:{name}", NS).text, name
    assert root.find("atom:author/atom:name", NS) is not None or all(
        entry.find("atom:author", NS) is not None for entry in root.findall("atom:entry", NS))
    for entry in root.findall("atom:entry", NS):
        for name in ("id", "title", "updated"):
            assert entry.find(f"atom:{name}", NS) is not None and entry.find(f"atom:{name}", NS).text, name
        assert entry.find("atom:link[@rel='alternate']", NS) is not None


def test_search_and_story_feeds_parse_and_an_update_puts_a_new_version_on_top(built, corpus_copy, embedder):
    client = client_of(built, embedder)
    first = client.get("/search.atom?q=Putin+Belarus")
    assert first.status_code == 200 and first.mimetype == "application/atom+xml"
    document = first.get_data(as_text=True)
    required_elements(document)
    parsed = feedparser.parse(document)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == 5  # every version of the one seed story
    assert parsed.entries[0].published.startswith("2022-12-19")  # the one dated article first, the undated after
    entry = parsed.entries[0]
    assert entry.link.startswith("http://localhost/articles/") and entry.summary and entry.author == "Unknown source"
    story = next(tag.term for tag in entry.tags if tag.scheme == "urn:news-archive:story")
    story_feed = client.get(f"/stories/{story}.atom")
    assert story_feed.status_code == 200 and not feedparser.parse(story_feed.data).bozo
    required_elements(story_feed.get_data(as_text=True))
    assert len(feedparser.parse(story_feed.data).entries) == 5
    etag = first.headers["ETag"]

    (corpus_copy / "later-report.json").write_text(json.dumps(NEWER))
    built.update(corpus_copy, embedder=embedder)
    after = client.get("/search.atom?q=Putin+Belarus")
    assert after.status_code == 200 and after.headers["ETag"] != etag
    top = feedparser.parse(after.data).entries[0]
    assert top.id == "urn:news-archive:article:later-report" and top.author == "Evening Wire"
    assert top.published.startswith("2022-12-20")
    assert any(link.href.endswith(f"/stories/{story}.atom") for link in top.links)  # it joined the seed story
    story_after = feedparser.parse(client.get(f"/stories/{story}.atom").data)
    assert story_after.entries[0].id == "urn:news-archive:article:later-report" and len(story_after.entries) == 6


def test_an_unchanged_archive_answers_304(built, embedder):
    client = client_of(built, embedder)
    for url in ("/search.atom?q=Putin", "/api/search?q=Putin"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Last-Modified"]
        again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == response.headers["ETag"]
        since = client.get(url, headers={"If-Modified-Since": response.headers["Last-Modified"]})
        assert since.status_code == 304
        other = client.get(url + "&mode=keyword", headers={"If-None-Match": response.headers["ETag"]})
        assert other.status_code == 200  # another request is another representation
    story = client.get("/api/search?q=Putin").get_json()["results"][0]["story"]["id"]
    feed = client.get(f"/stories/{story}.atom")
    assert client.get(f"/stories/{story}.atom", headers={"If-None-Match": feed.headers["ETag"]}).status_code == 304
    missing = client.get("/stories/no-such-story.atom")
    assert missing.status_code == 404 and missing.get_json() == {
        "error": {"status": 404, "code": "not_found", "message": "no story with id 'no-such-story'"}}
    bad = client.get("/search.atom?q=Putin&mode=fuzzy")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_request"


def test_first_seen_is_kept_across_update_and_rebuild(built, corpus_copy, embedder):
    archive = Archive.open(built, embedder=embedder)
    try:
        before = archive.current().snapshot.store.first_seen()
        assert len(before) == 5 and len(set(before.values())) == 1
        path = corpus_copy / "002_e11880221c40fa9a.txt"
        path.write_text(path.read_text().replace("Belarusian Hajun", "The Belarusian Hajun monitoring project"))
        (corpus_copy / "later-report.json").write_text(json.dumps(NEWER))
        built.update(corpus_copy, embedder=embedder)
        after = archive.current().snapshot.store.first_seen()
        assert {key: after[key] for key in before} == before  # a changed article is not news
        assert after["later-report"] > max(before.values())
        built.rebuild(corpus_copy, DEFAULT_MODEL, embedder=embedder)
        assert archive.current().snapshot.store.first_seen() == after  # a rebuild is not seeing them again
    finally:
        archive.close()


def test_an_undated_article_added_later_heads_the_undated_and_a_backfill_sinks_to_its_date(built, corpus_copy,
                                                                                           embedder):
    old = {**NEWER, "id": "backfill", "date": "2021-03-01", "title": "An old report of a Putin Lukashenko meeting"}
    undated = {key: value for key, value in NEWER.items() if key != "date"}
    undated.update(id="undated-later", title="Putin and Lukashenko talk in Minsk, undated wire copy")
    (corpus_copy / "backfill.json").write_text(json.dumps(old))
    (corpus_copy / "undated.json").write_text(json.dumps(undated))
    built.update(corpus_copy, embedder=embedder)
    archive = Archive.open(built, embedder=embedder)
    try:
        entries = archive.search_feed("Putin Lukashenko").entries
    finally:
        archive.close()
    order = [entry.article_id for entry in entries]
    assert order.index("backfill") == 1 and entries[1].updated == "2021-03-01T00:00:00Z"  # after 2022-12-19
    assert order.index("undated-later") == 2  # the first undated: seen most recently
    assert all(entry.date is None for entry in entries[2:])


def test_claims_list_their_reports_in_time_order_and_mark_the_first(built, corpus_copy, embedder):
    (corpus_copy / "later-report.json").write_text(json.dumps(NEWER))
    built.update(corpus_copy, embedder=embedder)
    client = client_of(built, embedder)
    article = client.get("/api/articles/later-report").get_json()
    assert article["claims"], "the later version repeats the dated article's sentences"
    for claim in article["claims"]:
        dates = [link["date"] for link in claim["also"]]
        dated = [date for date in dates if date]
        assert dated == sorted(dated) and dates[: len(dated)] == dated  # oldest first, undated last
        if "002_e11880221c40fa9a" in [link["article_id"] for link in claim["also"]]:
            assert claim["first"] == {"article_id": "002_e11880221c40fa9a", "source": None, "date": "2022-12-19"}
    page = client.get("/articles/later-report").get_data(as_text=True)
    assert "first reported by" in page and '<time datetime="2022-12-19">19 Dec 2022</time>' in page
    timeline = page.split('class="story-timeline"')[1].split("</ol>")[0]
    assert timeline.index("19 Dec 2022") < timeline.index("20 Dec 2022") and "(this article)" in timeline
    assert 'class=" first"' in timeline and '<span class="first-mark">first</span>' in timeline


def test_the_results_page_and_the_article_page_link_their_feeds(client):
    page = client.get("/search?q=Putin+Belarus&source=&k=5").get_data(as_text=True)
    assert ('<link rel="alternate" type="application/atom+xml" title="Follow “Putin Belarus” (Atom feed)" '
            'href="/search.atom?q=Putin+Belarus">') in page  # without k, which a feed does not take
    assert '>Follow this search</a>' in page
    article = client.get("/articles/001_6d7df644afd5a1ff").get_data(as_text=True)
    assert '<link rel="alternate" type="application/atom+xml" title="Follow this story (Atom feed)"' in article
    assert '>Follow this story</a>' in article


def test_indexer_search_writes_a_feed_for_a_cron_job(seed_index):
    runner = CliRunner()
    result = runner.invoke(main, ["search", "Putin", "--index", str(seed_index), "--format", "atom",
                                  "--base-url", "https://news.example.org/"])
    assert result.exit_code == 0, result.output
    parsed = feedparser.parse(result.output)
    assert not parsed.bozo and len(parsed.entries) == 5
    assert parsed.feed.link == "https://news.example.org/search?q=Putin&mode=hybrid&collapse=none"
    since = feedparser.parse(runner.invoke(main, ["search", "Putin", "--index", str(seed_index), "--format", "atom",
                                                  "--from", "2022-12-01"]).output)
    assert [entry.published for entry in since.entries] == ["2022-12-19T00:00:00Z"]  # only what is new since


def test_a_fact_reported_with_a_name_in_another_spelling_is_one_claim(client):
    """Sergei Shoigu "traveled to Belarus on December 3 to sign" and Sergey Shoigu "met Lukashenko
    on December 3": the same name in two spellings and the same date corroborate the two
    reports, which are a little less alike in meaning than the threshold (0.78)."""
    article = client.get("/api/articles/001_6d7df644afd5a1ff").get_json()
    shoigu = [claim for claim in article["claims"] if "Sergei Shoigu" in claim["text"]]
    assert shoigu, [claim["text"][:60] for claim in article["claims"]]
    linked = {link["article_id"]: link for link in shoigu[0]["also"]}
    assert "Sergey Shoigu" in linked["002_e11880221c40fa9a"]["text"]
    # The dated report is the first known: this article has no date.
    assert shoigu[0]["first"] == {"article_id": "002_e11880221c40fa9a", "source": None, "date": "2022-12-19"}


def test_a_search_feed_is_the_newest_of_every_match_not_of_a_ranked_pool(tmp_path, seed_index, embedder):
    from dataclasses import replace

    from conftest import ROOT, warm_directory

    from archive.archive import DEFAULT_FUSION
    from archive.backends.embedded.rebuild import rebuild

    directory = warm_directory(tmp_path / "coverage", seed_index)
    rebuild(ROOT / "tests" / "data" / "coverage", directory, DEFAULT_MODEL, embedder=embedder)
    narrow = Archive.open(directory, embedder=embedder, fusion=replace(DEFAULT_FUSION, depth=1))  # a pool of one
    try:
        feed = narrow.search_feed("coffee", mode="keyword")
        assert [entry.article_id for entry in feed.entries] == ["c11", "c09", "c06", "c05", "c02", "c01", "c12"]
        assert "coffee" in feed.entries[0].summary.lower()  # the passage with the words
        stories = narrow.search_feed("coffee", collapse="story").entries
        assert len({entry.story_id for entry in stories}) == len(stories)  # one a story, its newest
        assert narrow.search_feed("coffee").id == narrow.search_feed("coffee", k=3, page=2, sort="date").id
        assert narrow.search_feed("coffee").id != narrow.search_feed("cocoa").id
    finally:
        narrow.close()


def test_validators_compare_weakly_and_a_missing_story_is_a_404_before_any_304(client):
    response = client.get("/search.atom?q=Putin")
    tag = response.headers["ETag"]
    assert tag.startswith('W/"')  # the same answer, not the same bytes
    assert client.get("/search.atom?q=Putin", headers={"If-None-Match": tag.removeprefix("W/")}).status_code == 304
    assert client.get("/stories/no-such-story.atom", headers={"If-None-Match": "*"}).status_code == 404


def test_on_equal_dates_this_article_reported_first_and_indexing_time_never_orders_dated_reports():
    from archive.ingest.articles import Article
    from archive.search.claims import Claim, ClaimLink, in_time_order

    article = Article("a", "A", "text", date="2022-12-19", source="Here")
    claim = Claim(0, 4, "text", [ClaimLink("c", "Late", 0, 1, "t", 0.9), ClaimLink("b", "Same day", 0, 1, "t", 0.9),
                                 ClaimLink("u", "Undated", 0, 1, "t", 0.9)])
    dates = {"b": "2022-12-19", "c": "2022-12-20", "u": None}
    seen = {"b": "2022-01-01T00:00:00.000+00:00", "a": "2026-01-01T00:00:00.000+00:00"}  # b was indexed far earlier
    [ordered] = in_time_order([claim], article, dates, seen)
    assert [link.article_id for link in ordered.also] == ["b", "c", "u"]
    assert ordered.first.article_id == "a" and ordered.first.date == "2022-12-19"
