"""Query latency of this checkout and another one, side by side in one run.

    git worktree add ../before <commit>      # beside this checkout, so that it finds ../shared too
    python bench/versions.py ../before [--rounds 2] [--queries 300]

For a change that must not slow searching (a refactor): each round runs the in-process latency
of bench/speed.py (the same Reuters index, the same queries, each seen for the first time) once
under each checkout's own code, in a child process of its own, alternating which goes first.
The index is the one of an earlier `bench/speed.py` run (bench/.work/reuters-index); build it
with the older checkout when the two differ in what they write.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import ROOT, WORK, command_line, header, median, write_section  # noqa: E402

MODES = ("keyword", "semantic", "hybrid")
CHILD = """
import json, sys
from archive import Archive
from bench.speed import in_process_latency, make_queries
archive = Archive.open(sys.argv[1])
timings = in_process_latency(archive, make_queries(int(sys.argv[2])))
archive.close()
print(json.dumps(timings))
"""


def run(tree: Path, index: Path, queries: int) -> dict[str, list[float]]:
    """Milliseconds per query and mode, measured by ``tree``'s own code."""
    environment = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
    completed = subprocess.run([sys.executable, "-c", CHILD, str(index), str(queries)], cwd=tree, env=environment,
                               capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"{tree} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def revision(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True,
                          check=True).stdout.strip()[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree of another commit)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", type=Path, default=WORK / "reuters-index")
    arguments = parser.parse_args()
    trees = {"this": ROOT, "other": arguments.other.resolve()}
    timings: dict[str, dict[str, list[float]]] = {name: {mode: [] for mode in MODES} for name in trees}
    for round_number in range(arguments.rounds):
        order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
        for name in order:
            found = run(trees[name], arguments.index, arguments.queries)
            for mode in MODES:
                timings[name][mode] += found[mode]
            print(name, round_number, {mode: round(median(found[mode]), 2) for mode in MODES}, flush=True)
    lines = [header(command_line()),
             f"In-process `Archive.search` on the index of bench/speed.py (all of Reuters-21578), "
             f"{arguments.queries} queries each seen for the first time, {arguments.rounds} rounds alternating "
             f"which checkout goes first; medians over every round.\n",
             f"* this: {revision(trees['this'])}", f"* other: {revision(trees['other'])}\n",
             "| mode | this p50 ms | other p50 ms | this / other |", "|---|---|---|---|"]
    for mode in MODES:
        ours, theirs = median(timings["this"][mode]), median(timings["other"][mode])
        lines.append(f"| {mode} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.3f} |")
    write_section("versions", "## Latency of two versions, side by side\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
