"""Writes one small article in every supported format (for .ci/check-install), and the
id -> distinctive word map that searching must find."""

import gzip
import io
import json
import sys
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

root = Path(sys.argv[1])
root.mkdir(parents=True)
body = "Gardeners in {town} planted {word} along the river this spring, the council said on Tuesday."
html = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        "<p>" + body + " More paragraphs follow about the season.</p><p>A second paragraph for the extractor.</p>"
        "</article></body></html>")
articles = {
    "plain.txt": ("text", "Zinnias in Kaunas\n\n" + body.format(town="Kaunas", word="zinnias") + "\n"),
    "notes.md": ("text", "# Tulips in Vilnius\n\n" + body.format(town="Vilnius", word="tulips") + "\n"),
    "page.html": ("text", html.format(title="Peonies in Riga", town="Riga", word="peonies")),
    "page2.htm": ("text", html.format(title="Irises in Tartu", town="Tartu", word="irises")),
    # A short page: trafilatura falls back to justext for it, which needs lxml.html.clean.
    "brief.html": ("text", "<html><body><article><p>" + body.format(town="Narva", word="crocuses") + "</p></article></body></html>"),
    "record.json": ("text", json.dumps({"id": "json-1", "title": "Dahlias in Minsk",
                                        "body": body.format(town="Minsk", word="dahlias")})),
    "records.jsonl": ("text", json.dumps({"id": "jsonl-1", "title": "Lilies in Brest",
                                          "body": body.format(town="Brest", word="lilies")}) + "\n"),
    "packed-text.txt.gz": ("gzip", "Asters in Gdansk\n\n" + body.format(town="Gdansk", word="asters") + "\n"),
    "packed-page.html.gz": ("gzip", html.format(title="Lupins in Tallinn", town="Tallinn", word="lupins")),
    "packed.jsonl.gz": ("gzip", json.dumps({"id": "gz-1", "title": "Poppies in Lviv",
                                            "body": body.format(town="Lviv", word="poppies")}) + "\n"),
    "packed.json.gz": ("gzip", json.dumps({"id": "gz-2", "title": "Violets in Odesa",
                                           "body": body.format(town="Odesa", word="violets")})),
    "packed-notes.md.gz": ("gzip", "# Marigolds in Kraków\n\n" + body.format(town="Kraków", word="marigolds") + "\n"),
    "packed-page2.htm.gz": ("gzip", html.format(title="Daisies in Pskov", town="Pskov", word="daisies")),
}
long_page = ("<html><head><title>{title}</title></head><body><nav>Home</nav><article><h1>{title}</h1>"
             "<p>" + body + " Volunteers carried seedlings from the greenhouse to the beds by the water.</p>"
             "<p>The council said the planting would continue next week if the weather stays dry and mild.</p>"
             "</article><footer>Copyright</footer></body></html>")


def warc(title: str, town: str, word: str, compressed: bool) -> bytes:
    stream = io.BytesIO()
    writer = WARCWriter(stream, gzip=compressed)
    url = f"https://garden.example/{word}"
    page = long_page.format(title=title, town=town, word=word).encode()
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(page), length=len(page),
                                                  http_headers=headers))
    return stream.getvalue()


def rss(title: str, town: str, word: str) -> str:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Garden News</title>'
            f"<item><title>{title}</title><link>https://garden.example/{word}</link>"
            f"<pubDate>Tue, 14 May 2024 09:30:00 GMT</pubDate><description>{body.format(town=town, word=word)}</description>"
            "</item></channel></rss>")


def atom(title: str, town: str, word: str) -> str:
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Garden Times</title><id>urn:g</id>'
            f"<updated>2024-05-20T08:00:00Z</updated><entry><title>{title}</title><id>urn:g:1</id>"
            f'<link href="https://garden.example/{word}"/><updated>2024-05-20T08:00:00Z</updated>'
            f"<summary>{body.format(town=town, word=word)}</summary></entry></feed>")


(root / "crawl.warc.gz").write_bytes(warc("Snowdrops in Kyiv", "Kyiv", "snowdrops", compressed=True))
(root / "crawl.warc").write_bytes(warc("Bluebells in Vitebsk", "Vitebsk", "bluebells", compressed=False))
(root / "feed.rss").write_text(rss("Orchids in Grodno", "Grodno", "orchids"))
(root / "feed.atom").write_text(atom("Hyacinths in Mogilev", "Mogilev", "hyacinths"))
(root / "feed.xml").write_text(rss("Freesias in Pinsk", "Pinsk", "freesias"))
(root / "packed-feed.rss.gz").write_bytes(gzip.compress(atom("Camellias in Gomel", "Gomel", "camellias").encode()))
for name, (kind, content) in articles.items():
    path = root / name
    if kind == "gzip":
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content)
expected = {"plain": "zinnias", "notes": "tulips", "page": "peonies", "page2": "irises", "brief": "crocuses", "json-1": "dahlias",
            "jsonl-1": "lilies", "packed-text": "asters", "packed-page": "lupins", "gz-1": "poppies",
            "gz-2": "violets", "packed-notes": "marigolds", "packed-page2": "daisies",
            "garden.example/snowdrops": "snowdrops", "garden.example/bluebells": "bluebells",
            "garden.example/orchids": "orchids", "garden.example/hyacinths": "hyacinths",
            "garden.example/freesias": "freesias", "garden.example/camellias": "camellias"}
(root.parent / "expected.json").write_text(json.dumps(expected))  # beside the corpus, not in it
