"""``indexer status``: what is indexed, from which corpus, with which model, and how stale."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..errors import CorpusNotFoundError
from ..index.layout import IndexLayout
from ..index.query_encoder import open_query_encoder
from ..index.snapshot import Snapshot
from ..ingest.corpus import FieldMapping, read_corpus
from .changes import compare, unchanged_ids


def index_status(index_dir: Path | str, corpus: Path | str | None, fields: FieldMapping | None = None) -> dict:
    layout = IndexLayout(index_dir)
    snapshot = Snapshot.open_current(layout)
    try:
        return snapshot_status(snapshot, str(layout.root), layout.root, corpus, fields)
    finally:
        snapshot.close()


def snapshot_status(snapshot, where: str, work_dir: Path, corpus: Path | str | None, fields: FieldMapping | None = None,
                    backend: str = "embedded") -> dict:
    """The status of an open snapshot (of either backend): ``where`` it is, ``work_dir`` its query encoder's home."""
    manifest = snapshot.manifest
    corpus_path = Path(corpus) if corpus is not None else Path(manifest.corpus_path)
    built = datetime.fromisoformat(manifest.created_at)
    status = {
        "index_dir": where,
        "backend": backend,
        "generation": manifest.generation,
        "built_at": manifest.created_at,
        "age_seconds": round((datetime.now(UTC) - built).total_seconds()),
        "articles": manifest.articles,
        "passages": manifest.passages,
        "stories": manifest.stories,
        "model": manifest.model,
        "dimension": manifest.dimension,
        "faiss_type": manifest.faiss_type,
        "precision": manifest.precision,
        "precision_reason": manifest.precision_reason or "built before precisions were recorded",
        "tombstones": manifest.tombstones,
        "indexed_corpus": manifest.corpus_path,
        "corpus": str(corpus_path),
        "corpus_fingerprint": manifest.corpus_fingerprint,
        "query_encoder": open_query_encoder(work_dir, manifest.model)[1].to_dict(),
    }
    known = snapshot.store.known_files()
    try:
        reading = read_corpus(corpus_path, fields, known)
    except CorpusNotFoundError:
        status.update(pending=None, up_to_date=None, corpus_missing=True)
        return status
    changes = compare(reading.articles, snapshot.store.fingerprints(), unchanged_ids(reading, known))
    status.update(pending=changes.counts(), up_to_date=changes.pending == 0, skipped=len(reading.skipped))
    return status
