"""Claims: sentences of an article that other articles of its story also report.

Two sentences report the same claim when their sentence vectors (the ones the build pools for
semantic highlighting) are at least ``CLAIM_SIMILARITY`` alike, they share enough content words
(``WORD_OVERLAP``: the vectors carry their passage's context, so on their own they also join
sentences that are merely on one topic), and their names and numbers
agree: when both state numbers, one sentence's must all be among the other's ("on December 3" is
not "on December 5"; "to April 30" may leave out "from April 6"), and
two sentences that both name someone or something must share a name (spellings that sound
alike count as one, so Lukashenko matches Lukashenka). The threshold was chosen on labelled
sentence pairs (bench/data/claim-pairs.jsonl, docs/stories.md).

Only the other articles of the story are compared, and a claim links both ways: if a sentence
of A lists B, the sentence of B it points to lists A.

The work per article page is bounded, whatever the story: at most ``MAX_STORY_ARTICLES`` other
versions (the newest), ``MAX_OWN_SENTENCES`` sentences of the article and ``MAX_OTHER_SENTENCES``
of the others are compared; candidates come from one matrix product of sentence vectors, and
the word, name and number checks run in Python only on the best ``MAX_TRIES`` candidates of each
other article per sentence. What a cap leaves out, the claims' note says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from whoosh.analysis import StemmingAnalyzer
from whoosh.lang.dmetaphone import double_metaphone

from ..backends.contract import Store
from ..index.names import NameVariants
from ..index.stored import StoredPassage
from ..ingest.articles import Article

CLAIM_SIMILARITY = 0.80
# Two sentences that name the same person (in any spelling) and state the same numbers are
# already corroborated: a little less likeness in meaning suffices (bench/claims.py).
CORROBORATED_SIMILARITY = 0.75
CORROBORATED_OVERLAP = 0.3
WORD_OVERLAP = 0.4  # shared content words (stemmed; a name in any spelling one word), as a share of the shorter sentence's
MIN_CLAIM_WORDS = 6  # shorter sentences ("KEY POINTS", datelines) are not claims
MAX_STORY_ARTICLES = 50  # other articles compared, newest first
MAX_OWN_SENTENCES = 400  # of the article, in text order
MAX_OTHER_SENTENCES = 4_000  # of the other articles together, the newest articles' first
MAX_TRIES = 4  # candidates of one other article checked for one sentence, most alike first

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_ANALYZER = StemmingAnalyzer(minsize=3)
_POSSESSIVE = re.compile(r"['’]s?$")


@dataclass(frozen=True)
class Sentence:
    article_id: str
    start: int  # offsets into the article text
    end: int
    text: str
    vector: np.ndarray


@dataclass
class ClaimLink:
    article_id: str
    source: str | None
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class FirstReport:
    """The earliest article of a claim's reports (this article's too), by date."""

    article_id: str
    source: str | None
    date: str


@dataclass
class Claim:
    start: int
    end: int
    text: str
    also: list[ClaimLink] = field(default_factory=list)  # in time order once ``in_time_order`` ran: oldest first
    dates: dict[str, str | None] = field(default_factory=dict)  # article id -> date, for ``also`` and this article
    first: FirstReport | None = None  # who reported it first (None: no report is dated)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text,
                "first": None if self.first is None else {"article_id": self.first.article_id,
                                                          "source": self.first.source, "date": self.first.date},
                "also": [{"article_id": link.article_id, "source": link.source, "date": self.dates.get(link.article_id),
                          "start": link.start, "end": link.end, "text": link.text, "score": link.score}
                         for link in self.also]}


def in_time_order(claims: list[Claim], article: Article, dates: dict[str, str | None],
                  first_seen: dict[str, str]) -> list[Claim]:
    """Each claim's other reports oldest first (by the article's date; undated last, by when the
    archive first saw them), and the earliest dated report among them and this article marked
    as the first. Equal dates keep this article first: it cannot be shown to be later."""
    dates = {**dates, article.id: article.date}

    def when(article_id: str) -> tuple:
        date = dates.get(article_id)
        # (a dated article's indexing time never orders it: only its date, then this article first)
        return (date is None, date or "", article_id != article.id, first_seen.get(article_id, "") if date is None
                else "", article_id)

    for claim in claims:
        claim.also.sort(key=lambda link: when(link.article_id))
        claim.dates = {link.article_id: dates.get(link.article_id) for link in claim.also}
        reports = [(article.id, article.source)] + [(link.article_id, link.source) for link in claim.also]
        earliest = min(reports, key=lambda report: when(report[0]))
        date = dates.get(earliest[0])
        claim.first = FirstReport(earliest[0], earliest[1], date) if date else None
    return claims


def numbers(text: str) -> frozenset[str]:
    """The numbers a sentence states, as written without thousands separators (1,200 -> 1200)."""
    found = set()
    for match in _NUMBER.finditer(text):
        value = match.group()
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", value):
            value = value.replace(",", "")
        found.add(value.rstrip(".,"))
    return frozenset(found)


@lru_cache(maxsize=65536)
def name_key(word: str) -> str:
    primary, _ = double_metaphone(word)
    return primary or word.casefold()


class NameForms:
    """How claims tell names apart: each capitalised word after a sentence's first by its sound
    (Double Metaphone), and, where the archive knows it as a name, by its group of variant
    spellings too (archive/index/names.py: Serhiy ≈ Serhii, Zelensky ≈ Zelenskyy). Two
    spellings of one name agree, and count as one word when sentences are compared."""

    def __init__(self, variants: NameVariants | None = None, index_form: Callable[[str], str] | None = None,
                 merge_names: bool = True) -> None:
        """``merge_names`` False: names count as words as written (how claims compared before)."""
        self.variants, self.index_form, self.merge_names = variants, index_form, merge_names
        self._keys: dict[str, frozenset[str]] = {}
        # Per instance (one per generation's names), each sentence's once.
        self.names: Callable[[str], frozenset[str]] = lru_cache(maxsize=65536)(self._names)
        self.content_words: Callable[[str], frozenset[str]] = lru_cache(maxsize=65536)(self._content_words)

    def keys(self, word: str) -> frozenset[str]:
        found = self._keys.get(word)
        if found is None:
            keys = {"~" + name_key(word)}
            if self.variants is not None and self.index_form is not None and self.variants.is_name(word):
                term = self.index_form(word)
                keys.add("=" + min([term, *self.variants.of(term)]))
            found = self._keys[word] = frozenset(keys)
        return found

    def _names(self, text: str) -> frozenset[str]:
        """The keys of the capitalised words after the sentence's first (names, places, months)."""
        words = _WORD.findall(text)
        return frozenset(key for word in words[1:] if word[:1].isupper() and not word.isupper() and len(word) > 1
                         for key in self.keys(_POSSESSIVE.sub("", word)))

    def _content_words(self, text: str) -> frozenset[str]:
        """Stemmed words, numbers left out; a word the archive knows as a name, by its sound (its
        spellings are one word). Without the archive's names, every word as written."""
        if not self.merge_names or self.variants is None:
            return frozenset(token.text for token in _ANALYZER(text) if not token.text.isdigit())
        found: set[str] = set()
        for word in _WORD.findall(text):
            name = _POSSESSIVE.sub("", word)
            if word[:1].isupper() and not word.isupper() and self.variants.is_name(name):
                found.add("~" + name_key(name))
            else:
                found.update(token.text for token in _ANALYZER(word) if not token.text.isdigit())
        return frozenset(found)


