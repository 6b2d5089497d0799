"""Build speed, embedding-boundness, cache reuse, memory and query latency on Reuters-21578.

    python bench/speed.py [--fractions 0.1,0.3,1.0] [--queries 300] [--skip-raw]

1. A cold build of all of Reuters (fresh index and embedding cache) through `indexer rebuild
   --json` in a child process: seconds per phase, passages/s, peak RSS.
2. The model's raw `encode` on the very same passage inputs, in the same run: the ratio of the
   build's embedding throughput to it (target >= 0.9).
3. A rebuild of the unchanged corpus (target: >= 20x faster than the cold build).
4. Query latency for keyword/semantic/hybrid over realistic queries (Reuters titles with words
   dropped, and single names), in-process (warm) and over HTTP against waitress, at 10%, 30%
   and 100% of the corpus (smaller slices build from the cache); serving RSS; a per-stage profile.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import free_port, start_server  # noqa: E402
from bench.report import ROOT, SHARED, WORK, command_line, header, median, percentile, write_section  # noqa: E402

from archive import Archive  # noqa: E402
from archive.build.generation import passage_rows  # noqa: E402
from archive.ingest.corpus import read_corpus  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402

REUTERS = SHARED / "reuters21578" / "reuters21578.jsonl.gz"
MODES = ("keyword", "semantic", "hybrid")


def run_build(corpus: Path, index: Path, command: str = "rebuild") -> tuple[dict, float, float]:
    """(summary, wall seconds, peak RSS MB) of an indexer child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "indexer", command, "--corpus", str(corpus), "--index", str(index),
                                "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(completed.stdout), wall, max(peak, before) / 1024


def slice_corpus(fraction: float) -> Path:
    if fraction >= 1.0:
        return REUTERS
    target = WORK / f"reuters-{int(fraction * 100)}pct.jsonl.gz"
    if not target.exists():
        with gzip.open(REUTERS, "rt") as source:
            lines = source.readlines()
        with gzip.open(target, "wt") as stream:
            stream.writelines(lines[: int(len(lines) * fraction)])
    return target


def make_queries(count: int, seed: int = 7) -> list[str]:
    """Titles with about a third of their words dropped, and single names, as people type them."""
    generator = random.Random(seed)
    records = [json.loads(line) for line in gzip.open(REUTERS, "rt")]
    titled = [record["title"] for record in records if len(record["title"].split()) >= 4]
    names = sorted({name.replace("-", " ") for record in records for name in record["people"]})
    places = sorted({place.replace("-", " ") for record in records for place in record["places"]})
    queries = []
    for title in generator.sample(titled, count * 2 // 3):
        words = [word for word in title.lower().replace("<", " ").replace(">", " ").split() if word.isalnum() or "-" in word]
        kept = [word for word in words if generator.random() > 0.33] or words[:2]
        queries.append(" ".join(kept))
    pool = names + places
    queries += [generator.choice(pool) for _ in range(count - len(queries))]
    return [query for query in queries if query.strip()]


def in_process_latency(archive: Archive, queries: list[str]) -> dict[str, list[float]]:
    timings = {mode: [] for mode in MODES}
    for mode in MODES:
        for query in queries[:20]:
            archive.search(query, mode=mode)  # warm-up
        for query in queries:
            started = time.perf_counter()
            archive.search(query, mode=mode)
            timings[mode].append((time.perf_counter() - started) * 1000)
    return timings


def stage_profile(archive: Archive, queries: list[str]) -> dict[str, float]:
    """Median milliseconds of each stage of a hybrid query (query embedding not cached)."""
    from archive.search.results import make_results
    from archive.search.searchers import fuse

    searchers = archive.current()
    embedder = searchers.semantic.embedder
    stages = {"parse + keyword leg (Whoosh)": [], "query embedding (model)": [], "vector leg (FAISS + grouping)": [],
              "fusion": [], "results (store + highlighting)": []}
    for query in queries:
        embedder.encode_query.cache_clear()
        snapshot = searchers.snapshot
        snapshot.keyword.parse.cache_clear()
        t0 = time.perf_counter()
        keyword_hits = searchers.keyword.search(query, 100)
        t1 = time.perf_counter()
        embedder.encode_query(query)
        t2 = time.perf_counter()
        semantic_hits = searchers.semantic.search(query, 100)
        t3 = time.perf_counter()
        ranked = fuse({"keyword": keyword_hits, "semantic": semantic_hits}, archive.fusion)
        t4 = time.perf_counter()
        make_results(snapshot, ranked[:10], snapshot.keyword.parse(query).terms, embedder.encode_query(query))
        t5 = time.perf_counter()
        for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stages[name].append(seconds * 1000)
    return {name: median(values) for name, values in stages.items()}


def http_latency(index: Path, queries: list[str]) -> tuple[dict[str, list[float]], float]:
    port = free_port()
    server = start_server(index, port)
    base = f"http://127.0.0.1:{port}"
    try:
        timings = {mode: [] for mode in MODES}
        for mode in MODES:
            for query in queries[:20]:
                urllib.request.urlopen(f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})).read()
            for query in queries:
                url = f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})
                started = time.perf_counter()
                with urllib.request.urlopen(url) as response:
                    response.read()
                timings[mode].append((time.perf_counter() - started) * 1000)
        rss = 0.0
        for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        return timings, rss
    finally:
        server.terminate()
        server.wait(timeout=30)


