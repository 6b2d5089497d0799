"""Cold builds embedded on a real Dask cluster (issue 27): a local cluster of two worker
processes builds what one process builds, and a worker killed mid-build costs nothing but time."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from conftest import SEED_CORPUS

from archive.backends.embedded.rebuild import rebuild
from archive.index.layout import IndexLayout
from archive.indexing import cluster as cluster_module
from archive.settings import DEFAULT_MODEL
from bench.cluster import contents, cosines

pytest.importorskip("distributed", reason="the cluster extra (Dask distributed) is not installed: pip install .[cluster]")
pytestmark = pytest.mark.slow  # worker processes that load the model, and one killed: `make test-fast` leaves them out

QUERIES = ["potash exports", "Lukashenka", "ground operation", "drones over Kyiv"]


@pytest.fixture(scope="module")
def single(tmp_path_factory, embedder):
    """The seed corpus built in this process, from a cold embedding cache."""
    index = tmp_path_factory.mktemp("single") / "index"
    rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision="fp32")
    return index


def stored(index) -> dict:
    return contents(index, QUERIES)


def assert_same_build(first, second) -> None:
    assert first["passages"].keys() == second["passages"].keys()
    assert first["stories"] == second["stories"]
    for key, (start, end, _) in first["passages"].items():
        assert (start, end) == second["passages"][key][:2], key
    alike = cosines(first, second)
    assert len(alike) == len(first["passages"]) > 0 and min(alike) >= 0.9999, min(alike)
    assert first["top"] == second["top"]


@pytest.fixture(autouse=True)
def small_builds_use_the_cluster(monkeypatch):
    """The seed corpus is 5 files and 21 passages: less than a real build sends to a cluster.
    Here every build reads, cleans and splits its files there, two files a partition."""
    monkeypatch.setattr(cluster_module, "MIN_PASSAGES", 1)
    monkeypatch.setattr(cluster_module, "MIN_READ_BYTES", 0)
    sizes = sorted(path.stat().st_size for path in SEED_CORPUS.iterdir())
    monkeypatch.setattr(cluster_module, "READ_PARTITION_BYTES", sizes[-1] + sizes[-2])


def test_a_local_cluster_of_two_workers_builds_what_one_process_builds(tmp_path, single, monkeypatch, embedder):
    import os

    monkeypatch.setattr(cluster_module, "PARTITION", 4)  # several partitions for each worker
    before = {name: os.environ.get(name) for name in cluster_module.NANNY_VARIABLES}
    index = tmp_path / "index"
    summary = rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision="fp32", cluster="local:2")
    # 21 passages, 4 a partition; 5 files, read in partitions of at most two
    assert summary.cluster == {"address": "local:2", "workers": 2, "partitions": 6, "read_partitions": 3, "read_here": 0}
    assert summary.embedded == 21 and summary.reused == 0
    assert {name: os.environ.get(name) for name in cluster_module.NANNY_VARIABLES} == before  # Dask's, undone
    assert_same_build(stored(single), stored(index))
    again = rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision="fp32", cluster="local:2")
    assert again.embedded == 0 and again.cluster["partitions"] == 0  # every embedding cached: nothing embedded there
    assert_same_build(stored(single), stored(index))
    monkeypatch.setattr(cluster_module, "MIN_READ_BYTES", 10**9)
    small = rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision="fp32", cluster="local:2")
    assert small.embedded == 0 and small.cluster is None  # little to read, nothing to embed: no cluster started


def test_a_worker_killed_mid_build_has_its_partitions_done_by_another(tmp_path, single, monkeypatch, embedder):
    monkeypatch.setattr(cluster_module, "PARTITION", 2)
    killed: list[int] = []

    def kill_a_worker(phase: str, done: int, total: int) -> None:
        if phase != "embed" or killed or done == 0:
            return
        # A local cluster's nannies run here, each worker in a process of its own, spawned.
        workers = [process for process in psutil.Process().children(recursive=True)
                   if "spawn_main" in " ".join(process.cmdline())]
        assert workers, "no worker process found"
        killed.append(workers[0].pid)
        workers[0].kill()

    index = tmp_path / "index"
    summary = rebuild(SEED_CORPUS, index, DEFAULT_MODEL, embedder=embedder, precision="fp32", cluster="local:2",
                      progress=kill_a_worker)
    assert killed and summary.embedded == 21
    assert_same_build(stored(single), stored(index))
    assert IndexLayout(index).current_name() is not None


def test_an_unreachable_cluster_is_a_clear_error(tmp_path, embedder):
    from click.testing import CliRunner

    from indexer.cli import main

    result = CliRunner().invoke(main, ["rebuild", "--corpus", str(SEED_CORPUS), "--index", str(tmp_path / "index"),
                                       "--cluster", "tcp://127.0.0.1:1", "--precision", "fp32"])
    assert result.exit_code == 9, result.output
    assert "error: cannot reach the cluster at tcp://127.0.0.1:1" in result.output
    assert "hint: check the scheduler's address, or use --cluster local:N" in result.output
    assert IndexLayout(tmp_path / "index").current_name() is None  # nothing published


def test_a_cluster_without_workers_is_an_error_not_a_hang(tmp_path, monkeypatch, embedder):
    from dask.distributed import LocalCluster

    from archive.errors import ClusterError

    monkeypatch.setattr(cluster_module, "WAIT_FOR_WORKERS_SECONDS", 2.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        with pytest.raises(ClusterError, match="cannot reach the cluster"):
            rebuild(SEED_CORPUS, tmp_path / "index", DEFAULT_MODEL, embedder=embedder, precision="fp32",
                    cluster=empty.scheduler_address)
    assert IndexLayout(tmp_path / "index").current_name() is None


def test_a_small_build_embeds_here_without_starting_workers(tmp_path, monkeypatch, embedder):
    monkeypatch.setattr(cluster_module, "MIN_PASSAGES", 1000)
    monkeypatch.setattr(cluster_module, "MIN_READ_BYTES", 10**9)
    summary = rebuild(SEED_CORPUS, tmp_path / "index", DEFAULT_MODEL, embedder=embedder, precision="fp32",
                      cluster="local:2")
    assert summary.embedded == 21 and summary.cluster is None


def test_files_the_workers_cannot_see_are_read_here(tmp_path, single, monkeypatch, embedder):
    """A remote worker without the corpus's volume: its files come back unread, and the driver reads them."""
    seen_by_workers = {SEED_CORPUS / name for name in sorted(path.name for path in SEED_CORPUS.iterdir())[:2]}
    original = cluster_module.read_partition

    def workers_see_two_files(files, fields):
        hidden = [(path, relative) if Path(path) in seen_by_workers else ("/nonexistent/" + relative, relative)
                  for path, relative in files]
        return original(hidden, fields)

    monkeypatch.setattr(cluster_module, "read_partition", workers_see_two_files)
    summary = rebuild(SEED_CORPUS, tmp_path / "index", DEFAULT_MODEL, embedder=embedder, precision="fp32",
                      cluster="local:2")
    assert summary.cluster["read_here"] == 3 and not summary.skipped
    assert_same_build(stored(single), stored(tmp_path / "index"))