SOUNDS = NameForms()  # without an archive: names by their sound only


def names(text: str) -> frozenset[str]:
    """Sound keys of the capitalised words after the sentence's first word (names, places, months)."""
    return SOUNDS.names(text)


def agree(first: str, second: str, forms: NameForms = SOUNDS) -> bool:
    """Whether two sentences' numbers and names allow them to report the same thing."""
    first_numbers, second_numbers = numbers(first), numbers(second)
    if first_numbers and second_numbers and not (first_numbers <= second_numbers or second_numbers <= first_numbers):
        return False
    first_names, second_names = forms.names(first), forms.names(second)
    return not (first_names and second_names and not first_names & second_names)


def corroborated(first: str, second: str, forms: NameForms = SOUNDS) -> bool:
    """Both state numbers, the same ones (one's all among the other's), and share a name."""
    first_numbers, second_numbers = numbers(first), numbers(second)
    return bool(first_numbers and second_numbers and (first_numbers <= second_numbers
                                                      or second_numbers <= first_numbers)
                and forms.names(first) & forms.names(second))


def content_words(text: str) -> frozenset[str]:
    return SOUNDS.content_words(text)


def word_overlap(first: str, second: str, forms: NameForms = SOUNDS) -> float:
    first_words, second_words = forms.content_words(first), forms.content_words(second)
    return len(first_words & second_words) / max(1, min(len(first_words), len(second_words)))


def same_claim(first: str, second: str, similarity: float, threshold: float = CLAIM_SIMILARITY,
               overlap: float = WORD_OVERLAP, forms: NameForms = SOUNDS,
               corroborated_threshold: float | None = CORROBORATED_SIMILARITY,
               corroborated_overlap: float = CORROBORATED_OVERLAP) -> bool:
    """Whether two sentences, ``similarity`` alike in meaning, report the same claim: alike
    enough and sharing enough words (a little less of both when they already share a name, in
    any spelling, and their numbers), with names and numbers that agree."""
    if not agree(first, second, forms):
        return False
    shared = word_overlap(first, second, forms)
    if similarity >= threshold and shared >= overlap:
        return True
    return corroborated_threshold is not None and similarity >= corroborated_threshold \
        and shared >= min(overlap, corroborated_overlap) and corroborated(first, second, forms)


def is_claim(text: str) -> bool:
    return len(_WORD.findall(text)) >= MIN_CLAIM_WORDS


def article_sentences(article_id: str, text: str, passages) -> list[Sentence]:
    """The sentences of an article's stored passages, once each (passages may overlap), in text order."""
    seen: dict[tuple[int, int], Sentence] = {}
    for passage in passages:
        for (start, end), vector in zip(passage.sentence_spans, passage.sentence_vectors, strict=True):
            span = (passage.start + int(start), passage.start + int(end))
            if span not in seen:
                seen[span] = Sentence(article_id, span[0], span[1], text[span[0] : span[1]], vector)
    return [seen[span] for span in sorted(seen)]


