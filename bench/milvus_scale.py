"""A Milvus web worker at 1x and 10x Reuters: does opening, memory and latency stay flat?

    python bench/milvus_scale.py [--scales 1,10] [--queries 200] [--before DIR --before-scales 1,10]

The archives are bench/ceiling.py's varied Reuters copies (one per archive year, vectors the
originals' plus noise, seeded into the shared embedding cache: nothing is embedded), built
into Milvus Lite files. Each is then opened by a fresh process, as a web worker would
(bench/milvus_worker.py): the time to connect (the Milvus Lite server starts and loads its
collections: Milvus's own cost, once after it starts, shown apart), to open the archive and to open it again (as
after an update), the rows read while opening, hybrid latency (k=10, with the count of
matching articles, each query parsed and embedded for the first time), and the worker's
resident memory (the Milvus Lite server's is its own process's, aside).

``--before DIR`` builds and measures the same with an earlier checkout (its own Milvus files:
the layout differs), side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ceiling import BASE_INDEX, SHARED_CACHE, scale_corpus, seed_cache, write_copies  # noqa: E402
from bench.report import ROOT, WORK, command_line, header, median, percentile, write_section  # noqa: E402
from bench.speed import make_queries, run_build  # noqa: E402


def build(root: Path, corpus: Path, uri: Path, work: Path, precision: str) -> tuple[dict, float, float]:
    """(summary, wall seconds, peak RSS MB) of a Milvus rebuild by the checkout at ``root``."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / "embedding-cache.sqlite"
    if not link.exists():
        link.symlink_to(SHARED_CACHE.resolve())
    for leftover in uri.parent.glob(uri.name + "*"):
        if leftover.is_file():
            leftover.unlink()
    return run_build(corpus, work, extra=("--backend", "milvus", "--milvus-uri", str(uri), "--precision", precision,
                                          "--follow-links"), root=root)


def worker(root: Path, uri: Path, work: Path, queries: Path) -> dict:
    completed = subprocess.run([sys.executable, str(ROOT / "bench" / "milvus_worker.py"), str(root), str(uri), str(work),
                                str(queries)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                               capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"the worker failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--before", type=Path, default=None, help="an earlier checkout, measured side by side")
    parser.add_argument("--before-scales", default="1")
    parser.add_argument("--measure-only", action="store_true", help="measure the files an earlier run built")
    arguments = parser.parse_args()
    scales = [int(value) for value in arguments.scales.split(",")]
    manifest = json.loads((BASE_INDEX / "generations" / (BASE_INDEX / "CURRENT").read_text().strip()
                           / "manifest.json").read_text())
    precision = manifest["precision"]
    paths = write_copies(max(scales))
    seed_cache(paths, manifest["model"], precision)
    queries = WORK / "milvus-scale-queries.json"
    queries.write_text(json.dumps(make_queries(arguments.queries + 1)))
    checkouts = [("now", ROOT, scales)]
    if arguments.before:
        checkouts.append(("before", arguments.before.resolve(),
                          [int(value) for value in arguments.before_scales.split(",")]))
    rows = []
    for label, root, chosen in checkouts:
        for times in chosen:
            uri = WORK / f"milvus-{times}x-{label}.db"
            work = WORK / f"milvus-{times}x-{label}-work"
            built = WORK / f"milvus-{times}x-{label}-build.json"
            if arguments.measure_only and built.exists():
                summary, wall, peak = json.loads(built.read_text())
            else:
                summary, wall, peak = build(root, scale_corpus(paths, times), uri, work, precision)
                if summary["embedded"]:
                    raise SystemExit(f"{summary['embedded']} passages were embedded: the cache was not seeded")
                built.write_text(json.dumps([summary, wall, peak]))
            print("built", label, times, summary["articles"], round(wall), flush=True)
            figures = worker(root, uri, work, queries)
            rows.append((label, times, summary, wall, figures))
            print("measured", label, times, json.dumps({key: value for key, value in figures.items()
                                                         if key != "hybrid_ms"}), flush=True)
            write_report(rows, arguments.queries)  # (after each row: a long run stopped early still says what it measured)


def write_report(rows: list, query_count: int) -> None:
    lines = [header(command_line()),
             "Milvus Lite 2.5, Reuters-21578 and its varied copies (bench/ceiling.py: the copies' vectors are the "
             "originals' plus noise, so nothing is embedded). Each archive is opened by a fresh process, as a web "
             f"worker would. {query_count} hybrid queries, k=10, each parsed and embedded for the first time; a search "
             "also counts every matching article and its stories.\n",
             "| code | scale | articles | passages | build s | connect s (Milvus Lite starts and loads, aside) | open s | reopen s | "
             "rows read at open | first search ms | hybrid p50 / p95 ms | worker RSS after open / after searches MB |",
             "|" + "---|" * 12]
    for label, times, summary, wall, figures in rows:
        timings = figures["hybrid_ms"]
        read = figures.get("rows_read_at_open")
        lines.append(f"| {label} | {times}x | {summary['articles']:,} | {summary['passages']:,} | {wall:.0f} | "
                     f"{figures['connect_s']:.2f} | {figures['open_s']:.3f} | {figures['reopen_s']:.3f} | "
                     f"{'–' if read is None else f'{read:,}'} | {figures['first_search_ms']:.0f} | "
                     f"{median(timings):.1f} / {percentile(timings, 0.95):.1f} | "
                     f"{figures['opened_mb']:.0f} / {figures['searched_mb']:.0f} |")
    now = {times: figures for label, times, _, _, figures in rows if label == "now"}
    if 1 in now and 10 in now:
        one, ten = now[1], now[10]
        lines.append(f"\nFrom 1x to 10x: open {one['open_s'] * 1000:.1f} to {ten['open_s'] * 1000:.1f} ms, reopen (median "
                     f"of 5) {one['reopen_s'] * 1000:.1f} to {ten['reopen_s'] * 1000:.1f} ms "
                     f"({ten['reopen_s'] / one['reopen_s']:.2f}x; target at most 1.2x), worker RSS after searches "
                     f"{ten['searched_mb'] / one['searched_mb']:.2f}x (target at most 1.10x), hybrid p50 "
                     f"{median(ten['hybrid_ms']) / median(one['hybrid_ms']):.2f}x.")
    write_section("milvus-scale", "## A Milvus web worker from 1x to 10x Reuters\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
