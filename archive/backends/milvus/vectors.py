"""The semantic leg's index on Milvus: the passages' dense field, FLAT, inner product."""

from __future__ import annotations

import numpy as np

from ...errors import IndexCorruptError
from ...index.catalog import Restriction
from .catalog import FACT_FIELDS, MilvusCatalog
from .client import QUERY_LIMIT, Collections, Milvus, hit_rows


class MilvusVectorIndex:
    """The semantic leg's index: the passages' dense field, searched by inner product (cosine).
    Each hit brings its article's number, id, date, source and story to the catalog."""

    def __init__(self, milvus: Milvus, collections: Collections, catalog: MilvusCatalog, dimension: int,
                 size: int) -> None:
        self.milvus, self.collections, self.catalog = milvus, collections, catalog
        self.dimension, self.size = dimension, size

    def search(self, vector: np.ndarray, depth: int, restriction: Restriction | None = None) -> list[tuple[int, float]]:
        """(pid, cosine) best first; the ``restriction``'s native form is a filter expression."""
        allowed = restriction.native if restriction is not None else None
        if depth <= 0 or self.size == 0:
            return []
        pids, scores, columns = self.milvus.search_columns(
            self.collections.passages, np.asarray(vector, dtype=np.float32).tolist(), "dense", "IP",
            min(depth, QUERY_LIMIT), allowed or "", FACT_FIELDS)
        self.catalog.remember(hit_rows(pids, columns))
        return [(int(pid), float(score)) for pid, score in zip(pids.tolist(), scores.tolist(), strict=True)]

    def reconstruct(self, pids: list[int]) -> np.ndarray:
        rows = {row["pid"]: row["dense"] for row in
                self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], ["pid", "dense"])}
        missing = [pid for pid in pids if int(pid) not in rows]
        if missing:
            raise IndexCorruptError(f"{len(missing)} passage vectors are missing from Milvus (an update under way?)",
                                    hint="try again in a moment")
        return np.stack([np.asarray(rows[int(pid)], dtype=np.float32) for pid in pids])
