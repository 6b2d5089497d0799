import json
import re

import pytest
from conftest import BACKENDS
from jsonschema import Draft202012Validator

from archive import Mark, events
from web import create_app
from web.openapi import document

POTASH = "001_6d7df644afd5a1ff"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each test of the site runs on both backends: embedded, and Milvus (Milvus Lite)."""
    return request.param


@pytest.fixture
def app(backend, app, request):
    return app if backend == "embedded" else request.getfixturevalue("milvus_app")


@pytest.fixture
def archive(backend, archive, request):
    return archive if backend == "embedded" else request.getfixturevalue("milvus_archive")


def validator(schema_name: str) -> Draft202012Validator:
    spec = document()
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]})


def assert_conforms(response, schema_name):
    errors = list(validator(schema_name).iter_errors(response.get_json()))
    assert not errors, errors[0].message


def test_openapi_document_is_valid_openapi_31(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {"/api/search", "/api/articles/{article_id}", "/api/articles/{article_id}/similar",
                                  "/api/stats", "/healthz", "/api/openapi.json", "/api/coverage",
                                  "/api/coverage.csv", "/api/export", "/search.atom", "/stories/{story_id}.atom"}
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_search_returns_the_library_shape_and_conforms(client, archive):
    response = client.get("/api/search?q=potash+exports&k=3")
    assert response.status_code == 200
    assert_conforms(response, "SearchResponse")
    data = response.get_json()
    expected = archive.search("potash exports", k=3).to_dict()
    data.pop("took_ms"), expected.pop("took_ms")
    html = [passage.pop("html") for result in data["results"] for passage in result["passages"]]
    assert data == expected  # the library's response, plus an html rendering of each passage
    assert data["results"][0]["id"] == POTASH
    first = data["results"][0]["passages"][0]
    assert html[0].count("<mark") == len(first["marks"]) > 0


def test_the_api_html_is_the_escaped_text_with_one_mark_per_span(client):
    from html import unescape

    data = client.get("/api/search?q=%3Cb%3EPutin%3C/b%3E+Belarus&k=5&collapse=none").get_json()
    passages = [passage for result in data["results"] for passage in result["passages"]]
    assert len(data["results"]) == 5 and sum(len(passage["marks"]) for passage in passages) >= 5
    for result in data["results"]:
        for passage in result["passages"]:
            html = passage["html"]
            assert unescape(re.sub(r'</?mark[^>]*>', "", html)) == passage["text"]
            assert re.sub(r'<mark class="(keyword|semantic)">|</mark>', "", html).count("<") == 0
            kinds = re.findall(r'<mark class="(\w+)">', html)
            # One <mark> per piece of each span (a span that crosses another's edge comes in two pieces).
            marks = [Mark(mark["start"], mark["end"], mark["kind"]) for mark in passage["marks"]]
            assert kinds == [event.opens for event in events(passage["text"], marks) if event.opens]
            assert set(kinds) == {mark.kind for mark in marks}


@pytest.mark.parametrize("query", ["mode=keyword", "mode=semantic", "sort=date", "alpha=0.3", "page=2&k=2",
                                   "date_from=2022-01-01&date_to=2022-12-31", "source=Reuters", "unknown=ignored"])
def test_search_variants_conform(client, query):
    response = client.get(f"/api/search?q=Putin+Belarus&{query}")
    assert response.status_code == 200
    assert_conforms(response, "SearchResponse")


def test_other_endpoints_conform(client):
    for url, schema in [(f"/api/articles/{POTASH}", "Article"), (f"/api/articles/{POTASH}/similar?k=2", "Similar"),
                        ("/api/stats", "Stats"), ("/healthz", "Health")]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_conforms(response, schema)
    assert len(client.get(f"/api/articles/{POTASH}/similar?k=2").get_json()["results"]) == 2
    assert client.get("/healthz").get_json()["generation"]


ERROR_CASES = [
    ("/api/search", 400, "bad_request", "the q parameter is required"),
    ("/api/search?q=", 400, "bad_request", "the query is empty (type some words to search for)"),
    ("/api/search?q=" + "x" * 1001, 400, "bad_request", "the query is too long (1001 characters; the limit is 1000)"),
    ("/api/search?q=a&mode=fuzzy", 400, "bad_request", "unknown mode 'fuzzy'; use one of: hybrid, keyword, semantic"),
    ("/api/search?q=a&k=ten", 400, "bad_request", "k must be a whole number, not 'ten'"),
    ("/api/search?q=a&k=1000000000", 400, "bad_request", "k must be a whole number from 1 to 100"),
    ("/api/search?q=a&k=-3", 400, "bad_request", "k must be a whole number from 1 to 100"),
    ("/api/search?q=a&page=0", 400, "bad_request", "page must be a whole number from 1 to 1000"),
    ("/api/search?q=a&k=100&page=11", 400, "result_window_too_large", "page * k may not exceed 1000; narrow the query instead"),
    ("/api/search?q=a&date_from=2023-01-01&date_to=2022-01-01", 400, "bad_request", "date_from is after date_to"),
    ("/api/search?q=a&page=1.5", 400, "bad_request", "page must be a whole number, not '1.5'"),
    ("/api/search?q=a&alpha=nan", 400, "bad_request", "alpha must be a number, not 'nan'"),
    ("/api/search?q=a&alpha=2", 400, "bad_request", "alpha must be a number from 0 (keyword only) to 1 (semantic only)"),
    ("/api/search?q=a&date_from=2022-13-01", 400, "bad_request", "date_from must be a date as YYYY-MM-DD, not '2022-13-01'"),
    ("/api/search?q=a&sort=random", 400, "bad_request", "unknown sort 'random'; use one of: relevance, date"),
    ("/api/articles/nope", 404, "not_found", "no article with id 'nope'"),
    ("/api/articles/../../etc/passwd", 404, "not_found", "no article with id '../../etc/passwd'"),
    ("/api/articles/nope/similar", 404, "not_found", "no article with id 'nope'"),
    (f"/api/articles/{POTASH}/similar?k=0", 400, "bad_request", "k must be a whole number from 1 to 100"),
    ("/api/nothing-here", 404, "not_found", "no such page or API route"),
    ("/api/coverage", 400, "bad_request", "the q parameter is required"),
    ("/api/coverage?q=a&q=b&q=c&q=d&q=e&q=f", 400, "bad_request", "at most 5 queries can be compared; 6 were given"),
    ("/api/coverage?q=a&interval=hour", 400, "bad_request",
     "unknown interval 'hour'; use one of: auto, day, week, month, year"),
    ("/api/coverage?q=a&words=some", 400, "bad_request", "unknown words 'some'; use one of: any, all"),
    ("/api/coverage?q=a&date_from=2023-01-01&date_to=2022-01-01", 400, "bad_request", "date_from is after date_to"),
    ("/api/coverage?q=", 400, "bad_request", "the query is empty (type some words to search for)"),
    ("/api/coverage.csv?q=a&interval=hour", 400, "bad_request",
     "unknown interval 'hour'; use one of: auto, day, week, month, year"),
    ("/api/export?q=a&q=b", 400, "bad_request", "an export takes one query; 2 were given"),
    ("/api/export?q=Minsk&format=xml", 400, "bad_request", "unknown format 'xml'; use one of: csv, jsonl"),
    ("/api/export?q=Minsk&format=csv&format=jsonl", 400, "bad_request", "format is given 2 times; give it once"),
    ("/api/export?q=the", 400, "bad_request",
     "no words to match: only meaning could find articles for this query, and coverage counts what the words "
     "match (stop words alone match nothing) (give words to match)"),
]


@pytest.mark.parametrize("url,status,code,message", ERROR_CASES)
def test_every_api_error_has_the_one_shape(client, url, status, code, message):
    response = client.get(url)
    assert response.status_code == status
    assert response.get_json() == {"error": {"status": status, "code": code, "message": message}}
    assert_conforms(response, "Error")


@pytest.mark.parametrize("url", ["/api/search?q=a", "/api/stats", "/healthz", f"/api/articles/{POTASH}", "/search?q=a"])
def test_wrong_method_has_the_error_shape_and_says_what_is_allowed(client, url):
    response = client.post(url)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}  # RFC 9110
    if url.startswith("/search"):
        assert "POST is not allowed here" in response.get_data(as_text=True)
    else:
        assert response.get_json() == {"error": {"status": 405, "code": "method_not_allowed",
                                                 "message": "POST is not allowed here"}}


def test_an_unreachable_milvus_is_a_503_with_the_error_shape_and_the_site_still_starts():
    from conftest import milvus_missing

    if milvus_missing():
        pytest.skip(milvus_missing())
    app = create_app({"BACKEND": "milvus", "MILVUS_URI": "http://127.0.0.1:9"})  # nothing listens there
    client = app.test_client()
    response = client.get("/api/search?q=potash")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert (error["status"], error["code"]) == (503, "backend_unavailable")
    assert error["message"].startswith("cannot connect to Milvus at http://127.0.0.1:9: ")
    assert error["message"].endswith("(check that Milvus is running and that --milvus-uri (ARCHIVE_MILVUS_URI) points at it)")
    assert_conforms(response, "Error")
    home = client.get("/")  # the site still answers, and says what is wrong and what to do
    assert home.status_code == 200
    assert "cannot be reached" in home.get_data(as_text=True) and "Check that Milvus is running" in home.get_data(as_text=True)


def test_a_missing_index_is_a_503_with_the_remedy_and_the_site_still_starts(tmp_path):
    app = create_app({"INDEX_DIR": str(tmp_path / "none")})
    client = app.test_client()
    response = client.get("/api/search?q=potash")
    assert response.status_code == 503
    assert response.get_json() == {"error": {"status": 503, "code": "index_missing",
                                             "message": f"no index at {tmp_path / 'none'} (run `indexer rebuild` to build it)"}}
    home = client.get("/")
    assert home.status_code == 200 and "indexer rebuild" in home.get_data(as_text=True)
    assert client.get("/healthz").get_json() == {"status": "ok", "generation": None, "index": "index_missing",
                                                 "reason": None}


def test_an_unexpected_failure_is_a_500_without_a_traceback(app, monkeypatch):
    from archive.archive import Archive

    def explode(*arguments, **options):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Archive, "stats", explode)
    client = app.test_client()
    response = client.get("/api/stats")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"status": 500, "code": "internal_error",
                                             "message": "something went wrong on our side; the error was logged"}}
    page = client.get("/")
    assert page.status_code == 500 and "secret internal detail" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)


def test_security_headers_on_every_kind_of_response(client):
    for url in ("/", "/search?q=potash", f"/articles/{POTASH}", "/api/stats", "/api/articles/nope", "/nowhere",
                "/static/style.css", "/search?q=a&k=zero"):
        response = client.get(url)
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'", url
        assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'", url
        assert not any("unsafe" in value for value in policy.values()), url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        response.close()


def test_pages_have_no_inline_script(client):
    for url in ("/", "/search?q=potash", f"/articles/{POTASH}"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"<[^>]+\son\w+=", html), url


def test_home_says_what_the_archive_holds(client):
    html = client.get("/").get_data(as_text=True)
    assert "5 articles, 2022-12-19." in html
    assert 'name="q"' in html and 'value="semantic"' in html and 'name="date_from"' in html and 'name="source"' in html


def test_results_page_shows_evidence_why_and_links(client):
    html = client.get("/search?q=potash+exports").get_data(as_text=True)
    assert "A military attack on Ukraine is feared" in html
    assert '<mark class="keyword">potash</mark>' in html and '<mark class="semantic">' in html
    assert "keyword #1 · meaning #1" in html
    assert f'href="/articles/{POTASH}?start=' in html and "#match" in html
    assert "1 story found" in html  # the five seed articles are versions of one story


def test_each_hit_shows_its_date_and_source_when_known(tmp_path, fresh_index, embedder):
    from archive import rebuild
    from archive.settings import DEFAULT_MODEL

    corpus = tmp_path / "dated.jsonl"
    records = [{"id": "both", "title": "Potash exports stall", "source": "Baltic Wire", "date": "2022-12-19",
                "url": "javascript:alert(1)", "body": "Belarus cannot ship potash through Baltic ports."},
               {"id": "undated", "title": "Potash prices", "source": "Farm Weekly", "body": "Potash prices rose again."},
               {"id": "unsourced", "title": "Potash barge", "date": "2023-01-02", "body": "A potash barge sank."}]
    corpus.write_text("".join(json.dumps(record) + "\n" for record in records))
    rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    client = create_app({"INDEX_DIR": str(fresh_index), "EMBEDDER": embedder}).test_client()
    html = client.get("/search?q=potash").get_data(as_text=True)
    hits = {re.search(r'href="/articles/([^?"]+)', hit).group(1): hit
            for hit in re.findall(r'<li class="hit">(.*?)</li>', html, flags=re.S)}
    assert set(hits) == {"both", "undated", "unsourced"}
    assert '<time datetime="2022-12-19">2022-12-19</time>' in hits["both"] and '<span class="source">Baltic Wire</span>' in hits["both"]
    assert "<time" not in hits["undated"] and '<span class="source">Farm Weekly</span>' in hits["undated"]
    assert '<time datetime="2023-01-02">2023-01-02</time>' in hits["unsourced"] and 'class="source"' not in hits["unsourced"]
    article = client.get("/articles/both").get_data(as_text=True)
    assert "javascript:" not in article and ">original</a>" not in article  # only http(s) addresses become links


def test_seed_hits_show_the_dates_they_have(client, archive):
    html = client.get("/search?q=Putin+Belarus&k=5&collapse=none").get_data(as_text=True)
    hits = re.findall(r'<li class="hit">(.*?)</li>', html, flags=re.S)
    assert len(hits) == 5
    for result, hit in zip(archive.search("Putin Belarus", k=5, collapse="none").results, hits, strict=True):
        assert result.title in hit
        if result.date:
            assert f'<time datetime="{result.date}">{result.date}</time>' in hit
        if result.source:
            assert f'<span class="source">{result.source}</span>' in hit
    assert sum(1 for result in archive.search("Putin Belarus", k=5, collapse="none").results if result.date) >= 1


def test_results_page_has_a_side_column_that_refines_the_search(client):
    html = client.get("/search?q=Putin+Belarus&mode=keyword&source=nobody").get_data(as_text=True)
    side = re.search(r'<aside class="side".*?</aside>', html, flags=re.S).group()
    assert '<form class="refine" action="/search" method="get">' in side
    assert '<input type="hidden" name="q" value="Putin Belarus">' in side and 'name="mode" value="keyword"' in side
    assert 'name="date_from"' in side and 'name="source" value="nobody"' in side
    assert 'href="/search?q=Putin+Belarus&amp;mode=keyword">Clear filters</a>' in side
    masthead = re.search(r'<header class="masthead">.*?</header>', html, flags=re.S).group()
    assert '<input type="hidden" name="source" value="nobody">' in masthead  # a new query keeps the filter


def test_empty_query_returns_home(client):
    response = client.get("/search?q=+")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_no_results_page_is_helpful(client):
    html = client.get("/search?q=zzzqqq&mode=keyword").get_data(as_text=True)
    assert "No articles found for “zzzqqq”" in html and "words and meaning" in html


def test_paging_and_did_you_mean_links(client):
    html = client.get("/search?q=Putin+Belarus&k=2&collapse=none").get_data(as_text=True)
    assert 'rel="next" href="/search?q=Putin+Belarus&amp;k=2&amp;collapse=none&amp;page=2"' in html
    second = client.get("/search?q=Putin+Belarus&k=2&collapse=none&page=2").get_data(as_text=True)
    assert 'rel="prev"' in second
    suggested = client.get("/search?q=lukashenkoo&mode=keyword").get_data(as_text=True)
    assert 'Did you mean <a href="/search?q=lukashenko&amp;mode=keyword">lukashenko</a>' in suggested


def test_article_page_highlights_the_matched_passage_and_shows_more_like_this(client, archive):
    passage = archive.search("potash exports").results[0].passages[0]
    html = client.get(f"/articles/{POTASH}?start={passage.start}&end={passage.end}").get_data(as_text=True)
    assert html.count('<mark class="passage" id="match" tabindex="-1">') == 1
    assert "More like this" in html and html.count('href="/articles/') >= 3


def test_html_error_pages_are_friendly(client):
    missing = client.get("/articles/nope")
    assert missing.status_code == 404 and "Not found" in missing.get_data(as_text=True)
    bad = client.get("/search?q=potash&k=zero")
    assert bad.status_code == 400 and "k must be a whole number, not &#39;zero&#39;" in bad.get_data(as_text=True)


def test_corpus_and_query_strings_are_escaped_on_pages(client):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    for url in (f"/search?q={hostile}", f"/search?q={hostile}&mode=keyword", f"/articles/{hostile}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;" in html or "&lt;img" in html


def test_the_app_is_read_only(app):
    writing = [rule for rule in app.url_map.iter_rules() if rule.methods - {"GET", "HEAD", "OPTIONS"}]
    assert writing == []


def test_the_results_page_draws_the_timeline_and_links_each_bar(client):
    page = client.get("/search?q=Putin+Belarus&collapse=none").get_data(as_text=True)
    assert '<section class="facet timeline"' in page
    assert 'href="/search?q=Putin+Belarus&amp;collapse=none&amp;date_from=2022-12-19&amp;date_to=2022-12-19"' in page
    assert "<title>2022-12-19: 1 article</title>" in page and "By day · 4 undated." in page
    assert "4 undated, listed last" in client.get("/search?q=Putin+Belarus&sort=date&collapse=none").get_data(as_text=True)
    filtered = client.get("/search?q=Putin+Belarus&date_from=2022-12-19&date_to=2022-12-19").get_data(as_text=True)
    assert "1 story found" in filtered
    # Collapsed, the story counts once, dated by the one version that has a date.
    collapsed = client.get("/search?q=Putin+Belarus").get_data(as_text=True)
    assert "<title>2022-12-19: 1 story</title>" in collapsed and "By day." in collapsed


# Coverage (issue 25)


def test_the_coverage_api_is_the_library_shape_and_conforms(client, archive):
    response = client.get("/api/coverage?q=Minsk&q=potash&interval=day")
    assert response.status_code == 200
    assert_conforms(response, "CoverageResponse")
    data = response.get_json()
    expected = archive.coverage(["Minsk", "potash"], interval="day").to_dict()
    data.pop("took_ms"), expected.pop("took_ms")
    assert data == expected
    minsk, potash = data["queries"]
    assert (minsk["articles"], minsk["stories"], potash["articles"]) == (5, 1, 1)
    assert minsk["undated"] == {"articles": 4, "stories": 1, "all": 4}  # four of the five seed articles are undated
    for query in ("Putin NOT potash", "the", "Lukashenko", '"Shahed drones"'):
        answered = client.get("/api/coverage", query_string={"q": query})
        assert answered.status_code == 200, query
        assert_conforms(answered, "CoverageResponse")


def test_the_coverage_csv_and_the_export_stream(client):
    table = client.get("/api/coverage.csv?q=Minsk&q=potash")
    assert table.status_code == 200 and table.mimetype == "text/csv"
    assert 'filename="coverage.csv"' in table.headers["Content-Disposition"]
    rows = table.get_data(as_text=True).splitlines()
    assert rows[0].startswith("bucket,start,end,Minsk: articles,Minsk: stories,Minsk: all articles,Minsk: share,")
    assert rows[-1] == "undated,,,4,1,4,1.0,1,1,4,0.25"
    exported = client.get("/api/export?q=Minsk")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["X-Matching-Articles"] == "5" and exported.is_streamed
    lines = exported.get_data(as_text=True).splitlines()
    assert lines[0] == "id,date,source,title,url,story_id" and len(lines) == 6
    assert lines[1].split(",")[1] == "2022-12-19"  # the dated one first, the undated after it
    jsonl = client.get("/api/export?q=potash&format=jsonl")
    assert jsonl.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert len(rows) == 1 and set(rows[0]) == {"id", "date", "source", "title", "url", "story_id"}


def test_the_results_page_links_the_exact_count_to_its_coverage(client):
    page = client.get("/search?q=Minsk").get_data(as_text=True)
    assert '5 articles in the archive (1 story) match these words: <a href="/coverage?q=Minsk">coverage over time' in page
    page = client.get("/search?q=Minsk&date_from=2022-12-01").get_data(as_text=True)
    assert ('1 article in the archive (1 story) match these words, within these filters: '
            '<a href="/coverage?q=Minsk&amp;date_from=2022-12-01">') in page
    assert client.get("/api/search?q=Minsk").get_json()["matching"] == {"articles": 5, "stories": 1}
    assert client.get("/api/search?q=Minsk&mode=semantic").get_json()["matching"] == {"articles": 5, "stories": 1}


def test_the_coverage_page_draws_a_line_per_query_and_links_share_counts_csv_and_exports(client):
    page = client.get("/coverage?q=Minsk&q=potash&interval=day").get_data(as_text=True)
    assert page.count('<g class="series">') == 2
    assert "Searched as: <code>Minsk</code>" in page
    assert '<strong aria-current="true">share of all articles</strong>' in page
    assert 'href="/coverage?q=Minsk&amp;q=potash&amp;interval=day&amp;scale=count"' in page
    assert 'href="/api/coverage.csv?q=Minsk&amp;q=potash&amp;interval=day"' in page
    assert 'href="/api/export?q=potash&amp;format=jsonl"' in page
    assert "<h3>Names</h3>" in page and "<h3>Words</h3>" in page and "Best-ranked stories" in page
    counts = client.get("/coverage?q=Minsk&interval=day&scale=count").get_data(as_text=True)
    assert '<strong aria-current="true">number of articles</strong>' in counts
    assert '<input type="hidden" name="scale" value="count">' in counts  # a new query keeps the scale
    empty = client.get("/coverage")
    assert empty.status_code == 200 and "Compare up to 5 queries" in empty.get_data(as_text=True)
    hostile = client.get("/coverage?q=%3Cscript%3Ealert(1)%3C/script%3E").get_data(as_text=True)
    assert "<script>alert" not in hostile and "&lt;script&gt;" in hostile
    assert client.get("/coverage?q=the").status_code == 200
    assert "not counted: no words to match" in client.get("/coverage?q=the").get_data(as_text=True)


def test_the_coverage_page_links_each_count_to_the_search_of_the_same_articles(client):
    page = client.get("/coverage?q=Minsk&interval=month&date_from=2022-12-10").get_data(as_text=True)
    # The month's link keeps inside the date filter: the search finds what the cell counted.
    assert 'href="/search?q=Minsk&amp;date_from=2022-12-10&amp;date_to=2022-12-31"' in page
    every = client.get("/coverage?q=Minsk+potash&words=all").get_data(as_text=True)
    assert "Searched as: <code>Minsk AND potash</code>" in every
    assert ">search</a>" not in every  # a search would count any of the words: no link to it


ARENA_COUNT = """
import ctypes, sys, tempfile, threading
import numpy as np
from web.server import limit_malloc_arenas
limited = limit_malloc_arenas() if sys.argv[1] == "limit" else False
together = threading.Barrier(8)
def allocate():
    blocks = [np.ones(50_000) for _ in range(4)]  # (numpy's data comes from malloc)
    together.wait()  # all alive at once, so that none takes over an arena another left
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as report:
    stream = ctypes.c_void_p(libc.fopen(report.name.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(limited, open(report.name).read().count("<heap nr="))
"""


def test_the_server_keeps_glibc_to_two_malloc_arenas_unless_told_otherwise():
    """Each thread's own arena kept its largest temporary arrays: most of a worker's memory at 50x."""
    import ctypes
    import os
    import subprocess
    import sys

    if not hasattr(ctypes.CDLL(None), "malloc_info"):
        pytest.skip("not glibc")
    environment = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"}

    def arenas(mode: str, **extra: str) -> list[str]:
        return subprocess.run([sys.executable, "-c", ARENA_COUNT, mode], capture_output=True, text=True, check=True,
                              env={**environment, **extra}, cwd=os.path.dirname(os.path.dirname(__file__))).stdout.split()

    assert arenas("limit") == ["True", "2"]
    limited, count = arenas("default")
    assert limited == "False" and int(count) > 2
    assert arenas("limit", MALLOC_ARENA_MAX="3") == ["False", "3"]  # the operator's setting stands


def test_the_server_preloads_what_its_workers_load_and_freezes_it_before_forking(seed_index, monkeypatch):
    """What `indexer serve` does before forking workers (they share these pages, measured in
    docs/benchmarks.md); it opens no index, and the query encoder only when told where."""
    import gc
    import sys

    from archive.index import query_encoder
    from web import state

    monkeypatch.setattr(query_encoder, "_shared", {})
    try:
        assert not state.preload()
        assert {"onnxruntime", "tokenizers", "waitress"} <= set(sys.modules) and gc.get_freeze_count() > 0
        assert query_encoder._shared == {}
        model = json.loads((seed_index / "generations" / (seed_index / "CURRENT").read_text().strip()
                            / "manifest.json").read_text())["model"]
        assert state.preload(seed_index, model)
        assert list(query_encoder._shared) == [query_encoder.encoder_directory(seed_index, model)]
    finally:
        gc.unfreeze()
