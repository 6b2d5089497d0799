"""The article: the unit the archive stores, searches and shows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str  # cleaned text; passage offsets point into it
    date: str | None = None  # ISO date, YYYY-MM-DD
    source: str | None = None
    url: str | None = None
    path: str | None = None  # where in the corpus it came from
    author: str | None = None
    # "published": the article states its date; "crawled": only when a crawler fetched the page
    date_kind: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "date_kind", (self.date_kind or "published") if self.date else None)

    def fingerprint(self) -> str:
        """Content fingerprint: changes whenever anything that is indexed or shown changes."""
        fields = [self.id, self.title, self.text, self.date, self.source, self.url]
        if self.author or self.date_kind == "crawled":  # older articles keep their fingerprints
            fields += [self.author, self.date_kind]
        payload = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    def to_dict(self) -> dict:
        return asdict(self)
