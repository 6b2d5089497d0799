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

A worker that dies mid-build has its partitions given to another by the scheduler (up to
``ALLOWED_FAILURES`` times each); the build completes with the workers left.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import ArchiveError, ClusterError, ModelError
from ..index.embeddings import PassageEmbedding

PARTITION = 128  # passages per task: small enough to spread and to lose little with a worker, big enough to pad little
# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536; any fixed threshold turns off
# glibc's adaptive one, and the model's forward pass ran 17% slower for it (measured here). Unset.
WORKER_ENVIRONMENT = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
ALLOWED_FAILURES = 3  # a partition is given up after its worker died this many times
LOCAL = re.compile(r"local:(\d{1,3})")
_worker_state: dict[str, object] = {}  # in each worker process: the models it loaded
_worker_lock = threading.Lock()


@dataclass
class ClusterReport:
    address: str
    workers: int
    partitions: int = 0

    def to_dict(self) -> dict:
        return {"address": self.address, "workers": self.workers, "partitions": self.partitions}


def embed_partition(model_name: str, precision: str, threads: int, inputs: Sequence[tuple[str, int]]):
    """On a worker: embed one partition, with the worker's one copy of the model."""
    from ..index.embeddings import Embedder

    with _worker_lock:
        embedder = _worker_state.get(model_name)
        if embedder is None:
            if threads:
                import torch

                torch.set_num_threads(threads)
            embedder = _worker_state[model_name] = Embedder(model_name)
    return embedder.encode_passages(list(inputs), precision)  # type: ignore[attr-defined]


class Cluster:
    """A Dask client on a cluster: started here for ``local:N``, joined for an address."""

    def __init__(self, address: str) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ClusterError("a cluster build needs Dask distributed",
                               hint="pip install 'news-archive[cluster]'") from None
        self.address = address
        self._local = None
        local = LOCAL.fullmatch(address)
        try:
            if local:
                workers = int(local[1])
                if workers < 1:
                    raise ClusterError("local:N needs at least one worker", hint="for example --cluster local:2")
                import dask

                with dask.config.set(WORKER_ENVIRONMENT):
                    self._local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=40)
                self.client = Client(self._local)
                self.threads = 1  # single-threaded workers: the cores are shared between them
            else:
                self.client = Client(address, timeout="30s")
                self.threads = 0  # a worker of a real cluster uses its machine's cores
        except ArchiveError:
            raise
        except Exception as problem:  # (Dask's connection errors are OSError, TimeoutError, …)
            self.close()
            raise ClusterError(f"cannot reach the cluster at {address}: {problem}",
                               hint="check the scheduler's address, or use --cluster local:N") from None

    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def embed(self, model_name: str, precision: str, inputs: Sequence[tuple[str, int]],
              keys: Sequence[str], report: ClusterReport) -> Iterator[list[tuple[str, PassageEmbedding]]]:
        """Each partition's (key, embedding) pairs as it is done, in any order."""
        from dask.distributed import as_completed

        futures = {}
        for start in range(0, len(inputs), PARTITION):
            future = self.client.submit(embed_partition, model_name, precision, self.threads,
                                        list(inputs[start : start + PARTITION]), pure=False,
                                        retries=ALLOWED_FAILURES)
            futures[future] = start
        report.partitions += len(futures)
        try:
            for future in as_completed(futures):
                start = futures[future]
                try:
                    computed = future.result()
                except Exception as problem:
                    raise ModelError(f"a cluster worker could not embed passages: {problem}",
                                     hint="check that every worker has the package and the model installed") from None
                yield list(zip(keys[start : start + PARTITION], computed, strict=True))
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *problem) -> None:
        self.close()

