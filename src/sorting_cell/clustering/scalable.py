"""Ward's clusters on sets too big for Ward: a Ward tree on a sample seeds k-means.

Exact Ward holds every pairwise distance (n = 100,000 rows: 40 GB). Here Ward runs on a
seeded sample of ``sample`` rows; the means of its ``k`` clusters start Lloyd's k-means
on every row (k-means minimises the same within-cluster sum of squares Ward merges by,
so it refines Ward's partition rather than replacing it). Memory is the rows plus
``n x k`` distances; time is linear in n per iteration.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

__all__ = ['SampledWard', 'SAMPLE']

#: Rows Ward runs on (its distance matrix: 5000^2 / 2 doubles = 100 MB).
SAMPLE = 5000


class SampledWard(ClusterMixin, BaseEstimator):
    """Ward on a sample, then k-means on all rows seeded with its cluster means.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    sample : int
        Rows Ward sees (all of them when there are fewer: then this is Ward refined by
        k-means).
    max_iter : int
        Lloyd iterations at most.
    random_state : int or None
        Seed of the sample.
    """

    def __init__(self, n_clusters: int = 2, sample: int = SAMPLE, max_iter: int = 100,
                 random_state=0):
        self.n_clusters = n_clusters
        self.sample = sample
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        from sklearn.cluster import AgglomerativeClustering, KMeans

        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float32)
        n, k = len(X), int(self.n_clusters)
        if not 1 <= k <= n:
            raise ValueError(f'n_clusters must be in 1..{n} for {n} rows, got {k}')
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(n, min(n, int(self.sample)), replace=False))
        S = X[rows]
        ward = AgglomerativeClustering(n_clusters=k).fit_predict(S) if k > 1 \
            else np.zeros(len(S), int)
        centres = np.stack([S[ward == c].mean(0) for c in range(k)]).astype(X.dtype)
        km = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=self.max_iter,
                    random_state=0).fit(X)
        self.sample_rows_ = rows
        self.cluster_centers_ = km.cluster_centers_
        self.labels_ = km.labels_.astype(int)
        self.n_iter_ = km.n_iter_
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_
