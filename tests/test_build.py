import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, copy_index

from archive.archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.errors import BuildLockedError, CorpusError, IndexCorruptError, IndexNotFoundError, IndexVersionError
from archive.index.layout import IndexLayout, build_lock
from archive.index.manifest import MANIFEST_NAME, SCHEMA_VERSION
from archive.indexing.generation import CRASH_VARIABLE
from archive.settings import DEFAULT_MODEL


def test_rebuild_writes_a_complete_generation_with_manifest(seed_index):
    layout = IndexLayout(seed_index)
    directory = layout.current_directory()
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["model"] == DEFAULT_MODEL and manifest["dimension"] == 384
    assert manifest["articles"] == 5 and manifest["passages"] > 5
    assert manifest["vector_index"] == "flat16"
    assert len(manifest["corpus_fingerprint"]) == 32
    assert {path.name for path in directory.iterdir()} == {"manifest.json", "keyword", "impacts.npz", "catalog.npz",
                                                      "vectors.faiss", "store.sqlite"}


def test_second_rebuild_reuses_every_embedding(corpus_copy, fresh_index, embedder):
    first = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert first.embedded == 0 and first.reused == first.passages  # the cache came warm from the seed build
    (corpus_copy / "extra.txt").write_text("Potash strike\n\nMiners at the potash works walked out on Tuesday.\n")
    second = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert (second.articles, second.embedded, second.reused) == (6, 1, first.passages)
    third = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert third.embedded == 0 and third.reused == third.passages
    # Old generations are pruned to the live one and its predecessor.
    assert len([p for p in IndexLayout(fresh_index).generations.iterdir()]) == 2


def test_summary_lists_skipped_items(tmp_path, fresh_index, embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Good title\n\nGood body of text.\n")
    (corpus / "empty.txt").write_text("")
    summary = rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert summary.articles == 1
    assert summary.skipped == [{"path": "empty.txt", "reason": "empty file"}]
    with pytest.raises(CorpusError, match=r"1 corpus item\(s\) could not be indexed; first: empty.txt: empty file"):
        rebuild(corpus, fresh_index, DEFAULT_MODEL, embedder=embedder, strict=True)


def test_empty_corpus_is_an_error(tmp_path, fresh_index, embedder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no articles found"):
        rebuild(tmp_path / "empty", fresh_index, DEFAULT_MODEL, embedder=embedder)


def run_indexer(*arguments, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "indexer", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["ingest", "embed", "keyword", "vectors", "stories", "publish"])
def test_a_build_killed_mid_way_leaves_the_live_index_intact(phase, corpus_copy, built_index, embedder):
    fresh_index = built_index  # the seed corpus, built
    before = Archive.open(fresh_index, embedder=embedder)
    expected = before.search("potash exports").to_dict()["results"]
    generation = before.generation
    before.close()
    (corpus_copy / "new.txt").write_text("A brand new story\n\nNothing like it was ever indexed before today.\n")
    killed = run_indexer("rebuild", "--corpus", str(corpus_copy), "--index", str(fresh_index),
                         env_extra={CRASH_VARIABLE: phase})
    assert killed.returncode == -9, killed.stderr
    after = Archive.open(fresh_index, embedder=embedder)
    assert after.generation == generation
    assert after.search("potash exports").to_dict()["results"] == expected
    after.close()
    # The next build cleans up whatever the killed one left and succeeds.
    summary = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert summary.articles == 6
    assert not list(IndexLayout(fresh_index).generations.glob(".building-*"))


def test_a_second_build_refuses_while_one_runs(fresh_index):
    layout = IndexLayout(fresh_index)
    with build_lock(layout):
        with pytest.raises(BuildLockedError, match=f"another build is running on {fresh_index} \\(pid {os.getpid()}\\)"):
            with build_lock(layout):
                pass
    with build_lock(layout):  # released again
        pass


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="no index at"):
        Archive.open(tmp_path / "none")


def corrupt_copy(seed_index, tmp_path):
    target = copy_index(seed_index, tmp_path / "corrupt")
    return target, IndexLayout(target).current_directory()


def test_truncated_faiss_file_is_detected(seed_index, tmp_path, embedder):
    root, directory = corrupt_copy(seed_index, tmp_path)
    data = (directory / "vectors.faiss").read_bytes()
    (directory / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match=r"is damaged: vectors.faiss has [\d,]+ bytes, the manifest says [\d,]+") as caught:
        Archive.open(root, embedder=embedder)
    assert caught.value.hint == "run `indexer rebuild` to build a fresh index"


def test_missing_keyword_segment_is_detected(seed_index, tmp_path, embedder):
    root, directory = corrupt_copy(seed_index, tmp_path)
    for segment in (directory / "keyword").glob("*.seg"):
        segment.unlink()
    with pytest.raises(IndexCorruptError, match=r"is damaged: keyword/\S+\.seg is missing"):
        Archive.open(root, embedder=embedder)


def test_truncated_keyword_segment_is_detected(seed_index, tmp_path, embedder):
    root, directory = corrupt_copy(seed_index, tmp_path)
    for segment in (directory / "keyword").glob("*.seg"):
        segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    with pytest.raises(IndexCorruptError, match=r"is damaged: keyword/\S+\.seg has [\d,]+ bytes"):
        Archive.open(root, embedder=embedder)


def test_manifest_from_a_newer_schema_is_refused(seed_index, tmp_path, embedder):
    root, directory = corrupt_copy(seed_index, tmp_path)
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexVersionError, match=f"index schema version {SCHEMA_VERSION + 1} is newer") as caught:
        Archive.open(root, embedder=embedder)
    assert caught.value.hint == "upgrade the archive package"


