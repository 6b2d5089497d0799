"""Embedding a cold build on a cluster: Dask distributed (the ``cluster`` extra).

Embedding is nearly all of a cold build (docs/scale.md), so that is what a cluster does: the
build's passages that the embedding cache lacks go to the cluster's workers in partitions,
each worker loads the model once and embeds its partitions, and the driver puts each
partition's embeddings in the cache (the same keys: model, precision, text hash) as it
arrives. A re-run, or a move between backends, re-embeds nothing the cache holds, and a
driver killed mid-build leaves every finished partition cached. Reading, cleaning and
splitting stay on the driver: they find copies across the whole corpus and take a few
percent of a build (docs/design.md, "Distributed cold builds").

    --cluster local:2              a local cluster of two single-threaded worker processes
    --cluster tcp://host:8786      a running Dask scheduler (Kubernetes, a batch scheduler, …)

A worker that dies mid-build has its partitions given to another by the scheduler (up to its
``allowed-failures``, 3 by default); the build completes with the workers left. A build of
fewer than ``MIN_PASSAGES`` passages to embed (a small update) embeds them here instead.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import ArchiveError, ClusterError, ModelError
from ..index.embeddings import PassageEmbedding

PARTITION = 128  # passages per task: small enough to spread and to lose little with a worker, big enough to pad little
MIN_PASSAGES = 2 * PARTITION  # fewer are embedded here: starting workers and their models would cost more
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
    partitions: int = 0

    def to_dict(self) -> dict:
        return {"address": self.address, "workers": self.workers, "partitions": self.partitions}


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

    def embed(self, model_name: str, precision: str, inputs: Sequence[tuple[str, int]],
              keys: Sequence[str], report: ClusterReport) -> Iterator[list[tuple[str, PassageEmbedding]]]:
        """Each partition's (key, embedding) pairs as it is done, in any order. A few partitions
        a worker are in flight at a time; a partition whose workers keep dying (the scheduler's
        ``allowed-failures``, 3 by default), or a cluster left without workers, is a
        ``ClusterError``; a partition that fails on a worker (no model there) a ``ModelError``."""
        from concurrent.futures import CancelledError

        from dask.distributed import wait
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        client = self.client
        assert client is not None
        starts = list(range(0, len(inputs), PARTITION))
        report.partitions += len(starts)
        pending: dict = {}
        window = max(2, IN_FLIGHT_PER_WORKER * max(1, self.workers()))

        def submit() -> None:
            while starts and len(pending) < window:
                start = starts.pop(0)
                future = client.submit(embed_partition, model_name, precision, self.threads,
                                            list(inputs[start : start + PARTITION]), pure=False)
                pending[future] = start

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
                    start = pending.pop(future)
                    try:
                        computed = future.result()
                    except (KilledWorker, CancelledError, CommClosedError, OSError) as problem:
                        raise ClusterError(f"the cluster lost the work: {type(problem).__name__}: {problem}",
                                           hint="check the workers' memory and the scheduler; the next run "
                                                "embeds only what the cache lacks") from None
                    except Exception as problem:
                        raise ModelError(f"a cluster worker could not embed passages: {problem}",
                                         hint="check that every worker has the package and the model installed") \
                            from None
                    future.release()
                    yield list(zip(keys[start : start + PARTITION], computed, strict=True))
                submit()
        finally:
            if pending:
                client.cancel(list(pending))

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
