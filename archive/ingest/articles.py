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

    def fingerprint(self) -> str:
        """Content fingerprint: changes whenever anything that is indexed changes."""
        payload = json.dumps(
            [self.id, self.title, self.text, self.date, self.source, self.url], ensure_ascii=False
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    def to_dict(self) -> dict:
        return asdict(self)
