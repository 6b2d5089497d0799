"""The two backends side by side, in one run: the same corpus and embedding cache built as the
embedded index and in Milvus (Milvus Lite, the real engine embedded), then searched.

    python bench/milvus.py                 # SciFact (nDCG@10 per mode) and Reuters
    python bench/milvus.py --dataset scifact

Per dataset: build seconds with a warm embedding cache (nothing is embedded; what differs is
writing the indexes), nDCG@10 per mode on SciFact's test queries, query latency p50/p95 per
mode (every version, k=10, with highlighting; each mode parses and embeds its queries
uncached), and memory: this process's resident size after opening each backend, and the
Milvus Lite server process's.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from archive import Archive  # noqa: E402
from archive.backends import EmbeddedBackend, MilvusBackend  # noqa: E402
from archive.backends.milvus.client import disconnect  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.quality import evaluate, load_qrels, load_queries  # noqa: E402
from bench.report import SHARED, WORK, command_line, header, write_section  # noqa: E402

MODES = ("keyword", "semantic", "hybrid")
EXPLANATION = """What the columns mean, and why they differ:
- Both backends read the same embedding cache, so neither build embeds anything. The embedded
  build writes Whoosh, its BM25 impact arrays and FAISS. The Milvus build inserts rows, and
  Milvus runs its BM25 functions and builds its indexes as it goes.
- A search on Milvus is three or four round trips to the Milvus Lite server. They are the
  legs' searches, then fetching the shown page's articles and passages, at about 5–7 ms each
  here. The embedded backend answers in-process. On a Milvus server, network time is added,
  but query nodes share the work.
- "RSS after open" is how much this process grew when it opened the archive. The Milvus
  backend keeps only its catalog and the query model's share; Milvus holds the indexes and
  texts in its own process (its RSS is the last column).
- Milvus's keyword scores are its own BM25 (same k1 0.9 and b 0.4, its own English stemmer);
  semantic results are identical.
"""
REUTERS = SHARED / "reuters21578" / "reuters21578.jsonl.gz"


def resident_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def milvus_server_mb() -> float:
    """Resident size of this process's Milvus Lite server processes."""
    total = 0.0
    for child in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split():
        try:
            if "milvus" in Path(f"/proc/{child}/cmdline").read_text(errors="replace"):
                total += resident_mb(child)
        except OSError:
            continue
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(store, corpus: Path, embedder: Embedder, queries: list[str], qrels=None, query_ids=None) -> dict:
    started = time.perf_counter()
    summary = store.rebuild(corpus, DEFAULT_MODEL, embedder=embedder, precision="fp32")
    build = time.perf_counter() - started
    gc.collect()
    before = resident_mb()
    archive = Archive.open(store, embedder=embedder)
    archive.search("warm up", mode="hybrid")
    opened = resident_mb() - before
    row = {"build": build, "embedded": summary.embedded, "memory": opened, "server": milvus_server_mb(),
           "passages": summary.passages, "articles": summary.articles}
    for mode in MODES:
        searchers = archive.current()
        searchers.semantic.encode_query.cache_clear()  # each mode embeds its queries itself, uncached
        searchers.keyword.index.analysis.parse.cache_clear()
        times = []
        for text in queries:
            started = time.perf_counter()
            archive.search(text[:1000], mode=mode, k=10, collapse="none")
            times.append((time.perf_counter() - started) * 1000)
        row[f"{mode} p50"], row[f"{mode} p95"] = statistics.median(times), percentile(times, 0.95)
        if qrels is not None:
            rankings = {query_id: [result.id for result in archive.search(
                text[:1000], mode=mode, k=100, collapse="none").results] for query_id, text in zip(query_ids, queries)}
            row[f"{mode} ndcg"] = evaluate(rankings, qrels)[0]
    archive.close()
    return row


def run(name: str, corpus: Path, index: Path, queries: list[str], qrels=None, query_ids=None) -> list[str]:
    embedder = Embedder.shared(DEFAULT_MODEL)
    rows = {}
    rows["embedded"] = measure(EmbeddedBackend(index), corpus, embedder, queries, qrels, query_ids)
    print(name, "embedded", rows["embedded"], flush=True)
    uri = str(WORK / f"{name}-milvus.db")
    for leftover in Path(uri).parent.glob(f"{name}-milvus.db*"):
        if leftover.is_file():
            leftover.unlink()
    rows["milvus"] = measure(MilvusBackend(uri, index), corpus, embedder, queries, qrels, query_ids)
    disconnect(uri)  # stops its Milvus Lite server, so that the next dataset's figures do not count it
    print(name, "milvus", rows["milvus"], flush=True)
    first = rows["embedded"]
    lines = [f"### {name}: {first['articles']:,} articles, {first['passages']:,} passages, {len(queries)} queries\n",
             "| backend | build s (cache warm) | " + " | ".join(
                 (f"{mode} nDCG@10 | " if qrels else "") + f"{mode} p50 / p95 ms" for mode in MODES)
             + " | RSS after open, MB | Milvus Lite server RSS, MB |",
             "|---|---|" + "---|" * (len(MODES) * (2 if qrels else 1)) + "---|---|"]
    for backend, row in rows.items():
        cells = []
        for mode in MODES:
            if qrels:
                cells.append(f"{row[f'{mode} ndcg']:.3f}")
            cells.append(f"{row[f'{mode} p50']:.1f} / {row[f'{mode} p95']:.1f}")
        lines.append(f"| {backend} | {row['build']:.1f} | " + " | ".join(cells)
                     + f" | {row['memory']:.0f} | {row['server']:.0f} |" if backend == "milvus"
                     else f"| {backend} | {row['build']:.1f} | " + " | ".join(cells) + f" | {row['memory']:.0f} | – |")
    if qrels:
        gap = rows["milvus"]["hybrid ndcg"] - rows["embedded"]["hybrid ndcg"]
        lines.append(f"\nHybrid nDCG@10, Milvus minus embedded: {gap:+.3f} (target: within 0.01).")
    ratios = ", ".join(f"{mode} {rows['milvus'][f'{mode} p50'] / rows['embedded'][f'{mode} p50']:.1f}×" for mode in MODES)
    lines.append(f"\nMedian latency, Milvus / embedded: {ratios}.\n")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("scifact", "reuters", "both"), default="both")
    parser.add_argument("--queries", type=int, default=300, help="Reuters: how many titles to search")
    arguments = parser.parse_args()
    lines = [header(command_line())]
    if arguments.dataset in ("scifact", "both"):
        dataset = SHARED / "scifact"
        queries = load_queries(dataset / "queries.jsonl")
        qrels = load_qrels(dataset / "qrels" / "test.tsv")
        ids = list(qrels)
        lines += run("SciFact", dataset / "corpus.jsonl", WORK / "scifact-index", [queries[i] for i in ids], qrels, ids)
    if arguments.dataset in ("reuters", "both"):
        import gzip
        import json

        with gzip.open(REUTERS, "rt") as stream:
            titles = [json.loads(line).get("title") or "" for line in stream]
        step = max(1, len(titles) // arguments.queries)
        queries = [title for title in titles[::step] if title][: arguments.queries]
        lines += run("Reuters", REUTERS, WORK / "reuters-index", queries)
    lines.append(EXPLANATION)
    write_section("milvus", "## Backends side by side: embedded and Milvus (Milvus Lite)\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
