"""The semantic leg's index on Milvus: the passages' dense field, FLAT, inner product."""

from __future__ import annotations

import numpy as np

from ...errors import IndexCorruptError
from ...index.catalog import Restriction
from .catalog import FACT_FIELDS, MilvusCatalog
from .client import QUERY_LIMIT, SEARCH_TIMEOUT, Collections, Milvus


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
        found = self.milvus.search(self.collections.passages, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                   anns_field="dense", limit=min(depth, QUERY_LIMIT), filter=allowed or "",
                                   search_params={"metric_type": "IP"}, output_fields=FACT_FIELDS,
                                   timeout=SEARCH_TIMEOUT)
        self.catalog.remember({"pid": hit["id"], **hit["entity"]} for hit in found[0])
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def reconstruct(self, pids: list[int]) -> np.ndarray:
        rows = {row["pid"]: row["dense"] for row in
                self.milvus.rows_in(self.collections.passages, "pid", [int(pid) for pid in pids], ["pid", "dense"])}
        missing = [pid for pid in pids if int(pid) not in rows]
        if missing:
            raise IndexCorruptError(f"{len(missing)} passage vectors are missing from Milvus (an update under way?)",
                                    hint="try again in a moment")
        return np.stack([np.asarray(rows[int(pid)], dtype=np.float32) for pid in pids])
