"""Choose the semantic mark's margin and floor on hand-judged query/passage pairs.

    python bench/semantic_marks.py

tests/data/semantic-marks.jsonl holds pairs of a query and a seed-corpus passage, judged by
hand: the sentences that should be marked as closest in meaning ("marked"), and sentences
that may be marked without being wrong ("acceptable"). Unrelated pairs mark nothing.
Each (margin, floor) setting of ``semantic_marks`` is scored by sentence-level precision,
recall and F1 over all pairs, and the best F1 wins (ties: the higher floor, then the
smaller margin: the stricter rule). The result is written to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from archive.backends.embedded.rebuild import rebuild  # noqa: E402
from archive.search import highlight  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.report import ROOT, WORK, command_line, header, write_section  # noqa: E402

JUDGED = ROOT / "tests" / "data" / "semantic-marks.jsonl"
MARGINS = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 1.0]
FLOORS = [round(0.05 * step, 3) for step in range(0, 13)] + [0.225, 0.275, 0.325, 0.375, 0.425]


def judged_pairs(archive: Archive) -> list[dict]:
    """Each judged pair with its passage's sentence spans and vectors and the query vector."""
    pairs = []
    with archive.holding() as searchers:
        snapshot = searchers.snapshot
        for line in JUDGED.read_text().splitlines():
            pair = json.loads(line)
            pids = snapshot.store.article_passage_ids(pair["article_id"])
            passage = snapshot.store.passages([pids[pair["passage"]]])[pids[pair["passage"]]]
            pairs.append({**pair, "spans": passage.sentence_spans, "vectors": passage.sentence_vectors,
                          "query_vector": searchers.semantic.encode_query(pair["query"])})
    return pairs


def score(pairs: list[dict], margin: float, floor: float) -> dict:
    true_positive = false_positive = false_negative = 0
    unrelated_marked = 0
    for pair in pairs:
        marks = highlight.semantic_marks(pair["spans"], pair["vectors"], pair["query_vector"], margin, floor)
        starts = [int(start) for start, _ in pair["spans"]]
        chosen = {starts.index(mark.start) for mark in marks}
        wanted, acceptable = set(pair["marked"]), set(pair["acceptable"])
        true_positive += len(chosen & wanted)
        false_positive += len(chosen - wanted - acceptable)
        false_negative += len(wanted - chosen)
        unrelated_marked += bool(not wanted and not acceptable and chosen)
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else 1.0
    recall = true_positive / (true_positive + false_negative) if true_positive + false_negative else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "unrelated_marked": unrelated_marked}


def sweep(pairs: list[dict]) -> list[tuple[float, float, dict]]:
    results = [(margin, floor, score(pairs, margin, floor)) for margin in MARGINS for floor in FLOORS]
    return sorted(results, key=lambda item: (-item[2]["f1"], -item[1], item[0]))


def main() -> None:
    index = WORK / "seed-index"
    rebuild(ROOT / "corpus", index, DEFAULT_MODEL)
    archive = Archive.open(index)
    pairs = judged_pairs(archive)
    ranked = sweep(pairs)
    best_margin, best_floor, best = ranked[0]
    current = score(pairs, highlight.SEMANTIC_MARGIN, highlight.SEMANTIC_FLOOR)
    old_rule = score(pairs, 0.05, -1.0)  # before: best sentence plus a runner-up within 0.05, no floor
    unrelated = sum(1 for pair in pairs if not pair["marked"] and not pair["acceptable"])
    lines = [header(command_line()),
             f"{len(pairs)} hand-judged query/passage pairs ({unrelated} of them unrelated: nothing should be marked), "
             f"{sum(len(pair['spans']) for pair in pairs)} sentences; at most {highlight.SEMANTIC_MAX_SENTENCES} marks a passage.\n",
             "| margin | floor | precision | recall | F1 | unrelated pairs marked |", "|---|---|---|---|---|---|"]
    for margin, floor, result in ranked[:8]:
        lines.append(f"| {margin:g} | {floor:g} | {result['precision']:.2f} | {result['recall']:.2f} | {result['f1']:.3f} | "
                     f"{result['unrelated_marked']} |")
    lines += ["",
              f"* Best: margin {best_margin:g}, floor {best_floor:g} (F1 {best['f1']:.3f}).",
              f"* In the code (`archive/search/highlight.py`): margin {highlight.SEMANTIC_MARGIN:g}, floor "
              f"{highlight.SEMANTIC_FLOOR:g}: precision {current['precision']:.2f}, recall {current['recall']:.2f}, "
              f"F1 {current['f1']:.3f}, {current['unrelated_marked']} unrelated pairs marked.",
              f"* The rule before (runner-up within 0.05, no floor): precision {old_rule['precision']:.2f}, "
              f"recall {old_rule['recall']:.2f}, F1 {old_rule['f1']:.3f}, {old_rule['unrelated_marked']} unrelated pairs marked."]
    write_section("semantic-marks", "## Semantic marks: margin and floor (hand-judged pairs)\n\n" + "\n".join(lines))
    print("\n".join(lines))
    archive.close()


if __name__ == "__main__":
    main()
