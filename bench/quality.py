"""Retrieval quality on BEIR SciFact: keyword, semantic and hybrid, plus a fusion sweep.

    python bench/quality.py [--dataset ../shared/datasets/scifact] [--no-sweep]

Indexes SciFact's corpus.jsonl through the project's own ingestion and indexer, runs the
queries of the train and test qrels, and reports nDCG@10 and Recall@100 the way trec_eval
does (linear gains; every judged query counts, a query with nothing found scores 0).
Fusion settings are chosen on the train split and reported on test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from archive.backends.embedded.rebuild import rebuild  # noqa: E402
from archive.backends.embedded.snapshot import EmbeddedSnapshot  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.index.layout import IndexLayout  # noqa: E402
from archive.search.fusion import convex_combination, rank, reciprocal_rank_fusion  # noqa: E402
from archive.settings import (
    DEFAULT_MODEL,  # noqa: E402
    PRECISIONS,  # noqa: E402
)
from bench.report import SHARED, WORK, command_line, header, write_section  # noqa: E402

PASSAGE_DEPTH = 1000
ANCHORS = [("BM25 (BEIR paper)", 0.665), ("all-MiniLM-L6-v2 dense (MTEB)", 0.645), ("Pyserini BM25-flat", 0.679)]


def load_queries(path: Path) -> dict[str, str]:
    with open(path) as stream:
        return {record["_id"]: record["text"] for record in map(json.loads, stream)}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path) as stream:
        next(stream)
        for line in stream:
            query_id, document_id, score = line.rstrip("\r\n").split("\t")
            qrels.setdefault(query_id, {})[document_id] = int(score)
    return qrels


def ndcg(ranking: list[str], judged: dict[str, int], depth: int = 10) -> float:
    gain = sum(judged.get(doc, 0) / math.log2(position + 2) for position, doc in enumerate(ranking[:depth]))
    ideal = sum(value / math.log2(position + 2)
                for position, value in enumerate(sorted((v for v in judged.values() if v > 0), reverse=True)[:depth]))
    return gain / ideal if ideal else 0.0


def recall(ranking: list[str], judged: dict[str, int], depth: int = 100) -> float:
    relevant = {doc for doc, value in judged.items() if value > 0}
    return len(relevant & set(ranking[:depth])) / len(relevant) if relevant else 0.0


def evaluate(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
    ndcgs = [ndcg(rankings.get(query_id, []), judged) for query_id, judged in qrels.items()]
    recalls = [recall(rankings.get(query_id, []), judged) for query_id, judged in qrels.items()]
    return sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls)


def aggregate(passages: list[tuple[int, float]], owners: dict[int, str], method: str) -> dict[str, float]:
    """Article scores from passage scores: MaxP, or the best plus a share of the second best."""
    scores: dict[str, list[float]] = {}
    for pid, score in passages:
        scores.setdefault(owners[pid], []).append(score)
    if method == "max":
        return {doc: values[0] for doc, values in scores.items()}
    share = float(method.split(":")[1])
    return {doc: values[0] + share * (values[1] if len(values) > 1 else 0.0) for doc, values in scores.items()}


def leg_runs(snapshot: EmbeddedSnapshot, embedder: Embedder, queries: dict[str, str]):
    owners = dict(snapshot.store.connection.execute("SELECT pid, article_id FROM passages"))
    keyword, semantic = {}, {}
    vectors = embedder.encode_queries(list(queries.values()))
    for (query_id, text), vector in zip(queries.items(), vectors, strict=True):
        keyword[query_id] = snapshot.keyword.search(snapshot.keyword.parse(text), PASSAGE_DEPTH)
        semantic[query_id] = snapshot.vectors.search(vector, PASSAGE_DEPTH)
    return owners, keyword, semantic


def fused_rankings(owners, keyword, semantic, setting: dict) -> dict[str, list[str]]:
    rankings = {}
    for query_id in keyword:
        keyword_scores = aggregate(keyword[query_id], owners, setting["aggregate"])
        semantic_scores = aggregate(semantic[query_id], owners, setting["aggregate"])
        depth = setting["depth"]
        keyword_top = dict((doc, keyword_scores[doc]) for doc in rank(keyword_scores)[:depth])
        semantic_top = dict((doc, semantic_scores[doc]) for doc in rank(semantic_scores)[:depth])
        if setting["method"] == "keyword":
            scores = keyword_top
        elif setting["method"] == "semantic":
            scores = semantic_top
        elif setting["method"] == "rrf":
            scores = reciprocal_rank_fusion({"k": rank(keyword_top), "s": rank(semantic_top)}, k=setting["rrf_k"])
        else:
            scores = convex_combination(keyword_top, semantic_top, setting["alpha"])
        rankings[query_id] = rank(scores)
    return rankings


def sweep_settings() -> list[dict]:
    settings = []
    for aggregate_method in ("max",):  # "sum:0.2" (best + 0.2 x second passage) never won on train
        for depth in (50, 100, 200):
            for rrf_k in (5, 10, 20, 40, 60, 100):
                settings.append({"method": "rrf", "rrf_k": rrf_k, "depth": depth, "aggregate": aggregate_method})
            for alpha in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                settings.append({"method": "convex", "alpha": alpha, "depth": depth, "aggregate": aggregate_method})
    return settings


def describe(setting: dict) -> str:
    method = f"RRF k={setting['rrf_k']}" if setting["method"] == "rrf" else f"convex α={setting['alpha']}"
    return f"{method}, depth {setting['depth']}, {setting['aggregate']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=SHARED / "scifact")
    parser.add_argument("--index", type=Path, default=WORK / "scifact-index")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="embedding precision of the build")
    parser.add_argument("--compare-precisions", action="store_true",
                        help="only compare fp32 and bf16 passages on the product path (the precision quality gate)")
    arguments = parser.parse_args()

    embedder = Embedder.shared(DEFAULT_MODEL)
    if arguments.compare_precisions:
        compare_precisions(arguments, embedder)
        return
    started = time.perf_counter()
    summary = rebuild(arguments.dataset / "corpus.jsonl", arguments.index, DEFAULT_MODEL, embedder=embedder,
                      precision=arguments.precision)
    build_seconds = time.perf_counter() - started
    print(f"indexed {summary.articles} docs / {summary.passages} passages in {build_seconds:.0f}s "
          f"({summary.embedded} embedded, {summary.reused} cached)", flush=True)

    queries = load_queries(arguments.dataset / "queries.jsonl")
    splits = {split: load_qrels(arguments.dataset / "qrels" / f"{split}.tsv") for split in ("train", "test")}
    snapshot = EmbeddedSnapshot.open_current(IndexLayout(arguments.index))
    runs = {split: leg_runs(snapshot, embedder, {q: queries[q] for q in qrels}) for split, qrels in splits.items()}

    def score(setting: dict, split: str) -> tuple[float, float]:
        owners, keyword, semantic = runs[split]
        return evaluate(fused_rankings(owners, keyword, semantic, setting), splits[split])

    rows = []
    if not arguments.no_sweep:
        for setting in sweep_settings():
            rows.append((setting, score(setting, "train"), score(setting, "test")))
        rows.sort(key=lambda row: -row[1][0])
        best = rows[0][0]
    else:
        best = {"method": "rrf", "rrf_k": 60, "depth": 100, "aggregate": "max"}

    # The product path, end to end: Archive.search with its defaults, on the test queries; every version
    # (collapse=none), since SciFact judges documents, not stories.
    archive = Archive.open(arguments.index, embedder=embedder)
    product: dict[str, tuple[float, float]] = {}
    latency: dict[str, float] = {}
    for mode in ("keyword", "semantic", "hybrid"):
        rankings, started = {}, time.perf_counter()
        for query_id in splits["test"]:
            response = archive.search(queries[query_id][:1000], mode=mode, k=100, collapse="none")
            rankings[query_id] = [result.id for result in response.results]
        latency[mode] = (time.perf_counter() - started) / len(splits["test"]) * 1000
        product[mode] = evaluate(rankings, splits["test"])
        print(f"product {mode}: nDCG@10 {product[mode][0]:.4f}  Recall@100 {product[mode][1]:.4f}", flush=True)

    lines = [header(command_line()), f"SciFact: {summary.articles} documents indexed as {summary.passages} passages "
             f"(vectors {summary.precision}: {summary.precision_reason}); "
             f"{len(splits['test'])} test queries, {len(splits['train'])} train queries.\n",
             "### The product (`Archive.search`, default settings), test split\n",
             "| mode | nDCG@10 | Recall@100 | mean ms/query (k=100, with highlighting) |", "|---|---|---|---|"]
    for mode in ("keyword", "semantic", "hybrid"):
        lines.append(f"| {mode} | {product[mode][0]:.3f} | {product[mode][1]:.3f} | {latency[mode]:.1f} |")
    lines.append("\nPublished anchors (nDCG@10, test): " + "; ".join(f"{name} {value:.3f}" for name, value in ANCHORS) + ".\n")
    gap = product["hybrid"][0] - max(product["keyword"][0], product["semantic"][0])
    lines.append(f"Hybrid minus the better single leg: {gap:+.3f} nDCG@10.\n")
    if rows:
        lines += [f"### Fusion sweep ({len(rows)} settings; chosen on train, reported on test)\n",
                  f"Best on train: **{describe(best)}**.\n",
                  "| setting | train nDCG@10 | test nDCG@10 | test Recall@100 |", "|---|---|---|---|"]
        for setting, train, test in rows[:15]:
            lines.append(f"| {describe(setting)} | {train[0]:.4f} | {test[0]:.4f} | {test[1]:.4f} |")
        for label, method in (("keyword leg alone", "keyword"), ("semantic leg alone", "semantic")):
            setting = {"method": method, "depth": 1000, "aggregate": "max"}
            train, test = score(setting, "train"), score(setting, "test")
            lines.append(f"| {label} | {train[0]:.4f} | {test[0]:.4f} | {test[1]:.4f} |")
        default = {"method": "rrf", "rrf_k": 60, "depth": 100, "aggregate": "max"}
        train, test = score(default, "train"), score(default, "test")
        lines.append(f"| customary RRF k=60, depth 100, max | {train[0]:.4f} | {test[0]:.4f} | {test[1]:.4f} |")
    write_section("quality", "## Retrieval quality (BEIR SciFact)\n\n" + "\n".join(lines))
    print("\n".join(lines))


def product_rankings(archive: Archive, queries: dict[str, str], qrels: dict, mode: str) -> dict[str, list[str]]:
    return {query_id: [result.id for result in
                       archive.search(queries[query_id][:1000], mode=mode, k=100, collapse="none").results]
            for query_id in qrels}


def compare_precisions(arguments, embedder: Embedder) -> None:
    """The product path on SciFact's test queries with fp32 and with bf16 passage vectors (the
    same index directory; the cache keeps both), queries embedded as the product does (ONNX, fp32)."""
    queries = load_queries(arguments.dataset / "queries.jsonl")
    test = load_qrels(arguments.dataset / "qrels" / "test.tsv")
    scores, tops, builds = {}, {}, {}
    for precision in ("fp32", "bf16"):
        started = time.perf_counter()
        summary = rebuild(arguments.dataset / "corpus.jsonl", arguments.index, DEFAULT_MODEL, embedder=embedder,
                          precision=precision)
        builds[precision] = (summary.embedded, summary.seconds.get("embed", 0.0), time.perf_counter() - started)
        print(precision, "built", builds[precision], flush=True)
        archive = Archive.open(arguments.index, embedder=embedder)
        for mode in ("keyword", "semantic", "hybrid"):
            rankings = product_rankings(archive, queries, test, mode)
            scores[precision, mode] = evaluate(rankings, test)
            tops[precision, mode] = {query_id: ranking[:10] for query_id, ranking in rankings.items()}
        archive.close()
    lines = [header(command_line()),
             f"SciFact test split ({len(test)} queries), `Archive.search` with its defaults; the passages embedded at "
             "fp32 and at bf16 (torch CPU autocast), queries embedded as the product embeds them (ONNX, fp32) in both.\n",
             "| mode | nDCG@10 fp32 | nDCG@10 bf16 | difference | within ±0.003 | top-10 overlap |", "|---|---|---|---|---|---|"]
    for mode in ("keyword", "semantic", "hybrid"):
        fp32, bf16 = scores["fp32", mode][0], scores["bf16", mode][0]
        overlap = sum(len(set(tops["fp32", mode][query]) & set(tops["bf16", mode][query])) / max(len(tops["fp32", mode][query]), 1)
                      for query in test) / len(test)
        lines.append(f"| {mode} | {fp32:.4f} | {bf16:.4f} | {bf16 - fp32:+.4f} | {'yes' if abs(bf16 - fp32) <= 0.003 else 'NO'} "
                     f"| {overlap:.3f} |")
    lines.append("\nEmbedding in these builds (passages already in the cache at that precision are not embedded "
                 "again): " + "; ".join(
                     f"{precision}: {embedded} passages embedded in {embed:.0f} s" for precision, (embedded, embed, _) in builds.items()) + ".")
    write_section("precision-quality", "## Embedding precision: quality gate (BEIR SciFact)\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
