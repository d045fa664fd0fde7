"""Shallow multi-view clustering: concatenation (CC) and ensemble clustering (MVEC).

Both follow Guerin & Boots, "Improving image clustering with multiple pretrained CNN
feature extractors" (ICANN 2018): several ImageNet CNNs describe the same images
differently, and clustering them jointly beats the best single one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.preprocessing import StandardScaler
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import check_random_state

from ..clustering.estimator import ImageClusterer, _relabel_by_first_seen
from .views import check_views

__all__ = ['ConcatClustering', 'MultiViewEnsembleClustering', 'normalize_view',
           'co_association', 'agreement_weights']


def normalize_view(V: np.ndarray, how: str | None) -> np.ndarray:
    """Scale one view so that views of different sizes weigh the same once concatenated.

    ``'l2'`` puts every row on the unit sphere (each view then contributes a unit-norm
    block); ``'standard'`` standardises each feature and divides by ``sqrt(n_features)`` so
    the block's expected squared norm is 1 too; ``None`` leaves it alone.
    """
    if how == 'l2':
        return l2_normalize(V)
    if how == 'standard':
        return StandardScaler().fit_transform(V) / np.sqrt(V.shape[1])
    if how is None:
        return V
    raise ValueError(f"normalize must be 'l2', 'standard' or None, got {how!r}")


def co_association(partitions: Sequence[np.ndarray], weights=None) -> np.ndarray:
    """Co-association matrix: (weighted) fraction of partitions putting i and j together."""
    parts = np.asarray(partitions)
    if parts.ndim != 2 or parts.shape[0] == 0:
        raise ValueError(f'expected a (n_partitions, n_samples) array, got shape {parts.shape}')
    w = np.ones(len(parts)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(parts),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f'need one non-negative weight per partition, got {weights!r}')
    cam = np.zeros((parts.shape[1], parts.shape[1]))
    for p, wp in zip(parts, w):
        cam += wp * (p[:, None] == p[None, :])
    return cam / w.sum()


def agreement_weights(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """Weight of each partition: its mean NMI with the others (0..1; no labels used).

    A view that disagrees with the rest of the ensemble is more likely noise than signal,
    so it counts less in the co-association (cluster-ensemble selection by agreement).
    """
    from sklearn.metrics import normalized_mutual_info_score as nmi

    parts = np.asarray(partitions)
    if len(parts) < 2:
        return np.ones(len(parts))
    m = np.array([[nmi(a, b) for b in parts] for a in parts])
    return (m.sum(1) - 1.0) / (len(parts) - 1)


def _base_clusterer(base, n_clusters: int, normalize, seed: int):
    """An unfitted clusterer from a method name, a dict of ImageClusterer args, or an object."""
    if isinstance(base, str):
        return ImageClusterer(n_clusters=n_clusters, method=base, normalize=normalize,
                              random_state=seed)
    if isinstance(base, dict):
        return ImageClusterer(**{'n_clusters': n_clusters, 'normalize': normalize,
                                 'random_state': seed, **base})
    est = clone(base)
    params = est.get_params(deep=False)
    updates = {k: v for k, v in (('n_clusters', n_clusters), ('random_state', seed))
               if k in params}
    return est.set_params(**updates)


class ConcatClustering(ClusterMixin, BaseEstimator):
    """CC: normalise each view, concatenate, cluster the concatenation.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    method : str, dict or estimator
        Base clusterer: an :data:`~sorting_cell.clustering.METHODS` name, keyword arguments
        of :class:`~sorting_cell.clustering.ImageClusterer`, or any scikit-learn clusterer
        (its ``n_clusters`` / ``random_state`` are set).
    normalize : {'l2', 'standard', None}
        Per-view normalisation before concatenation (see :func:`normalize_view`).
    random_state : int, RandomState or None
        Seed of the base clusterer.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
    embedding_ : ndarray
        The concatenated, normalised features that were clustered.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1, 0], [1, .1], [0, 1], [.1, 1]])
    >>> ConcatClustering(2).fit_predict([a, a[:, ::-1]]).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, n_clusters: int = 2, method='agglomerative', normalize: str | None = 'l2',
                 random_state=None):
        self.n_clusters = n_clusters
        self.method = method
        self.normalize = normalize
        self.random_state = random_state

    def fit(self, X, y=None):
        views = check_views(X, n_clusters=self.n_clusters)
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        self.embedding_ = np.hstack([normalize_view(V, self.normalize) for V in views])
        # Views are already normalised block-wise; a second row-wise L2 would re-weight them.
        est = _base_clusterer(self.method, self.n_clusters, None, seed)
        self.labels_ = _relabel_by_first_seen(np.asarray(est.fit_predict(self.embedding_)))
        self.n_views_ = len(views)
        return self


