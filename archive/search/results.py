"""The library's response types (plain dataclasses that serialise to the documented JSON),
and how a page of ranked hits becomes results with their evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..backends.contract import Snapshot
from .claims import Claim
from .facets import Facets
from .highlight import VARIANT, Mark, semantic_marks
from .searchers import KEYWORD, SEMANTIC, Hit

PASSAGES_PER_RESULT = 3
MAX_OTHER_VERSIONS = 20  # other versions listed with a collapsed result
SEMANTIC_PASSAGE_MARGIN = 0.05  # further passages of a semantic hit shown when this close to its best


@dataclass
class LegExplanation:
    rank: int
    score: float
    variants: list[str] = field(default_factory=list)  # keyword leg: "Naiev ≈ Naev", spellings it matched


@dataclass
class PassageResult:
    text: str
    start: int  # offsets into the article text
    end: int
    matched: list[str]
    marks: list[Mark]  # offsets into ``text``


@dataclass
class StoryVersion:
    id: str
    title: str
    source: str | None
    date: str | None
    date_kind: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "source": self.source, "date": self.date,
                "date_kind": self.date_kind}


@dataclass
class StoryOfResult:
    """The story a result belongs to: its size in the archive, and (collapsed) the other versions
    this search matched, best first."""

    id: str
    size: int
    others: list[StoryVersion] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "size": self.size, "others": [version.to_dict() for version in self.others]}


@dataclass
class Result:
    id: str
    title: str
    date: str | None
    source: str | None
    score: float
    explain: dict[str, LegExplanation | None]
    passages: list[PassageResult]
    date_kind: str | None = None  # "published", or "crawled" when the date is only the crawl's
    story: StoryOfResult | None = None


@dataclass(frozen=True)
class MatchCount:
    """How many articles in the whole archive (within the filters) the query's words match,
    and how many stories they form: coverage, not the ranked pool that ``total`` counts."""

    articles: int
    stories: int

    def to_dict(self) -> dict:
        return {"articles": self.articles, "stories": self.stories}


@dataclass
class SearchResponse:
    query: str
    mode: str
    k: int
    page: int
    total: int
    took_ms: float
    note: str | None
    suggestion: str | None
    results: list[Result] = field(default_factory=list)
    timed_out: bool = False  # the search stopped at its time budget: results are what it ranked by then
    facets: Facets = field(default_factory=Facets)  # over the candidate pool that ``total`` counts
    collapse: str = "story"  # "story": total, facets and results count stories; "none": articles
    # every article the words match (None: no words to match, or no time left to count them)
    matching: MatchCount | None = None

    def to_dict(self) -> dict:
        """The documented JSON shape (written out: ``dataclasses.asdict`` cost 0.5 ms a response)."""
        return {
            "query": self.query, "mode": self.mode, "k": self.k, "page": self.page, "total": self.total,
            "took_ms": self.took_ms, "timed_out": self.timed_out, "note": self.note, "suggestion": self.suggestion,
            "collapse": self.collapse, "facets": self.facets.to_dict(),
            "matching": self.matching.to_dict() if self.matching else None,
            "results": [{
                "id": result.id, "title": result.title, "date": result.date, "date_kind": result.date_kind,
                "source": result.source, "score": result.score,
                "story": result.story.to_dict() if result.story else None,
                "explain": {leg: (explanation_dict(evidence) if evidence else None)
                            for leg, evidence in result.explain.items()},
                "passages": [{
                    "text": passage.text, "start": passage.start, "end": passage.end, "matched": list(passage.matched),
                    "marks": [{"start": mark.start, "end": mark.end, "kind": mark.kind} for mark in passage.marks],
                } for passage in result.passages],
            } for result in self.results],
        }


def explanation_dict(evidence: LegExplanation) -> dict:
    shown: dict[str, object] = {"rank": evidence.rank, "score": evidence.score}
    if evidence.variants:
        shown["variants"] = list(evidence.variants)
    return shown


@dataclass
class ArticleStory:
    """The story an article belongs to, with its articles (this one too), newest first, undated
    last: all of them, or the newest ``MAX_STORY_VERSIONS`` of a larger story (``size`` counts all)."""

    id: str
    size: int
    articles: list[StoryVersion] = field(default_factory=list)


@dataclass
class ArticleResponse:
    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    text: str
    passages: list[dict]  # {"start", "end"} of each passage, for linking to a span
    author: str | None = None
    date_kind: str | None = None  # "published", or "crawled" when the date is only the crawl's
    story: ArticleStory | None = None
    claims: list[Claim] = field(default_factory=list)  # sentences other articles of the story also report
    claims_note: str | None = None  # what the claims' caps left out of the comparison

    def to_dict(self) -> dict:
        found = asdict(replace(self, claims=[]))
        found["claims"] = [claim.to_dict() for claim in self.claims]
        return found

    def other_coverage(self) -> list[StoryVersion]:
        return [version for version in self.story.articles if version.id != self.id] if self.story else []


@dataclass
class SimilarArticle:
    id: str
    title: str
    date: str | None
    source: str | None
    score: float
    date_kind: str | None = None


@dataclass
class SimilarResponse:
    id: str
    results: list[SimilarArticle]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StatsResponse:
    generation: str
    created_at: str
    articles: int
    passages: int
    date_from: str | None
    date_to: str | None
    sources: list[dict]
    model: str
    dimension: int
    vector_index: str
    corpus_path: str
    corpus_fingerprint: str

    def to_dict(self) -> dict:
        return asdict(self)


def choose_passages(hit: Hit) -> list[int]:
    """Up to three passages: the best one, then others the keyword leg matched or that are
    nearly as close in meaning as the article's best."""
    def strength(pid: int) -> float:
        return sum(1.0 / (60 + evidence.rank) for evidence in hit.passages[pid].values())

    ordered = sorted(hit.passages, key=lambda pid: (-strength(pid), pid))
    best_semantic = max((legs[SEMANTIC].score for legs in hit.passages.values() if SEMANTIC in legs), default=None)
    chosen = ordered[:1]
    for pid in ordered[1:]:
        legs = hit.passages[pid]
        close = SEMANTIC in legs and best_semantic is not None and legs[SEMANTIC].score >= best_semantic - SEMANTIC_PASSAGE_MARGIN
        if KEYWORD in legs or close:
            chosen.append(pid)
        if len(chosen) == PASSAGES_PER_RESULT:
            break
    return chosen


