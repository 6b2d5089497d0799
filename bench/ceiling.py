"""The embedded backend's ceiling: Reuters-21578 grown to 10x and 50x with varied copies.

    python bench/ceiling.py [--scales 1,10,50] [--queries 300] [--measure-only]

Each copy of Reuters is a different archive year, not a duplicate:

* copy c (c >= 1) is dated c years before the original, and credited to one of a dozen
  outlets (the original stays "Reuters");
* a fifth of the words of its title and text are replaced by words drawn from Reuters'
  own word frequencies (seeded by copy and article), so that the keyword index has new
  postings and stories group within a copy, not across 50 identical texts;
* its passages are embedded from the original's: the vector of the original passage at
  the same position, plus Gaussian noise (norm about 0.1, cosine about 0.995 to it), written
  into the embedding cache under the copy's own keys before the build. Embedding 1.5M
  passages is days of CPU here; everything else a build does, it does for real.

Per scale: the build (wall, peak RSS, and its keyword, impact, vector and story phases),
the generation on disk, open time in a fresh process, keyword and hybrid latency in-process
(p50/p95), a coverage count, and the memory of `indexer serve` with one and with three
worker processes (each worker's private memory: what one more prefork worker costs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from archive.index.embedding_cache import EmbeddingCache  # noqa: E402
from archive.index.embeddings import Embedder, PassageEmbedding  # noqa: E402
from archive.index.query_encoder import current_export, encoder_directory, export_query_encoder  # noqa: E402
from archive.indexing.generation import passage_rows  # noqa: E402
from archive.ingest.corpus import read_corpus  # noqa: E402
from archive.ingest.sentences import split_sentences  # noqa: E402
from bench.load import free_port, start_server  # noqa: E402
from bench.report import ROOT, WORK, command_line, header, median, percentile, write_section  # noqa: E402
from bench.speed import REUTERS, in_process_latency, make_queries, run_build  # noqa: E402

VARIED = WORK / "reuters-varied"  # copy-NN.jsonl.gz, one per archive year
BASE_INDEX = WORK / "reuters-index"  # the 1x build, whose cache holds Reuters' real embeddings
SHARED_CACHE = WORK / "ceiling-cache" / "embedding-cache.sqlite"
OUTLETS = ["Reuters", "Associated Press", "Agence France-Presse", "The Daily Courier", "Harbour Gazette",
           "Northern Echo", "Valley Times", "Evening Standard", "Coastal Herald", "Midland Post", "The Ledger",
           "County Observer"]
WORD = re.compile(r"[A-Za-z]{3,}")
REPLACED = 0.2
NOISE = 0.1
COVERAGE_QUERIES = ["coffee", "gold", "dividend", "oil NOT Iran"]


def shifted(date: str, years: int) -> str:
    if not date or not date[:4].isdigit():
        return date
    year = int(date[:4]) - years
    rest = date[4:]
    if rest.startswith("-02-29"):
        rest = "-02-28" + rest[6:]
    return f"{year:04d}{rest}"


def word_sampler(records: list[dict]) -> tuple[list[str], np.ndarray]:
    counts: dict[str, int] = {}
    for record in records:
        for word in WORD.findall(record.get("body") or ""):
            counts[word.lower()] = counts.get(word.lower(), 0) + 1
    words = sorted(counts)
    weights = np.array([counts[word] for word in words], dtype=np.float64)
    return words, np.cumsum(weights / weights.sum())


def vary(text: str, generator: np.random.Generator, words: list[str], cumulative: np.ndarray) -> str:
    """About a fifth of the words replaced by Reuters words drawn by frequency (the case of the first letter kept)."""
    matches = list(WORD.finditer(text))
    if not matches:
        return text
    chosen = np.flatnonzero(generator.random(len(matches)) < REPLACED)
    if not len(chosen):
        return text
    picks = np.searchsorted(cumulative, generator.random(len(chosen)))
    pieces, last = [], 0
    for index, pick in zip(chosen.tolist(), picks.tolist(), strict=True):
        match = matches[index]
        word = words[min(pick, len(words) - 1)]
        if match[0][0].isupper():
            word = word.upper() if match[0].isupper() else word.capitalize()
        pieces += [text[last:match.start()], word]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def write_copies(count: int) -> list[Path]:
    """copy-00 (Reuters as it is) to copy-<count-1>, made once and kept."""
    VARIED.mkdir(parents=True, exist_ok=True)
    paths = [VARIED / f"copy-{copy:02d}.jsonl.gz" for copy in range(count)]
    if all(path.exists() for path in paths):
        return paths
    records = [json.loads(line) for line in gzip.open(REUTERS, "rt")]
    words, cumulative = word_sampler(records)
    for copy, path in enumerate(paths):
        if path.exists():
            continue
        partial = path.with_suffix(".partial")
        with gzip.open(partial, "wt", compresslevel=3) as stream:
            for number, record in enumerate(records):
                if copy:
                    generator = np.random.default_rng([copy, number])
                    record = dict(record, id=f"{record['id']}-y{copy}", date=shifted(record.get("date") or "", copy),
                                  source=OUTLETS[(copy + number) % len(OUTLETS)],
                                  title=vary(record.get("title") or "", generator, words, cumulative),
                                  body=vary(record.get("body") or "", generator, words, cumulative))
                stream.write(json.dumps(record) + "\n")
        partial.rename(path)
        print("wrote", path.name, flush=True)
    return paths


def original_embeddings(model: str, precision: str) -> dict[str, list[PassageEmbedding]]:
    """Reuters' own passage embeddings by article id, in passage order, from the 1x build's cache."""
    rows = passage_rows(read_corpus(REUTERS).articles, model, precision=precision)
    cache = EmbeddingCache(BASE_INDEX / "embedding-cache.sqlite")
    try:
        found = cache.get_many(row.key for row in rows)
    finally:
        cache.close()
    missing = sum(1 for row in rows if row.key not in found)
    if missing:
        raise SystemExit(f"{missing} Reuters passages are not in {BASE_INDEX}: run `python bench/speed.py` first")
    by_article: dict[str, list[PassageEmbedding]] = {}
    for row in rows:
        by_article.setdefault(row.article.id, []).append(found[row.key])
    return by_article


def noisy(unit: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    moved = unit + generator.normal(0.0, NOISE / np.sqrt(unit.shape[-1]), unit.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=-1, keepdims=True)


def seed_cache(paths: list[Path], model: str, precision: str) -> None:
    """Every copy's passages in the shared embedding cache, derived from the originals' (see the module's text)."""
    SHARED_CACHE.parent.mkdir(parents=True, exist_ok=True)
    done_path = SHARED_CACHE.parent / "seeded.json"
    done = set(json.loads(done_path.read_text())) if done_path.exists() else set()
    if not done:
        shutil.copy(BASE_INDEX / "embedding-cache.sqlite", SHARED_CACHE)
        done.add(paths[0].name)
        done_path.write_text(json.dumps(sorted(done)))
    todo = [path for path in paths if path.name not in done]
    if not todo:
        return
    originals = original_embeddings(model, precision)
    cache = EmbeddingCache(SHARED_CACHE)
    try:
        for path in todo:
            copy = int(path.name[5:7])
            rows = passage_rows(read_corpus(path).articles, model, precision=precision)
            items, position = {}, {}
            for row in rows:
                source = originals.get(row.article.id.rsplit("-y", 1)[0], [])
                ordinal = position.get(row.article.id, 0)
                position[row.article.id] = ordinal + 1
                if row.key in items or not source:
                    continue
                base = source[min(ordinal, len(source) - 1)]
                generator = np.random.default_rng([copy, row.pid])
                spans = np.array([(start - row.offset, end - row.offset)
                                  for start, end in split_sentences(row.model_input, row.offset)], dtype=np.int32).reshape(-1, 2)
                sentences = base.sentence_vectors.astype(np.float32)
                if len(sentences) and len(spans):
                    sentences = sentences[np.arange(len(spans)) % len(sentences)]
                else:
                    sentences, spans = np.zeros((0, base.vector.shape[0]), dtype=np.float32), spans[:0]
                items[row.key] = PassageEmbedding(noisy(base.vector, generator), spans,
                                                  noisy(sentences, generator) if len(sentences) else sentences)
            cache.put_many(items.items())
            done.add(path.name)
            done_path.write_text(json.dumps(sorted(done)))
            print("seeded", path.name, len(items), flush=True)
    finally:
        cache.close()


def scale_corpus(paths: list[Path], times: int) -> Path:
    folder = WORK / f"ceiling-{times}x-corpus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in paths[:times]:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def directory_size(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1e6


def open_seconds(index: Path, root: Path = ROOT) -> float:
    """Seconds to open the archive (and have it ready to search) in a fresh process, median of 3,
    with the code of the checkout ``root``."""
    code = ("import sys, time; sys.path.insert(0, '.'); from archive import Archive; started = time.perf_counter(); "
            f"archive = Archive.open({str(index)!r}); print(time.perf_counter() - started)")
    return median([float(subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                                        check=True).stdout.split()[-1]) for _ in range(3)])


