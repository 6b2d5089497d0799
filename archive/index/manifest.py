"""``manifest.json``: what an index generation holds and how it was built. Written last."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import IndexCorruptError, IndexVersionError

# 2: keyword impact arrays (impacts.npz); 3: articles' author and date kind; 4: name evidence; 5: stories;
# 6: the vector index named by what it is (vector_index, vector_parameters), not as FAISS's
SCHEMA_VERSION = 6
READABLE_VERSIONS = (5, 6)  # a version 5 manifest is the same but for those two names
MANIFEST_NAME = "manifest.json"
RENAMED = {"faiss_type": "vector_index", "faiss_parameters": "vector_parameters"}  # as version 5 names them


@dataclass
class Manifest:
    generation: str
    created_at: str
    model: str
    dimension: int
    articles: int
    passages: int
    corpus_path: str
    corpus_fingerprint: str
    vector_index: str  # the vector index's kind: flat16, hnsw (FAISS), milvus-flat
    vector_parameters: dict = field(default_factory=dict)
    tombstones: int = 0
    build_seconds: float = 0.0
    stories: int = 0
    precision: str = "fp32"  # of the passage vectors (manifests before precisions were fp32)
    precision_reason: str = ""
    # every file of the generation: relative path -> {"size", "sha256"} (archive/index/integrity.py);
    # empty for a Milvus generation, and for one built before files were recorded
    files: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST_NAME
    temporary = path.with_suffix(".json.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(manifest.to_dict(), stream, indent=2, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"index generation {directory.name} has no {MANIFEST_NAME}") from None
    except (OSError, ValueError) as problem:
        raise IndexCorruptError(f"unreadable {MANIFEST_NAME} in {directory}: {problem}") from None
    return manifest_from_dict(data, f"{MANIFEST_NAME} in {directory}")


def manifest_from_dict(data, where: str) -> Manifest:
    """A manifest read from ``where`` (a file, or a Milvus collection), its schema version checked."""
    if not isinstance(data, dict):
        raise IndexCorruptError(f"{where} is not a JSON object")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise IndexVersionError(
            f"index schema version {version} is {'newer than' if newer else 'not'} "
            f"this program's version {SCHEMA_VERSION}",
            hint="upgrade the archive package" if newer else "run `indexer rebuild` to rebuild the index",
        )
    data = {RENAMED.get(key, key): value for key, value in data.items()}
    data["schema_version"] = SCHEMA_VERSION  # read as this version: what it holds is the same
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise IndexCorruptError(f"{where} records its files unreadably")
    known = {item.name for item in fields(Manifest)}
    try:
        return Manifest(**{key: value for key, value in data.items() if key in known})
    except TypeError as problem:
        raise IndexCorruptError(f"incomplete {where}: {problem}") from None
