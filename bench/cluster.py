"""A cold build on a local Dask cluster against the single-process build, side by side.

    python bench/cluster.py [--articles 2000] [--workers 2]
    python bench/cluster.py --reading [--files 8] [--workers 2]

The first ``--articles`` articles of Reuters-21578, built twice from a cold embedding cache
(each build its own), at fp32, each in a child process (``indexer rebuild``): once in one
process (torch on every core), once with ``--cluster local:N`` (N single-threaded workers).
Reports embedding throughput (passages per second of the embed phase, and of the whole
build), the cluster's overhead, and whether the two builds are the same: articles, passages,
stories, vectors (cosine), and the top 10 of the bench queries.

``--reading``: reading, cleaning and splitting alone, on a corpus of several files (the varied
Reuters copies that bench/ceiling.py writes, about 21,600 articles each): in one process, and
on the local cluster (its start timed apart), each reading compared with the other.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from bench.report import WORK, command_line, header, write_section  # noqa: E402
from bench.speed import REUTERS, make_queries, run_build  # noqa: E402


def sample(count: int, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(REUTERS, "rt") as source, gzip.open(target, "wt") as out:
        for number, line in enumerate(source):
            if number >= count:
                break
            out.write(line)
    return target


def cosines(first: dict, second: dict) -> list[float]:
    """The cosine of each passage's vector in ``first`` with the same passage's in ``second``."""
    return [float(np.dot(vector, second["passages"][key][2])
                  / (np.linalg.norm(vector) * np.linalg.norm(second["passages"][key][2])))
            for key, (_, _, vector) in first["passages"].items() if key in second["passages"]]


def contents(index, queries: list[str]) -> dict:
    """What two builds must share: each passage's offsets and vector, each article's story, and
    the top 10 (every version) of ``queries``. Used by tests/test_cluster.py too."""
    archive = Archive.open(index)
    try:
        snapshot = archive.current().snapshot
        catalog = snapshot.catalog
        passages = {}
        for article_id in catalog.article_ids:
            pids = snapshot.store.article_passage_ids(article_id)
            stored = snapshot.store.passages(pids)
            vectors = snapshot.vectors.reconstruct(sorted(stored))
            for (_, passage), vector in zip(sorted(stored.items()), vectors, strict=True):
                passages[(article_id, passage.ordinal)] = (passage.start, passage.end, vector)
        stories = {article_id: catalog.story_of(article_id)[0] for article_id in catalog.article_ids}
        top = {query: [result.id for result in archive.search(query, k=10, collapse="none").results]
               for query in queries}
        return {"passages": passages, "stories": stories, "top": top}
    finally:
        archive.close()


def measure_reading(files: int, workers: int) -> None:
    import time

    from archive.indexing.cluster import Cluster, ClusterReport
    from archive.indexing.generation import passage_rows
    from archive.ingest.corpus import FieldMapping, read_corpus
    from bench.ceiling import write_copies

    folder = WORK / "cluster" / "reading-corpus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in write_copies(files):
        (folder / path.name).symlink_to(path.resolve())
    size = sum(path.stat().st_size for path in folder.iterdir()) / 1e6
    started = time.perf_counter()
    here = read_corpus(folder, follow_links=True)  # (the files are links to bench/.work/reuters-varied)
    assert here.articles, "nothing read"
    here_rows = passage_rows(here.articles, "model")
    here_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with Cluster(f"local:{workers}") as cluster:
        start_seconds = time.perf_counter() - started
        report = ClusterReport(f"local:{workers}", cluster.workers())
        started = time.perf_counter()
        there = read_corpus(folder, follow_links=True,
                            read_elsewhere=lambda paths: cluster.read(paths, FieldMapping(), report))
        assert report.read_partitions, "nothing read on the cluster"
        there_rows = passage_rows(there.articles, "model", spans=there.passage_spans)
        there_seconds = time.perf_counter() - started
    same = there.articles == here.articles and there.skipped == here.skipped and there_rows == here_rows
    lines = [header(command_line()),
             f"{files} files of varied Reuters copies ({size:.0f} MB gzipped, {len(here.articles):,} articles, "
             f"{len(here_rows):,} passages): read, cleaned and split, then the passages' rows made (texts and cache keys).\n",
             "| where | seconds | articles/s |", "|---|---|---|",
             f"| one process | {here_seconds:.1f} | {len(here.articles) / here_seconds:,.0f} |",
             f"| local:{workers} ({report.read_partitions} partitions; the cluster's start, {start_seconds:.1f} s, apart) | "
             f"{there_seconds:.1f} | {len(there.articles) / there_seconds:,.0f} |",
             "", f"Cluster against one process: **{here_seconds / there_seconds:.2f}×** the speed. The same reading "
                 f"(articles, skips and passages): {'yes' if same else 'NO'}."]
    text = "\n".join(lines)
    write_section("cluster-reading", "## Reading, cleaning and splitting on a local Dask cluster\n\n" + text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reading", action="store_true", help="measure reading, cleaning and splitting alone")
    parser.add_argument("--files", type=int, default=8)
    arguments = parser.parse_args()
    if arguments.reading:
        measure_reading(arguments.files, arguments.workers)
        return
    work = WORK / "cluster"
    shutil.rmtree(work, ignore_errors=True)
    corpus = sample(arguments.articles, work / "corpus" / "reuters-sample.jsonl.gz")
    runs = {}
    for name, extra in (("one process", ()), (f"local:{arguments.workers}", ("--cluster", f"local:{arguments.workers}"))):
        index = work / name.replace(" ", "-").replace(":", "-")
        summary, wall, peak = run_build(corpus.parent, index, extra=("--precision", "fp32", *extra))
        runs[name] = (index, summary, wall)
        print(name, summary["passages"], summary["seconds"], wall, flush=True)
    queries = make_queries(50)
    (single_index, single, single_wall), (cluster_index, cluster, cluster_wall) = runs.values()
    first, second = contents(single_index, queries), contents(cluster_index, queries)
    alike = cosines(first, second)
    same_passages = first["passages"].keys() == second["passages"].keys() and all(
        first["passages"][key][:2] == second["passages"][key][:2] for key in first["passages"])
    embed_rate = {name: summary["embedded"] / summary["seconds"]["embed"] for name, (_, summary, _) in runs.items()}
    build_rate = {name: summary["embedded"] / wall for name, (_, summary, wall) in runs.items()}
    names = list(runs)
    lines = [header(command_line()),
             f"The first {arguments.articles:,} articles of Reuters-21578 ({single['passages']:,} passages), each build "
             "from a cold embedding cache at fp32, in a child process, one after the other on this machine.\n",
             "| build | embed phase (s) | whole build (s) | passages/s (embed) | passages/s (build) |",
             "|---|---|---|---|---|"]
    for name, (_, summary, wall) in runs.items():
        lines.append(f"| {name} | {summary['seconds']['embed']:.1f} | {wall:.1f} | {embed_rate[name]:.1f} | "
                     f"{build_rate[name]:.1f} |")
    lines += ["", f"Throughput of the cluster against one process: **{build_rate[names[1]] / build_rate[names[0]]:.2f}×** "
                  f"over the whole build, {embed_rate[names[1]] / embed_rate[names[0]]:.2f}× in the embed phase "
                  f"(the cluster's start, {cluster['seconds'].get('cluster', 0):.1f} s, is outside it).",
              "",
              f"The same build: articles {'yes' if first['stories'].keys() == second['stories'].keys() else 'NO'}, "
              f"passages {'yes' if same_passages else 'NO'}, stories "
              f"{'yes' if first['stories'] == second['stories'] else 'NO'}, vectors cosine ≥ "
              f"{min(alike):.6f} (median {float(np.median(alike)):.6f}), top 10 of {len(queries)} queries "
              f"{'the same' if first['top'] == second['top'] else 'DIFFERENT'}."]
    text = "\n".join(lines)
    write_section("cluster", "## Cold builds on a local Dask cluster\n\n" + text)
    print(text)


if __name__ == "__main__":
    main()
