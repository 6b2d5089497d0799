"""Comparing a corpus with an index by content fingerprint: what is new, changed or gone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ..ingest.articles import Article
from ..ingest.corpus import CorpusReading


@dataclass
class Changes:
    added: list[Article] = field(default_factory=list)
    changed: list[Article] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def pending(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    def counts(self) -> dict[str, int]:
        return {"new": len(self.added), "changed": len(self.changed), "deleted": len(self.removed),
                "unchanged": self.unchanged}


def compare(articles: list[Article], indexed: dict[str, str], unchanged_ids: set[str] | frozenset = frozenset()) -> Changes:
    """``indexed`` maps article id to fingerprint, as the store holds them; ``unchanged_ids``
    are articles of files that were not read again because their signature is unchanged."""
    changes = Changes(unchanged=len(unchanged_ids))
    present = set(unchanged_ids)
    for article in articles:
        present.add(article.id)
        fingerprint = indexed.get(article.id)
        if fingerprint is None:
            changes.added.append(article)
        elif fingerprint != article.fingerprint():
            changes.changed.append(article)
        else:
            changes.unchanged += 1
    changes.removed = sorted(article_id for article_id in indexed if article_id not in present)
    return changes


def unchanged_ids(reading: CorpusReading, known: dict) -> set[str]:
    """Articles of files skipped because their size and modification time are unchanged."""
    return {article_id for file in reading.unchanged_files for article_id in known[file][1]}


KnownFiles = dict[str, tuple[tuple[int, int], list[str], list[str]]]


class RecordedCorpus(Protocol):
    """What a store recorded of the corpus it was built from (either backend's store)."""

    def known_files(self) -> KnownFiles: ...

    def fingerprints(self) -> dict[str, str]: ...


def known_files(files: Iterable[tuple[str, int, int]], owners: Iterable[tuple[str, str]],
                copies: Iterable[tuple[str, str]]) -> KnownFiles:
    """file -> ((size, mtime_ns), its articles' ids, ids of articles it holds a second copy
    of), as recorded at the last build or update, from what a store recorded: ``files``
    (path, size, mtime_ns), ``owners`` (article id, file) and ``copies`` (file, article id)."""
    known: KnownFiles = {path: ((size, mtime), [], []) for path, size, mtime in files}
    for article_id, file in owners:
        if file in known:
            known[file][1].append(article_id)
    for file, article_id in copies:
        if file in known:
            known[file][2].append(article_id)
    return known
