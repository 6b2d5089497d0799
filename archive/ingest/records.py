"""Counts of what a crawl or a feed held: records read, articles kept, and the rest by reason.

Crawls hold far more than articles (requests, images, redirects, repeats), so what is passed
over on purpose is counted, not listed item by item as a problem would be."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RecordCounts:
    read: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def add(self, other: RecordCounts) -> None:
        self.read += other.read
        self.kept += other.kept
        self.skipped.update(other.skipped)

    def to_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "skipped": dict(sorted(self.skipped.items()))}


@dataclass
class Skipped:
    """A corpus item that could not be indexed, and why: a problem to show, unlike the counts."""

    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}
