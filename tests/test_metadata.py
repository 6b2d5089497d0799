import pytest
from conftest import SEED_CORPUS

from archive.ingest import metadata
from archive.ingest.corpus import read_corpus


@pytest.fixture(scope="module")
def seed_articles():
    return {article.id: article for article in read_corpus(SEED_CORPUS).articles}


def test_titles_are_headlines_not_stamps_or_captions(seed_articles):
    assert seed_articles["002_e11880221c40fa9a"].title == (
        "Border defence with Belarus remains top priority: Zelenskyy ahead of Putin-Lukashenko meet"
    )
    assert seed_articles["001_6d7df644afd5a1ff"].title == (
        "A military attack on Ukraine is feared as Putin arrives in Belarus for negotiations."
    )
    assert seed_articles["000_a579cd71521fd787"].title.startswith("Might President Vladimir Putin try")
    assert seed_articles["004_223d587e292dbf6e"].title.startswith("Putin To Visit Belarus For Rare Meeting")


def test_headline_and_its_caption_copy_leave_the_body(seed_articles):
    article = seed_articles["000_a579cd71521fd787"]
    assert "SPUTNIK via AFP" not in article.text
    assert not article.text.startswith("Might President")
    assert article.text.startswith("KEY POINTS")


def test_an_article_without_a_headline_gets_its_opening_words(seed_articles):
    article = seed_articles["003_5efb497116866064"]
    assert article.title.startswith("During his visit to Minsk on Monday, Putin pressured Lukashenka")
    assert article.title.endswith("…") and len(article.title) <= 112
    assert article.text.startswith("During his visit to Minsk")  # the opening stays in the body


def test_stated_publication_date_is_found(seed_articles):
    assert seed_articles["002_e11880221c40fa9a"].date == "2022-12-19"


def test_no_date_is_invented_when_none_is_stated(seed_articles):
    # "Monday, Dec. 19" has no year; it is not a publication date.
    assert seed_articles["000_a579cd71521fd787"].date is None
    assert seed_articles["003_5efb497116866064"].date is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("December 19th, 2022 at 15:44 IST", "2022-12-19"),
        ("2022-12-19T15:44:00", "2022-12-19"),
        ("19 December 2022", "2022-12-19"),
        ("Monday, Dec. 19", None),
        ("not a date", None),
        ("2022-02-30", None),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert metadata.parse_date(text) == expected


def test_source_line_names_the_source():
    source, rest = metadata.find_source(["Title", "Source: Kyiv Post", "Body text."])
    assert source == "Kyiv Post" and rest == ["Title", "Body text."]


def test_a_sentence_starting_with_source_is_not_a_source_line():
    source, rest = metadata.find_source(["Title", "source of revenue: the tax", "Body."])
    assert source is None and len(rest) == 3
