"""A cold build on a cluster: Dask distributed (the ``cluster`` extra).

Two steps of a build go to the cluster's workers, in partitions:

* **reading, cleaning and splitting**: the corpus's files (those with no crawl or feed in
  them) in partitions of consecutive files; each worker reads its files, cleans the
  articles and splits them into passages, and sends back the articles and their passage
  spans. The driver takes them in corpus order and finds copies across files (a duplicate
  id, the same page twice) as a single process does, so the reading is the same. Crawls and
  feeds are read on the driver: which copy of a page is kept depends on the files before.
  Workers read the corpus at the driver's path (a volume every machine mounts); a file a
  worker cannot see is read on the driver instead.
* **embedding**, nearly all of a cold build (docs/scale.md): the passages the embedding cache
  lacks; each worker loads the model once and embeds its partitions, and the driver puts
  each partition's embeddings in the cache (the same keys: model, precision, text hash) as
  it arrives. A re-run, or a move between backends, re-embeds nothing the cache holds, and a
  driver killed mid-build leaves every finished partition cached.

    --cluster local:2              a local cluster of two single-threaded worker processes
    --cluster tcp://host:8786      a running Dask scheduler (Kubernetes, a batch scheduler, …)

A worker that dies mid-build has its partitions given to another by the scheduler (up to its
``allowed-failures``, 3 by default); the build completes with the workers left. A build of
fewer than ``MIN_PASSAGES`` passages to embed (a small update) embeds them here instead, and
one with less than ``MIN_READ_BYTES`` of files to read reads them here.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArchiveError, ClusterError, ModelError
from ..index.embeddings import PassageEmbedding
from ..ingest.corpus import FieldMapping, FileRead, read_and_split, read_one

PARTITION = 128  # passages per task: small enough to spread and to lose little with a worker, big enough to pad little
MIN_PASSAGES = 2 * PARTITION  # fewer are embedded here: starting workers and their models would cost more
READ_PARTITION_BYTES = 8 * 1024 * 1024  # files read by one task: a few seconds of reading and cleaning
LOST_HINT = "check the workers' memory and the scheduler"
LOST_EMBEDDING_HINT = LOST_HINT + "; the next run embeds only what the cache lacks"
MIN_READ_BYTES = 2 * READ_PARTITION_BYTES  # less is read here: one worker's start-up would cost more
MAX_LOCAL_WORKERS = 64
IN_FLIGHT_PER_WORKER = 4  # partitions submitted ahead per worker: the scheduler never holds the whole corpus
WAIT_FOR_WORKERS_SECONDS = 120.0  # for the first worker to join
POLL_SECONDS = 30.0  # how often a build waiting on its partitions checks that workers are left
# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536; any fixed threshold turns off
# glibc's adaptive one, and the model's forward pass ran 17% slower for it (measured here). Unset.
WORKER_ENVIRONMENT = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
# What a nanny writes into the environment of the process it runs in (here, for a local cluster):
# put back after it starts workers, so that nothing else this process starts inherits them.
NANNY_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
                   "MALLOC_TRIM_THRESHOLD_")
LOCAL = re.compile(r"local:(\d{1,4})")
_worker_state: dict[str, object] = {}  # in each worker process: the models it loaded
_worker_lock = threading.Lock()


@dataclass
class ClusterReport:
    address: str
    workers: int
    partitions: int = 0  # of passages embedded there
    read_partitions: int = 0  # of files read, cleaned and split there
    read_here: int = 0  # files the workers could not see, read on the driver

    def to_dict(self) -> dict:
        return {"address": self.address, "workers": self.workers, "partitions": self.partitions,
                "read_partitions": self.read_partitions, "read_here": self.read_here}


def read_partition(files: Sequence[tuple[str, str]], fields: FieldMapping) -> list[FileRead | None]:
    """On a worker: each file read, cleaned and split; None for a file this machine cannot see,
    or that failed here in a way reading it does not report (the driver reads it, as one
    process would)."""
    results: list[FileRead | None] = []
    for path, relative in files:
        try:
            results.append(read_and_split(Path(path), relative, fields) if Path(path).is_file() else None)
        except Exception:  # (``read_one`` reports what a file itself causes; this is the machine's)
            results.append(None)
    return results


def file_partitions(files: Sequence[tuple[Path, str]], limit: int) -> list[list[tuple[Path, str]]]:
    """Consecutive files, about ``limit`` bytes a partition (a bigger file is one on its own)."""
    partitions: list[list[tuple[Path, str]]] = []
    size = limit
    for file_path, relative in files:
        try:
            length = file_path.stat().st_size
        except OSError:
            length = 0
        if size + length > limit and (not partitions or partitions[-1]):
            partitions.append([])
            size = 0
        partitions[-1].append((file_path, relative))
        size += length
    return partitions


def read_bytes(files: Sequence[tuple[Path, str]]) -> int:
    total = 0
    for file_path, _ in files:
        try:
            total += file_path.stat().st_size
        except OSError:
            continue
    return total


def is_local(address: str) -> bool:
    return LOCAL.fullmatch(address) is not None


def embed_partition(model_name: str, precision: str, threads: int, inputs: Sequence[tuple[str, int]]):
    """On a worker: embed one partition, with the worker's one copy of the model."""
    from ..index.embeddings import Embedder

    with _worker_lock:
        embedder = _worker_state.get(model_name)
        if embedder is None:
            if threads:
                import torch

                torch.set_num_threads(threads)  # (once a process: the pool is the process's)
            embedder = _worker_state[model_name] = Embedder(model_name)
    return embedder.encode_passages(list(inputs), precision)  # type: ignore[attr-defined]


