"""The live generation of a Milvus backend, opened for searching: the same parts as the
embedded backend's snapshot (store, catalog, keyword and vector index), each answered by
Milvus (store.py, catalog.py, keyword.py, vectors.py), with the filters as a Milvus
expression. Opening reads the pointer (and the free article numbers, when there are any),
nothing of every article: it costs the same at any archive size.
"""

from __future__ import annotations

from ...errors import IndexCorruptError, IndexNotFoundError
from ...index.catalog import Filters, source_key
from ...index.manifest import Manifest, manifest_from_dict
from ..holding import HeldSnapshot
from .catalog import MilvusCatalog
from .client import REBUILD_HINT, Collections, Milvus, literal, load_collections, read_pointer
from .keyword import MilvusKeywordIndex
from .store import MilvusStore
from .vectors import MilvusVectorIndex


def filter_expression(date_from: str | None, date_to: str | None, source: str | None) -> str | None:
    """The filters' one rule (see catalog.py), as a Milvus expression over passages."""
    parts = []
    if date_from or date_to:
        parts.append('date != ""')
        if date_from:
            parts.append(f"date >= {literal(date_from)}")
        if date_to:
            parts.append(f"date <= {literal(date_to)}")
    if source:
        parts.append(f"source_key == {literal(source_key(source))}")
    return " and ".join(parts) if parts else None


def recorded_number(pointer: dict, name: str, uri: str) -> int:
    value = pointer.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise IndexCorruptError(f"the pointer to the live generation in Milvus at {uri} has no valid {name}",
                                hint=REBUILD_HINT)
    return value


class MilvusSnapshot(HeldSnapshot):
    """The live generation of a Milvus backend; reopened when the pointer names another
    generation or an update changed it (its manifest's generation)."""

    store: MilvusStore
    catalog: MilvusCatalog
    keyword: MilvusKeywordIndex
    vectors: MilvusVectorIndex

    def __init__(self, milvus: Milvus, prefix: str) -> None:
        super().__init__()
        pointer = read_pointer(milvus, prefix)
        if pointer is None:
            raise IndexNotFoundError(f"no archive in Milvus at {milvus.uri} (collections {prefix}_*)", hint=REBUILD_HINT)
        self.manifest: Manifest = manifest_from_dict(pointer.get("manifest"), f"the manifest in Milvus at {milvus.uri}")
        self.generation = self.manifest.generation
        self.name = self.generation
        self.directory = None
        self.collections = Collections.of(prefix, pointer["collections"])
        load_collections(milvus, self.collections)  # (Milvus's own cost, once after it starts)
        self.store = MilvusStore(milvus, self.collections, self.manifest.dimension)
        size = recorded_number(pointer, "next_number", milvus.uri)  # a mask by article number is this long
        pid_limit = recorded_number(pointer, "next_pid", milvus.uri)  # every stored pid is below it
        free = set(self.store.free_numbers(self.generation)) if size > self.manifest.articles else set()
        if len(free) != size - self.manifest.articles or any(not 0 <= number < size for number in free):
            raise IndexCorruptError(f"the archive in Milvus at {milvus.uri} numbers {size:,} articles with "
                                    f"{len(free):,} free, but holds {self.manifest.articles:,}", hint=REBUILD_HINT)
        self.catalog = MilvusCatalog(milvus, self.collections, size, free, pid_limit)
        self.keyword = MilvusKeywordIndex(milvus, self.collections, self.catalog, self.store, self.manifest.passages)
        self.vectors = MilvusVectorIndex(milvus, self.collections, self.catalog, self.manifest.dimension,
                                         self.manifest.passages)

    def native_restriction(self, filters: Filters) -> str | None:
        """The filters as the Milvus expression both legs search with."""
        return filter_expression(filters.date_from, filters.date_to, filters.source)
