"""The vector index: FAISS over passage embeddings (unit vectors, inner product = cosine).

The index type follows the archive's size, chosen by measurement (docs/benchmarks.md,
"Scale curve"):

* up to ``FLAT_LIMIT`` passages, ``flat16``: exact search over vectors stored as float16
  (``IndexScalarQuantizer`` fp16), 768 bytes a passage. One thread, 300 passages asked:
  1.1 ms at 29k passages and 9 ms at 294k, against 1.75 and 19 ms for float32 flat, with
  the same top 10 (recall@10 1.000 against float32 exact search).
* above it, ``hnsw`` (``IndexHNSWFlat``, M=32, efSearch=128): sub-linear and approximate.
  At 294k passages it answered in 0.65 ms, but on Reuters repeated ten times it found only
  0.68 of the true top 10 (ties counted): graph indexes do badly on clusters of identical
  vectors, which a news archive's syndicated copies produce. So it is kept for archives too
  large for a flat scan.

Both sit inside ``IndexIDMap`` so that FAISS ids are the store's passage ids. (Generations
written before used ``IndexIDMap2``, which also keeps a map from id to position, built in
each process's own memory as it opens: 95 MB a web worker at 1.47M passages. A passage's
position is looked up in the id list instead, for the few vectors "similar articles" asks.)
Flat indexes remove vectors on update; HNSW cannot, so removed passages become tombstones in
the store that search skips, until a rebuild compacts them (see ``COMPACT_TOMBSTONE_FRACTION``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ...errors import IndexCorruptError
from ...index.catalog import Restriction

VECTORS_NAME = "vectors.faiss"
FLAT_LIMIT = 1_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
COMPACT_TOMBSTONE_FRACTION = 0.2


def choose_index_type(passages: int) -> str:
    return "flat16" if passages <= FLAT_LIMIT else "hnsw"


def index_parameters(kind: str) -> dict:
    if kind == "hnsw":
        return {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH, "flat_limit": FLAT_LIMIT}
    return {"flat_limit": FLAT_LIMIT}


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, kind: str, dimension: int) -> faiss.Index:
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # building uses every core (searching sets one)
    inner: faiss.Index
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        inner = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIDMap(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def write_vector_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))
    if isinstance(index, faiss.IndexIDMap2):  # (an update of a generation written before)
        # FAISS writes an IndexIDMap2 as an IndexIDMap under another tag, and rebuilds the
        # reverse map from the ids when it reads one: the tag is changed, so nothing reads it again.
        with open(path, "r+b") as file:
            if file.read(4) == b"IxM2":
                file.seek(0)
                file.write(b"IxMp")


class VectorIndex:
    def __init__(self, path: Path, dimension: int, kind: str, live: np.ndarray | None = None) -> None:
        """``live``: the live passages (a mask by pid), when the index still holds removed ones."""
        if not path.exists():
            raise IndexCorruptError(f"vector index {path.name} is missing from {path.parent}")
        try:
            # Memory-mapped, read-only: the vectors stay in the page cache, one copy for every
            # worker process on the machine, instead of a private copy in each (benchmarks.md,
            # "The embedded backend's ceiling"). A generation's files never change once written.
            # (FAISS before 1.11 has no such flags: read into memory there)
            mapped = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | getattr(faiss, "IO_FLAG_READ_ONLY", 0)
            self.index = faiss.read_index(str(path), mapped)
        except RuntimeError as problem:
            raise IndexCorruptError(f"vector index {path} is unreadable: {str(problem).splitlines()[0]}") from None
        if self.index.d != dimension:
            raise IndexCorruptError(f"vector index has dimension {self.index.d}, the manifest says {dimension}")
        self.kind = kind
        self.dimension = dimension
        self.live = live
        if kind == "hnsw":
            faiss.downcast_index(self.index.index).hnsw.efSearch = HNSW_EF_SEARCH  # type: ignore[attr-defined]

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, vector: np.ndarray, depth: int, restriction: Restriction | None = None) -> list[tuple[int, float]]:
        """(pid, cosine) best first; the ``restriction``'s passage mask (by pid) restricts the
        search to those passages (exactly: FAISS skips the others while it searches)."""
        allowed = restriction.native if restriction is not None else self.live
        if self.size == 0 or depth <= 0 or (allowed is not None and not allowed.any()):
            return []
        # One OpenMP thread per search, set in the searching thread (OpenMP keeps the setting per
        # thread): a single query costs 1.6 ms at 29k passages on one thread and 4.9 ms on two,
        # and requests already run side by side.
        faiss.omp_set_num_threads(1)
        parameters = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            # (faiss's stubs name the C++ constructors, which take no keywords)
            parameters = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
                sel=selector, efSearch=HNSW_EF_SEARCH) if self.kind == "hnsw" \
                else faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), min(depth, self.size), params=parameters)
        return [(int(pid), float(score)) for pid, score in zip(ids[0], scores[0], strict=True) if pid >= 0]

    def reconstruct(self, pids: list[int]) -> np.ndarray:
        if isinstance(self.index, faiss.IndexIDMap2):  # (a generation written before: it has the map)
            return np.stack([self.index.reconstruct(int(pid)) for pid in pids])
        wrapper: Any = self.index  # an IndexIDMap (faiss's stubs know only Index)
        ids = faiss.rev_swig_ptr(wrapper.id_map.data(), self.size)  # the id list itself, not a copy
        found = np.flatnonzero(np.isin(ids, np.asarray(pids, dtype=np.int64)))  # (one pass: milliseconds at a million)
        position = dict(zip(ids[found].tolist(), found.tolist(), strict=True))
        missing = [pid for pid in pids if int(pid) not in position]
        if missing:
            raise IndexCorruptError(f"passage {missing[0]} has no vector in {VECTORS_NAME}")
        return np.stack([wrapper.index.reconstruct(position[int(pid)]) for pid in pids])