class Cluster:
    """A Dask client on a cluster: started here for ``local:N``, joined for an address."""

    def __init__(self, address: str) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ClusterError("a cluster build needs Dask distributed",
                               hint="pip install 'news-archive[cluster]'") from None
        self.address = address
        self._local = None
        self.client = None
        self._environment = {name: os.environ.get(name) for name in NANNY_VARIABLES}
        local = LOCAL.fullmatch(address)
        try:
            if local:
                workers = int(local[1])
                if not 1 <= workers <= MAX_LOCAL_WORKERS:
                    raise ClusterError(f"local:N takes 1 to {MAX_LOCAL_WORKERS} workers, not {workers}",
                                       hint="for example --cluster local:2")
                with dask.config.set(WORKER_ENVIRONMENT):
                    self._local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=40)
                self.restore_environment()
                self.client = Client(self._local)
                self.threads = 1  # single-threaded workers: the cores are shared between them
            else:
                self.client = Client(address, timeout="30s")
                # (a `dask worker` is single-threaded for the model too: its nanny sets OMP_NUM_THREADS=1;
                # start one worker a core, docs/scale.md)
                self.threads = 0
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
        except ArchiveError:
            self.close()
            raise
        except BaseException as problem:  # (Dask's connection errors are OSError, TimeoutError, …)
            self.close()
            if not isinstance(problem, Exception):
                raise  # (KeyboardInterrupt: after closing what was started)
            raise ClusterError(f"cannot reach the cluster at {address}: {problem}",
                               hint="check the scheduler's address, or use --cluster local:N") from None

    def restore_environment(self) -> None:
        """Undo what a local cluster's nannies wrote into this process's environment."""
        for name, value in self._environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def workers(self) -> int:
        assert self.client is not None
        return len(self.client.scheduler_info().get("workers", {}))

    def in_flight(self, function: Callable, arguments: list[tuple], ordered: bool = False,
                  lost_hint: str = LOST_HINT) -> Iterator[tuple[int, object]]:
        """(position, result) of ``function(*arguments[position])`` on the workers, as each is
        done (``ordered``: in positions' order). A few tasks a worker are in flight at a time,
        so the scheduler never holds the whole corpus; a task whose workers keep dying (the
        scheduler's ``allowed-failures``, 3 by default), or a cluster left without workers, is a
        ``ClusterError`` (with ``lost_hint``, for work lost)."""
        from concurrent.futures import CancelledError

        from dask.distributed import wait
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        client = self.client
        assert client is not None
        todo = list(range(len(arguments)))
        pending: dict = {}
        arrived: dict[int, object] = {}
        next_position = 0
        window = max(2, IN_FLIGHT_PER_WORKER * max(1, self.workers()))

        def submit() -> None:
            while todo and len(pending) + len(arrived) < window:
                position = todo.pop(0)
                pending[client.submit(function, *arguments[position], pure=False)] = position

        try:
            submit()
            while pending:
                done, _ = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                self.restore_environment()  # (a restarted worker's nanny writes it again)
                if not done:
                    if self.workers() == 0:
                        raise ClusterError("the cluster has no workers left",
                                           hint="start workers, or use --cluster local:N")
                    continue
                for future in done:
                    position = pending.pop(future)
                    try:
                        arrived[position] = future.result()
                    except (KilledWorker, CancelledError, CommClosedError, OSError) as problem:
                        raise ClusterError(f"the cluster lost the work: {type(problem).__name__}: {problem}",
                                           hint=lost_hint) from None
                    future.release()
                if ordered:
                    while next_position in arrived:
                        yield next_position, arrived.pop(next_position)
                        next_position += 1
                else:
                    for position in sorted(arrived):
                        yield position, arrived.pop(position)
                submit()
        finally:
            if pending:
                client.cancel(list(pending))

    def read(self, files: Sequence[tuple[Path, str]], fields: FieldMapping, report: ClusterReport) -> Iterator[FileRead]:
        """Each file read, cleaned and split on the workers, in the order given (a file the
        workers cannot see is read here)."""
        partitions = file_partitions(files, READ_PARTITION_BYTES)
        report.read_partitions += len(partitions)
        arguments = [([(str(file_path.absolute()), relative) for file_path, relative in partition], fields)
                     for partition in partitions]
        try:
            for position, results in self.in_flight(read_partition, arguments, ordered=True):
                for (file_path, relative), done in zip(partitions[position], results, strict=True):  # type: ignore[call-overload]
                    if done is None:
                        report.read_here += 1
                        done = read_one(file_path, relative, fields)
                    yield done
        except ArchiveError:
            raise
        except Exception as problem:  # (a worker without the package: ModuleNotFoundError, …)
            raise ClusterError(f"a cluster worker could not read the corpus: {type(problem).__name__}: {problem}",
                               hint="install the same version of the package on every worker") from None

    def embed(self, model_name: str, precision: str, inputs: Sequence[tuple[str, int]],
              keys: Sequence[str], report: ClusterReport) -> Iterator[list[tuple[str, PassageEmbedding]]]:
        """Each partition's (key, embedding) pairs as it is done, in any order; a partition that
        fails on a worker (no model there) is a ``ModelError``."""
        starts = list(range(0, len(inputs), PARTITION))
        report.partitions += len(starts)
        arguments = [(model_name, precision, self.threads, list(inputs[start : start + PARTITION])) for start in starts]
        try:
            for position, computed in self.in_flight(embed_partition, arguments, lost_hint=LOST_EMBEDDING_HINT):
                start = starts[position]
                yield list(zip(keys[start : start + PARTITION], computed, strict=True))  # type: ignore[call-overload]
        except ArchiveError:
            raise
        except Exception as problem:
            raise ModelError(f"a cluster worker could not embed passages: {problem}",
                             hint="check that every worker has the package and the model installed") from None

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            try:
                if self._local is not None:
                    self._local.close()
            finally:
                self.restore_environment()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *problem) -> None:
        self.close()
