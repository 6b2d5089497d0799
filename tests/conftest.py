"""Shared fixtures: the real model, a real index of the seed corpus, and the web app on it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from archive.archive import Archive  # noqa: E402
from archive.backends.embedded.rebuild import rebuild  # noqa: E402
from archive.index.embeddings import Embedder  # noqa: E402
from archive.index.query_encoder import DIRECTORY as QUERY_ENCODER  # noqa: E402
from archive.settings import DEFAULT_MODEL  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the bench/ helpers (load generation, server start) are shared with tests
SEED_CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"
REUTERS = SHARED / "datasets" / "reuters21578" / "reuters21578.jsonl.gz"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.shared(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("seed") / "index"
    rebuild(SEED_CORPUS, index_dir, DEFAULT_MODEL, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def archive(seed_index, embedder) -> Archive:
    opened = Archive.open(seed_index, embedder=embedder)
    yield opened
    opened.close()


class EveryVersion:
    """An archive whose searches show every version of a story (``collapse="none"``), for tests
    about articles: all five seed articles are one story, so collapsed they are one result."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def search(self, *arguments, **options):
        options.setdefault("collapse", "none")
        return self.archive.search(*arguments, **options)

    def __getattr__(self, name: str):
        return getattr(self.archive, name)


def milvus_missing() -> str | None:
    """Why the Milvus backend cannot be tested here, or None when it can."""
    import importlib.util

    missing = [name for name in ("pymilvus", "milvus_lite") if importlib.util.find_spec(name) is None]
    if missing:
        return f"the Milvus backend's packages are not installed ({', '.join(missing)}); `make test` installs .[milvus]"
    return None


# The backends a parametrised test runs on; the Milvus run is skipped, saying why, without its packages.
BACKENDS = ["embedded", pytest.param("milvus", marks=pytest.mark.skipif(milvus_missing() is not None,
                                                                        reason=milvus_missing() or ""))]


def copy_index(source: Path, target: Path) -> Path:
    """A private copy of an index directory, but for its query encoder's files, which are hard
    links to the source's. The export's 90 MB of weights, copied into every test's index, filled
    a CI machine's disk. Nothing writes an export's files in place (a build exports into a staging
    directory and renames it over the old one), so sharing them is safe; the one test that damages
    an export copies it for real."""

    shutil.copytree(source, target, ignore=shutil.ignore_patterns(QUERY_ENCODER))
    link_query_encoder(source, target)
    return target


def link_query_encoder(source: Path, target: Path) -> None:
    if (source / QUERY_ENCODER).exists():
        shutil.copytree(source / QUERY_ENCODER, target / QUERY_ENCODER, copy_function=os.link)


def warm_directory(target: Path, seed_index: Path) -> Path:
    """An index (or a Milvus backend's work) directory whose embedding cache and query encoder are
    already warm: the seed index's (the encoder is exported once per session)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(seed_index / "embedding-cache.sqlite", target / "embedding-cache.sqlite")
    link_query_encoder(seed_index, target)
    return target


@pytest.fixture(scope="session")
def milvus_seed(tmp_path_factory, seed_index, embedder):
    """The seed corpus in a Milvus Lite database (the real Milvus engine, embedded)."""
    from archive.backends import MilvusBackend

    root = tmp_path_factory.mktemp("milvus")
    backend = MilvusBackend(str(root / "archive.db"), warm_directory(root / "work", seed_index))
    backend.rebuild(SEED_CORPUS, DEFAULT_MODEL, embedder=embedder)
    return backend


@pytest.fixture(scope="session")
def milvus_archive(milvus_seed, embedder) -> Archive:
    opened = Archive.open(milvus_seed, embedder=embedder)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def milvus_app(milvus_seed, embedder):
    from web import create_app

    return create_app({"INDEX_DIR": str(milvus_seed.work_dir), "BACKEND": "milvus", "MILVUS_URI": milvus_seed.uri,
                       "TESTING": False, "EMBEDDER": embedder})


def skip_on_milvus(archive, reason: str) -> None:
    """Skip a check the Milvus backend cannot honour, saying why."""
    opened = getattr(archive, "archive", archive)
    if opened.backend.name == "milvus":
        pytest.skip(f"Milvus backend: {reason}")


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the seed corpus, for tests that change it."""
    target = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


@pytest.fixture
def fresh_index(tmp_path, seed_index) -> Path:
    """A private index directory whose embedding cache is already warm (a copy of the seed's)."""
    return warm_directory(tmp_path / "index", seed_index)


@pytest.fixture
def built_index(tmp_path, seed_index) -> Path:
    """A private copy of the built seed index (its live generation, embedding cache and query
    encoder), for tests that change or break an index without building one first."""
    return copy_index(seed_index, tmp_path / "index")


@pytest.fixture(scope="session")
def app(seed_index, embedder):
    from web import create_app

    return create_app({"INDEX_DIR": str(seed_index), "TESTING": False, "EMBEDDER": embedder})


@pytest.fixture
def client(app):
    return app.test_client()
