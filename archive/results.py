"""The library's response types: plain dataclasses that serialise to the documented JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LegExplanation:
    rank: int
    score: float


@dataclass
class PassageResult:
    text: str
    html: str
    start: int
    end: int
    matched: list[str]


@dataclass
class Result:
    id: str
    title: str
    date: str | None
    source: str | None
    score: float
    explain: dict[str, LegExplanation | None]
    passages: list[PassageResult]


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ArticleResponse:
    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    text: str
    passages: list[dict]  # {"start", "end"} of each passage, for linking to a span

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SimilarArticle:
    id: str
    title: str
    date: str | None
    source: str | None
    score: float


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
    faiss_type: str
    corpus_path: str
    corpus_fingerprint: str

    def to_dict(self) -> dict:
        return asdict(self)
