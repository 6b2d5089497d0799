"""Web crawls (WARC) and feeds (RSS, Atom) as a corpus: what becomes an article, with which
title, date, source and URL; what is passed over and why; damage; one article per URL."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
from pathlib import Path

from click.testing import CliRunner

from archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.backends.embedded.update import update
from archive.ingest.corpus import read_corpus
from archive.ingest.links import article_id_from_url, canonical_url
from archive.settings import DEFAULT_MODEL
from bench.ingest import CrawlWriter, ZeroStream, news_page
from indexer.cli import main

TALKS = ["Negotiators from both sides returned to the table on Thursday after a pause of several weeks, "
         "and officials said the first session was constructive.",
         "The talks are expected to focus on shipping routes through the strait and on the release of "
         "detained crews, according to people familiar with the agenda."]
GRAIN = ["Grain prices fell sharply in early trading as traders weighed reports of a larger harvest "
         "than forecast and a slowdown in export demand from the largest buyers.",
         "Analysts said the drop could ease pressure on millers, although freight costs remain high "
         "and storage is tight in several ports along the coast."]
FERRY = ["The ferry operator said the new timetable adds two daily crossings to the islands and restores "
         "the late evening service that was cut during the strike last winter.",
         "Passengers welcomed the change, but island councils asked for cheaper fares for residents "
         "who depend on the service to reach work, schools and hospitals."]
TALKS_URL = "https://www.daily.example/world/talks-resume?utm_source=rss"
GRAIN_URL = "http://news.example.org/markets/grain"


def write_crawl(path: Path) -> dict:
    """The crawl of the issue: two news pages, a 404, an image, a revisit, a duplicate payload,
    a repeated URL, a page with too little text, and a truncated last member. Returns the byte
    offset of that last record and the payload digest of the first page."""
    with open(path, "wb") as stream:
        crawl = CrawlWriter(stream)
        crawl.request(TALKS_URL)
        digest = crawl.response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS, date="2024-05-02",
                                                     author="Ann Writer", site="Daily Example"))
        crawl.response(GRAIN_URL, news_page("Grain prices fall on harvest reports", GRAIN), crawled="2024-06-03T10:00:00Z")
        crawl.response("https://news.example.org/missing", b"<html><body>Not found</body></html>", status="404 Not Found")
        crawl.response("https://news.example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), content_type="image/png")
        crawl.revisit(TALKS_URL, digest, TALKS_URL)
        crawl.response("https://news.example.org/markets/grain-copy", news_page("Grain prices fall on harvest reports", GRAIN),
                       crawled="2024-06-03T10:00:00Z")
        crawl.response("https://daily.example/world/talks-resume", news_page("Talks resume (updated)", TALKS[:1] * 3))
        crawl.response("https://news.example.org/tag/markets", news_page("Markets", ["More stories soon."]))
        last = stream.tell()
        crawl.response("https://news.example.org/ferries", news_page("Ferries add crossings", FERRY))
    path.write_bytes(path.read_bytes()[:-60])  # cut into the last gzip member
    return {"last": last, "digest": digest}


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Harbour Gazette</title><link>https://gazette.example/</link>
<item><title>Ferries add crossings</title><link>https://gazette.example/local/ferries?utm_medium=feed</link>
<pubDate>Tue, 14 May 2024 09:30:00 GMT</pubDate><dc:creator>Sam Reporter</dc:creator>
<description>Two more crossings a day.</description>
<content:encoded><![CDATA[<p>{0}</p><p>{1}</p>]]></content:encoded></item>
<item><title>Grain prices fall on harvest reports</title><link>{grain}</link>
<pubDate>Mon, 03 Jun 2024 07:00:00 GMT</pubDate><description>&lt;p&gt;Grain prices fell in early trading.&lt;/p&gt;</description></item>
<item><link>https://gazette.example/empty</link></item>
</channel></rss>""".format(*FERRY, grain=GRAIN_URL)

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Valley Times</title><link href="https://valley.example/"/>
<id>urn:valley</id><updated>2024-05-21T00:00:00Z</updated>
<entry><title>Bridge reopens to traffic</title><link href="https://valley.example/news/bridge"/><id>urn:valley:1</id>
<published>2024-05-20T08:00:00Z</published><updated>2024-05-20T09:00:00Z</updated><author><name>Kim Editor</name></author>
<content type="html">&lt;p&gt;The river bridge reopened on Monday after repairs that took most of the spring.&lt;/p&gt;&lt;p&gt;Drivers should expect short delays.&lt;/p&gt;</content></entry>
</feed>"""


def by_id(reading) -> dict:
    return {article.id: article for article in reading.articles}


def test_a_crawl_keeps_its_news_pages_with_title_date_source_and_url(tmp_path):
    write_crawl(tmp_path / "crawl.warc.gz")
    reading = read_corpus(tmp_path)
    articles = by_id(reading)
    assert list(articles) == ["daily.example/world/talks-resume", "news.example.org/markets/grain"]
    talks = articles["daily.example/world/talks-resume"]
    assert (talks.title, talks.date, talks.date_kind, talks.source, talks.author, talks.url) == (
        "Talks resume after weeks of pause", "2024-05-02", "published", "Daily Example", "Ann Writer", TALKS_URL)
    assert talks.text == "\n\n".join(TALKS)  # the main text only: no navigation, no footer, no repeated headline
    grain = articles["news.example.org/markets/grain"]
    # no date and no site name on the page: the crawl's date, marked as such, and the host
    assert (grain.date, grain.date_kind, grain.source, grain.url) == ("2024-06-03", "crawled", "news.example.org", GRAIN_URL)
    assert grain.path.startswith("crawl.warc.gz@")


def test_every_record_is_counted_and_each_skip_has_its_reason(tmp_path):
    written = write_crawl(tmp_path / "crawl.warc.gz")
    reading = read_corpus(tmp_path)
    assert reading.records_dict() == {"crawl": {"read": 10, "kept": 2, "skipped": {
        "HTTP status 404": 1,
        "damaged: rest of file unread": 1,
        "not HTML (image/png)": 1,
        "request record": 1,
        "revisit record": 1,
        "same URL as an earlier record": 1,
        "same payload as an earlier record": 1,
        "too little text": 1,
    }}}
    # damage is also a problem to show (and fails --strict); passing over a 404 is not
    assert [item.to_dict() for item in reading.skipped] == [{
        "path": "crawl.warc.gz",
        "reason": f"damaged at byte {written['last']}: the record for https://news.example.org/ferries is cut short; "
                  "2 article(s) before it kept, the rest unread"}]


def test_a_corrupt_gzip_member_keeps_what_came_before(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as stream:
        crawl = CrawlWriter(stream)
        crawl.response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS))
        middle = stream.tell()
        crawl.response(GRAIN_URL, news_page("Grain prices fall on harvest reports", GRAIN))
        crawl.response("https://news.example.org/ferries", news_page("Ferries add crossings", FERRY))
    data = bytearray(path.read_bytes())
    data[middle + 30 : middle + 80] = b"\x00" * 50
    path.write_bytes(bytes(data))
    reading = read_corpus(path)
    assert [article.id for article in reading.articles] == ["daily.example/world/talks-resume"]
    assert len(reading.skipped) == 1
    assert re.fullmatch(r"damaged at byte \d+: .+; 1 article\(s\) before it kept, the rest unread",
                        reading.skipped[0].reason), reading.skipped[0].reason
    assert reading.records_dict()["crawl"]["skipped"] == {"damaged: rest of file unread": 1}


def test_a_file_that_is_not_a_warc_is_skipped_with_its_reason(tmp_path):
    (tmp_path / "notes.warc").write_text("These are my notes about the crawl, not a crawl.\n" * 5)
    reading = read_corpus(tmp_path)
    assert reading.articles == []
    assert [item.to_dict() for item in reading.skipped] == [
        {"path": "notes.warc", "reason": "not a WARC file (no WARC/1.x record at its start)"}]


def test_ids_come_from_urls_so_every_copy_of_a_page_is_one_article(tmp_path):
    with open(tmp_path / "2024-06-03.warc.gz", "wb") as stream:
        CrawlWriter(stream).response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS))
    with open(tmp_path / "2024-06-04.warc.gz", "wb") as stream:  # a later crawl: the same page, written another way
        CrawlWriter(stream).response("http://daily.example/world/talks-resume/#comments",
                                     news_page("Talks resume after weeks of pause", TALKS + ["A third paragraph."]))
    reading = read_corpus(tmp_path)
    assert [article.id for article in reading.articles] == ["daily.example/world/talks-resume"]
    assert reading.articles[0].text.endswith("A third paragraph.")  # the fuller copy
    assert reading.copies == {"2024-06-03.warc.gz": {"daily.example/world/talks-resume"}}
    assert canonical_url("HTTPS://WWW.Example.com:443/a/b/?utm_source=x&page=2#top") == "example.com/a/b?page=2"
    assert canonical_url("http://example.com") == "example.com"
    assert canonical_url("mailto:someone@example.com") is None
    long_url = "https://example.com/" + "word-" * 60
    assert article_id_from_url(long_url) == article_id_from_url(long_url + "?utm_campaign=feed")
    assert len(article_id_from_url(long_url)) == 160 and article_id_from_url(long_url) != article_id_from_url(long_url + "x")


def test_counts_add_up_when_a_passed_over_record_is_cut_short(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as stream:
        crawl = CrawlWriter(stream)
        crawl.response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS))
        crawl.response("https://news.example.org/photo.jpg", bytes(range(256)) * 40, content_type="image/jpeg")
    path.write_bytes(path.read_bytes()[:-200])
    counts = read_corpus(path).records_dict()["crawl"]
    assert counts == {"read": 2, "kept": 1, "skipped": {"damaged: rest of file unread": 1}}


def test_a_response_without_an_http_head_is_counted_as_such(tmp_path):
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "crawl.warc"
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=False)
        page = news_page("Talks resume after weeks of pause", TALKS)
        record = writer.create_warc_record(TALKS_URL, "resource", payload=io.BytesIO(page), length=len(page),
                                           warc_content_type="text/html")
        record.rec_headers.replace_header("WARC-Type", "response")  # a response record that holds only the page
        record.rec_type = "response"
        writer.write_record(record)
    counts = read_corpus(path).records_dict()["crawl"]
    assert counts == {"read": 1, "kept": 0, "skipped": {"no HTTP response": 1}}


def test_a_linkless_feed_entry_is_not_merged_with_a_record_of_the_same_id(tmp_path):
    (tmp_path / "news.jsonl").write_text(json.dumps({"title": "Council budget", "body": "The council set its budget."}) + "\n")
    (tmp_path / "news.rss").write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
                                       "<item><title>Harbour fees</title><description>Fees rise in June.</description>"
                                       "</item></channel></rss>")
    reading = read_corpus(tmp_path)
    assert [article.title for article in reading.articles] == ["Council budget"]
    assert [item.to_dict() for item in reading.skipped] == [
        {"path": "news.rss:1", "reason": "duplicate id 'news#1' (first in news.jsonl:1)"}]
    assert reading.records_dict() == {"feed": {"read": 1, "kept": 0, "skipped": {"same id as an article in another file": 1}}}


def test_progress_counts_only_the_crawls_that_are_read(tmp_path):
    write_crawl(tmp_path / "a.warc.gz")
    with open(tmp_path / "b.warc.gz", "wb") as stream:
        CrawlWriter(stream).response("https://news.example.org/ferries", news_page("Ferries add crossings", FERRY))
    status = (tmp_path / "a.warc.gz").stat()
    known = {"a.warc.gz": ((status.st_size, status.st_mtime_ns), ["daily.example/world/talks-resume"], [])}
    heard = []
    reading = read_corpus(tmp_path, known=known, progress=lambda *report: heard.append(report))
    size = (tmp_path / "b.warc.gz").stat().st_size
    assert reading.unchanged_files == ["a.warc.gz"]
    assert heard[0] == ("crawl", 0, size) and heard[-1] == ("crawl", size, size)


def peak_memory_reading(path: Path) -> tuple[int, object]:
    tracemalloc.start()
    try:
        reading = read_corpus(path)
        return tracemalloc.get_traced_memory()[1], reading
    finally:
        tracemalloc.stop()


def test_a_crawl_streams_in_constant_memory(tmp_path):
    """Peak memory does not grow with the payloads: 32 times the bytes, about the same peak. (An
    uncompressed crawl: gzipped zeros would measure zlib's burst per block, not the payloads.)"""
    peaks = []
    for videos, size in ((1, 4 * 2**20), (4, 32 * 2**20)):
        path = tmp_path / f"videos-{videos}.warc"
        with open(path, "wb") as stream:
            crawl = CrawlWriter(stream, gzip_members=False)
            crawl.response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS))
            for number in range(videos):
                crawl.response(f"https://news.example.org/clip-{number}.mp4", ZeroStream(size), content_type="video/mp4",
                               length=size)
            huge = 6 * 2**20  # an HTML payload over the 5 MB limit: read only up to it
            crawl.response("https://news.example.org/huge.html", ZeroStream(huge), length=huge)
        peak, reading = peak_memory_reading(path)
        peaks.append(peak)
        assert [article.id for article in reading.articles] == ["daily.example/world/talks-resume"]
        assert reading.records_dict()["crawl"]["skipped"] == {"not HTML (video/mp4)": videos, "too large": 1}
    assert peaks[1] < peaks[0] * 1.25 + 2**20, [f"{peak / 2**20:.1f} MB" for peak in peaks]
    assert peaks[1] < 16 * 2**20  # the one HTML page read whole is at most 5 MB