def private_memory(pid: int) -> tuple[float, float, float]:
    """(RSS, own, file pages only it maps) MB of one process. Its own memory is what no other
    process shares: its written pages (heap, Python objects) and anonymous ones. A page of a
    memory-mapped file that only this process has touched is counted apart: it is the page
    cache's, which any other worker reading it shares, and the kernel may drop it."""
    rss = own = file_only = 0.0
    file_backed = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        name, _, rest = line.partition(":")
        if "-" in name and " " in line and not name.endswith(("kB", "B")) and len(line.split()) >= 5:
            fields = line.split()
            file_backed = len(fields) >= 6 and fields[5].startswith("/")  # a mapping's header: a path, or none
            continue
        if name not in ("Rss", "Private_Clean", "Private_Dirty"):
            continue
        value = int(rest.split()[0]) / 1024
        if name == "Rss":
            rss += value
        elif name == "Private_Clean" and file_backed:
            file_only += value
        else:
            own += value
    return rss, own, file_only


def serving_memory(index: Path, workers: int, queries: list[str], root: Path = ROOT) -> list[tuple[float, float]]:
    """Each worker's (RSS, private MB) after every worker has answered searches."""
    import urllib.parse
    import urllib.request

    port = free_port()
    server = start_server(index, port, "--workers", str(workers), root=root)
    try:
        for query in queries * workers:  # the parent spreads connections over the workers
            for mode in ("hybrid", "keyword"):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?"
                                       + urllib.parse.urlencode({"q": query, "mode": mode}), timeout=60).read()
        children = [int(child) for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        return [private_memory(child) for child in children] or [private_memory(server.pid)]  # (one worker: no fork)
    finally:
        server.terminate()
        server.wait(timeout=60)


def coverage_timing(index: Path) -> tuple[float, dict[str, int | None]]:
    """Median ms of a whole coverage query (counts over time and by source, names, words and the
    best stories), nothing of it cached, and each query's count (None: out of the time budget)."""
    archive = Archive.open(index)
    counts: dict[str, int | None] = {}
    times = []
    try:
        archive.coverage("warm up")  # the per-generation background sample and date arrays
        for query in COVERAGE_QUERIES:
            archive.current().snapshot.keyword.analysis.parse.cache_clear()
            archive.forget_matches()
            started = time.perf_counter()
            found = archive.coverage(query)
            times.append((time.perf_counter() - started) * 1000)
            counts[query] = found.queries[0].articles
    finally:
        archive.close()
    return median(times), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,10,50")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of an earlier commit: its open time and serving memory on the same generations")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the generations an earlier run built (its build figures are reported again)")
    arguments = parser.parse_args()
    scales = [int(value) for value in arguments.scales.split(",")]
    manifest = json.loads((BASE_INDEX / "generations" / (BASE_INDEX / "CURRENT").read_text().strip() / "manifest.json").read_text())
    model, precision = manifest["model"], manifest["precision"]
    paths = write_copies(max(scales))
    seed_cache(paths, model, precision)
    queries = make_queries(arguments.queries)
    rows = []
    for times in scales:
        index = WORK / f"ceiling-{times}x-index"
        index.mkdir(parents=True, exist_ok=True)
        link = index / "embedding-cache.sqlite"
        if not link.exists():
            link.symlink_to(SHARED_CACHE.resolve())
        built = WORK / f"ceiling-{times}x-build.json"
        if arguments.measure_only and built.exists():
            summary, wall, peak = json.loads(built.read_text())
        else:
            summary, wall, peak = run_build(scale_corpus(paths, times), index, extra=("--precision", precision, "--follow-links"))
            if summary["embedded"]:
                raise SystemExit(f"{summary['embedded']} passages were embedded: the cache was not seeded")
            built.write_text(json.dumps([summary, wall, peak]))
        live = index / "generations" / (index / "CURRENT").read_text().strip()
        print("built", times, summary["passages"], wall, flush=True)
        if not current_export(encoder_directory(index, model)):  # (generations built by an earlier commit)
            export_query_encoder(Embedder.shared(model), index)
        opened = open_seconds(index)
        archive = Archive.open(index)
        timings = in_process_latency(archive, queries)
        archive.close()
        coverage_ms, counts = coverage_timing(index)
        one = serving_memory(index, 1, queries[:20])
        three = serving_memory(index, 3, queries[:20])
        before = None
        if arguments.before:
            before = (open_seconds(index, arguments.before), serving_memory(index, 1, queries[:20], arguments.before),
                      serving_memory(index, 3, queries[:20], arguments.before))
        rows.append((times, summary, wall, peak, directory_size(live), opened, timings, coverage_ms, counts, one, three,
                     before))
        print("scale", times, json.dumps({"open": opened, "coverage_ms": coverage_ms, "one": one, "three": three,
                                          "before": before}), flush=True)
    write_report(rows, len(queries), arguments.before)


