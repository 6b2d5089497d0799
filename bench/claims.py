"""Claim matching on hand-labelled sentence pairs (bench/data/claim-pairs.jsonl): precision and recall.

The pairs are sentences of different articles of one story (the five seed articles; Reuters-21578
stories of 2 to 4 articles, exact copies left out) whose sentence vectors are at least 0.65 alike,
sampled evenly over similarity bands, and judged by hand: same claim or not. Recall is of the
labelled positives among these candidates.

    python bench/claims.py          # prints the table and writes it to docs/benchmarks.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.search.claims import CLAIM_SIMILARITY, WORD_OVERLAP, agree, same_claim  # noqa: E402
from bench.report import command_line, header, write_section  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "data" / "claim-pairs.jsonl"


def scores(pairs: list[dict], decide) -> tuple[int, int, int, float, float]:
    true_positive = sum(1 for pair in pairs if pair["same"] and decide(pair))
    false_positive = sum(1 for pair in pairs if not pair["same"] and decide(pair))
    false_negative = sum(1 for pair in pairs if pair["same"] and not decide(pair))
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / max(1, true_positive + false_negative)
    return true_positive, false_positive, false_negative, precision, recall


def main() -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    positives = sum(pair["same"] for pair in pairs)
    rules = [("vectors only", lambda threshold, overlap: lambda pair: pair["similarity"] >= threshold),
             ("vectors + names and numbers", lambda threshold, overlap: lambda pair: pair["similarity"] >= threshold
              and agree(pair["a_text"], pair["b_text"])),
             ("vectors + names and numbers + shared words (shipped)", lambda threshold, overlap: lambda pair: same_claim(
                 pair["a_text"], pair["b_text"], pair["similarity"], threshold, overlap))]
    lines = [header(command_line()),
             f"{len(pairs)} labelled pairs ({positives} the same claim; {sum(p['corpus'] == 'seed' for p in pairs)} "
             f"from the seed story, {sum(p['corpus'] == 'reuters' for p in pairs)} from Reuters stories).\n",
             "| rule | similarity ≥ | word overlap ≥ | TP | FP | FN | precision | recall |", "|---|---|---|---|---|---|---|---|"]
    for name, rule in rules:
        for threshold in (0.70, 0.75, 0.80, 0.85):
            for overlap in ((0.3, WORD_OVERLAP, 0.5) if "shared words" in name else (None,)):
                true_positive, false_positive, false_negative, precision, recall = scores(
                    pairs, rule(threshold, overlap or 0.0))
                shipped = " **(shipped)**" if "shared words" in name and threshold == CLAIM_SIMILARITY \
                    and overlap == WORD_OVERLAP else ""
                lines.append(f"| {name.replace(' (shipped)', '')}{shipped} | {threshold:.2f} | "
                             f"{'–' if overlap is None else f'{overlap:.1f}'} | {true_positive} | {false_positive} | "
                             f"{false_negative} | {precision:.2f} | {recall:.2f} |")
    lines.append("\nThe thresholds were chosen on these same pairs (there are too few positives to hold some out), "
                 "so the shipped row is optimistic; the rows around it show how sensitive it is.")
    text = "\n".join(lines)
    write_section("claims", "## Claims across sources: precision and recall\n\n" + text)
    print(text)


if __name__ == "__main__":
    main()
