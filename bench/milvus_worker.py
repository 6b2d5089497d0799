"""One web worker's view of a Milvus archive, measured in a fresh process (bench/milvus_scale.py runs it).

    python bench/milvus_worker.py ROOT URI WORK_DIR QUERIES_JSON

ROOT is the checkout whose code opens the archive (this one, or an earlier one side by side).
Prints one JSON object: connecting (the Milvus Lite server's start and its loading of the
collections, aside), opening the
archive, opening it again (as after an update), the rows read while opening, the first search,
hybrid latency per query (k=10, uncached), and this process's resident memory after each step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    root, uri, work_dir, queries_path = sys.argv[1:5]
    sys.path.insert(0, root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from archive import Archive
    from archive.backends import MilvusBackend
    from archive.backends.milvus.client import connect, read_pointer

    queries = json.loads(Path(queries_path).read_text())
    figures: dict = {"start_mb": resident_mb()}
    started = time.perf_counter()
    milvus = connect(uri)
    pointer = read_pointer(milvus, "news_archive")
    generation = pointer["collections"].replace("-", "_")
    for kind in ("passages", "articles"):  # Milvus Lite loads them into its own memory after it starts
        milvus.load_collection(f"news_archive_{generation}_{kind}", timeout=900)
    figures["connect_s"] = time.perf_counter() - started
    figures["connected_mb"] = resident_mb()
    read = getattr(milvus, "rows_read", None)
    if read is not None:
        read.clear()
    backend = MilvusBackend(uri, Path(work_dir))
    started = time.perf_counter()
    archive = Archive.open(backend)
    archive.current()
    figures["open_s"] = time.perf_counter() - started
    figures["rows_read_at_open"] = sum(read.values()) if read is not None else None
    figures["opened_mb"] = resident_mb()
    reopens = []
    for _ in range(5):
        started = time.perf_counter()
        snapshot = backend.open_snapshot()  # what a worker does when an update publishes a new manifest
        reopens.append(time.perf_counter() - started)
        snapshot.close()
    figures["reopen_s"] = sorted(reopens)[2]  # (the median of 5)
    started = time.perf_counter()
    archive.search(queries[0], mode="hybrid", k=10)
    figures["first_search_ms"] = (time.perf_counter() - started) * 1000
    timings = []
    for query in queries[1:]:
        searchers = archive.current()
        searchers.semantic.encode_query.cache_clear()  # each query embedded and parsed for the first time
        searchers.keyword.index.analysis.parse.cache_clear()
        started = time.perf_counter()
        archive.search(query, mode="hybrid", k=10)
        timings.append((time.perf_counter() - started) * 1000)
    figures["hybrid_ms"] = timings
    figures["searched_mb"] = resident_mb()
    archive.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
