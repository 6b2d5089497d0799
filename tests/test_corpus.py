import gzip
import itertools
import json

import pytest
from conftest import REUTERS, SEED_CORPUS

from archive.errors import CorpusNotFoundError, InvalidParameterError
from archive.ingest.corpus import FieldMapping, article_id_for, read_corpus

ARTICLE = "Potash exports stall\n\nBelarus cannot ship potash through Baltic ports because of sanctions.\n"


def test_seed_corpus_reads_all_five_articles_with_path_ids():
    reading = read_corpus(SEED_CORPUS)
    assert [article.id for article in reading.articles] == sorted(path.stem for path in SEED_CORPUS.glob("*.txt"))
    assert reading.skipped == []


def test_ids_are_relative_paths_without_extensions():
    assert article_id_for("2022/12/putin.txt") == "2022/12/putin"
    assert article_id_for("news.html.gz") == "news"
    assert article_id_for("plain") == "plain"


def test_every_format_including_gz(tmp_path):
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "a.txt").write_text(ARTICLE)
    (tmp_path / "nested" / "b.md").write_text("---\ntitle: Markdown title\ndate: 2023-01-05\nsource: Wire\n---\n# Ignored heading\n\nBody of the markdown story.\n")
    (tmp_path / "nested" / "deeper" / "c.html").write_text(
        "<html><head><title>HTML title</title><meta property='article:published_time' content='2022-12-19'></head>"
        "<body><nav>Home | World | Sport</nav><article><h1>HTML title</h1>"
        + "".join(f"<p>Paragraph {n} of the HTML article about potash exports and sanctions on Belarus.</p>" for n in range(6))
        + "</article><footer>Copyright</footer></body></html>"
    )
    (tmp_path / "d.json").write_text(json.dumps([{"id": "j1", "title": "JSON one", "text": "First JSON body."},
                                                 {"id": "j2", "title": "JSON two", "body": "Second JSON body."}]))
    (tmp_path / "e.jsonl").write_text(json.dumps({"id": "l1", "title": "Line one", "body": "Line body.", "date": "1987-02-26T15:01:01", "url": "https://example.com/l1"}) + "\n")
    with gzip.open(tmp_path / "f.txt.gz", "wt") as stream:
        stream.write(ARTICLE)
    with gzip.open(tmp_path / "g.jsonl.gz", "wt") as stream:
        stream.write(json.dumps({"id": "gz1", "title": "Gzipped record", "body": "Gzipped body."}) + "\n")
    reading = read_corpus(tmp_path)
    by_id = {article.id: article for article in reading.articles}
    assert set(by_id) == {"a", "nested/b", "nested/deeper/c", "j1", "j2", "l1", "f", "gz1"}, reading.skipped
    assert by_id["a"].title == "Potash exports stall" and by_id["a"].text.startswith("Belarus cannot ship")
    assert by_id["f"].text == by_id["a"].text
    assert (by_id["nested/b"].title, by_id["nested/b"].date, by_id["nested/b"].source) == ("Markdown title", "2023-01-05", "Wire")
    html = by_id["nested/deeper/c"]
    assert html.title == "HTML title" and html.date == "2022-12-19"
    assert "Paragraph 3 of the HTML article" in html.text and "Home | World" not in html.text and "Copyright" not in html.text
    assert by_id["l1"].date == "1987-02-26" and by_id["l1"].url == "https://example.com/l1"
    assert by_id["j2"].text == "Second JSON body."


def test_field_mapping_is_configurable(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"key": "k1", "headline": "Mapped", "content": "Mapped body."}) + "\n")
    reading = read_corpus(tmp_path, FieldMapping.parse("id=key,title=headline,body=content|text"))
    assert [(a.id, a.title, a.text) for a in reading.articles] == [("k1", "Mapped", "Mapped body.")]


def test_bad_field_mapping_is_a_clear_error():
    with pytest.raises(InvalidParameterError, match="bad field mapping 'colour=red'"):
        FieldMapping.parse("colour=red")


