"""Writes one small article in every supported format (for .ci/check-install), and the
id -> distinctive word map that searching must find."""

import gzip
import json
import sys
from pathlib import Path

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
for name, (kind, content) in articles.items():
    path = root / name
    if kind == "gzip":
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content)
expected = {"plain": "zinnias", "notes": "tulips", "page": "peonies", "page2": "irises", "brief": "crocuses", "json-1": "dahlias",
            "jsonl-1": "lilies", "packed-text": "asters", "packed-page": "lupins", "gz-1": "poppies",
            "gz-2": "violets", "packed-notes": "marigolds", "packed-page2": "daisies"}
(root.parent / "expected.json").write_text(json.dumps(expected))  # beside the corpus, not in it