def latency_row(label: str, timings: dict[str, list[float]]) -> str:
    cells = [f"{median(timings[mode]):.1f} / {percentile(timings[mode], 0.95):.1f} / {percentile(timings[mode], 0.99):.1f}"
             for mode in MODES]
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", default="0.1,0.3,1.0")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw-encode comparison (saves ~10 minutes)")
    parser.add_argument("--latency-only", action="store_true",
                        help="reuse the index of an earlier full run; measure and rewrite only the latency section")
    arguments = parser.parse_args()
    if not arguments.latency_only:
        measure_builds(arguments)
    measure_latency(arguments)


def measure_builds(arguments) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    full_index = WORK / "reuters-index"
    shutil.rmtree(full_index, ignore_errors=True)
    # A folder holding (a link to) the dataset file, so that an article can be added beside it.
    folder = WORK / "reuters-corpus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / REUTERS.name).symlink_to(REUTERS.resolve())
    lines = [header(command_line())]

    cold, cold_wall, cold_rss = run_build(folder, full_index)
    print("cold build", json.dumps({key: cold[key] for key in ("articles", "passages", "embedded", "seconds")}), flush=True)
    warm, warm_wall, _ = run_build(folder, full_index)
    print("warm build", warm["seconds"], flush=True)
    (folder / "breaking-news.txt").write_text(
        "Cocoa exporters halt shipments from Salvador\n\nPublished March 3, 1987\n\nBahia cocoa exporters halted "
        "shipments on Tuesday after a dispute over port fees, traders said, adding that about 40,000 bags were waiting.\n")
    added, added_wall, _ = run_build(folder, full_index, command="update")
    work_seconds = added["seconds"]["total"] - added["seconds"].get("load_model", 0.0)
    print("update", added["seconds"], flush=True)

    embed_seconds = cold["seconds"]["embed"]
    pipeline_rate = cold["embedded"] / embed_seconds
    ratio_text = "not measured (--skip-raw)"
    if not arguments.skip_raw:
        embedder = Embedder.shared(DEFAULT_MODEL)
        rows = passage_rows(read_corpus(REUTERS).articles, embedder.name)
        unique = list({row.key: row.model_input for row in rows}.values())
        unique.sort(key=len, reverse=True)  # the same order and batching the build uses
        started = time.perf_counter()
        for index in range(0, len(unique), 256):
            embedder.encode_raw(unique[index : index + 256])
        raw_rate = len(unique) / (time.perf_counter() - started)
        ratio_text = f"{pipeline_rate / raw_rate:.2f} ({pipeline_rate:.1f} vs {raw_rate:.1f} passages/s, {len(unique)} passages)"
        print("raw encode", raw_rate, flush=True)

    lines += [
        "### Build (all of Reuters-21578, cold: empty embedding cache)\n",
        f"{cold['articles']:,} articles, {cold['passages']:,} passages, {len(cold['skipped'])} skipped; "
        f"FAISS {cold['faiss_type']}.\n",
        "| phase | seconds |", "|---|---|",
        *[f"| {phase} | {seconds:.1f} |" for phase, seconds in cold["seconds"].items()],
        f"| wall (process, incl. start-up) | {cold_wall:.1f} |\n",
        f"* Passages/s over the whole build: {cold['passages'] / cold_wall:.1f}; in the embed phase: {pipeline_rate:.1f}.",
        f"* **Build embedding throughput / raw `encode` throughput, same passages, same run: {ratio_text}** (target ≥ 0.9).",
        f"* Rebuild of the unchanged corpus: {warm_wall:.1f} s wall, {warm['embedded']} embedded, {warm['reused']:,} reused: "
        f"**{cold_wall / warm_wall:.0f}× faster** than the cold build (target ≥ 20×).",
        f"* Peak RSS of the build process: {cold_rss:.0f} MB.\n",
        "### Adding one article (`indexer update`)\n",
        f"{added['added']} added, {added['changed']} changed, {added['removed']} removed, {added['unchanged']:,} unchanged; "
        f"{added['embedded']} passages embedded. Phases (s): "
        + ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in added["seconds"].items()) + ".\n",
        f"* **Work beyond process start and model load: {work_seconds:.2f} s** (target ≤ 2 s); "
        f"the whole command took {added_wall:.1f} s wall.\n",
    ]
    write_section("speed", "## Build speed and memory (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def measure_latency(arguments) -> None:
    full_index = WORK / "reuters-index"
    queries = make_queries(arguments.queries)
    lines = [header(command_line())]
    lines += [f"### Query latency ({len(queries)} queries: Reuters titles with words dropped, and single names; k=10)\n",
              "Milliseconds, p50 / p95 / p99. In-process: `Archive.search`, warm. HTTP: `GET /api/search` against waitress on loopback, sequential.\n",
              "| corpus | keyword | semantic | hybrid |", "|---|---|---|---|"]
    serving_rss = 0.0
    profile: dict[str, float] = {}
    for fraction in [float(value) for value in arguments.fractions.split(",")]:
        index = full_index if fraction >= 1.0 else WORK / f"reuters-index-{int(fraction * 100)}"
        if fraction < 1.0:
            shutil.rmtree(index, ignore_errors=True)
            index.mkdir(parents=True)
            shutil.copy(full_index / "embedding-cache.sqlite", index / "embedding-cache.sqlite")
            run_build(slice_corpus(fraction), index)
        archive = Archive.open(index)
        passages = archive.stats().passages
        timings = in_process_latency(archive, queries)
        lines.append(latency_row(f"{int(fraction * 100)}% ({passages:,} passages), in-process", timings))
        if fraction >= 1.0:
            profile = stage_profile(archive, queries[:100])
            http, serving_rss = http_latency(index, queries)
            lines.append(latency_row(f"100% ({passages:,} passages), HTTP", http))
        archive.close()
        print("latency", fraction, flush=True)
    lines += ["", f"Serving RSS (waitress, model and index loaded, after the HTTP run): {serving_rss:.0f} MB.\n",
              "### Where a hybrid query's time goes (100%, median ms, query embedding not cached)\n",
              "| stage | ms |", "|---|---|", *[f"| {name} | {ms:.2f} |" for name, ms in profile.items()]]
    write_section("latency", "## Query latency and serving memory (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
