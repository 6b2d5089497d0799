import itertools
import time

from archive.index.vocabulary import Vocabulary, count_words
from archive.ingest.articles import Article


def test_words_are_counted_in_titles_and_texts_lowercased():
    counts = count_words([Article("a", "Potash Exports", "Potash, potash! 1987 ok"), Article("b", "Grain", "grain")])
    assert counts == {"potash": 3, "exports": 1, "grain": 2}


def distance(first: str, second: str) -> int:
    """Levenshtein distance, written out (the reference ``Vocabulary.within`` must agree with)."""
    previous = list(range(len(second) + 1))
    for row, left in enumerate(first, start=1):
        current = [row]
        for column, right in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (left != right)))
        previous = current
    return previous[-1]


def test_words_within_two_edits_are_exactly_those_a_plain_edit_distance_finds():
    words = ["".join(letters) for length in (2, 3, 4) for letters in itertools.product("abc", repeat=length)]
    vocabulary = Vocabulary(dict.fromkeys(words + ["lukashenko", "lukashenka", "naev", "nayev"], 2))
    for word in ("ab", "abca", "cccc", "a", "lukashenk", "naiev", "zz"):
        assert vocabulary.within(word, 2) == sorted(known for known in vocabulary.words if distance(word, known) <= 2)


def test_long_unknown_words_cost_little():
    """Twenty long unknown words (a Levenshtein automaton in Python took over a second for them)."""
    vocabulary = Vocabulary({f"{'abcdefgh' * 4}{number:08d}": 2 for number in range(50_000)})  # 40 letters each
    started = time.perf_counter()
    for number in range(20):
        vocabulary.suggest("q" * 40 + str(number))
    assert time.perf_counter() - started < 0.5


def test_suggestion_is_fewest_edits_then_most_frequent():
    vocabulary = Vocabulary({"lukashenko": 40, "lukashenka": 5, "minsk": 9, "mink": 3, "once": 1})
    assert vocabulary.suggest("lukashenkoo") == "lukashenko"
    assert vocabulary.suggest("lukashenkka") == "lukashenka"  # one edit beats a more frequent word two away
    assert vocabulary.suggest("minkk") == "minsk"  # "mink" and "minsk" are both one edit away: the more frequent wins
    assert vocabulary.suggest("onc") is None  # words seen once are not offered
    assert vocabulary.suggest("zzzzzz") is None
    assert "Minsk" in vocabulary and "once" not in vocabulary