class MultiViewEnsembleClustering(ClusterMixin, BaseEstimator):
    """MVEC: one partition per (view, base clusterer), fused through co-association.

    Every view is clustered on its own; the co-association matrix (CAM) counts how often
    two samples land together; agglomerative clustering with average linkage on the
    distance ``1 - CAM`` gives the consensus partition.

    Parameters
    ----------
    n_clusters : int
        Number of clusters of every partition and of the consensus.
    base : str, dict, estimator, or list of them
        Base clusterer(s) run on every view (see :class:`ConcatClustering` ``method``). A
        list runs each of them on each view: ``n_views * len(base)`` partitions.
    normalize : {'l2', 'standard', None}
        Normalisation of each view before its base clusterer.
    linkage : {'average', 'complete', 'single'}
        Linkage of the consensus step (Ward needs Euclidean features, not a CAM).
    weights : {None, 'agreement'}
        ``None``: every partition counts the same; ``'agreement'``: weighted by its mean
        NMI with the other partitions (:func:`agreement_weights`).
    random_state : int, RandomState or None
        Seed of the base clusterers.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
        Consensus partition.
    partitions_ : ndarray of int, shape (n_partitions, n_samples)
        The base partitions (view-major).
    cam_ : ndarray of float, shape (n_samples, n_samples)
        Co-association matrix.
    """

    def __init__(self, n_clusters: int = 2, base='agglomerative', normalize: str | None = 'l2',
                 linkage: str = 'average', weights: str | None = None, random_state=None):
        self.n_clusters = n_clusters
        self.base = base
        self.normalize = normalize
        self.linkage = linkage
        self.weights = weights
        self.random_state = random_state

    def fit(self, X, y=None):
        views = check_views(X, n_clusters=self.n_clusters)
        if self.linkage not in ('average', 'complete', 'single'):
            raise ValueError(f"linkage must be 'average', 'complete' or 'single' (the CAM is a "
                             f'precomputed distance), got {self.linkage!r}')
        rng = check_random_state(self.random_state)
        bases = self.base if isinstance(self.base, (list, tuple)) else [self.base]
        if not bases:
            raise ValueError('base must name at least one clusterer')
        parts = []
        for V in views:
            for base in bases:
                est = _base_clusterer(base, self.n_clusters, self.normalize,
                                      rng.randint(2**31 - 1))
                Z = V if isinstance(base, (str, dict)) else normalize_view(V, self.normalize)
                parts.append(np.asarray(est.fit_predict(Z)))
        self.partitions_ = np.stack(parts)
        if self.weights not in (None, 'agreement'):
            raise ValueError(f"weights must be None or 'agreement', got {self.weights!r}")
        self.weights_ = (agreement_weights(self.partitions_) if self.weights == 'agreement'
                         else np.ones(len(parts)))
        self.cam_ = co_association(self.partitions_, self.weights_)
        if self.n_clusters == 1:
            self.labels_ = np.zeros(len(self.cam_), dtype=int)
        else:
            agg = AgglomerativeClustering(n_clusters=self.n_clusters, metric='precomputed',
                                          linkage=self.linkage)
            self.labels_ = _relabel_by_first_seen(agg.fit_predict(1.0 - self.cam_))
        self.n_views_ = len(views)
        return self
