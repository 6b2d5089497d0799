"""The Milvus backend: an archive in Milvus (a Milvus Lite ``.db`` file, or a server or
cluster at ``http://host:19530``); the web servers keep nothing of it on their disks.

    client       the connection, its errors, the collections of a generation, the live pointer
    store        articles, passages and records, read back
    keyword      the keyword leg: our query language mapped onto Milvus BM25
    vectors      the semantic leg: a FLAT inner-product search
    snapshot     the live generation, opened for searching
    build        rebuild (new collections, then the pointer) and update (in place, by article id)

pymilvus is imported only when a connection opens: the package installs without it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ...indexing.generation import BuildSummary
from ...indexing.status import generation_status
from ...ingest.corpus import FieldMapping
from ...settings import MilvusAccess
from .build import rebuild_milvus, update_milvus
from .client import DEFAULT_PREFIX, connect, is_lite, read_pointer, story_key
from .snapshot import MilvusSnapshot


class MilvusBackend:
    name = "milvus"

    def __init__(self, uri: str, work_dir: Path | str, prefix: str = DEFAULT_PREFIX,
                 access: MilvusAccess | None = None) -> None:
        """``work_dir``: the build's embedding cache and lock, and the ONNX query encoder.
        ``access``: a token and TLS files, for a server that asks for them."""
        self.uri, self.work_dir, self.prefix = uri, Path(work_dir), prefix
        self.access = access or MilvusAccess()

    def __str__(self) -> str:
        return f"Milvus {self.uri}"

    @property
    def single_process(self) -> bool:
        """A Milvus Lite file opens in one process at a time; a server in any number."""
        return is_lite(self.uri)

    def live_name(self) -> str | None:
        pointer = read_pointer(connect(self.uri, access=self.access), self.prefix)
        return pointer["manifest"].get("generation") if pointer else None

    def open_snapshot(self) -> MilvusSnapshot:
        return MilvusSnapshot(connect(self.uri, access=self.access), self.prefix)

    def rebuild(self, corpus: Path | str, model_name: str, **options) -> BuildSummary:
        return rebuild_milvus(corpus, self.uri, self.work_dir, model_name, prefix=self.prefix, access=self.access,
                              **options)

    def update(self, corpus: Path | str, **options) -> BuildSummary:
        return update_milvus(corpus, self.uri, self.work_dir, prefix=self.prefix, access=self.access, **options)

    def verify(self, full: bool = False) -> dict:
        """The live generation read back: its counts as its manifest says, and every passage id
        and article number within those it recorded (searches leave out any past them, as an
        update's); ``full``: every article's story size as its rows say it, against a count of
        its story's articles, and every passage's story against its article's. (Milvus keeps the files: there are none here.)"""
        milvus = connect(self.uri, access=self.access)
        pointer = read_pointer(milvus, self.prefix)
        pending = bool(pointer and pointer.get("pending"))  # an update writing, or one that crashed
        snapshot = self.open_snapshot()
        try:
            manifest, store, catalog = snapshot.manifest, snapshot.store, snapshot.catalog
            articles, passages = store.counts()
            stray_pids = 0 if pending else store.count(snapshot.collections.passages, f"pid >= {catalog.pid_limit}")
            stray_numbers = 0 if pending else sum(
                store.count(collection, f"number >= {catalog.size} or number < 0")
                for collection in (snapshot.collections.passages, snapshot.collections.articles))
            placed = store.placed() if full and not pending else {}
            astray = 0  # passages whose story is not their article's
            if placed:
                for row in milvus.rows(snapshot.collections.passages, "", ["article_id", "story_id", "story_size",
                                                                             "story_key"]):
                    story = placed.get(row["article_id"])
                    astray += story is None or (row["story_id"], int(row["story_size"])) != story \
                        or int(row["story_key"]) != story_key(story[0])
        finally:
            snapshot.close()
        if pending:  # its rows are not yet the live generation's: nothing to compare
            return {"generation": manifest.generation, "files": 0, "full": full, "checked": "nothing",
                    "problems": [], "recorded": True,
                    "note": "an update is unfinished (running, or stopped: the next `indexer update` finishes it)"}
        problems = []
        if articles != manifest.articles:
            problems.append(f"Milvus holds {articles:,} articles, the manifest says {manifest.articles:,}")
        if passages != manifest.passages:
            problems.append(f"Milvus holds {passages:,} passages, the manifest says {manifest.passages:,}")
        if stray_pids:
            problems.append(f"{stray_pids:,} passages have ids past the {catalog.pid_limit:,} the generation recorded")
        if stray_numbers:
            problems.append(f"{stray_numbers:,} rows have article numbers outside the {catalog.size:,} "
                            "the generation recorded")
        counted = Counter(story for story, _ in placed.values())
        wrong = sum(1 for story, size in placed.values() if size != counted[story])
        if wrong:
            problems.append(f"articles whose rows give their story's size wrong: {wrong:,} of {len(placed):,}")
        if astray:
            problems.append(f"passages whose story is not their article's: {astray:,}")
        checked = "counts, passage ids, article numbers and story sizes" if full else \
            "counts, passage ids and article numbers"
        return {"generation": manifest.generation, "files": 0, "full": full, "checked": checked,
                "problems": problems, "recorded": True}

    def status(self, corpus: Path | str | None, fields: FieldMapping | None = None, follow_links: bool = False) -> dict:
        snapshot = self.open_snapshot()
        try:
            return generation_status(snapshot.manifest, snapshot.store, self.uri, self.work_dir, corpus, fields,
                                     backend=self.name, follow_links=follow_links)
        finally:
            snapshot.close()



if TYPE_CHECKING:  # mypy (make lint) holds this backend and each of its parts to the contract
    from .. import contract

    def satisfies_the_contract(backend: MilvusBackend, snapshot: MilvusSnapshot) -> tuple[
            contract.Backend, contract.Snapshot, contract.Store, contract.KeywordIndex, contract.VectorIndex]:
        return backend, snapshot, snapshot.store, snapshot.keyword, snapshot.vectors


__all__ = ["MilvusBackend", "is_lite"]
