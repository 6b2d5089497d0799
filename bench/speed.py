"""Build speed, embedding-boundness, cache reuse, memory, query latency and scale on Reuters-21578.

    python bench/speed.py [--queries 300] [--skip-raw]     builds (cold, warm, one added article), then latency
    python bench/speed.py --latency-only                    latency at 1x (in-process, HTTP, stages)
    python bench/speed.py --scale [--scales 1,3,10]         the scale curve, and FAISS index types at the largest

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
import os
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

from archive import Archive  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.indexing.generation import passage_rows  # noqa: E402
from archive.ingest.corpus import read_corpus  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.load import free_port, start_server  # noqa: E402
from bench.report import ROOT, SHARED, WORK, command_line, header, median, percentile, write_section  # noqa: E402

REUTERS = SHARED / "reuters21578" / "reuters21578.jsonl.gz"
MODES = ("keyword", "semantic", "hybrid")


def run_build(corpus: Path, index: Path, command: str = "rebuild", extra: tuple = (),
              root: Path = ROOT) -> tuple[dict, float, float]:
    """(summary, wall seconds, peak RSS MB) of an indexer child process, with the code of the
    checkout ``root``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "indexer", command, "--corpus", str(corpus), "--index", str(index),
                                "--json", *extra], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                               capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"indexer {command} failed: {completed.stderr[-2000:]}")
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(completed.stdout), wall, max(peak, before) / 1024


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


def forget_queries(archive: Archive) -> None:
    """Empty the per-query caches (parsed queries, query vectors), so that no mode profits
    from an earlier mode having seen the same query."""
    searchers = archive.current()
    searchers.semantic.encode_query.cache_clear()
    searchers.snapshot.keyword.analysis.parse.cache_clear()


def in_process_latency(archive: Archive, queries: list[str]) -> dict[str, list[float]]:
    """Milliseconds per query and mode, each query seen for the first time."""
    timings = {mode: [] for mode in MODES}
    for mode in MODES:
        for query in queries[:20]:
            archive.search(query, mode=mode)  # warm-up
        for query in queries:
            forget_queries(archive)
            started = time.perf_counter()
            archive.search(query, mode=mode)
            timings[mode].append((time.perf_counter() - started) * 1000)
    return timings


def stage_profile(archive: Archive, queries: list[str]) -> dict[str, float]:
    """Median milliseconds of each stage of a hybrid query, run one after the other (in a
    search the two legs run side by side), nothing cached."""
    from archive.search.results import make_results
    from archive.search.searchers import fuse

    searchers = archive.current()
    stages = {"parse + keyword leg (impact arrays)": [], "query embedding (ONNX)": [], "vector leg (FAISS + grouping)": [],
              "fusion": [], "results (store + highlighting)": []}
    for query in queries:
        searchers.semantic.encode_query.cache_clear()
        snapshot = searchers.snapshot
        snapshot.keyword.analysis.parse.cache_clear()
        t0 = time.perf_counter()
        keyword_hits = searchers.keyword.search(query, 100)
        t1 = time.perf_counter()
        vector = searchers.semantic.encode_query(query)
        t2 = time.perf_counter()
        semantic_hits = searchers.semantic.search(query, 100)
        t3 = time.perf_counter()
        ranked = fuse({"keyword": keyword_hits, "semantic": semantic_hits}, archive.fusion)
        t4 = time.perf_counter()
        make_results(snapshot, ranked[:10], snapshot.keyword.parse(query).terms, vector)
        t5 = time.perf_counter()
        for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stages[name].append(seconds * 1000)
    return {name: median(values) for name, values in stages.items()}


