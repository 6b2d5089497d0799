"""Stories on all of Reuters-21578: how many, how big, whether their articles share topic labels,
how the thresholds were chosen, and what grouping costs a build and an update.

    python bench/stories.py     # rebuilds bench/.work/reuters-index (fp32; fast once bench/speed.py
                                # has filled its embedding cache, else a cold build)

Calibration re-places every article with other thresholds, from the vectors and signatures
the index stored, so it needs no embedding.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive import Archive  # noqa: E402
from archive.backends.embedded.rebuild import rebuild  # noqa: E402
from archive.backends.embedded.store import STORE_NAME, Store  # noqa: E402
from archive.backends.embedded.update import update  # noqa: E402
from archive.index import stories as story_rules  # noqa: E402
from archive.index.layout import IndexLayout  # noqa: E402
from archive.index.stories import Stories, StoryArticle  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402
from bench.report import command_line, header, percentile, write_section  # noqa: E402

WORK = Path(__file__).resolve().parent / ".work"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
REUTERS = SHARED / "reuters21578" / "reuters21578.jsonl.gz"


def topic_labels() -> dict[str, set[str]]:
    with gzip.open(REUTERS, "rt", encoding="utf-8") as stream:
        return {str(record["id"]): set(record["topics"]) for record in map(json.loads, stream)}


def exact_copies(store: Store) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for article_id, text in store.rows("SELECT id, text FROM articles"):
        groups.setdefault(text, []).append(article_id)
    return [group for group in groups.values() if len(group) > 1]


def describe(members: dict[str, list[str]], topics: dict[str, set[str]], copies: list[list[str]],
             story_of: dict[str, str]) -> dict:
    sizes = sorted((len(group) for group in members.values()), reverse=True)
    labelled = shared = 0
    for group in members.values():
        for first, second in itertools.combinations(group, 2):
            if topics.get(first) and topics.get(second):
                labelled += 1
                shared += bool(topics[first] & topics[second])
    return {"stories": len(sizes), "multi": sum(1 for size in sizes if size > 1),
            "in_multi": sum(size for size in sizes if size > 1), "largest": sizes[0],
            "sizes": Counter(min(size, 6) for size in sizes), "pairs": labelled,
            "share": shared / max(1, labelled),
            "copies_together": sum(1 for group in copies if len({story_of[article] for article in group}) == 1)}


def random_pair_share(topics: dict[str, set[str]], samples: int = 20000) -> float:
    labelled = [article for article, labels in topics.items() if labels]
    rng = random.Random(1)
    return sum(bool(topics[first] & topics[second])
               for first, second in (rng.sample(labelled, 2) for _ in range(samples))) / samples


def regroup(stored: Stories, similarity: float, window: int) -> Stories:
    """Every article placed again, with other thresholds."""
    articles = [StoryArticle(article_id, date.fromordinal(day).isoformat() if day else None,
                             stored.vectors[index], stored.signatures[index])
                for index, (article_id, day) in enumerate(zip(stored.ids, stored.days, strict=True))]
    with mock.patch.object(story_rules, "SAME_EVENT_SIMILARITY", similarity), \
            mock.patch.object(story_rules, "DATE_WINDOW_DAYS", window):
        grouped = Stories(stored.dimension)
        grouped.place(articles)
    return grouped


def main() -> None:
    index = WORK / "reuters-index"
    built = rebuild(REUTERS, index, DEFAULT_MODEL, precision="fp32")
    stories_seconds = built.seconds["stories"]
    layout = IndexLayout(index)
    store = Store(layout.current_directory() / STORE_NAME)
    stored = store.stories()
    topics = topic_labels()
    copies = exact_copies(store)
    manifest = json.loads((layout.current_directory() / "manifest.json").read_text())
    store.close()
    lines = [header(command_line())]
    shipped = describe(stored.members, topics, copies, stored.story_of)
    baseline = random_pair_share(topics)
    lines += [
        f"### Stories on Reuters-21578 ({len(stored.ids):,} articles, as built by `indexer rebuild`)\n",
        f"* **{shipped['stories']:,} stories**; {shipped['multi']:,} have more than one article, and hold "
        f"{shipped['in_multi']:,} articles between them. The largest has {shipped['largest']}.",
        "* Sizes: " + ", ".join(f"{'6 or more' if size == 6 else size}: {count:,}"
                                for size, count in sorted(shipped["sizes"].items())) + ".",
        f"* **Same-story article pairs that share a topic label: {shipped['share']:.1%}** "
        f"({shipped['pairs']:,} pairs where both articles have topics); two random labelled articles: {baseline:.1%}.",
        f"* Exact-duplicate bodies: {shipped['copies_together']} of {len(copies)} groups in one story.\n",
        "### Calibration: same-event threshold and date window\n",
        "Every article re-placed from the stored vectors and signatures; near-duplicates (MinHash Jaccard ≥ "
        f"{story_rules.NEAR_DUPLICATE_JACCARD}) and the {story_rules.STORY_SPAN_DAYS}-day story span unchanged.\n",
        "| cosine ≥ | date window (days) | stories | in multi-article stories | largest | pairs with topics | share a topic |",
        "|---|---|---|---|---|---|---|",
    ]
    for similarity in (0.80, 0.85, 0.90):
        for window in (1, 2, 3):
            grouped = regroup(stored, similarity, window)
            found = describe(grouped.members, topics, copies, grouped.story_of)
            chosen = similarity == story_rules.SAME_EVENT_SIMILARITY and window == story_rules.DATE_WINDOW_DAYS
            lines.append(f"| {similarity:.2f}{' **(shipped)**' if chosen else ''} | {window} | {found['stories']:,} | "
                         f"{found['in_multi']:,} | {found['largest']} | {found['pairs']:,} | {found['share']:.1%} |")
            print(lines[-1], flush=True)

    # Cost: the build's stories phase, and one added article.
    build_seconds = manifest["build_seconds"]
    manifest_phase = stories_seconds
    archive = Archive.open(index)
    timings = []
    sample = random.Random(2).sample(stored.ids, 30)
    for article_id in sample:
        started = time.perf_counter()
        archive.article(article_id)
        timings.append((time.perf_counter() - started) * 1000)
    archive.close()
    corpus = WORK / "reuters-stories-corpus"  # the dataset and one new article beside it
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    (corpus / REUTERS.name).symlink_to(REUTERS.resolve())
    work_index = WORK / "reuters-stories-index"
    shutil.rmtree(work_index, ignore_errors=True)
    shutil.copytree(index, work_index, symlinks=True)
    added = corpus / "breaking-news.txt"
    added.write_text("Cocoa exporters halt shipments from Salvador\n\nPublished March 3, 1987\n\nBahia cocoa "
                     "exporters halted shipments on Tuesday after a dispute over port fees, traders said, adding "
                     "that about 40,000 bags were waiting.\n")
    try:
        summary = update(corpus, work_index)
    finally:
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(work_index, ignore_errors=True)
    lines += [
        "\n### What stories and claims cost\n",
        f"* Build: the stories phase of the rebuild that made this index took {manifest_phase} s "
        f"({manifest_phase / len(stored.ids) * 1000:.2f} s per 1,000 articles); the rebuild took {build_seconds:.0f} s "
        "with every embedding cached. Against a cold build's embed phase (fp32 1,270 s, bf16 694 s in the build "
        "section above; not the same run), that is "
        f"{manifest_phase / 1270:.1%} and {manifest_phase / 694:.1%} (target ≤ 15%).",
        f"* **Adding one article with `indexer update`: stories phase {summary.seconds.get('stories', 0.0):.2f} s** "
        f"(target ≤ 0.5 s); the whole update's phases: "
        + ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in summary.seconds.items()) + ".",
        f"* Claims are found when an article is read (its story's other articles only): `Archive.article` took "
        f"median {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms over 30 random Reuters "
        "articles, claims and story included. Nothing is added to a build for them.",
    ]
    text = "\n".join(lines)
    write_section("stories", "## Stories and claims (Reuters-21578)\n\n" + text)
    print(text)


if __name__ == "__main__":
    main()