def make_results(snapshot: Snapshot, hits: list[Hit], terms: set[str], query_vector: np.ndarray | None,
                 variants: dict[str, tuple[str, str]] | None = None,
                 others: dict[str, list[str]] | None = None) -> list[Result]:
    """Results for one page of hits, with the passages that justify each and their marks.
    ``variants``: name variants the keyword leg searched (variant term -> (name term, as written)).
    ``others``: collapsed, the other versions of each hit's story that the search matched."""
    variants = variants or {}  # (its terms are among ``terms``: highlight_terms reads every leaf)
    others = {hit.article_id: (others or {}).get(hit.article_id, [])[:MAX_OTHER_VERSIONS] for hit in hits}
    articles = snapshot.store.articles([hit.article_id for hit in hits])
    # On Milvus an update changes the live collections in place; a hit it removed meanwhile is left out.
    hits = [hit for hit in hits if hit.article_id in articles]
    headlines = snapshot.store.headlines([other for versions in others.values() for other in versions])
    shown = {hit.article_id: choose_passages(hit) for hit in hits}
    stored = snapshot.store.passages([pid for pids in shown.values() for pid in pids])
    stories = snapshot.catalog.stories_of([hit.article_id for hit in hits])
    results = []
    for hit in hits:
        article = articles[hit.article_id]
        passages = []
        spellings: dict[str, str] = {}  # "Naiev" -> "Naev": what this result matched for a name
        for pid in shown[hit.article_id]:
            passage = stored.get(pid)
            if passage is None:  # replaced by an update meanwhile (Milvus)
                continue
            text = article.text[passage.start : passage.end]
            matched = [leg for leg in (KEYWORD, SEMANTIC) if leg in hit.passages[pid]]
            marks: list[Mark] = []
            if KEYWORD in matched:
                for start, end in snapshot.keyword.analysis.term_spans(text, terms):  # one scan for both kinds
                    variant = variants.get(snapshot.keyword.analysis.index_form(text[start:end])) if variants else None
                    marks.append(Mark(start, end, VARIANT if variant else KEYWORD))
                    if variant:
                        spellings.setdefault(text[start:end], variant[1])
            if SEMANTIC in matched and query_vector is not None:
                marks += semantic_marks(passage.sentence_spans, passage.sentence_vectors, query_vector)
            passages.append(PassageResult(text, passage.start, passage.end, matched,
                                          sorted(marks, key=lambda mark: (mark.start, mark.end, mark.kind))))
        explain = {leg: (LegExplanation(evidence.rank, round(evidence.score, 4)) if evidence else None)
                   for leg, evidence in ((leg, hit.explain.get(leg)) for leg in (KEYWORD, SEMANTIC))}
        keyword = explain[KEYWORD]
        if keyword is not None and spellings:
            keyword.variants = [f"{spelling} ≈ {name}" for spelling, name in sorted(spellings.items())]
        story, size = stories[article.id]
        results.append(Result(
            id=article.id, title=article.title, date=article.date, source=article.source, date_kind=article.date_kind,
            score=round(hit.score, 6), explain=explain, passages=passages,
            story=StoryOfResult(story, size, [StoryVersion(other, *headlines[other]) for other in others[hit.article_id]
                                              if other in headlines]),  # (on Milvus, an update may remove one)
        ))
    return results
