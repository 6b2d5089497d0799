from conftest import SEED_CORPUS

from archive.ingest.corpus import read_corpus
from archive.ingest.passages import MAX_WORDS, count_words, split_passages
from archive.ingest.sentences import split_sentences


def test_passage_offsets_round_trip_to_the_article_text():
    for article in read_corpus(SEED_CORPUS).articles:
        passages = split_passages(article.id, article.text)
        assert passages
        for passage in passages:
            assert article.text[passage.start : passage.end] == passage.text
            assert count_words(article.text, passage.start, passage.end) <= MAX_WORDS * 1.2
        # Windows are in order, do not overlap, and lose no words.
        assert all(a.end <= b.start for a, b in zip(passages, passages[1:], strict=False))
        assert sum(len(p.text.split()) for p in passages) == len(article.text.split())


def test_paragraphs_are_not_split_when_they_fit():
    text = "One short paragraph.\n\nAnother short paragraph."
    assert [p.text for p in split_passages("x", text)] == [text]


def test_a_long_paragraph_is_cut_at_sentence_boundaries():
    sentence = "The minister said exports of potash would resume next month through Baltic ports. "
    text = (sentence * 30).strip()
    passages = split_passages("x", text, max_words=50)
    assert len(passages) > 1
    assert all(p.text.endswith("ports.") for p in passages)


def test_a_sentence_longer_than_a_window_is_cut_at_words():
    text = " ".join(f"word{n}" for n in range(500))
    passages = split_passages("x", text, max_words=100)
    assert [len(p.text.split()) for p in passages] == [100, 100, 100, 100, 100]


def test_sentences_respect_abbreviations():
    text = 'Lt. Gen. Serhii Naev said so on Dec. 19 in the U.S. capital. "It will happen," he added. Then he left.'
    sentences = [text[start:end] for start, end in split_sentences(text)]
    assert sentences == ['Lt. Gen. Serhii Naev said so on Dec. 19 in the U.S. capital.', '"It will happen," he added.', "Then he left."]


def test_the_sentence_splitter_is_linear_on_runs_of_abbreviations():
    """A paragraph of "A. " 300,000 times (900 kB): the splitter rescanned from the sentence's
    start after each abbreviation, and took minutes while the build held its lock."""
    import time

    started = time.perf_counter()
    assert split_sentences("A. " * 300_000) == [(0, 899_999)]
    assert time.perf_counter() - started < 5
    text = "The U.S. Navy met. X" + "x" * 100 + ". Then A. Smith spoke."  # a word longer than the look-back
    assert [text[start:end] for start, end in split_sentences(text)] == [
        "The U.S. Navy met.", "X" + "x" * 100 + ".", "Then A. Smith spoke."]