def test_rss_and_atom_entries_are_articles(tmp_path):
    (tmp_path / "gazette.rss").write_text(RSS)
    (tmp_path / "valley.atom").write_text(ATOM)
    (tmp_path / "catalog.xml").write_text('<?xml version="1.0"?><catalog><book>Not news</book></catalog>')
    reading = read_corpus(tmp_path)
    articles = by_id(reading)
    ferries = articles["gazette.example/local/ferries"]
    assert (ferries.title, ferries.date, ferries.source, ferries.author, ferries.url) == (
        "Ferries add crossings", "2024-05-14", "Harbour Gazette", "Sam Reporter",
        "https://gazette.example/local/ferries?utm_medium=feed")
    assert ferries.text == "\n\n".join(FERRY)  # the full content, not the one-line summary
    grain = articles["news.example.org/markets/grain"]
    assert (grain.text, grain.date, grain.date_kind) == ("Grain prices fell in early trading.", "2024-06-03", "published")
    bridge = articles["valley.example/news/bridge"]
    assert (bridge.title, bridge.date, bridge.source, bridge.author) == (
        "Bridge reopens to traffic", "2024-05-20", "Valley Times", "Kim Editor")
    assert bridge.text == ("The river bridge reopened on Monday after repairs that took most of the spring.\n\n"
                           "Drivers should expect short delays.")
    assert reading.records_dict() == {"feed": {"read": 4, "kept": 3, "skipped": {"entry without text": 1}}}
    assert reading.skipped == []  # an .xml file that is no feed is left out, as other file types are


