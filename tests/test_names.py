"""Names in any spelling: a keyword query for a name also finds its transliteration variants,
marks them as variants, says which matched, and ranks the exact spelling first."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import EveryVersion

from archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.backends.embedded.update import update
from archive.index.names import NameVariants, count_name_evidence
from archive.ingest.articles import Article
from archive.query.language import text_analyzer
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

QUOTING = {  # seed article -> how it spells the Ukrainian military spokesman's name
    "000_a579cd71521fd787": "Naev", "001_6d7df644afd5a1ff": "Nayev",
    "002_e11880221c40fa9a": "Naiev", "003_5efb497116866064": "Nayev",
}


@pytest.fixture
def archive(archive):
    """Every version of the seed story: these tests are about articles (collapsing: test_stories.py)."""
    return EveryVersion(archive)


def index_form(word: str) -> str:
    return next(iter(text_analyzer()(word))).text


def variants_of(texts: list[str]) -> NameVariants:
    articles = [Article(id=str(number), title="Headline Words Here", text=text) for number, text in enumerate(texts)]
    return NameVariants(count_name_evidence(articles), index_form)


def test_names_come_from_mid_sentence_capitals_and_variants_share_sound_and_letters():
    variants = variants_of([
        "The spokesman, Naev, said so. Later Nayev added more, and Naiev agreed.",
        "Naev spoke first.",  # a sentence's first word is no evidence of a name
        "Cooks meet to cut meat with a knife. They meet again. The President met the president and the president.",
    ])
    assert variants.of("naev") == ["naiev", "nayev"] and variants.of("nayev") == ["naev", "naiev"]
    assert variants.of("meet") == [] and variants.of("meat") == [] and variants.of("knife") == []
    assert variants.of("presid") == []  # written in lower case too: not a name


def test_a_name_finds_its_variants_marked_as_such(archive):
    response = archive.search("Naev", mode="keyword", k=10)
    assert {result.id: result for result in response.results}.keys() == QUOTING.keys()
    for result in response.results:
        spelling = QUOTING[result.id]
        marked = {(passage.text[mark.start : mark.end], mark.kind) for passage in result.passages for mark in passage.marks}
        if spelling == "Naev":
            assert ("Naev", "keyword") in marked and result.explain["keyword"].variants == []
        else:
            assert (spelling, "variant") in marked
            assert result.explain["keyword"].variants == [f"{spelling} ≈ Naev"]


def test_quotes_or_an_equals_sign_ask_for_one_spelling(archive):
    for query in ('"Naev"', "=Naev"):
        response = archive.search(query, mode="keyword", k=10)
        assert [result.id for result in response.results] == ["000_a579cd71521fd787"], query
        assert all(mark.kind == "keyword" for result in response.results for passage in result.passages
                   for mark in passage.marks)


def test_the_exact_spelling_ranks_first_and_common_words_never_expand(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Talks resume\n\nOfficials met on Monday. The spokesman, Naev, said the talks went well.\n")
    (corpus / "b.txt").write_text("Talks resume\n\nOfficials met on Monday. The spokesman, Nayev, said the talks went well.\n")
    (corpus / "c.txt").write_text("Kitchen notes\n\nThe cooks meet at noon and cut the meat with a knife before they meet again.\n")
    rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    archive = Archive.open(fresh_index, embedder=embedder)
    try:
        naev = archive.search("Naev", mode="keyword", collapse="none")  # a and b are one story
        nayev = archive.search("Nayev", mode="keyword", collapse="none")
        meet = archive.search("meet", mode="keyword", collapse="none")
    finally:
        archive.close()
    assert [result.id for result in naev.results] == ["a", "b"] and naev.results[0].score > naev.results[1].score
    assert [result.id for result in nayev.results] == ["b", "a"]
    marked = [passage.text[mark.start : mark.end] for passage in meet.results[0].passages for mark in passage.marks]
    assert [result.id for result in meet.results] == ["c"] and marked == ["meet", "meet"]


def test_update_keeps_the_names_current(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Talks resume\n\nOfficials met on Monday. The spokesman, Naev, said the talks went well.\n")
    rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    (corpus / "b.txt").write_text("Talks stall\n\nOn Tuesday the spokesman, Naiev, said the talks had stalled.\n")
    update(corpus, fresh_index, embedder=embedder)
    archive = Archive.open(fresh_index, embedder=embedder)
    try:
        found = archive.search("Naev", mode="keyword", collapse="none")
    finally:
        archive.close()
    assert [result.id for result in found.results] == ["a", "b"]
    assert found.results[1].explain["keyword"].variants == ["Naiev ≈ Naev"]


def test_the_api_page_and_cli_show_the_variant(client, seed_index):
    data = json.loads(client.get("/api/search?q=Naev&mode=keyword&collapse=none").get_data(as_text=True))
    by_id = {result["id"]: result for result in data["results"]}
    assert by_id["002_e11880221c40fa9a"]["explain"]["keyword"]["variants"] == ["Naiev ≈ Naev"]
    assert "variants" not in by_id["000_a579cd71521fd787"]["explain"]["keyword"]
    assert any('<mark class="variant">Naiev</mark>' in passage["html"]
               for passage in by_id["002_e11880221c40fa9a"]["passages"])
    page = client.get("/search?q=Naev&mode=keyword&collapse=none").get_data(as_text=True)
    assert "keyword #2 (Naiev ≈ Naev)" in page
    printed = CliRunner().invoke(main, ["search", "Naev", "--index", str(seed_index), "--mode", "keyword",
                                        "--collapse", "none"])
    assert printed.exit_code == 0 and "[≈Naiev]" in printed.output and "(Naiev ≈ Naev)" in printed.output


def test_excluded_names_and_patterns_are_searched_as_written(archive):
    kept = {result.id for result in archive.search("Belarus NOT Naev", mode="keyword", k=10).results}
    assert "000_a579cd71521fd787" not in kept and set(QUOTING) - {"000_a579cd71521fd787"} <= kept
    assert [result.id for result in archive.search("nae*", mode="keyword").results] == ["000_a579cd71521fd787"]
    # a word the query asks for itself (in a phrase here) is its own evidence, not a variant
    response = archive.search('Naev "Naiev"', mode="keyword", k=10)
    republic = next(result for result in response.results if result.id == "002_e11880221c40fa9a")
    assert republic.explain["keyword"].variants == []
    assert {mark.kind for passage in republic.passages for mark in passage.marks} == {"keyword"}


def test_a_common_word_sharing_a_names_stem_does_not_expand():
    variants = variants_of(["The envoy, Naev, spoke. Later Nayev spoke again."])
    assert variants.is_name("Naev") and variants.is_name("nayev")
    assert not variants.is_name("naevs") and not variants.is_name("knife")
