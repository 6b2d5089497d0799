"""Side by side with a peer: txtai's hybrid index on BEIR SciFact, in the same run as ours.

    pip install txtai   # bench-only; not a runtime dependency
    python bench/peer_txtai.py

Both use the same bundled all-MiniLM-L6-v2 files. Reported: nDCG@10 on the 300 test queries
(txtai weights 0 = sparse only, 1 = dense only, default 0.5; ours keyword/semantic/hybrid),
indexing throughput in documents/s from a cold start (empty embedding cache for ours), and
query p50, each as a ratio ours/theirs from this one run.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from archive.backends.embedded.rebuild import rebuild  # noqa: E402
from archive.index.embeddings import Embedder, resolve_model_path  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.quality import evaluate, load_qrels, load_queries  # noqa: E402
from bench.report import SHARED, WORK, command_line, header, median, write_section  # noqa: E402
from bench.speed import forget_queries  # noqa: E402

DATASET = SHARED / "scifact"


def timed_rankings(search, queries: dict[str, str], before=None) -> tuple[dict[str, list[str]], float]:
    """Rankings and the median milliseconds per query; ``before()`` runs untimed before each
    query (ours empties its per-query caches, so that no mode profits from an earlier one)."""
    rankings, times = {}, []
    for query_id, text in queries.items():
        if before is not None:
            before()
        started = time.perf_counter()
        rankings[query_id] = search(text)
        times.append((time.perf_counter() - started) * 1000)
    return rankings, median(times)


def main() -> None:
    try:
        from txtai import Embeddings
    except ImportError:
        sys.exit("txtai is not installed: pip install txtai (bench-only dependency)")
    queries = load_queries(DATASET / "queries.jsonl")
    qrels = load_qrels(DATASET / "qrels" / "test.tsv")
    test_queries = {query_id: queries[query_id] for query_id in qrels}
    documents = [json.loads(line) for line in open(DATASET / "corpus.jsonl")]

    # Ours, cold: a fresh index directory, so every passage is embedded.
    index = WORK / "peer-ours-index"
    shutil.rmtree(index, ignore_errors=True)
    embedder = Embedder.shared(DEFAULT_MODEL)
    started = time.perf_counter()
    summary = rebuild(DATASET / "corpus.jsonl", index, DEFAULT_MODEL, embedder=embedder)
    ours_rate = summary.articles / (time.perf_counter() - started)
    archive = Archive.open(index, embedder=embedder)
    ours = {}
    for mode in ("keyword", "semantic", "hybrid"):
        rankings, p50 = timed_rankings(lambda text, mode=mode: [r.id for r in archive.search(text[:1000], mode=mode, k=10, collapse="none").results],
                                       test_queries, before=lambda: forget_queries(archive))
        ours[mode] = (evaluate(rankings, qrels)[0], p50)
    print("ours", ours, ours_rate, flush=True)

    # txtai, as its documentation sets up hybrid search with stored content.
    txtai = Embeddings(path=resolve_model_path(DEFAULT_MODEL), content=True, hybrid=True)
    started = time.perf_counter()
    txtai.index((document["_id"], f"{document['title']} {document['text']}", None) for document in documents)
    theirs_rate = len(documents) / (time.perf_counter() - started)
    theirs = {}
    for label, weights in (("weights=0 (sparse)", 0.0), ("weights=1 (dense)", 1.0), ("default (0.5)", None)):
        def search(text, weights=weights):
            return [result["id"] for result in txtai.search(text, 10, weights=weights)]
        rankings, p50 = timed_rankings(search, test_queries)
        theirs[label] = (evaluate(rankings, qrels)[0], p50)
    print("txtai", theirs, theirs_rate, flush=True)

    best_theirs = max(value[0] for value in theirs.values())
    lines = [header(command_line()),
             f"BEIR SciFact, {len(documents):,} documents, {len(test_queries)} test queries, k=10, same model files, one run.\n",
             "| system | setting | nDCG@10 | query p50 ms |", "|---|---|---|---|",
             *[f"| ours | {mode} | {value[0]:.3f} | {value[1]:.1f} |" for mode, value in ours.items()],
             *[f"| txtai | {label} | {value[0]:.3f} | {value[1]:.1f} |" for label, value in theirs.items()],
             "",
             f"* nDCG@10: our hybrid / txtai's best setting = {ours['hybrid'][0] / best_theirs:.3f}; "
             f"/ txtai default = {ours['hybrid'][0] / theirs['default (0.5)'][0]:.3f}.",
             f"* Indexing: ours {ours_rate:.1f} docs/s ({summary.passages:,} passages, with sentence vectors), "
             f"txtai {theirs_rate:.1f} docs/s (one vector per document): ratio {ours_rate / theirs_rate:.2f}.",
             f"* Query p50: our hybrid {ours['hybrid'][1]:.1f} ms (with highlighting), txtai default "
             f"{theirs['default (0.5)'][1]:.1f} ms: ratio theirs/ours {theirs['default (0.5)'][1] / ours['hybrid'][1]:.2f}.",
             ]
    write_section("peer", "## Side by side with txtai (BEIR SciFact)\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
