"""The catalog as flat arrays: ids found through hashes, one rule per filter, and the embedded
backend's copy in each generation, memory-mapped on open instead of read from the store."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from archive import Archive
from archive.backends.embedded import catalog as catalog_file
from archive.backends.embedded.mapped_arrays import mapped_npz, save_mapped_npz
from archive.backends.embedded.store import Store
from archive.errors import IndexCorruptError
from archive.index import catalog as catalog_module
from archive.index.catalog import UNDATED, Catalog, Filters, Strings
from archive.index.manifest import MANIFEST_NAME

ROWS = [  # (id, date, source, story id), by id
    ("a", "2022-12-19", "Reuters", "story-1"),
    ("b", "2022-12-20", " reuters ", "story-1"),
    ("c", None, "BBC News", None),
    ("d", "2023-01-05", None, "story-2"),
    ("é/ü", "2022-02-30", "Le Monde", "story-2"),  # a date numpy cannot read: undated for coverage, kept as written
]
PASSAGES = [(0, "a"), (1, "a"), (2, "b"), (4, "c"), (5, "d"), (6, "é/ü"), (7, "gone")]


def test_strings_are_found_by_position_and_by_value():
    values = ["a", "b", "é/ü", "", "a longer id with spaces"]
    strings = Strings.of(values)
    assert len(strings) == 5 and list(strings) == values and strings[2] == "é/ü" and strings[-1] == values[-1]
    assert strings[1:3] == ["b", "é/ü"]
    assert [strings.index_of(value) for value in values] == [0, 1, 2, 3, 4]
    assert strings.index_of("missing") is None
    with pytest.raises(IndexError):
        strings[5]


def test_strings_with_equal_hashes_are_told_apart(monkeypatch):
    monkeypatch.setattr(catalog_module, "string_hash", lambda value: 7)  # every string collides
    strings = Strings.of(["x", "y", "z"])
    assert [strings.index_of(value) for value in ("z", "x", "y", "w")] == [2, 0, 1, None]


def test_the_catalog_answers_as_the_rows_say():
    catalog = Catalog.from_rows(ROWS, PASSAGES)
    assert catalog.article_count == 5 and list(catalog.article_ids) == ["a", "b", "c", "d", "é/ü"]
    assert catalog.ordinal["d"] == 3 and "gone" not in catalog.ordinal and catalog.ordinal.get("gone") is None
    assert catalog.owners([0, 2, 3, 7, 99]) == {0: "a", 2: "b"}  # 3: no passage; 7: an article not in the rows
    assert [catalog.date_of(article) for article in ("a", "c", "é/ü")] == ["2022-12-19", "", "2022-02-30"]
    assert catalog.day_numbers[2] == UNDATED and catalog.day_numbers[4] == UNDATED
    assert catalog.day_numbers[0] == np.datetime64("2022-12-19", "D").astype(np.int64)
    assert [catalog.source_of(article) for article in ("b", "c", "d")] == [" reuters ", "BBC News", ""]
    assert catalog.story_of("b") == ("story-1", 2) and catalog.story_of("c") == ("c", 1)  # no story: its own
    assert catalog.story_sizes[catalog.story_ordinal["story-2"]] == 2
    assert catalog.article_mask(Filters(source="REUTERS")).tolist() == [True, True, False, False, False]
    assert not catalog.article_mask(Filters(source="nowhere")).any()
    assert catalog.article_mask(Filters(date_from="2022-12-20")).tolist() == [False, True, False, True, False]
    assert catalog.article_mask(Filters(date_to="2022-12-31")).tolist() == [True, True, False, False, True]
    groups, shown = catalog.source_groups
    assert shown[groups[0]] == shown[groups[1]] == "Reuters" and shown[groups[3]] == ""
    assert catalog.date_order.tolist() == [0, 1, 3, 2, 4]  # dated by day, then the undated by id


def test_the_arrays_saved_and_mapped_are_the_same_catalog(tmp_path):
    catalog = Catalog.from_rows(ROWS, PASSAGES)
    path = tmp_path / "catalog.npz"
    save_mapped_npz(path, catalog.to_arrays())
    mapped = Catalog.from_arrays(mapped_npz(path))
    assert isinstance(mapped.passage_article.base, np.memmap) or isinstance(mapped.passage_article, np.memmap)
    for name in ("a", "c", "é/ü"):
        assert (mapped.date_of(name), mapped.source_of(name), mapped.story_of(name)) == \
            (catalog.date_of(name), catalog.source_of(name), catalog.story_of(name))
    assert mapped.owners(list(range(10))) == catalog.owners(list(range(10)))
    for filters in (Filters(source="reuters"), Filters(date_from="2022-12-20", date_to="2023-01-01")):
        assert mapped.article_mask(filters).tolist() == catalog.article_mask(filters).tolist()
    arrays = dict(catalog.to_arrays())
    arrays["stories"] = arrays["stories"][:-1]
    with pytest.raises(IndexCorruptError, match="arrays disagree"):
        Catalog.from_arrays(arrays)
    with pytest.raises(IndexCorruptError, match="format 9"):
        Catalog.from_arrays({**catalog.to_arrays(), "format": np.array([9])})
    with pytest.raises(IndexCorruptError, match="lacks 'dates'"):
        Catalog.from_arrays({name: value for name, value in catalog.to_arrays().items() if name != "dates"})


def test_saved_arrays_are_mapped_aligned_and_read_by_numpy_as_written(tmp_path):
    arrays = {"a": np.arange(7, dtype=np.int32), "blob": np.frombuffer(b"odd-length blob", dtype=np.uint8),
              "hashes": np.arange(5, dtype=np.uint64) * 7919, "dates": np.array([b"2022-12-19", b""]),
              "empty": np.zeros(0, dtype=np.int64), "a.name with dots": np.ones((3, 2), dtype=np.float64)}
    path = tmp_path / "aligned.npz"
    save_mapped_npz(path, arrays)
    mapped = mapped_npz(path)
    with np.load(path) as loaded:
        assert sorted(loaded.files) == sorted(arrays)
        for name, array in arrays.items():
            assert np.array_equal(loaded[name], array) and np.array_equal(mapped[name], array)
            assert mapped[name].dtype == array.dtype and mapped[name].shape == array.shape
    assert all(mapped[name].ctypes.data % 64 == 0 for name in arrays if len(arrays[name]))
    # numpy's own savez places the same members unaligned: what made searches copy them
    unaligned = tmp_path / "numpy.npz"
    np.savez(unaligned, **arrays)
    old = mapped_npz(unaligned)
    assert any(old[name].ctypes.data % 8 for name in arrays if len(arrays[name]))
    assert all(np.array_equal(old[name], array) for name, array in arrays.items())


def test_a_generation_maps_its_catalog_and_impact_arrays_aligned(built_index):
    directory = built_index / "generations" / (built_index / "CURRENT").read_text().strip()
    for name in (catalog_file.CATALOG_NAME, "impacts.npz"):
        mapped = mapped_npz(directory / name)
        assert len(mapped) > 5
        assert [key for key, array in mapped.items() if array.size and array.ctypes.data % 64] == []


def test_sources_and_ids_of_any_characters_survive_the_stored_arrays(tmp_path):
    rows = [("a\nb", "2022-12-19", "Reuters\nWire", "s\n1"), ("c", None, "\n", None), ("d", None, "", None)]
    catalog = Catalog.from_rows(rows, [(0, "a\nb"), (1, "c")])
    path = tmp_path / "catalog.npz"
    with open(path, "wb") as stream:
        np.savez(stream, **catalog.to_arrays())
    mapped = Catalog.from_arrays(mapped_npz(path))
    assert [mapped.source_of(article) for article in ("a\nb", "c", "d")] == ["Reuters\nWire", "\n", ""]
    assert mapped.story_of("a\nb") == ("s\n1", 1) and mapped.owners([0, 1]) == {0: "a\nb", 1: "c"}


def test_a_flipped_index_in_the_stored_arrays_is_refused():
    arrays = dict(Catalog.from_rows(ROWS, PASSAGES).to_arrays())
    arrays["stories"] = arrays["stories"].copy()
    arrays["stories"][0] = 1000
    with pytest.raises(IndexCorruptError, match="stories points past"):
        Catalog.from_arrays(arrays)
    arrays = dict(Catalog.from_rows(ROWS, PASSAGES).to_arrays())
    arrays["article_ids.offsets"] = arrays["article_ids.offsets"][:-1]
    with pytest.raises(IndexCorruptError, match="article_ids disagree with their offsets"):
        Catalog.from_arrays(arrays)


def test_an_embedded_generation_maps_its_catalog_and_reads_no_rows_to_open(built_index, embedder, monkeypatch):
    def refuse(*_):
        raise AssertionError("the catalog was read from the store's rows")

    monkeypatch.setattr(Store, "article_rows", refuse)
    monkeypatch.setattr(Store, "live_passage_rows", refuse)
    archive = Archive.open(built_index, embedder=embedder)
    try:
        snapshot = archive.current().snapshot
        assert catalog_file.CATALOG_NAME in {path.name for path in snapshot.directory.iterdir()}
        maps = Path("/proc/self/maps").read_text()
        mapped = [line for line in maps.splitlines() if str(snapshot.directory / catalog_file.CATALOG_NAME) in line]
        assert mapped, "the catalog is not memory-mapped"
        assert archive.search("Lukashenko potash", mode="keyword").results
    finally:
        archive.close()


def test_a_generation_without_a_stored_catalog_reads_it_from_the_store(built_index, embedder):
    """Generations built before catalogs were stored still open."""
    directory = built_index / "generations" / (built_index / "CURRENT").read_text().strip()
    (directory / catalog_file.CATALOG_NAME).unlink()
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["files"].pop(catalog_file.CATALOG_NAME)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    archive = Archive.open(built_index, embedder=embedder)
    try:
        assert archive.search("Lukashenko potash", mode="keyword").results
    finally:
        archive.close()


def test_a_catalog_that_disagrees_with_the_store_is_refused(built_index, embedder):
    directory = built_index / "generations" / (built_index / "CURRENT").read_text().strip()
    catalog = Catalog.from_rows([("only-one", None, None, None)], [(0, "only-one")])
    with open(directory / catalog_file.CATALOG_NAME, "wb") as stream:
        np.savez(stream, **catalog.to_arrays())
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["files"] = {}  # (as if built before checksums: the counts still catch it)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="catalog has 1 articles, the store 5"):
        Archive.open(built_index, embedder=embedder)
    assert zipfile.is_zipfile(directory / catalog_file.CATALOG_NAME)
