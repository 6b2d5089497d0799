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

from archive.search.claims import (  # noqa: E402
    CLAIM_SIMILARITY,
    CORROBORATED_OVERLAP,
    CORROBORATED_SIMILARITY,
    WORD_OVERLAP,
    NameForms,
    agree,
    same_claim,
)
from bench.report import command_line, header, write_section  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "data" / "claim-pairs.jsonl"
ROOT = Path(__file__).resolve().parent.parent


def archive_names() -> NameForms:
    """The name variants an archive of the pairs' articles would know: the seed corpus and
    Reuters-21578 (when it is there), counted as a build counts them."""
    import gzip

    from archive.index.names import NameVariants, count_name_evidence
    from archive.ingest.articles import Article
    from archive.query.language import QueryAnalysis
    from bench.speed import REUTERS

    articles = [Article(path.stem, "", path.read_text(encoding="utf-8")) for path in sorted((ROOT / "corpus").iterdir())]
    if REUTERS.exists():
        articles += [Article(record["id"], record["title"], record["body"])
                     for record in map(json.loads, gzip.open(REUTERS, "rt"))]
    analysis = QueryAnalysis(expander=None)  # type: ignore[arg-type]  # (only its analyzer is used)
    return NameForms(NameVariants(count_name_evidence(articles), analysis.index_form), analysis.index_form)


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
    variant_pairs = [pair for pair in pairs if pair.get("kind") == "name variants"]
    forms = archive_names()
    before = NameForms(merge_names=False)  # names as written in shared words, by sound in agreement

    def previous(threshold, overlap):  # the rule shipped before: no corroboration, names as written
        return lambda pair: same_claim(pair["a_text"], pair["b_text"], pair["similarity"], threshold, overlap,
                                       forms=before, corroborated_threshold=None)

    def current(threshold, overlap):  # names in any spelling, and corroborated pairs a little less alike
        return lambda pair: same_claim(pair["a_text"], pair["b_text"], pair["similarity"], threshold, overlap,
                                       forms=forms)

    rules = [("vectors only", lambda threshold, overlap: lambda pair: pair["similarity"] >= threshold),
             ("vectors + names and numbers", lambda threshold, overlap: lambda pair: pair["similarity"] >= threshold
              and agree(pair["a_text"], pair["b_text"])),
             ("+ shared words, names as written (shipped before)", previous),
             ("+ shared words, names in any spelling, corroborated (shipped)", current)]
    lines = [header(command_line()),
             f"{len(pairs)} labelled pairs ({positives} the same claim; {sum(p['corpus'] == 'seed' for p in pairs)} "
             f"from the seed story, {sum(p['corpus'] == 'reuters' for p in pairs)} from Reuters stories). "
             f"{len(variant_pairs)} of them ({sum(p['same'] for p in variant_pairs)} the same claim) are new: "
             "every pair of seed sentences at least 0.65 alike that name someone in two spellings "
             "(Sergei/Sergey Shoigu, Naev/Nayev/Naiev, Zelensky/Zelenskyy, Lukashenko/Lukashenka), judged by hand. "
             "Name variants are the ones an archive of the seed corpus and Reuters-21578 knows.\n",
             "| rule | similarity ≥ | word overlap ≥ | TP | FP | FN | precision | recall |", "|---|---|---|---|---|---|---|---|"]
    for name, rule in rules:
        for threshold in (0.70, 0.75, 0.80, 0.85):
            for overlap in ((0.3, WORD_OVERLAP, 0.5) if "shared words" in name else (None,)):
                true_positive, false_positive, false_negative, precision, recall = scores(
                    pairs, rule(threshold, overlap or 0.0))
                shipped = "shipped" in name and threshold == CLAIM_SIMILARITY and overlap == WORD_OVERLAP
                label = name.replace(" (shipped before)", "").replace(" (shipped)", "")
                if shipped:
                    label += " **(shipped before)**" if "before" in name else " **(shipped)**"
                lines.append(f"| {label} | {threshold:.2f} | "
                             f"{'–' if overlap is None else f'{overlap:.1f}'} | {true_positive} | {false_positive} | "
                             f"{false_negative} | {precision:.2f} | {recall:.2f} |")
    lines += ["", "The shipped rules side by side, on the pairs as they were and on the new name-variant pairs:", "",
              "| pairs | rule | TP | FP | FN | precision | recall |", "|---|---|---|---|---|---|---|"]
    for label, chosen in (("the 121 earlier pairs", [pair for pair in pairs if pair.get("kind") != "name variants"]),
                          ("the 40 name-variant pairs", variant_pairs), ("all", pairs)):
        for name, rule in (("before", previous), ("now", current)):
            true_positive, false_positive, false_negative, precision, recall = scores(
                chosen, rule(CLAIM_SIMILARITY, WORD_OVERLAP))
            lines.append(f"| {label} | {name} | {true_positive} | {false_positive} | {false_negative} | "
                         f"{precision:.2f} | {recall:.2f} |")
    lines.append(f"\nA pair that shares a name (in any spelling) and its numbers needs similarity "
                 f"{CORROBORATED_SIMILARITY:.2f} instead of {CLAIM_SIMILARITY:.2f}, and word overlap "
                 f"{CORROBORATED_OVERLAP:.1f} instead of {WORD_OVERLAP:.1f}. The thresholds were chosen on "
                 "these same pairs (there are too few positives to hold some out), so the shipped rows are "
                 "optimistic; the rows around them show how sensitive they are.")
    text = "\n".join(lines)
    write_section("claims", "## Claims across sources: precision and recall\n\n" + text)
    print(text)

if __name__ == "__main__":
    main()