def test_a_version_5_manifest_is_read_under_its_old_names(seed_index, tmp_path, embedder):
    """Version 5 called the vector index FAISS's: ``faiss_type`` and ``faiss_parameters``."""
    root, directory = corrupt_copy(seed_index, tmp_path)
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["faiss_type"], manifest["faiss_parameters"] = manifest.pop("vector_index"), manifest.pop("vector_parameters")
    manifest["schema_version"] = 5
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    opened = Archive.open(root, embedder=embedder)
    assert opened.stats().vector_index == "flat16"
    assert opened.search("potash exports", mode="keyword").results
    opened.close()
    manifest["schema_version"] = 4
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexVersionError, match="index schema version 4 is not this program's version 6"):
        Archive.open(root, embedder=embedder)


def test_manifest_that_disagrees_with_the_files_is_refused(seed_index, tmp_path, embedder):
    root, directory = corrupt_copy(seed_index, tmp_path)
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["passages"] += 1
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="is inconsistent: store has"):
        Archive.open(root, embedder=embedder)


@pytest.mark.parametrize("kind", ["flat16", "hnsw"])
def test_a_vector_index_keeps_no_map_from_id_to_position_and_still_gives_a_passage_vector(kind, tmp_path):
    """A generation's ids are in FAISS's id list only (``IndexIDMap2``'s reverse map was 95 MB in
    each worker at 1.47M passages); one written before, with the map, still reads."""
    import faiss
    import numpy as np

    from archive.backends.embedded.vectors import VectorIndex, build_vector_index, write_vector_index

    vectors = np.random.default_rng(7).normal(size=(50, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 1050, dtype=np.int64)[::-1].copy()  # (ids are not positions after updates)
    write_vector_index(build_vector_index(vectors, ids, kind, 16), tmp_path / "now.faiss")
    now = VectorIndex(tmp_path / "now.faiss", 16, kind)
    assert type(now.index) is faiss.IndexIDMap
    found = now.reconstruct([1049, 1000, 1025])
    assert np.allclose(found, vectors[[0, 49, 24]], atol=1e-3)  # (flat16 keeps half precision)
    assert now.search(vectors[24], 1)[0][0] == 1025
    with pytest.raises(IndexCorruptError, match="passage 7 has no vector in vectors.faiss"):
        now.reconstruct([7])
    inner = faiss.IndexHNSWFlat(16, 32, faiss.METRIC_INNER_PRODUCT) if kind == "hnsw" else \
        faiss.IndexScalarQuantizer(16, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    before = faiss.IndexIDMap2(inner)
    before.add_with_ids(vectors, ids)
    faiss.write_index(before, str(tmp_path / "before.faiss"))
    assert np.allclose(VectorIndex(tmp_path / "before.faiss", 16, kind).reconstruct([1049, 1000, 1025]), found,
                       atol=1e-3)
    # An update writes one written before without its reverse map, and positions shift as flat ones remove.
    updated = faiss.read_index(str(tmp_path / "before.faiss"))
    if kind == "flat16":
        updated.remove_ids(np.array([1049, 1030], dtype=np.int64))
    write_vector_index(updated, tmp_path / "updated.faiss")
    reread = VectorIndex(tmp_path / "updated.faiss", 16, kind)
    assert type(reread.index) is faiss.IndexIDMap and reread.size == (48 if kind == "flat16" else 50)
    assert np.allclose(reread.reconstruct([1000, 1025]), vectors[[49, 24]], atol=1e-3)
    assert reread.search(vectors[24], 1)[0][0] == 1025
