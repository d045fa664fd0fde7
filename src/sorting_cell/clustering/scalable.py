"""Ward's clusters on sets too big for exact Ward: Ward on a k-nearest-neighbour graph.

Exact Ward holds every pairwise distance (n = 100,000 rows: 40 GB). Here the rows are
projected on their first ``n_components`` principal axes (fitted on a seeded sample), a
k-nearest-neighbour graph is built on the projection, and Ward merges only clusters
joined by an edge of that graph (scikit-learn's connectivity-constrained Ward; separate
parts of the graph are joined first). Memory grows as ``n x (n_components +
n_neighbors)``. Measured against exact Ward where both run:
``benchmarks/results/scale.md``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

__all__ = ['KnnWard']


class KnnWard(ClusterMixin, BaseEstimator):
    """Ward agglomerative clustering restricted to a k-nearest-neighbour graph.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_neighbors : int
        Neighbours per row in the connectivity graph.
    n_components : int
        Principal axes the rows are projected on (fewer when the rows have fewer).
    pca_sample : int
        Rows the projection is fitted on (seeded).
    random_state : int or None
        Seed of that sample.
    """

    def __init__(self, n_clusters: int = 2, n_neighbors: int = 10, n_components: int = 128,
                 pca_sample: int = 5000, random_state=0):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.pca_sample = pca_sample
        self.random_state = random_state

    def fit(self, X, y=None):
        import warnings

        from sklearn.cluster import AgglomerativeClustering
        from sklearn.decomposition import PCA
        from sklearn.neighbors import kneighbors_graph

        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float32)
        n, k = len(X), int(self.n_clusters)
        if not 1 <= k <= n:
            raise ValueError(f'n_clusters must be in 1..{n} for {n} rows, got {k}')
        if k == 1:
            self.labels_ = np.zeros(n, int)
            return self
        rng = np.random.default_rng(self.random_state)
        rows = rng.choice(n, min(n, int(self.pca_sample)), replace=False)
        dims = int(min(self.n_components, X.shape[1], len(rows)))
        P = PCA(n_components=dims, random_state=0).fit(X[rows]).transform(X)
        G = _connected(kneighbors_graph(P, min(int(self.n_neighbors), n - 1),
                                        include_self=False), P)
        with warnings.catch_warnings():
            # A graph in several parts is joined by scikit-learn (it says so in a warning).
            warnings.filterwarnings('ignore', message='.*connected components.*')
            self.labels_ = AgglomerativeClustering(n_clusters=k, connectivity=G) \
                .fit_predict(P).astype(int)
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_


def _connected(G, P: np.ndarray):
    """``G`` with edges added until it is in one part.

    scikit-learn would join the parts itself, but by comparing every pair of parts: a set
    holding many groups of near-duplicates (each its own 10-NN clique) then needs more
    memory than the clustering. Here each round links every part to the part with the
    nearest mean (one edge between their first rows), so the number of parts at least
    halves per round.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    G = G.tocsr()
    n = G.shape[0]
    while True:
        parts, label = connected_components(G, directed=False)
        if parts == 1:
            return G
        counts = np.bincount(label, minlength=parts).astype(np.float64)
        means = np.zeros((parts, P.shape[1]))
        np.add.at(means, label, P)
        means /= counts[:, None]
        nearest = NearestNeighbors(n_neighbors=2).fit(means).kneighbors(
            means, return_distance=False)[:, 1]
        first = np.full(parts, n)
        np.minimum.at(first, label, np.arange(n))
        rows, cols = first, first[nearest]
        G = G + coo_matrix((np.ones(parts), (rows, cols)), shape=(n, n)).tocsr()