def write_report(rows: list, query_count: int, before: Path | None) -> None:
    lines = [header(command_line()),
             "Reuters-21578 and varied copies of it, one per archive year (a fifth of each copy's words replaced by "
             "Reuters words drawn by frequency, dated back by whole years, credited to a dozen outlets). **The copies' "
             f"vectors are the originals' plus noise** (norm {NOISE}), seeded into the embedding cache, as embedding them "
             "would take days here; everything else is built for real. "
             f"{query_count} queries, k=10, in-process, warm, each query seen for the first time.\n",
             "| scale | articles | passages | stories | build s (wall) | keyword + impacts s | vectors s | stories s | "
             "build peak RSS MB | on disk MB | FAISS | open s | keyword p50/p95 ms | hybrid p50/p95 ms | "
             "coverage ms | serving: one worker RSS / own MB | each extra worker: own MB (+ mapped file pages only it "
             "touched), the most of 3 |",
             "|" + "---|" * 17]
    for times, summary, wall, peak, size, opened, timings, coverage_ms, _, one, three, _ in rows:
        phases = summary["seconds"]
        keyword_seconds = phases.get("keyword", 0.0) + phases.get("impacts", 0.0)
        extra = max(three, key=lambda worker: worker[1])
        cells = " | ".join(f"{median(timings[mode]):.1f} / {percentile(timings[mode], 0.95):.1f}" for mode in ("keyword", "hybrid"))
        lines.append(f"| {times}× | {summary['articles']:,} | {summary['passages']:,} | {summary.get('stories', 0):,} | "
                     f"{wall:.0f} | {keyword_seconds:.0f} | {phases.get('vectors', 0.0):.0f} | {phases.get('stories', 0.0):.0f} | "
                     f"{peak:.0f} | {size:.0f} | {summary['vector_index']} | {opened:.2f} | {cells} | {coverage_ms:.0f} | "
                     f"{one[0][0]:.0f} / {one[0][1]:.0f} | {extra[1]:.0f} (+{extra[2]:.0f}) |")
    if before is not None:
        commit_before = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=before, capture_output=True,
                                       text=True).stdout.strip()
        lines += ["", f"The same generations opened and served by the code before this change (commit {commit_before}: "
                      "the catalog read from the store into Python lists and dicts, FAISS read into memory), side by "
                      "side in the same run:\n",
                  "| scale | open s: before / now | one worker own MB: before / now | "
                  "each extra worker own MB: before / now |", "|---|---|---|---|"]
        for times, *_, one, three, earlier in rows:
            opened_then, one_then, three_then = earlier
            lines.append(f"| {times}× | {opened_then:.2f} / {rows[[row[0] for row in rows].index(times)][5]:.2f} | "
                         f"{one_then[0][1]:.0f} / {one[0][1]:.0f} | "
                         f"{max(worker[1] for worker in three_then):.0f} / {max(worker[1] for worker in three):.0f} |")
    largest = rows[-1]
    lines += ["", "Coverage counts (articles matching) at each scale: " + "; ".join(
        f"{row[0]}×: " + ", ".join(f"`{query}` {count:,}" if count is not None else f"`{query}` out of time"
                                   for query, count in row[8].items())
        for row in rows) + ".",
        f"\nBuild phases at {largest[0]}× (s): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in largest[1]["seconds"].items()) + "."]
    write_section("ceiling", "## The embedded backend's ceiling\n\n"
                  f"Reuters-21578 × {', '.join(str(row[0]) for row in rows)}, varied.\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