def test_a_feed_entry_of_a_crawled_page_is_one_article(tmp_path):
    write_crawl(tmp_path / "crawl.warc.gz")
    (tmp_path / "gazette.rss").write_text(RSS)
    reading = read_corpus(tmp_path)
    grain = [article for article in reading.articles if article.url and "markets/grain" in article.url]
    assert len(grain) == 1
    # the crawled page's full text, with the feed's published date in place of the crawl date
    assert grain[0].text == "\n\n".join(GRAIN)
    assert (grain[0].date, grain[0].date_kind) == ("2024-06-03", "published")
    assert reading.article_files[grain[0].id] == "crawl.warc.gz"
    assert reading.records_dict()["feed"]["skipped"]["same URL as an article in another file (merged)"] == 1


def test_the_fuller_copy_wins_whichever_file_is_read_first(tmp_path):
    (tmp_path / "a-gazette.rss").write_text(RSS)  # read before the crawl
    write_crawl(tmp_path / "crawl.warc.gz")
    reading = read_corpus(tmp_path)
    grain = by_id(reading)["news.example.org/markets/grain"]
    assert grain.text == "\n\n".join(GRAIN)
    assert (grain.date, grain.date_kind) == ("2024-06-03", "published")
    assert reading.article_files[grain.id] == "crawl.warc.gz"
    assert [article.id for article in reading.articles].count(grain.id) == 1


