"""``indexer status``: what is indexed, from which corpus, with which model, and how stale."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..errors import CorpusNotFoundError
from ..index.manifest import Manifest
from ..index.query_encoder import open_query_encoder
from ..ingest.corpus import FieldMapping, read_corpus
from .changes import RecordedCorpus, compare, unchanged_ids


def generation_status(manifest: Manifest, store: RecordedCorpus | None, where: str, work_dir: Path,
                      corpus: Path | str | None,
                    fields: FieldMapping | None = None, backend: str = "embedded", follow_links: bool = False) -> dict:
    """The status of an open generation (of either backend), from its manifest and what its
    store recorded of the corpus (``store`` None: a damaged generation, not compared with the
    corpus): ``where`` it is, ``work_dir`` its query encoder's home."""
    corpus_path = Path(corpus) if corpus is not None else Path(manifest.corpus_path)
    built = datetime.fromisoformat(manifest.created_at)
    status = {
        "location": where,
        "backend": backend,
        "generation": manifest.generation,
        "built_at": manifest.created_at,
        "age_seconds": round((datetime.now(UTC) - built).total_seconds()),
        "articles": manifest.articles,
        "passages": manifest.passages,
        "stories": manifest.stories,
        "model": manifest.model,
        "dimension": manifest.dimension,
        "vector_index": manifest.vector_index,
        "precision": manifest.precision,
        "precision_reason": manifest.precision_reason or "built before precisions were recorded",
        "tombstones": manifest.tombstones,
        "indexed_corpus": manifest.corpus_path,
        "corpus": str(corpus_path),
        "corpus_fingerprint": manifest.corpus_fingerprint,
        "query_encoder": open_query_encoder(work_dir, manifest.model)[1].to_dict(),
    }
    if store is None:
        status.update(pending=None, up_to_date=None)
        return status
    known = store.known_files()
    try:
        reading = read_corpus(corpus_path, fields, known, follow_links=follow_links)
    except CorpusNotFoundError:
        status.update(pending=None, up_to_date=None, corpus_missing=True)
        return status
    changes = compare(reading.articles, store.fingerprints(), unchanged_ids(reading, known))
    status.update(pending=changes.counts(), up_to_date=changes.pending == 0, skipped=len(reading.skipped))
    return status
