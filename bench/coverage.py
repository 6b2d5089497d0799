"""Coverage on all of Reuters-21578: is the count exact, and what does it cost?

    python bench/coverage.py [--queries 100] [--rounds 2] [--backend embedded|milvus|both]

On the Reuters index of bench/speed.py (and, for Milvus, a Milvus Lite copy of it built from
the same embedding cache), in one process:

1. **Exact.** For a set of words and booleans, the coverage count against a scan of every
   article's title and text with the index's own analyzer (the same stems, so any difference
   is the count's, not the tokenizer's). Milvus stems with its own English stemmer: its
   counts are compared with the scan too, and the differences listed.
2. **The count in every search.** Each query searched with the count (``matching``) and
   without it, alternating which goes first, every query uncached: medians and their ratio.
3. **Coverage.** One query, and five compared, every query uncached: median milliseconds.
4. **Export.** Rows per second for the query with most matches.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive, EmbeddedBackend, MilvusBackend  # noqa: E402
from archive import archive as facade  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.report import WORK, command_line, header, write_section  # noqa: E402
from bench.speed import REUTERS, forget_queries, make_queries  # noqa: E402

EXACT_WORDS = ["coffee", "cocoa", "sugar", "gold", "wheat", "strike", "dividend", "Brazil", "Volcker", "yen"]
EXACT_BOOLEANS = [("coffee AND Brazil", ("coffee", "brazil"), ()), ("oil NOT Iran", ("oil",), ("iran",))]
COMPARED = ["coffee", "cocoa", "sugar", "wheat", "gold"]


def scanned(archive: Archive) -> tuple[dict[str, set[str]], int]:
    """Article id -> its index terms (title and text), with the index's analyzer."""
    analysis = archive.current().snapshot.keyword.analysis
    terms = {}
    for line in gzip.open(REUTERS, "rt"):
        record = json.loads(line)
        terms[record["id"]] = set(analysis.analyze(f"{record['title']}\n{record['body']}"))
    return terms, len(terms)


def expected_count(terms: dict[str, set[str]], archive: Archive, query: str, present: tuple[str, ...],
                   absent: tuple[str, ...] = ()):
    """Articles with every present word (a name: or one of the variants the query lists) and
    none of the absent ones."""
    keyword = archive.current().snapshot.keyword
    variants = keyword.parse(query).variants  # variant -> (name, as written)
    wanted = []
    for word in present:
        term = keyword.analysis.analyze(word)[0]
        wanted.append({term} | {variant for variant, (name, _) in variants.items() if name == term})
    unwanted = [keyword.analysis.analyze(word)[0] for word in absent]
    return sum(1 for found in terms.values() if all(found & alternatives for alternatives in wanted)
               and not any(term in found for term in unwanted))


def fresh(archive: Archive) -> None:
    forget_queries(archive)
    archive.forget_matches()


def timed(archive: Archive, call) -> float:
    fresh(archive)
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def search_with_and_without_count(archive: Archive, queries: list[str], rounds: int) -> dict[str, tuple[float, float]]:
    original = facade.Archive.count_matching
    found = {}
    for mode in ("keyword", "hybrid"):
        for query in queries[:20]:
            archive.search(query, mode=mode)  # warm up
        counted, uncounted = [], []
        for round_number in range(rounds):
            for query in queries:
                for counting in ((True, False) if round_number % 2 == 0 else (False, True)):
                    facade.Archive.count_matching = original if counting else (lambda *arguments: None)  # type: ignore
                    try:
                        (counted if counting else uncounted).append(
                            timed(archive, lambda: archive.search(query, mode=mode)))  # noqa: B023
                    finally:
                        facade.Archive.count_matching = original  # type: ignore[method-assign]
        found[mode] = (statistics.median(counted), statistics.median(uncounted))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backend", choices=("embedded", "milvus", "both"), default="both")
    arguments = parser.parse_args()
    queries = make_queries(arguments.queries)
    index = WORK / "reuters-index"
    backends = []
    if arguments.backend in ("embedded", "both"):
        backends.append(("embedded", EmbeddedBackend(index)))
    if arguments.backend in ("milvus", "both"):
        milvus = MilvusBackend(str(WORK / "reuters-matching-milvus.db"), index)
        if milvus.live_name() is None:
            milvus.rebuild(REUTERS, DEFAULT_MODEL, embedder=Embedder.shared(DEFAULT_MODEL))  # from the warm cache
        backends.append(("milvus", milvus))
    exact = ["| backend | query | coverage | scan of the texts | equal |", "|---|---|---|---|---|"]
    speed = ["| backend | what | median ms | |", "|---|---|---|---|"]
    terms: dict[str, set[str]] | None = None
    for name, backend in backends:
        archive = Archive.open(backend)
        archive.prepare()
        if terms is None:
            terms, _ = scanned(archive)
        cases = [(word, (word.lower(),), ()) for word in EXACT_WORDS] + EXACT_BOOLEANS
        for query, present, absent in cases:
            counted = archive.coverage(query).queries[0].articles
            wanted = expected_count(terms, archive, query, present, absent)
            exact.append(f"| {name} | `{query}` | {counted:,} | {wanted:,} | {'yes' if counted == wanted else 'no'} |")
            print(exact[-1], flush=True)
        for mode, (counted, uncounted) in search_with_and_without_count(archive, queries, arguments.rounds).items():
            speed.append(f"| {name} | search, {mode}: with the count / without | {counted:.2f} / {uncounted:.2f} "
                         f"| {counted / uncounted:.2f}× |")
            print(speed[-1], flush=True)
        archive.coverage("coffee")  # the archive sample for names and terms: once per generation
        single = [timed(archive, lambda: archive.coverage(query)) for query in queries[:50]]  # noqa: B023
        compared = [timed(archive, lambda: archive.coverage(COMPARED)) for _ in range(5)]
        speed.append(f"| {name} | coverage of one query (counts, names, terms, sample) | {statistics.median(single):.1f} | |")
        speed.append(f"| {name} | coverage of five queries compared | {statistics.median(compared):.1f} | |")
        started = time.perf_counter()
        with archive.export("said") as rows:
            count = sum(1 for _ in rows)
        seconds = time.perf_counter() - started
        speed.append(f"| {name} | export of `said` ({count:,} articles) | {seconds * 1000:.0f} | "
                     f"{count / seconds:,.0f} rows/s |")
        print("\n".join(speed[-3:]), flush=True)
        archive.close()
    text = "\n".join([
        "## Coverage: exact counts, and what they cost", "", header(command_line()),
        "All of Reuters-21578. **Exact**: each query's coverage count against a scan of every article's title "
        "and text with the index's analyzer (the same stems; a name counts with the variant spellings the "
        "query lists, as search does). Milvus stems with its own English stemmer, so its counts may differ "
        "from the scan by an article where the two stemmers disagree.", "", *exact, "",
        f"**Cost**, in one process, every query uncached ({len(queries)} queries, {arguments.rounds} rounds for the "
        "search, alternating which goes first). The archive sample that names and terms are compared with is "
        "read once per generation, before these timings.", "", *speed])
    write_section("coverage", text)
    print(text)


if __name__ == "__main__":
    main()