def test_reading_a_crawl_reports_progress_in_bytes(tmp_path):
    write_crawl(tmp_path / "crawl.warc.gz")
    (tmp_path / "gazette.rss").write_text(RSS)
    heard = []
    read_corpus(tmp_path, progress=lambda phase, done, total: heard.append((phase, done, total)))
    size = (tmp_path / "crawl.warc.gz").stat().st_size
    assert heard[0] == ("crawl", 0, size) and heard[-1] == ("crawl", size, size)
    assert all(phase == "crawl" and 0 <= done <= total == size for phase, done, total in heard)


def test_rebuild_of_a_crawl_is_searchable_and_update_adds_only_new_pages(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "crawls"
    corpus.mkdir()
    write_crawl(corpus / "2024-06-03.warc.gz")
    summary = rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert (summary.articles, summary.records["crawl"]["kept"]) == (2, 2)
    with open(corpus / "2024-06-04.warc.gz", "wb") as stream:
        crawl = CrawlWriter(stream)
        crawl.response("https://news.example.org/ferries", news_page("Ferries add crossings", FERRY))
        crawl.response(TALKS_URL, news_page("Talks resume after weeks of pause", TALKS, date="2024-05-02"))  # crawled again
    summary = update(corpus, fresh_index, embedder=embedder)
    assert (summary.added, summary.changed, summary.removed, summary.unchanged) == (1, 0, 0, 2)
    assert summary.records["crawl"] == {"read": 2, "kept": 1,
                                        "skipped": {"same URL as an article in another file (merged)": 1}}
    archive = Archive.open(fresh_index, embedder=embedder)
    try:
        found = archive.search("ferry crossings to the islands", mode="keyword", k=1).results[0]
        article = archive.article("daily.example/world/talks-resume").to_dict()
    finally:
        archive.close()
    assert (found.id, found.source, found.date_kind) == ("news.example.org/ferries", "news.example.org", "crawled")
    assert {key: article[key] for key in ("url", "source", "author", "date", "date_kind")} == {
        "url": TALKS_URL, "source": "Daily Example", "author": "Ann Writer", "date": "2024-05-02",
        "date_kind": "published"}


def test_indexer_rebuild_of_a_crawl_file_summarises_its_records(tmp_path, fresh_index):
    crawl = tmp_path / "crawl.warc.gz"
    written = write_crawl(crawl)
    result = CliRunner().invoke(main, ["rebuild", "--corpus", str(crawl), "--index", str(fresh_index)])
    assert result.exit_code == 0, result.output
    assert "indexed 2 articles (2 stories) as" in result.output
    assert ("crawl records: 10 read, 2 kept as articles; passed over: 1 HTTP status 404, "
            "1 damaged: rest of file unread, 1 not HTML (image/png), 1 request record, 1 revisit record, "
            "1 same URL as an earlier record, 1 same payload as an earlier record, 1 too little text") in result.output
    assert (f"skipped 1 item(s):\n  crawl.warc.gz: damaged at byte {written['last']}: the record for "
            "https://news.example.org/ferries is cut short; 2 article(s) before it kept, the rest unread") in result.output
    strict = CliRunner().invoke(main, ["rebuild", "--corpus", str(crawl), "--index", str(fresh_index), "--strict"])
    assert strict.exit_code != 0 and "1 corpus item(s) could not be indexed; first: crawl.warc.gz: damaged" in strict.output

    searched = CliRunner().invoke(main, ["search", "grain harvest", "--index", str(fresh_index), "-k", "1", "--mode", "keyword"])
    assert searched.exit_code == 0, searched.output
    assert "crawled 2024-06-03 · news.example.org" in searched.output


def test_the_site_shows_a_crawled_page_with_its_author_and_crawl_date(tmp_path, fresh_index, embedder):
    from web import create_app

    write_crawl(tmp_path / "crawl.warc.gz")
    rebuild(tmp_path / "crawl.warc.gz", fresh_index, DEFAULT_MODEL, embedder=embedder)
    client = create_app({"INDEX_DIR": str(fresh_index), "EMBEDDER": embedder}).test_client()
    page = client.get("/articles/daily.example/world/talks-resume").get_data(as_text=True)
    assert "by Ann Writer" in page and "Daily Example" in page and 'href="' + TALKS_URL.replace("&", "&amp;") in page
    page = client.get("/articles/news.example.org/markets/grain").get_data(as_text=True)
    assert re.search(r'class="crawled"[^>]*>crawled </span><time datetime="2024-06-03">', page)
    found = json.loads(client.get("/api/search?q=grain+harvest&mode=keyword").get_data(as_text=True))
    assert found["results"][0]["date_kind"] == "crawled"
    assert found["facets"]["sources"] == {"buckets": [{"source": "news.example.org", "count": 1}], "unsourced": 0, "other": 0}
    page = client.get("/search?q=grain+harvest&mode=keyword").get_data(as_text=True)
    assert '<a href="/search?q=grain+harvest&amp;mode=keyword&amp;source=news.example.org">news.example.org</a>' in page


def test_update_keeps_an_article_whose_fuller_copy_went(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gazette.rss").write_text(RSS)  # holds a short copy of the grain page
    write_crawl(corpus / "crawl.warc.gz")  # the full page
    rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    (corpus / "crawl.warc.gz").unlink()
    summary = update(corpus, fresh_index, embedder=embedder)
    assert (summary.removed, summary.changed) == (1, 1)  # the talks page goes; the grain page changes
    archive = Archive.open(fresh_index, embedder=embedder)
    try:
        grain = archive.article("news.example.org/markets/grain")
    finally:
        archive.close()
    assert grain.text == "Grain prices fell in early trading."  # the feed's copy, as a rebuild would give


def test_update_after_the_shorter_copy_changed_keeps_the_fuller_one(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a-gazette.rss").write_text(RSS)
    write_crawl(corpus / "crawl.warc.gz")
    rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    (corpus / "a-gazette.rss").write_text(RSS.replace("Harbour Gazette", "Harbour Gazette Online"))
    summary = update(corpus, fresh_index, embedder=embedder)
    assert summary.changed == 1  # the ferries entry (its source); the grain page keeps the crawled text
    archive = Archive.open(fresh_index, embedder=embedder)
    try:
        grain = archive.article("news.example.org/markets/grain")
    finally:
        archive.close()
    assert grain.text == "\n\n".join(GRAIN)
