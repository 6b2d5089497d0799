"""Concurrent load on loopback: while the index is rebuilt and switched over, or steady.

    python bench/load.py [--clients 8] [--seconds 60]            load during a rebuild (seed corpus)
    python bench/load.py --steady [--index DIR] [--seconds 30]   8 clients of hybrid Reuters queries
    python bench/load.py --attack [--seconds 30] [--attackers 2]  the same, quiet and beside hostile clients

Starts the production server (waitress) on a copy of an index, runs N client threads sending
mixed hybrid/keyword/semantic queries for a bounded time, and meanwhile rebuilds the index
with one more article. Reports requests, failures, status codes, throughput and latency, and
whether the new generation was served without a restart. Only 127.0.0.1 is ever contacted.
The short CI version of the same run is tests/test_reliability.py::test_load_during_rebuild.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["potash exports", "Lukashenko", "Putin visit to Minsk", "ground operation", "sanctions on Belarus",
           "drones over Kyiv", "Zelenskyy border", "troops in Belarus", "Naev", "Kremlin spokesman Peskov"]
MODES = ("hybrid", "keyword", "semantic")


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0  # connection errors and timeouts
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    generations: set[str] = field(default_factory=set)
    seconds: float = 0.0
    timed_out: int = 0  # responses that reached their time budget

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(index: Path, port: int, *options: str, root: Path = ROOT) -> subprocess.Popen:
    """``indexer serve`` on ``index`` (with more ``options``, such as a backend), once it answers;
    ``root``: the checkout whose code serves (another one, to compare with an earlier commit)."""
    process = subprocess.Popen([sys.executable, "-m", "indexer", "serve", "--index", str(index), "--port", str(port),
                                "--threads", "8", *options], cwd=root, env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


def run_load(base: str, clients: int, seconds: float, seed: int = 1) -> LoadResult:
    """N threads, each sending requests back to back until the time is up."""
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        generator = random.Random(seed + number)
        while time.monotonic() < stop_at:
            query, mode = generator.choice(QUERIES), generator.choice(MODES)
            url = f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})
            if generator.random() < 0.1:
                url = f"{base}/healthz"
            started = time.perf_counter()
            status, generation = 0, None
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    status = response.status
                    body = response.read()
                    if url.endswith("/healthz"):
                        generation = json.loads(body)["generation"]
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.requests += 1
                if status == 0:
                    result.failures += 1
                else:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.latencies_ms.append(elapsed)
                if generation:
                    result.generations.add(generation)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    result.seconds = time.perf_counter() - started
    return result


def load_during_rebuild(source_index: Path, corpus: Path, work: Path, clients: int, seconds: float) -> tuple[LoadResult, str, str, str]:
    """Serve a copy of ``source_index``, load it, and rebuild from ``corpus`` plus one new
    article half-way. Returns the load result, the generations before and after, and what a
    query for the new article found at the end."""
    shutil.rmtree(work, ignore_errors=True)
    index, corpus_copy = work / "index", work / "corpus"
    shutil.copytree(source_index, index)
    shutil.copytree(corpus, corpus_copy)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(index, port)
    try:
        before = json.loads(urllib.request.urlopen(base + "/healthz").read())["generation"]
        holder: dict[str, LoadResult] = {}
        loader = threading.Thread(target=lambda: holder.setdefault("result", run_load(base, clients, seconds)))
        loader.start()
        time.sleep(seconds / 4)
        (corpus_copy / "load-test-article.txt").write_text(
            "Zebra crossing referendum in Minsk\n\nCity officials proposed a referendum on zebra crossings.\n")
        subprocess.run([sys.executable, "-m", "indexer", "rebuild", "--corpus", str(corpus_copy), "--index", str(index)],
                       cwd=ROOT, check=True, capture_output=True)
        loader.join()
        time.sleep(1.2)  # the archive checks for a new generation at most once a second
        after = json.loads(urllib.request.urlopen(base + "/healthz").read())["generation"]
        found = json.loads(urllib.request.urlopen(base + "/api/search?q=zebra+referendum&mode=keyword").read())
        top = found["results"][0]["id"] if found["results"] else ""
        return holder["result"], before, after, top
    finally:
        server.terminate()
        server.wait(timeout=30)


class QueryPool:
    """Distinct queries handed out once each, so that no request is answered from the
    server's per-query caches; counts how many had to be handed out again."""

    def __init__(self, queries: list[str]) -> None:
        self.queries = list(dict.fromkeys(queries))
        self.position = 0
        self.repeated = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            if self.position >= len(self.queries):
                self.repeated += 1
            query = self.queries[self.position % len(self.queries)]
            self.position += 1
            return query

    def path(self, client: int = 0) -> str:
        """The next query as a hybrid search request."""
        return "/api/search?" + urllib.parse.urlencode({"q": self.next()})