def test_bad_items_are_skipped_with_reasons(tmp_path):
    (tmp_path / "good.txt").write_text(ARTICLE)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "records.jsonl").write_text('{"id": "r1", "title": "Fine", "body": "Fine body."}\n{broken\n{"id": "r3"}\n[1, 2]\n')
    (tmp_path / "dupe.jsonl").write_text('{"id": "r1", "title": "Again", "body": "Duplicate id."}\n')
    (tmp_path / "loop").symlink_to(tmp_path)
    reading = read_corpus(tmp_path)
    assert sorted(article.id for article in reading.articles) == ["good", "r1"]
    assert [a.title for a in reading.articles if a.id == "r1"] == ["Again"]  # dupe.jsonl comes first
    reasons = {item.path: item.reason for item in reading.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["binary.txt"] == "binary file, not text"
    assert reasons["records.jsonl:2"].startswith("malformed JSON line")
    assert reasons["records.jsonl:3"] == "record 'r3': no title and no body"
    assert reasons["records.jsonl:4"] == "record is not a JSON object"
    assert reasons["records.jsonl:1"] == "duplicate id 'r1' (first in dupe.jsonl:1)"


def test_legacy_encodings_are_decoded(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Café crème\n\nLe président a parlé à Genève.".encode("cp1252"))
    (tmp_path / "mixed.txt").write_bytes("Mixed title\n\nUTF-8 “quotes”\n".encode() + "and cp1252 – dash".encode("cp1252"))
    by_id = {article.id: article for article in read_corpus(tmp_path).articles}
    assert by_id["latin"].title == "Café crème"
    assert "“quotes”" in by_id["mixed"].text and "– dash" in by_id["mixed"].text


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="corpus not found"):
        read_corpus(tmp_path / "nowhere")


@pytest.mark.skipif(not REUTERS.exists(), reason="shared Reuters-21578 dataset not present")
def test_reuters_file_reads_as_it_is(tmp_path):
    # A slice of the real file, kept gzipped, read through the same path as the whole.
    sliced = tmp_path / "reuters-slice.jsonl.gz"
    with gzip.open(REUTERS, "rt") as source, gzip.open(sliced, "wt") as target:
        target.writelines(itertools.islice(source, 300))
    reading = read_corpus(sliced)
    first = reading.articles[0]
    assert (first.id, first.title, first.date, first.source) == ("1", "BAHIA COCOA REVIEW", "1987-02-26", "Reuters")
    assert first.text.startswith("Showers continued throughout the week in the Bahia cocoa zone")
    assert "\n    " not in first.text and not first.text.rstrip().endswith("Reuter")
    assert len(reading.articles) + len(reading.skipped) == 300
    assert all(article.title for article in reading.articles)


def test_reading_elsewhere_gives_the_same_reading_in_corpus_order(tmp_path):
    """What a cluster's workers do (read, clean and split plain files, in partitions), done here:
    the same articles, skips and copies as one process reads, with each article's passage spans;
    feeds are read here, in their place among the files."""
    from archive.ingest.corpus import read_and_split
    from archive.ingest.passages import passage_spans

    (tmp_path / "a.txt").write_text(ARTICLE)
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"id": f"r{n}", "title": f"Record {n}", "body": ARTICLE * n})
                                                for n in range(1, 4)) + "\n{broken\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"id": "r2", "title": "Same id again", "body": "Another body."}) + "\n"
                                      + json.dumps({"id": "c1", "title": "Short", "body": "A short one."}) + "\n"
                                      + json.dumps({"id": "c1", "title": "Long", "body": ARTICLE * 40}) + "\n")
    (tmp_path / "d.rss").write_text(
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item><title>Feed story</title>"
        "<link>https://example.com/feed-story</link><description>A feed story about potash exports and Belarus."
        "</description><pubDate>Mon, 19 Dec 2022 10:00:00 GMT</pubDate></item></channel></rss>")
    (tmp_path / "e.json").write_text("{not json")
    (tmp_path / "f.txt").write_text("")
    asked: list[list[str]] = []

    def read_elsewhere(files):
        asked.append([relative for _, relative in files])
        return iter([read_and_split(path, relative, FieldMapping()) for path, relative in files])

    here, there = read_corpus(tmp_path), read_corpus(tmp_path, read_elsewhere=read_elsewhere)
    assert asked == [["a.txt", "b.jsonl", "c.jsonl", "e.json", "f.txt"]]  # the feed is not among them
    assert there.articles == here.articles and there.skipped == here.skipped
    assert there.article_files == here.article_files and there.files == here.files
    assert any("duplicate id 'r2'" in item.reason for item in there.skipped)
    assert any("duplicate id 'c1'" in item.reason for item in there.skipped)  # in one file: the first is kept
    kept = there.articles[[article.id for article in there.articles].index("c1")]
    assert kept.title == "Short" and there.passage_spans["c1"] == passage_spans(kept.text)
    assert [article.id for article in there.articles if article.id not in there.passage_spans] == \
        [article.id for article in there.articles if article.url == "https://example.com/feed-story"]
    for article in there.articles:
        if article.id in there.passage_spans:
            assert there.passage_spans[article.id] == passage_spans(article.text)
    assert there.passage_spans["r3"] != [] and there.articles[[a.id for a in there.articles].index("r2")].title == "Record 2"
    assert read_corpus(tmp_path, read_elsewhere=lambda files: None).articles == here.articles  # None: read here
    from archive.indexing.generation import passage_rows

    assert passage_rows(there.articles, "model", spans=there.passage_spans) == passage_rows(here.articles, "model")