def match_claims(own: Sequence[Sentence], others: Sequence[Sentence], sources: dict[str, str | None],
                 threshold: float = CLAIM_SIMILARITY, tries: int = MAX_TRIES, cut: list[int] | None = None,
                 forms: NameForms = SOUNDS) -> list[Claim]:
    """For each of ``own`` sentences: the best agreeing sentence of each other article, if any
    is at least ``threshold`` alike (of its ``tries`` most alike ones: ``cut`` gains one for each
    sentence and article whose further candidates were left unchecked). Claims in text order;
    links by score."""
    own = [sentence for sentence in own if is_claim(sentence.text)]
    others = [sentence for sentence in others if is_claim(sentence.text)]
    if not own or not others:
        return []
    similarities = np.stack([s.vector for s in own]).astype(np.float32) @ np.stack([s.vector for s in others]).astype(np.float32).T
    article_of = np.unique([other.article_id for other in others], return_inverse=True)[1]
    claims = []
    for row, sentence in enumerate(own):
        best: dict[str, tuple[float, Sentence]] = {}
        for column in best_per_article(similarities[row], article_of, min(threshold, CORROBORATED_SIMILARITY), tries,
                                       cut):
            other = others[column]
            if other.article_id in best:
                continue  # (most alike first: the first that agrees is the best)
            score = float(similarities[row, column])
            if same_claim(sentence.text, other.text, score, threshold, forms=forms):
                best[other.article_id] = (score, other)
        if best:
            links = [ClaimLink(other.article_id, sources.get(other.article_id), other.start, other.end, other.text,
                               round(score, 4))
                     for score, other in sorted(best.values(), key=lambda pair: (-pair[0], pair[1].article_id))]
            claims.append(Claim(sentence.start, sentence.end, sentence.text, links))
    return claims


def best_per_article(similarities: np.ndarray, article_of: np.ndarray, threshold: float, tries: int,
                     cut: list[int] | None) -> list[int]:
    """The columns at least ``threshold`` alike, most alike first, at most ``tries`` of each
    article: chosen in numpy, so that no Python work is done per candidate past them."""
    candidates = np.flatnonzero(similarities >= threshold)
    if not len(candidates):
        return []
    candidates = candidates[np.argsort(-similarities[candidates], kind="stable")]
    articles = article_of[candidates]
    grouped = np.argsort(articles, kind="stable")  # by article, most alike first within each
    starts = np.searchsorted(articles[grouped], articles[grouped])  # where each one's article begins
    rank = np.empty(len(candidates), dtype=np.int64)
    rank[grouped] = np.arange(len(candidates)) - starts
    if cut is not None and (rank >= tries).any():
        cut.append(int(len(np.unique(articles[rank >= tries]))))
    return candidates[rank < tries].tolist()


@dataclass
class StoryClaims:
    claims: list[Claim]
    note: str | None = None  # what the caps left out


def story_claims(store: Store, article: Article, passages: Iterable[StoredPassage], other_ids: list[str],
                 other_count: int | None = None, forms: NameForms = SOUNDS) -> StoryClaims:
    """The article's sentences that other articles of its story (``other_ids``, newest first,
    of ``other_count`` in all) also report, within the caps (the module's docstring)."""
    cut = []
    other_count = len(other_ids) if other_count is None else other_count
    if other_count > MAX_STORY_ARTICLES:
        cut.append(f"the newest {MAX_STORY_ARTICLES} of {other_count} other versions")
    others = store.articles(other_ids[:MAX_STORY_ARTICLES])
    if not others:
        return StoryClaims([])
    by_article: dict[str, list[StoredPassage]] = {}
    for passage in store.passages(store.passage_ids_of(list(others))).values():
        by_article.setdefault(passage.article_id, []).append(passage)
    own = article_sentences(article.id, article.text, passages)
    if len(own) > MAX_OWN_SENTENCES:
        cut.append(f"this article's first {MAX_OWN_SENTENCES} of {len(own)} sentences")
        own = own[:MAX_OWN_SENTENCES]
    other_sentences: list[Sentence] = []
    total = 0
    for other_id in other_ids[:MAX_STORY_ARTICLES]:  # the newest first
        if other_id in by_article:
            sentences = article_sentences(other_id, others[other_id].text, by_article[other_id])
            total += len(sentences)
            other_sentences += sentences[: MAX_OTHER_SENTENCES - len(other_sentences)]
    if total > len(other_sentences):
        cut.append(f"{len(other_sentences):,} of the other versions' {total:,} sentences")
    unchecked: list[int] = []
    claims = match_claims(own, other_sentences, {other.id: other.source for other in others.values()},
                          cut=unchecked, forms=forms)
    if unchecked:
        cut.append(f"each sentence with the {MAX_TRIES} most alike sentences of each other version")
    return StoryClaims(claims, f"claims compared {'; '.join(cut)}" if cut else None)