@contextlib.contextmanager
def reuters_server(arguments):
    """``indexer serve`` over a Reuters index, warmed with 40 queries of a fresh pool of
    distinct ones; yields (index, pool, base URL) and stops the server after."""
    from bench.report import WORK
    from bench.speed import make_queries

    index = arguments.index or WORK / "reuters-index"
    pool = QueryPool(make_queries(15000))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(index, port)
    try:
        for _ in range(40):
            urllib.request.urlopen(base + pool.path()).read()
        yield index, pool, base
    finally:
        server.terminate()
        server.wait(timeout=30)


def steady_load(base: str, pool: QueryPool, clients: int, seconds: float, keep_alive: bool) -> LoadResult:
    """``clients`` threads sending hybrid queries back to back, each over one kept-alive
    connection (as wrk and browsers do) or a new connection per request."""
    return hammer(base, pool.path, clients, seconds, keep_alive)


def hammer(base: str, make_path, clients: int, seconds: float, keep_alive: bool = True) -> LoadResult:
    """``clients`` threads, each sending ``make_path(client number)`` back to back until the
    time is up; responses that say ``timed_out`` are counted."""
    import http.client

    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    host, port = base.removeprefix("http://").split(":")

    def client(number: int) -> None:
        connection = None
        while time.monotonic() < stop_at:
            path = make_path(number)
            started = time.perf_counter()
            status, timed_out = 0, False
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, int(port), timeout=30)
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                timed_out = b'"timed_out":true' in body
                if not keep_alive:
                    connection.close()
                    connection = None
            except OSError:
                connection = None
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.requests += 1
                result.timed_out += timed_out
                if status == 0:
                    result.failures += 1
                else:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.latencies_ms.append(elapsed)
        if connection is not None:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    result.seconds = time.perf_counter() - started
    return result


# What an unfriendly visitor sends (issue: "one hostile query must not stall the archive"):
# patterns too broad to search (refused with a 400), many wildcards, fuzzy terms, phrases of
# common words (Whoosh's own matchers), ranges, and 1,000-character queries.
HOSTILE = [
    "*", "a* AND b*", "?*?*?*", "title:* OR body:*", "c* d* e* f* g* h* p* s* t*",
    " ".join(f"{first}{second}*" for first in "cdefghpst" for second in "aeiou"),
    "co* AND de* AND NOT ex*",
    "cell~2 protein~2 gene~2 cancer~2 immune~2 price~2 market~2 company~2",
    '"said it" "the company said" "oil prices" "per share" "mln dlrs" "pct of"',
    '"said the" AND "in the" AND "of the"',
    "[a TO z] OR title:[a TO z]",
    " ".join(["oil prices rose said the company in a statement"] * 25)[:1000],
    " ".join(f"ab{index}* mar{index}~2" for index in range(100))[:1000],
]