def serving_memory(pid: int) -> dict[str, float]:
    """Memory of a serving process and its workers, in MB: each one's RSS, and PSS summed
    (PSS divides pages the processes share, such as memory-mapped index files, among them)."""
    pids = [pid] + [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    rss, pss = [], 0.0
    for process in pids:
        for line in Path(f"/proc/{process}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss.append(int(line.split()[1]) / 1024)
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) / 1024
    return {"workers_rss": rss[1:] or rss, "pss_total": pss}


def http_latency(index: Path, queries: list[str]) -> tuple[dict[str, list[float]], dict]:
    """Milliseconds per query and mode over HTTP, and the server's memory. Each mode gets a
    fresh server, so that its per-query caches hold nothing from an earlier mode; the
    warm-up queries are not among the timed ones."""
    timings, memory = {mode: [] for mode in MODES}, {}
    warm_up = make_queries(20, seed=99)
    for mode in MODES:
        port = free_port()
        server = start_server(index, port)
        base = f"http://127.0.0.1:{port}"
        try:
            for query in warm_up:
                urllib.request.urlopen(f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})).read()
            for query in queries:
                url = f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})
                started = time.perf_counter()
                with urllib.request.urlopen(url) as response:
                    response.read()
                timings[mode].append((time.perf_counter() - started) * 1000)
            memory = serving_memory(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return timings, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw-encode comparison (saves ~10 minutes)")
    parser.add_argument("--latency-only", action="store_true",
                        help="reuse the index of an earlier full run; measure and rewrite only the latency section")
    parser.add_argument("--scale", action="store_true", help="measure the scale curve and FAISS index types only")
    parser.add_argument("--scales", default="1,3,10")
    parser.add_argument("--precisions", action="store_true",
                        help="cold Reuters builds with --precision fp32 and auto, and raw encode at each precision")
    arguments = parser.parse_args()
    if arguments.scale:
        measure_scale(arguments)
        return
    if arguments.precisions:
        measure_precisions(arguments)
        return
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
        f"FAISS {cold['vector_index']}.\n",
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


BEFORE = {  # docs/benchmarks.md before issue 11 (commit 6156c7b), same queries, same machine kind
    "in-process": {"keyword": (23.3, 80.8), "semantic": (12.0, 15.3), "hybrid": (36.1, 107.5)},
    "HTTP": {"keyword": (29.3, 94.8), "semantic": (37.2, 49.7), "hybrid": (38.5, 108.3)},
}
TARGETS = {("in-process", "hybrid"): "p50 ≤ 8, p95 ≤ 25", ("in-process", "keyword"): "p50 ≤ 3",
           ("HTTP", "hybrid"): "p50 ≤ 12"}


def measure_latency(arguments) -> None:
    index = WORK / "reuters-index"
    queries = make_queries(arguments.queries)
    archive = Archive.open(index)
    passages = archive.stats().passages
    in_process = in_process_latency(archive, queries)
    profile = stage_profile(archive, queries[:150])
    archive.close()
    http, memory = http_latency(index, queries)
    lines = [header(command_line()),
             f"All of Reuters-21578 ({passages:,} passages), {len(queries)} queries (titles with words dropped, "
             "and single names), k=10, warm (20 other queries first), each query seen for the first time (the per-query caches are emptied before each one in-process, and each mode gets a fresh server over HTTP). In-process: `Archive.search`; HTTP: `GET /api/search` "
             "against `indexer serve` on loopback, one request at a time.\n",
             "| where | mode | before: p50 / p95 ms | now: p50 / p95 / p99 ms | target |", "|---|---|---|---|---|"]
    for where, timings in (("in-process", in_process), ("HTTP", http)):
        for mode in MODES:
            before = BEFORE[where][mode]
            lines.append(f"| {where} | {mode} | {before[0]:.1f} / {before[1]:.1f} | {median(timings[mode]):.1f} / "
                         f"{percentile(timings[mode], 0.95):.1f} / {percentile(timings[mode], 0.99):.1f} | "
                         f"{TARGETS.get((where, mode), '')} |")
    lines += ["", "### Where a hybrid query's time goes (stages one after another, median ms, nothing cached)\n",
              "| stage | ms |", "|---|---|", *[f"| {name} | {ms:.2f} |" for name, ms in profile.items()],
              "", f"Serving memory (`indexer serve`, {len(memory['workers_rss'])} workers, after the HTTP run): RSS per "
              f"worker {', '.join(f'{value:.0f}' for value in memory['workers_rss'])} MB; PSS of all processes "
              f"{memory['pss_total']:.0f} MB."]
    write_section("latency", "## Query latency (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def measure_precisions(arguments) -> None:
    """Two cold builds of all of Reuters (empty embedding caches), ``--precision fp32`` and
    ``--precision auto``, one after the other in one session; then raw ``encode`` of the same
    512 passages at each precision, and how close the two precisions' vectors are."""
    import numpy as np

    builds = {}
    for precision in ("fp32", "auto"):
        index = WORK / f"reuters-cold-{precision}-index"
        shutil.rmtree(index, ignore_errors=True)
        summary, wall, peak = run_build(REUTERS, index, extra=("--precision", precision))
        shutil.rmtree(index, ignore_errors=True)  # 29k embeddings; only the timings are kept
        builds[precision] = (summary, wall, peak)
        print("cold build", precision, summary["precision"], summary["seconds"], flush=True)
    embedder = Embedder.shared(DEFAULT_MODEL)
    rows = passage_rows(read_corpus(REUTERS).articles, embedder.name)
    unique = list({row.key: row.model_input for row in rows}.values())
    sample = sorted(unique[:: max(1, len(unique) // 512)][:512], key=len, reverse=True)
    raw, vectors = {}, {}
    for precision in ("fp32", "bf16"):
        embedder.encode_raw(sample[:32], precision)  # warm-up
        started = time.perf_counter()
        vectors[precision] = np.concatenate([embedder.encode_raw(sample[index : index + 256], precision)
                                             for index in range(0, len(sample), 256)])
        raw[precision] = len(sample) / (time.perf_counter() - started)
    cosines = np.sum(vectors["fp32"] * vectors["bf16"], axis=1)
    fp32, auto = builds["fp32"][0], builds["auto"][0]
    lines = [header(command_line()),
             f"All of Reuters-21578 ({fp32['passages']:,} passages), each build from an empty embedding cache, "
             "one after the other; `auto` chose "
             f"**{auto['precision']}** ({auto['precision_reason']}).\n",
             "| build | embed s | total s | wall s (incl. start-up) | passages/s in the embed phase | peak RSS MB |",
             "|---|---|---|---|---|---|"]
    for precision, (summary, wall, peak) in builds.items():
        embed = summary["seconds"]["embed"]
        lines.append(f"| --precision {precision} ({summary['precision']}) | {embed:.0f} | {summary['seconds']['total']:.0f} | "
                     f"{wall:.0f} | {summary['embedded'] / embed:.1f} | {peak:.0f} |")
    lines += ["",
              f"* Embed phase: auto is **{fp32['seconds']['embed'] / auto['seconds']['embed']:.2f}×** as fast as fp32 "
              f"(target ≥ 1.8×); whole build {fp32['seconds']['total'] / auto['seconds']['total']:.2f}×.",
              f"* Raw `encode` of the same {len(sample)} passages (longest first, batches of 256): fp32 "
              f"{raw['fp32']:.1f}/s, bf16 {raw['bf16']:.1f}/s ({raw['bf16'] / raw['fp32']:.2f}×). The builds' embed "
              f"phase against raw `encode` at their precision: fp32 "
              f"{fp32['embedded'] / fp32['seconds']['embed'] / raw['fp32']:.2f}, {auto['precision']} "
              f"{auto['embedded'] / auto['seconds']['embed'] / raw[auto['precision']]:.2f} (the sample's passages are "
              "a spread of lengths; the build's are all).",
              f"* bf16 against fp32 vectors of those passages: cosine min {cosines.min():.5f}, mean {cosines.mean():.6f}."]
    write_section("precision-speed", "## Embedding precision: cold build speed (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def scaled_corpus(times: int) -> Path:
    """Reuters repeated ``times`` times; the copies get their own ids (same text, so every
    embedding comes from the cache)."""
    if times == 1:
        return REUTERS
    target = WORK / f"reuters-{times}x.jsonl.gz"
    if not target.exists():
        with gzip.open(REUTERS, "rt") as source:
            lines = source.readlines()
        with gzip.open(target, "wt") as stream:
            for copy in range(times):
                for line in lines:
                    record = json.loads(line)
                    if copy:
                        record["id"] = f"{record['id']}-copy{copy}"
                    stream.write(json.dumps(record) + "\n")
    return target


def directory_size(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1e6


def measure_scale(arguments) -> None:
    queries = make_queries(arguments.queries)
    base = WORK / "reuters-index"
    rows = []
    largest = None
    for times in [int(value) for value in arguments.scales.split(",")]:
        index = base if times == 1 else WORK / f"reuters-{times}-index"
        if times > 1 and not (index / "embedding-cache.sqlite").exists():
            index.mkdir(parents=True, exist_ok=True)
            shutil.copy(base / "embedding-cache.sqlite", index / "embedding-cache.sqlite")
        summary, wall, peak = run_build(scaled_corpus(times), index)
        live = index / "generations" / (index / "CURRENT").read_text().strip()
        archive = Archive.open(index)
        timings = in_process_latency(archive, queries)
        archive.close()
        _, memory = http_latency(index, queries[:60])
        rows.append((times, summary, wall, peak, directory_size(live), directory_size(index), timings, memory))
        largest = index
        print("scale", times, summary["passages"], flush=True)
    lines = [header(command_line()),
             "Reuters-21578 repeated with distinct ids (the copies' embeddings come from the cache, so a build "
             f"costs everything but embedding). {len(queries)} queries, k=10, in-process, warm.\n",
             "| scale | passages | build s (wall) | build peak RSS MB | generation on disk MB | FAISS | keyword p50/p95 | "
             "semantic p50/p95 | hybrid p50/p95 | serving PSS MB (all workers) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for times, summary, wall, peak, size, _, timings, memory in rows:
        cells = " | ".join(f"{median(timings[mode]):.1f} / {percentile(timings[mode], 0.95):.1f}" for mode in MODES)
        lines.append(f"| {times}× | {summary['passages']:,} | {wall:.0f} | {peak:.0f} | {size:.0f} | {summary['vector_index']} | "
                     f"{cells} | {memory['pss_total']:.0f} |")
    lines.append("\n" + faiss_comparison(largest, queries))
    write_section("scale", "## Scale curve (Reuters-21578 × 1, 3, 10)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def faiss_comparison(index: Path, queries: list[str]) -> str:
    """Flat, flat fp16, HNSW and IVF over the same vectors: ms per query (one thread, 300
    passages asked, as the semantic leg asks) and recall@10 against exact (flat) search."""
    import faiss
    import numpy as np

    archive = Archive.open(index)
    searchers = archive.current()
    stored = searchers.snapshot.vectors.index
    wrapper = faiss.downcast_index(stored)
    vectors = wrapper.index.reconstruct_n(0, stored.ntotal)  # (the inner index's rows, in the id list's order)
    query_vectors = np.stack([searchers.semantic.encode_query(query) for query in queries]).astype(np.float32)
    archive.close()
    dimension = vectors.shape[1]
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    candidates = []
    flat = faiss.IndexFlatIP(dimension)
    flat.add(vectors)
    candidates.append(("flat (exact)", flat, 0.0))
    fp16 = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    fp16.train(vectors)
    fp16.add(vectors)
    candidates.append(("flat fp16", fp16, time.perf_counter() - started))
    from archive.backends.embedded import vectors as vector_module

    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dimension, vector_module.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = vector_module.HNSW_EF_CONSTRUCTION
    hnsw.add(vectors)
    hnsw.hnsw.efSearch = vector_module.HNSW_EF_SEARCH
    candidates.append((f"HNSW M={vector_module.HNSW_M} efSearch={vector_module.HNSW_EF_SEARCH}", hnsw,
                       time.perf_counter() - started))
    lists = int(4 * len(vectors) ** 0.5)
    started = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[np.random.RandomState(0).choice(len(vectors), min(len(vectors), 40 * lists), replace=False)])
    ivf.add(vectors)
    ivf.nprobe = 32
    candidates.append((f"IVF nlist={lists} nprobe=32", ivf, time.perf_counter() - started))
    faiss.omp_set_num_threads(1)
    truth_scores, _ = flat.search(query_vectors, 10)
    lines = [f"### FAISS index types at {len(vectors):,} passages\n",
             "One thread, one query at a time, 300 passages asked (as the semantic leg asks); recall@10 against "
             f"exact search over {len(queries)} query vectors, counting a found passage as right when its exact "
             "score reaches the tenth exact score (the copies tie, and any of them is a right answer).\n",
             "| index | ms per query (median) | recall@10 | build s |", "|---|---|---|---|"]
    for name, candidate, build_seconds in candidates:
        times = []
        for vector in query_vectors:
            started = time.perf_counter()
            candidate.search(vector.reshape(1, -1), 300)
            times.append((time.perf_counter() - started) * 1000)
        _, found = candidate.search(query_vectors, 10)
        recall = float(np.mean([
            np.sum(vectors[found[row][found[row] >= 0]] @ query_vectors[row] >= truth_scores[row][-1] - 1e-5) / 10
            for row in range(len(found))]))
        lines.append(f"| {name} | {median(times):.2f} | {recall:.3f} | {build_seconds:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
