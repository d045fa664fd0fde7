"""Feature extraction on a Dask distributed cluster (the expensive part of a big sort).

:class:`DaskFeatures` wraps an extractor: ``transform`` cuts the crops into chunks, runs
the wrapped extractor on the cluster's workers (each worker process loads the network
once and keeps it) and returns the rows in input order. Every worker runs the same
network on the same crops, so the rows equal the single-process ones; the caller's
on-disk cache sits outside this wrapper (only misses travel).

Why Dask: its ``distributed`` scheduler runs plain Python functions on worker processes
on this machine (``LocalCluster``) or on any number of machines (``dask scheduler`` +
``dask worker ADDR`` on each, or dask-jobqueue / dask-kubernetes), with no change to the
code, and ships numpy arrays efficiently. A real cluster::

    # on the scheduler machine
    dask scheduler --port 8786
    # on each worker machine (same Python environment: pip install the project there)
    dask worker tcp://SCHEDULER:8786 --nworkers 1 --nthreads 2
    # anywhere
    sorting-cell cluster PHOTOS/ -k auto --scheduler tcp://SCHEDULER:8786 --out OUT

Crops are sent from the client to the workers (a few kB each); the workers need the
model assets (``SORTING_CELL_ASSETS`` or network access to download them once).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .base import FeatureExtractor, as_image_list

__all__ = ['DaskFeatures', 'CHUNK']

#: Crops per task: large enough that a task's run dwarfs the scheduler's overhead.
CHUNK = 64

# Per worker process: loaded extractors by configuration, so the weights load once.
_LOADED: dict = {}


def _extract(extractor: FeatureExtractor, key: str, chunk: list[np.ndarray]) -> np.ndarray:
    """Run on a worker: the rows of ``chunk`` (the worker's copy of the extractor)."""
    if key not in _LOADED:
        _LOADED[key] = extractor.load() if hasattr(extractor, 'load') else extractor
    return np.asarray(_LOADED[key].transform(chunk), dtype=np.float32)


class DaskFeatures(FeatureExtractor):
    """Compute an extractor's rows on a Dask cluster.

    Parameters
    ----------
    extractor : FeatureExtractor
        What computes the rows (sent to every worker once per process).
    scheduler : str or None
        Address of a running scheduler (``tcp://host:8786``). None: a local cluster of
        ``n_workers`` processes is started on first use and closed with :meth:`close`.
    n_workers : int
        Worker processes of the local cluster (one thread each).
    chunk : int
        Crops per task.
    timeout : float
        Seconds to wait for the scheduler (a clear error after it).
    """

    def __init__(self, extractor: FeatureExtractor, scheduler: str | None = None,
                 n_workers: int = 2, chunk: int = CHUNK, timeout: float = 60.0):
        self.extractor = extractor
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.chunk = chunk
        self.timeout = timeout

    def config(self) -> dict:
        # Same rows as the wrapped extractor: share cache entries with it.
        return self.extractor.config()

    def load(self) -> 'DaskFeatures':
        self.client()
        return self

    def client(self):
        """The Dask client (connected, or with a local cluster started) -- made once."""
        client = self.__dict__.get('_client')
        if client is not None:
            return client
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
            raise RuntimeError('distributed feature extraction needs the dask distributed '
                               'package (pip install "dask[distributed]")') from exc
        if self.scheduler is None:
            if isinstance(self.n_workers, bool) or not isinstance(self.n_workers, int) \
                    or self.n_workers < 1:
                raise ValueError(f'n_workers must be an integer >= 1, got {self.n_workers!r}')
            # One thread per worker: the network already uses the core it runs on.
            cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None,
                                   env={'OMP_NUM_THREADS': '1'})
            self.__dict__['_cluster'] = cluster
            client = Client(cluster, timeout=self.timeout)
        else:
            try:
                client = Client(self.scheduler, timeout=self.timeout)
            except OSError as exc:
                raise RuntimeError(f'no Dask scheduler answered at {self.scheduler} within '
                                   f'{self.timeout:.0f} s ({exc})') from exc
        self.__dict__['_client'] = client
        return client

    def transform(self, X: Sequence[np.ndarray]) -> np.ndarray:
        images = as_image_list(X)
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        client = self.client()
        from .cache import config_hash
        key = config_hash(self.extractor.config())
        size = max(1, int(self.chunk))
        chunks = [images[i:i + size] for i in range(0, len(images), size)]
        futures = client.map(_extract, [self._spec(client)] * len(chunks), [key] * len(chunks),
                             chunks, pure=False)
        return np.vstack(client.gather(futures))

    def _spec(self, client):
        """The extractor on the workers, sent once and held while this wrapper lives.

        Sent again for each transform, the copy of the one before could be released by
        the scheduler while the new one (same content, same key) arrived: its tasks then
        failed with "lost dependencies", or waited for ever (seen under load when whole
        images were described in three passes).
        """
        spec = self.__dict__.get('_scattered')
        if spec is None:
            [spec] = client.scatter([self.extractor], broadcast=True, hash=False)
            self.__dict__['_scattered'] = spec
        return spec

    def _transform(self, images):  # pragma: no cover - transform is overridden
        return self.transform(images)

    def close(self) -> None:
        """Disconnect (and stop the local cluster this wrapper started)."""
        spec = self.__dict__.pop('_scattered', None)
        client = self.__dict__.pop('_client', None)
        if spec is not None and client is not None:
            spec.release()
        if client is not None:
            client.close()
        cluster = self.__dict__.pop('_cluster', None)
        if cluster is not None:
            cluster.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop('_client', None)
        state.pop('_cluster', None)
        state.pop('_scattered', None)
        return state


def worker_count() -> int:
    """Worker processes a local cluster gets by default (one per core)."""
    return max(1, os.cpu_count() or 1)