def measure_attack(arguments) -> None:
    """Normal clients alone, then the same with hostile clients beside them."""
    from bench.report import command_line, header, median, percentile, write_section

    counter = {"next": 0}
    counter_lock = threading.Lock()

    def hostile_path(number: int) -> str:
        with counter_lock:
            query = HOSTILE[counter["next"] % len(HOSTILE)]
            counter["next"] += 1
        mode = ("keyword", "hybrid")[counter["next"] // len(HOSTILE) % 2]
        return "/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})

    with reuters_server(arguments) as (index, pool, base):
        quiet = hammer(base, pool.path, arguments.clients, arguments.seconds)
        print("quiet", quiet.requests, flush=True)
        outcome: dict[str, LoadResult] = {}
        attackers = threading.Thread(target=lambda: outcome.update(
            hostile=hammer(base, hostile_path, arguments.attackers, arguments.seconds)))
        attackers.start()
        attacked = hammer(base, pool.path, arguments.clients, arguments.seconds)
        attackers.join()
        hostile = outcome["hostile"]
        print("attack", attacked.requests, hostile.requests, flush=True)
    budget = int(os.environ.get("ARCHIVE_QUERY_BUDGET_MS") or 1000)
    slowest = max(hostile.latencies_ms)
    quiet_p95, attacked_p95 = percentile(quiet.latencies_ms, 0.95), percentile(attacked.latencies_ms, 0.95)
    lines = [header(command_line()),
             f"`indexer serve` (one worker process per core, budget {budget} ms) over {index.name}, on 127.0.0.1; "
             f"{arguments.clients} normal clients send hybrid Reuters queries (each distinct, as in the concurrency "
             f"section) for {arguments.seconds:.0f} s alone, then {arguments.seconds:.0f} s more with "
             f"{arguments.attackers} hostile clients beside them sending {len(HOSTILE)} hostile queries in turn "
             "(keyword and hybrid mode): broad wildcards (refused), dozens of wildcards, fuzzy terms, phrases of "
             "common words, ranges, 1,000-character queries. All clients share the server's 2 cores.\n",
             "| clients | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | statuses | timed out |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, result in (("normal, quiet", quiet), ("normal, under attack", attacked), ("hostile", hostile)):
        lines.append(f"| {name} | {result.requests:,} | {result.requests / result.seconds:.1f} | "
                     f"{median(result.latencies_ms):.1f} | {percentile(result.latencies_ms, 0.95):.1f} | "
                     f"{percentile(result.latencies_ms, 0.99):.1f} | {max(result.latencies_ms):.0f} | "
                     f"{dict(sorted(result.statuses.items()))} | {result.timed_out} |")
    lines += ["",
              f"* Normal p95 under attack / quiet: {attacked_p95 / quiet_p95:.2f} (target ≤ 2).",
              f"* Slowest hostile request: {slowest:.0f} ms, against a budget of {budget} ms + 100 "
              f"({'met' if slowest <= budget + 100 else 'NOT met'}).",
              f"* Failed requests (connection errors): {quiet.failures + attacked.failures + hostile.failures}; "
              f"5xx: {quiet.server_errors + attacked.server_errors + hostile.server_errors}."]
    write_section("attack", "## Hostile queries beside normal traffic (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def busy_cores() -> tuple[int, int]:
    """(all, idle) jiffies of the machine, for how busy it was between two readings."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def measure_steady(arguments) -> None:
    from bench.report import command_line, header, median, percentile, write_section

    rows = []
    with reuters_server(arguments) as (index, pool, base):
        for keep_alive in (True, False):
            before = busy_cores()
            result = steady_load(base, pool, arguments.clients, arguments.seconds, keep_alive)
            after = busy_cores()
            busy = 2 * (after[0] - before[0] - (after[1] - before[1])) / max(after[0] - before[0], 1)
            rows.append((keep_alive, result, busy))
            print("steady", keep_alive, result.requests, flush=True)
    lines = [header(command_line()),
             f"{arguments.clients} clients, {arguments.seconds:.0f} s each, hybrid queries made as in the latency section, "
             f"each distinct and sent once ({pool.position:,} sent, {pool.repeated:,} of them repeats, so the server's "
             f"per-query caches do not answer them) against `indexer serve` (one worker process per core) over "
             f"{index.name} on 127.0.0.1; the clients run on the same 2 cores.\n",
             "| connections | requests/s | p50 ms | p95 ms | p99 ms | errors | cores busy |", "|---|---|---|---|---|---|---|"]
    for keep_alive, result, busy in rows:
        errors = result.failures + sum(count for status, count in result.statuses.items() if status != 200)
        lines.append(f"| {'kept alive (as wrk, browsers)' if keep_alive else 'a new one per request'} | "
                     f"{result.requests / result.seconds:.1f} | {median(result.latencies_ms):.1f} | "
                     f"{percentile(result.latencies_ms, 0.95):.1f} | {percentile(result.latencies_ms, 0.99):.1f} | "
                     f"{errors} | {busy:.2f} of 2 |")
    write_section("concurrency", "## Concurrent clients (Reuters-21578)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from archive.backends.embedded.rebuild import rebuild
    from archive.settings import DEFAULT_MODEL
    from bench.report import WORK, command_line, header, median, percentile, write_section

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--steady", action="store_true", help="steady load on a Reuters index instead")
    parser.add_argument("--attack", action="store_true",
                        help="normal Reuters clients alone, then beside hostile clients (see HOSTILE)")
    parser.add_argument("--attackers", type=int, default=2)
    parser.add_argument("--index", type=Path, default=None)
    arguments = parser.parse_args()
    if arguments.steady:
        measure_steady(arguments)
        return
    if arguments.attack:
        measure_attack(arguments)
        return
    seed_index = WORK / "load-seed-index"
    rebuild(ROOT / "corpus", seed_index, DEFAULT_MODEL)
    result, before, after, top = load_during_rebuild(seed_index, ROOT / "corpus", WORK / "load", arguments.clients, arguments.seconds)
    lines = [header(command_line()),
             f"{arguments.clients} clients, {arguments.seconds:.0f} s, mixed hybrid/keyword/semantic queries (10% /healthz) "
             "against waitress on 127.0.0.1 over the seed corpus, with `indexer rebuild` (one article added) running "
             "and switching over a quarter of the way in.\n",
             f"* Requests: {result.requests:,}; failed (connection errors): {result.failures}; "
             f"5xx: {result.server_errors}; statuses: {dict(sorted(result.statuses.items()))}.",
             f"* Throughput: {result.requests / result.seconds:.1f} requests/s; latency p50 {median(result.latencies_ms):.1f} ms, "
             f"p95 {percentile(result.latencies_ms, 0.95):.1f} ms, p99 {percentile(result.latencies_ms, 0.99):.1f} ms.",
             f"* Generations seen by clients: {len(result.generations)}; before {before}, after {after}; "
             f"the new article served without a restart: {'yes' if top == 'load-test-article' else 'NO'}."]
    write_section("load", "## Serving under load during a rebuild\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
