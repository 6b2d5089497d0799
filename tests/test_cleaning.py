from conftest import SEED_CORPUS

from archive.ingest import cleaning
from archive.ingest.corpus import read_corpus


def test_ad_markers_and_comment_prompts_are_dropped():
    text = "Headline here\n\nAdvertisements\n\nFirst paragraph.\n\nAdvertisement\n\nLEAVE A REPLY\n\nPlease enter your comment!\n\nPlease enter your name here"
    assert cleaning.clean_text(text) == "Headline here\n\nFirst paragraph."


def test_trailing_tag_list_and_widgets_are_cut():
    text = "Title\n\nBody text that matters.\n\nTags\nRussia, Ukraine, Europe\nReal Time Analytics"
    assert cleaning.clean_text(text) == "Title\n\nBody text that matters."


def test_a_tags_word_in_the_body_is_kept():
    text = "Title\n\nTags\n\n" + "\n\n".join(f"Paragraph {number} of the story." for number in range(10))
    assert "Tags" in cleaning.clean_text(text)


def test_stamp_lines_bylines_and_image_credits_are_dropped():
    text = "Updated December 19th, 2022 at 15:44 IST\n\nTitle\n\nReported by: Digital Desk\nImage: AP | Image:self\n\nBody."
    assert cleaning.clean_text(text) == "Title\n\nBody."


def test_trailing_photo_caption_with_agency_credit_is_dropped():
    text = "Title\n\nThe story ends here.\n\nSoldiers inspect a destroyed tank in eastern Ukraine\nAFP"
    assert cleaning.clean_text(text) == "Title\n\nThe story ends here."


def test_photo_credit_is_cut_from_a_caption_line():
    line = "Belarus has not joined the war, its president says. Photo by SERGEI GUNEYEV/Sputnik/AFP via Getty Images"
    assert cleaning.clean_text(line) == "Belarus has not joined the war, its president says."


def test_newswire_hard_wraps_are_unwrapped_and_sign_off_dropped():
    body = (
        "Showers continued throughout the week in\nthe Bahia cocoa zone, alleviating the drought since early\n"
        "January and improving prospects.\n    The dry period means the temporao will be late this year\n"
        "and arrivals will be slow to pick up again.\n Reuter"
    )
    lines, signed = cleaning.clean_lines(body)
    assert signed
    assert lines == [
        "Showers continued throughout the week in the Bahia cocoa zone, alleviating the drought since early "
        "January and improving prospects.",
        "The dry period means the temporao will be late this year and arrivals will be slow to pick up again.",
    ]


def test_control_characters_are_removed_but_newlines_kept():
    assert cleaning.normalise("a\x00b\x07c\r\nd\u200be") == "abc\nde"


def test_seed_articles_carry_no_boilerplate():
    reading = read_corpus(SEED_CORPUS)
    for article in reading.articles:
        for line in article.text.split("\n"):
            assert not cleaning.is_boilerplate(line), (article.id, line)
        for furniture in ("Advertisement", "LEAVE A REPLY", "Please enter", "Real Time Analytics", "Tags\n", "Image:"):
            assert furniture not in article.text, (article.id, furniture)
