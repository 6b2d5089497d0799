"""Embedding precision: fp32 and bf16 builds agree on what is found and what is marked; the
precision is part of the cache key, recorded and reported; auto decides once per machine."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from archive import Archive, InvalidParameterError, rebuild, update
from archive.index import precision as precision_module
from archive.index.embeddings import cache_key
from archive.index.precision import PROBE_NAME, choose_precision
from archive.settings import DEFAULT_MODEL
from indexer.cli import main
from tests.conftest import SEED_CORPUS, copy_index, link_query_encoder
from tests.test_build import run_indexer

QUERIES = ["potash exports", "Lukashenka", "general Naiev warning", "Putin visit to Minsk", "Shoigu AND agreement",
           "troops in Belarus", "drones over Kyiv", "sanctions on Belarus", "Kremlin spokesman Peskov",
           "weather forecast for the weekend"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory, seed_index, embedder):
    """The seed corpus built at fp32 and at bf16 (the embedding cache copied from the seed index)."""
    built = {}
    for precision in ("fp32", "bf16"):
        index = tmp_path_factory.mktemp(precision) / "index"
        index.mkdir()
        shutil.copy(seed_index / "embedding-cache.sqlite", index / "embedding-cache.sqlite")
        link_query_encoder(seed_index, index)
        summary = rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision=precision)
        assert (summary.precision, summary.precision_reason) == (precision, "asked for")
        built[precision] = index
    return built


def test_fp32_and_bf16_builds_find_the_same_top_results_and_marks(builds, embedder):
    opened = {precision: Archive.open(index, embedder=embedder) for precision, index in builds.items()}
    try:
        for query in QUERIES:
            for mode in ("semantic", "hybrid"):
                fp32, bf16 = (opened[precision].search(query, mode=mode, k=3) for precision in ("fp32", "bf16"))
                assert [result.id for result in fp32.results] == [result.id for result in bf16.results], (query, mode)
                for ours, theirs in zip(fp32.results, bf16.results, strict=True):
                    assert [(passage.start, passage.marks) for passage in ours.passages] == \
                           [(passage.start, passage.marks) for passage in theirs.passages], (query, mode)
    finally:
        for archive in opened.values():
            archive.close()


def test_bf16_vectors_are_close_to_fp32_ones(builds, embedder):
    texts = ["Belarus stopped potash exports through Lithuania.", "The general warned of a ground operation."]
    fp32 = np.stack([item.vector for item in embedder.encode_passages([(text, 0) for text in texts], "fp32")])
    bf16 = np.stack([item.vector for item in embedder.encode_passages([(text, 0) for text in texts], "bf16")])
    assert np.min(np.sum(fp32 * bf16, axis=1)) > 0.999
    assert not np.array_equal(fp32, bf16)  # bf16 really ran


def test_the_precision_is_part_of_the_cache_key():
    text = "Belarus stopped potash exports"
    assert cache_key(DEFAULT_MODEL, text, "fp32") == cache_key(DEFAULT_MODEL, text)  # old caches stay valid
    assert cache_key(DEFAULT_MODEL, text, "bf16") != cache_key(DEFAULT_MODEL, text, "fp32")


def test_the_manifest_status_and_summary_say_which_precision(builds):
    for precision, index in builds.items():
        status = CliRunner().invoke(main, ["status", "--index", str(index)])
        assert status.exit_code == 0
        assert f"vectors:    {precision} (asked for)\n" in status.output
        manifest = json.loads(next((index / "generations").glob("*/manifest.json")).read_text())
        assert (manifest["precision"], manifest["precision_reason"]) == (precision, "asked for")


def test_an_update_keeps_the_index_precision_and_refuses_another(builds, corpus_copy, embedder, tmp_path):
    index = tmp_path / "index"
    copy_index(builds["bf16"], index)
    (corpus_copy / "new.txt").write_text("Vilnius, 3 May 2023 — Lithuania closes two more border crossings with "
                                         "Belarus, citing the Wagner fighters stationed near the frontier.\n")
    with pytest.raises(InvalidParameterError) as caught:
        update(corpus_copy, index, embedder=embedder, precision="fp32")
    assert caught.value.message == "the index holds bf16 vectors; an update adds vectors at the same precision"
    assert caught.value.hint == "run `indexer rebuild --precision fp32` to re-embed everything at fp32"
    summary = update(corpus_copy, index, embedder=embedder)
    assert (summary.added, summary.embedded, summary.precision) == (1, 1, "bf16")


def test_auto_is_fp32_without_loading_the_model_on_a_cpu_without_bf16(monkeypatch, tmp_path):
    class Unloadable:
        name = DEFAULT_MODEL

        def encode_passages(self, *arguments):
            raise AssertionError("the model must not be used")

    monkeypatch.setattr(precision_module, "bf16_supported", lambda: False)
    choice = choose_precision("auto", Unloadable(), tmp_path, ["text"] * 40)
    assert (choice.precision, choice.reason) == ("fp32", "auto: this CPU has no bf16 instructions")
    assert not (tmp_path / PROBE_NAME).exists()


def test_auto_probes_once_per_machine_and_remembers(monkeypatch, tmp_path, embedder):
    calls = []
    monkeypatch.setattr(precision_module, "bf16_supported", lambda: True)
    monkeypatch.setattr(precision_module, "probe", lambda model, sample: calls.append(len(sample)) or 2.3)
    sample = [f"passage number {number}" for number in range(40)]
    first = choose_precision("auto", embedder, tmp_path, sample)
    second = choose_precision("auto", embedder, tmp_path, sample)
    assert calls == [40]
    assert first == second
    assert (first.precision, first.reason) == ("bf16", "auto: bf16 embeds 2.30x as fast as fp32 on this CPU")
    record = json.loads((tmp_path / PROBE_NAME).read_text())
    assert record["speedup"] == 2.3 and record["key"]["model"] == DEFAULT_MODEL
    monkeypatch.setattr(precision_module, "probe", lambda model, sample: 1.1)
    (tmp_path / PROBE_NAME).unlink()
    slow = choose_precision("auto", embedder, tmp_path, sample)
    assert (slow.precision, slow.reason) == ("fp32", "auto: bf16 is only 1.10x as fast as fp32 on this CPU")


def test_a_wrong_precision_setting_is_refused(seed_index):
    completed = run_indexer("update", "--corpus", str(SEED_CORPUS), "--index", str(seed_index),
                            env_extra={"ARCHIVE_EMBED_PRECISION": "fp8"})
    assert completed.returncode == 2
    assert completed.stderr == "error: ARCHIVE_EMBED_PRECISION must be one of auto, fp32, bf16, not 'fp8'\n"
