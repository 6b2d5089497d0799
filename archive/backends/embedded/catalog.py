"""The catalog in a generation of the embedded backend: written by every build and update,
memory-mapped on open (archive/index/catalog.py says why), so that opening a generation
reads no rows and every worker process shares one copy.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ...errors import IndexCorruptError
from ...index.catalog import Catalog
from .mapped_arrays import mapped_npz, save_mapped_npz
from .store import Store

CATALOG_NAME = "catalog.npz"


def write_catalog(store: Store, path: Path) -> Catalog:
    """The store's catalog, saved as ``path`` (uncompressed, to be mapped)."""
    catalog = Catalog.from_rows(store.article_rows(), store.live_passage_rows())
    save_mapped_npz(path, catalog.to_arrays())
    return catalog


def open_catalog(directory: Path, store: Store) -> Catalog:
    """The generation's catalog, mapped; a generation written before catalogs were stored has
    its catalog read from the store."""
    path = directory / CATALOG_NAME
    if not path.exists():
        return Catalog.from_rows(store.article_rows(), store.live_passage_rows())
    try:
        return Catalog.from_arrays(mapped_npz(path))
    except (OSError, ValueError, zipfile.BadZipFile) as problem:
        raise IndexCorruptError(f"the catalog {CATALOG_NAME} in {directory} cannot be read: {problem}") from None
