from archive.index.vocabulary import Vocabulary, count_words, edit_distance
from archive.ingest.articles import Article


def test_words_are_counted_in_titles_and_texts_lowercased():
    counts = count_words([Article("a", "Potash Exports", "Potash, potash! 1987 ok"), Article("b", "Grain", "grain")])
    assert counts == {"potash": 3, "exports": 1, "grain": 2}


def test_edit_distance():
    assert edit_distance("lukashenko", "lukashenka") == 1
    assert edit_distance("naev", "nayev") == 1
    assert edit_distance("", "abc") == 3


def test_suggestion_is_fewest_edits_then_most_frequent():
    vocabulary = Vocabulary({"lukashenko": 40, "lukashenka": 5, "minsk": 9, "mink": 3, "once": 1})
    assert vocabulary.suggest("lukashenkoo") == "lukashenko"
    assert vocabulary.suggest("lukashenkka") == "lukashenka"  # one edit beats a more frequent word two away
    assert vocabulary.suggest("minkk") == "minsk"  # "mink" and "minsk" are both one edit away: the more frequent wins
    assert vocabulary.suggest("onc") is None  # words seen once are not offered
    assert vocabulary.suggest("zzzzzz") is None
    assert "Minsk" in vocabulary and "once" not in vocabulary
