"""Hostile corpus input, hostile queries, fuzzing from the OpenAPI description, and load
during a rebuild. Long versions: ARCHIVE_LONG_TESTS=1 (more examples, 8 clients x 60 s)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.errors import CorpusError, InvalidParameterError
from archive.settings import DEFAULT_MODEL

LONG = bool(os.environ.get("ARCHIVE_LONG_TESTS"))
EXAMPLES = 500 if LONG else 40
HOSTILE_TEXT = '<script>alert("corpus")</script><img src=x onerror=alert(1)> <b onmouseover="steal()">bold</b>'


def make_hostile_corpus(root: Path) -> Path:
    corpus = root / "hostile"
    corpus.mkdir()
    (corpus / "good-one.txt").write_text(f"Potash barge sinks\n\nA barge carrying potash sank near Klaipeda. {HOSTILE_TEXT}\n")
    (corpus / "good-two.md").write_text("# Zebra referendum\n\nMinsk votes on zebra crossings.\n")
    (corpus / "binary.txt").write_bytes(os.urandom(4096) + b"\x00" * 64)
    (corpus / "latin1.txt").write_bytes("Genève talks\n\nLe café des négociateurs était fermé.".encode("latin-1"))
    (corpus / "mixed.txt").write_bytes("Mixed bytes\n\nSmart “quotes” here\n".encode() + b"and a stray \xff\xfe byte\n")
    (corpus / "empty.txt").write_text("")
    with open(corpus / "huge.txt", "wb") as stream:
        stream.write(b"Huge\n\n" + b"word " * (10 * 1024 * 1024))  # 50 MB
    (corpus / "records.jsonl").write_text(
        '{"id": "rec-1", "title": "Record one", "body": "Grain exports rose in March."}\n'
        "{not json at all\n"
        '{"id": "rec-3"}\n'
        '{"title": "No id but fine", "body": "Still indexed under its line."}\n'
        '{"id": "rec-1", "title": "Duplicate", "body": "Same id again."}\n'
    )
    (corpus / "page.html").write_text(
        "<html><head><title>Scripted page</title><script>document.write('evil')</script></head><body>"
        "<article><h1>Scripted page</h1>"
        + "".join(f"<p onclick=\"evil()\">Paragraph {n} about fertiliser prices &lt;script&gt;alert({n})&lt;/script&gt; "
                  "and more words to make it an article.</p>" for n in range(5))
        + "<img src=x onerror=alert(1)></article></body></html>"
    )
    (corpus / "nested").mkdir()
    (corpus / "nested" / "loop").symlink_to(corpus)
    (corpus / "dangling.txt").symlink_to(corpus / "nowhere.txt")
    # Files that stalled or stopped a build before (issue 24), scaled down.
    (corpus / "initials.txt").write_text("Initials\n\n" + "A. " * 10_000)  # quadratic in the sentence splitter
    (corpus / "surrogates.jsonl").write_text('{"id": "lone\\ud800", "title": "Tin", "body": "Tin prices rose \\udc00."}\n')
    (corpus / "deep.json").write_text("[" * 100_000)  # RecursionError in the JSON parser
    (corpus / "long-record.jsonl").write_bytes(  # past the record cap (8 MB), never held whole
        b'{"id": "short-record", "title": "Short record", "body": "Lumber prices fell."}\n'
        + b'{"id": "long", "body": "' + b"x" * (8 * 1024 * 1024 + 10) + b'"}\n')
    (corpus / "laughs.rss").write_text(  # a "billion laughs" feed: entities that expand without bound
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "ha" * 50_000 + '">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<rss version="2.0"><channel><title>Laughs</title><item><title>&b;</title><description>&b;&b;'
        "</description></item></channel></rss>")
    (corpus / "one-line.warc").write_bytes(b"WARC/1.0\r\n" + b"x" * 300_000)  # a header line that never ends
    (corpus / os.fsdecode(b"caf\xe9-talks.txt")).write_text("Cafe talks\n\nThe cafe hosted the lumber traders.\n")
    outside = root / "outside-secret.txt"
    outside.write_text("Secret\n\nThe password is swordfish.\n")
    (corpus / "leak.txt").symlink_to(outside)
    return corpus


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("hostile")
    corpus = make_hostile_corpus(root)
    summary = rebuild(corpus, root / "index", DEFAULT_MODEL, embedder=embedder)
    return corpus, root / "index", summary


def test_the_build_completes_indexing_every_good_article_and_skipping_every_bad_one(hostile):
    _, index, summary = hostile
    reasons = {item["path"]: item["reason"] for item in summary.skipped}
    assert reasons == {
        "binary.txt": "binary file, not text",
        "dangling.txt": "broken symlink",
        "empty.txt": "empty file",
        "huge.txt": "too large (52 MB; the limit is 5 MB)",
        "records.jsonl:2": "malformed JSON line: Expecting property name enclosed in double quotes",
        "records.jsonl:3": "record 'rec-3': no title and no body",
        "records.jsonl:5": "duplicate id 'rec-1' (first in records.jsonl:1)",
        "deep.json": "invalid JSON: nested too deeply",
        "long-record.jsonl:2": "record longer than 8,388,608 bytes",
        "laughs.rss": "declares its own XML entities (not read, as they can expand without bound)",
        "one-line.warc": "damaged at byte 0: a header line longer than 64 kB; 0 article(s) before it kept, the rest unread",
        "leak.txt": "a symlink to a file outside the corpus folder (not followed; --follow-links follows it)",
    }
    archive = Archive.open(index)
    assert archive.stats().articles == 11
    for article_id, words in [("good-one", "potash barge"), ("good-two", "zebra crossings"), ("latin1", "café négociateurs"),
                              ("mixed", "smart quotes"), ("rec-1", "grain exports"), ("records#4", "still indexed"),
                              ("page", "fertiliser prices"), ("short-record", "lumber prices"),
                              ("caf\\xe9-talks", "cafe lumber traders"), ("initials", "initials"), ("lone?", "tin prices")]:
        assert article_id in [result.id for result in archive.search(words, mode="keyword").results], article_id
    assert archive.search("swordfish password", mode="keyword").results == []
    assert archive.article("page").title == "Scripted page" and "evil" not in archive.article("page").text
    archive.close()


def test_strict_mode_fails_instead(hostile, tmp_path, embedder):
    corpus, _, _ = hostile
    with pytest.raises(CorpusError, match=r"12 corpus item\(s\) could not be indexed; first: "):
        rebuild(corpus, tmp_path / "strict", DEFAULT_MODEL, embedder=embedder, strict=True)
    assert not (tmp_path / "strict" / "CURRENT").exists()


def test_article_text_with_markup_is_escaped_everywhere(hostile, embedder):
    from web import create_app

    _, index, _ = hostile
    client = create_app({"INDEX_DIR": str(index), "EMBEDDER": embedder}).test_client()
    pages = [client.get(url).get_data(as_text=True) for url in (
        "/search?q=potash+barge", "/search?q=script+alert&mode=keyword", "/search?q=fertiliser",
        "/articles/good-one", "/articles/page", "/articles/good-one?start=0&end=60")]
    for html in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", html)
        assert not re.search(r"<[^>]+\son\w+\s*=", html)  # no event-handler attribute survives
        assert "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;alert(&#34;corpus&#34;)&lt;/script&gt;" in pages[3] or "&lt;script&gt;alert(&quot;corpus&quot;)" in pages[3]
    api = client.get("/api/search?q=potash+barge").get_json()
    html = api["results"][0]["passages"][0]["html"]
    assert "&lt;script&gt;" in html and "<script" not in html
    assert '<script>alert("corpus")</script>' in api["results"][0]["passages"][0]["text"]  # text is text, not HTML


# Hostile queries


QUERY_TOKENS = st.sampled_from(['"', "(", ")", ":", "*", "?", "~", "^", "[", "]", "{", "}", "\\", "AND", "OR", "NOT",
                                "title:", "source:", "date:", "potash", "Lukashenko", "TO", "-", "+", "/", "'", "\x00",
                                "\u202e", "😀", "lukash*", "~2", "*:*"])


def assert_well_formed(response, text, k):
    """What any answer must be: the cleaned query, at most k distinct results within the
    pool, passages that slice their article, marks inside their passage."""
    assert response.query == " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())
    assert len(response.results) <= k and len(response.results) <= response.total
    assert len({result.id for result in response.results}) == len(response.results)
    scores = [result.score for result in response.results]
    if response.mode != "hybrid" or response.results and all(r.explain["keyword"] is None for r in response.results):
        assert scores == sorted(scores, reverse=True)
    for result in response.results:
        assert 1 <= len(result.passages) <= 3
        for passage in result.passages:
            assert passage.matched and 0 <= passage.start < passage.end
            assert all(0 <= mark.start < mark.end <= len(passage.text) for mark in passage.marks)


@settings(max_examples=EXAMPLES * 5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(QUERY_TOKENS | st.text(max_size=8), max_size=12).map(" ".join))
def test_any_query_syntax_is_answered_or_refused_clearly(archive, text):
    try:
        response = archive.search(text, mode="keyword")
    except InvalidParameterError as problem:
        assert problem.message in ("the query is empty",) or problem.message.startswith("the query is too long") \
            or problem.code == "query_too_broad" and problem.message.endswith(
                ("would match every passage", "is too broad to search"))
        return
    assert_well_formed(response, text, 10)
    for part in (response.note or "").split("; ") if response.note else []:
        assert part == "query syntax error, searched as plain words" or re.fullmatch(
            r"searched the \d+ (most frequent|closest) words( \(the query's limit is 1,024 words\))? of .+"
            r"|.+ was searched with 2 edits, the most allowed|.+ was left out: the query reached its limit of 1,024 words"
            r"|.+ was left out: a query holds at most 64 wildcards, fuzzy terms and ranges",
            part), part


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=200))
def test_any_text_works_in_every_mode(archive, text):
    for mode in ("hybrid", "semantic"):
        try:
            response = archive.search(text, mode=mode, k=3)
        except InvalidParameterError as problem:
            if mode == "hybrid" and problem.code == "query_too_broad":  # a wildcard pattern, as in keyword mode
                continue
            assert problem.message == "the query is empty"
            assert not text.strip(" \t\n\r\x0b\x0c\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12"
                                  "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\x85\xa0\u1680"
                                  "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                                  "\u2028\u2029\u202f\u205f\u3000")
            continue
        assert_well_formed(response, text, 3)
        # Meaning always finds something in a non-empty archive: every query has nearest passages.
        assert response.results and response.total >= len(response.results)


@pytest.mark.parametrize("url,status", [
    ("/api/search?q=" + "a" * 10_000, 400),
    ("/api/search?q=%00%01%02potash", 200),
    ("/api/search?q=title:(", 200),
    ('/api/search?q=%22unbalanced', 200),
    ("/api/search?q=a&k=1000000000", 400),
    ("/api/search?q=a&k=-1", 400),
    ("/api/search?q=a&page=-5", 400),
    ("/api/search?q=a&page=99999999999999999999999", 400),
    ("/api/search?q=a&wat=1&mode=hybrid", 200),
    ("/api/articles/../../etc/passwd", 404),
    ("/api/articles/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
    ("/api/articles/..%2F..%2Fetc%2Fpasswd/similar", 404),
    ("/articles/../../etc/passwd", 404),
    ("/static/../archive/errors.py", 404),
])
def test_hostile_requests_get_a_2xx_or_a_documented_4xx(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    if url.startswith("/api/") and status >= 400:
        assert set(response.get_json()["error"]) == {"status", "code", "message"}


@pytest.mark.slow
def test_the_api_conforms_to_its_openapi_description_as_schemathesis_sees_it(seed_index, tmp_path):
    """`schemathesis run --checks all` (every check, stateful links included) against the
    production server; tests/schemathesis.toml documents the one allowance."""
    import subprocess
    import sys

    from bench.load import free_port, start_server

    port = free_port()
    server = start_server(seed_index, port)
    try:
        arguments = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
                     "--no-color", "run", f"http://127.0.0.1:{port}/api/openapi.json", "--checks", "all",
                     "--max-examples", str(EXAMPLES), "--workers", "1"]
        if not LONG:
            arguments += ["--seed", "20261122"]  # the same cases on every run; the long run explores
        completed = subprocess.run(arguments, capture_output=True, text=True, timeout=900, cwd=tmp_path)  # its cache goes there
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = completed.stdout[completed.stdout.rfind("SUMMARY"):]
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    assert "No issues found" in completed.stdout, summary
    assert "Selected: 10/10" in summary and "Stateful" in summary


# Load while the index changes


@pytest.mark.slow
def test_load_during_rebuild(seed_index, tmp_path):
    from bench.load import load_during_rebuild

    clients, seconds = (8, 60.0) if LONG else (4, 12.0)
    result, before, after, top = load_during_rebuild(seed_index, SEED_CORPUS, tmp_path / "load", clients, seconds)
    assert result.requests > clients * 5
    assert result.failures == 0 and result.server_errors == 0, result.statuses
    assert set(result.statuses) == {200}
    assert before != after, "the rebuild switched generations"
    assert top == "load-test-article", "the new generation is served without a restart"


# Concurrency


def test_a_live_update_while_eight_threads_search_never_shares_the_tokenizer(corpus_copy, fresh_index, embedder,
                                                                          monkeypatch):
    """The fast tokenizer must never be entered by two threads at once (older `tokenizers`
    raise "Already borrowed" when it is): an update embeds while eight threads search."""
    import shutil
    import threading
    import time

    from archive import Archive
    from archive.backends.embedded.update import update
    from archive.indexing import generation

    rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    shutil.rmtree(fresh_index / "query-encoder")  # queries through torch too, so both share its tokenizer
    opened = Archive.open(fresh_index, embedder=embedder)
    opened.prepare()
    assert opened.current().semantic.onnx is None
    tokenizer_class = type(embedder.model.tokenizer)
    original = tokenizer_class.__call__
    state = {"inside": 0, "most": 0, "calls": 0}
    guard = threading.Lock()

    def watched(self, *arguments, **options):
        with guard:
            state["inside"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["inside"])
        try:
            time.sleep(0.002)  # widen the window a real tokenization would leave open
            return original(self, *arguments, **options)
        finally:
            with guard:
                state["inside"] -= 1

    monkeypatch.setattr(tokenizer_class, "__call__", watched)
    monkeypatch.setattr(generation, "EMBED_CHUNK", 2)  # many small model calls during the update
    for number in range(6):
        (corpus_copy / f"live-{number}.txt").write_text(
            f"Grain corridor talks, round {number}\n\nNegotiators met for round {number} of talks on grain shipments "
            f"through the Black Sea. Officials said the talks would continue next week in Istanbul, session {number}.\n\n"
            f"A second paragraph of round {number} adds detail about insurance for ships and port inspections.\n")
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher(number: int) -> None:
        count = 0
        while not stop.is_set():
            count += 1
            try:
                opened.search(f"grain shipments question {number}-{count}", mode="semantic" if count % 2 else "hybrid", k=3)
            except BaseException as problem:  # collected and reported below
                errors.append(problem)
                return

    threads = [threading.Thread(target=searcher, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    try:
        summary = update(corpus_copy, fresh_index, embedder=embedder)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert summary.added == 6 and summary.embedded >= 6
    assert state["calls"] > 20
    assert state["most"] == 1, f"the tokenizer was entered by {state['most']} threads at once"
    time.sleep(1.1)  # the archive looks for a new generation at most once a second
    assert opened.search("grain corridor talks Istanbul", mode="keyword").results[0].id.startswith("live-")
    opened.close()
