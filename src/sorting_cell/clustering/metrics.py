"""Clustering scores, all invariant to how cluster labels are numbered.

External scores compare a clustering ``y_pred`` with known classes ``y_true`` (any
hashable labels: ints or class names). All are 1.0 for a perfect clustering:

============ ==================================================================== =========
name         definition                                                           range
============ ==================================================================== =========
``nmi``      normalised mutual information, arithmetic mean normaliser            [0, 1]
``ami``      mutual information adjusted for chance                               [-, 1]
``ari``      Rand index adjusted for chance                                       [-0.5, 1]
``purity``   each cluster votes for its majority class; fraction of samples right [0, 1]
``acc``      accuracy under the best one-to-one cluster -> class map (Hungarian)  [0, 1]
``jaccard``  pair counting: TP / (TP + FP + FN) over pairs of samples             [0, 1]
``fmi``      Fowlkes-Mallows: sqrt(pair precision * pair recall)                  [0, 1]
============ ==================================================================== =========

Internal scores need the feature matrix ``X`` and no ground truth:

============== ================================================================ ==========
``dbi``        Davies-Bouldin index, lower is better                            [0, inf)
``ndbi``       normalised DBI, ``1 / (1 + dbi)``, higher is better              (0, 1]
``silhouette`` mean silhouette coefficient (Euclidean), higher is better        [-1, 1]
============== ================================================================ ==========

The normalised DBI is for selecting among unsupervised runs the way the
transfer-learning / multi-extractor clustering papers do (Guerin et al.), where a
score bounded in [0, 1] and oriented like the external ones is easier to average and
plot. The map ``1 / (1 + dbi)`` is monotone decreasing, so it ranks clusterings exactly
as DBI does: 1 means perfectly compact clusters (DBI = 0), 0.5 means DBI = 1 (clusters
as wide as they are far apart), and it tends to 0 as clusters overlap.

Purity grows with the number of clusters (all singletons score 1); read it next to
NMI / ACC, which penalise over-splitting.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm
from sklearn.metrics.cluster import contingency_matrix, pair_confusion_matrix

__all__ = ['nmi', 'ami', 'ari', 'purity', 'acc', 'jaccard', 'fmi', 'davies_bouldin',
           'normalized_davies_bouldin', 'silhouette', 'score_all', 'EXTERNAL', 'INTERNAL']

EXTERNAL = ('nmi', 'ami', 'ari', 'purity', 'acc', 'jaccard', 'fmi')
INTERNAL = ('dbi', 'ndbi', 'silhouette')


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two labelings of the same samples: 1-D, equal length, non-empty."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f'labels must be 1-D, got shapes {y_true.shape} and {y_pred.shape}')
    if len(y_true) != len(y_pred):
        raise ValueError(f'y_true and y_pred must label the same samples: got {len(y_true)} '
                         f'and {len(y_pred)} labels')
    if len(y_true) == 0:
        raise ValueError('cannot score an empty clustering (0 samples)')
    return y_true, y_pred


def _check_internal(X, labels) -> tuple[np.ndarray, np.ndarray]:
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels)
    if X.ndim != 2:
        raise ValueError(f'X must be a 2-D array (n_samples, n_features), got shape {X.shape}')
    if labels.ndim != 1 or len(labels) != len(X):
        raise ValueError(f'labels must be 1-D with one entry per row of X: got {labels.shape} '
                         f'labels for {len(X)} rows')
    k = len(np.unique(labels))
    if not 2 <= k <= len(X) - 1:
        raise ValueError(f'internal scores need 2 <= number of clusters <= n_samples - 1, got '
                         f'{k} cluster(s) for {len(X)} samples')
    return X, labels


def nmi(y_true, y_pred, average_method: str = 'arithmetic') -> float:
    """Normalised mutual information (scikit-learn; ``average_method`` as there).

    Guerin et al. 2017 used scikit-learn < 0.22, whose default was ``'geometric'``.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(skm.normalized_mutual_info_score(y_true, y_pred,
                                                  average_method=average_method))


def ami(y_true, y_pred) -> float:
    """Mutual information adjusted for chance (0 for random labelings)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(skm.adjusted_mutual_info_score(y_true, y_pred))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (0 for random labelings)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(skm.adjusted_rand_score(y_true, y_pred))


def purity(y_true, y_pred) -> float:
    """Fraction of samples in their cluster's majority class."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    table = contingency_matrix(y_true, y_pred)  # classes x clusters
    return float(table.max(axis=0).sum() / table.sum())


def acc(y_true, y_pred) -> float:
    """Clustering accuracy: the best one-to-one map of clusters to classes (Hungarian).

    With more clusters than classes the surplus clusters count as wrong (and vice versa).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    table = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def jaccard(y_true, y_pred) -> float:
    """Pair-counting Jaccard index: pairs together in both / pairs together in either.

    1.0 when no pair is together in either labeling (both all singletons: identical).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    # pair_confusion_matrix: [[TN, FP], [FN, TP]], "positive" = same cluster in y_pred.
    (_, fp), (fn, tp) = pair_confusion_matrix(y_true, y_pred).astype(np.int64)
    denom = tp + fp + fn
    return 1.0 if denom == 0 else float(tp / denom)


def fmi(y_true, y_pred) -> float:
    """Fowlkes-Mallows index: geometric mean of pair precision and pair recall.

    1.0 when both labelings are all singletons (scikit-learn returns 0 there, although
    the two partitions are identical).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    n = len(y_true)
    if len(np.unique(y_true)) == n and len(np.unique(y_pred)) == n:
        return 1.0
    return float(skm.fowlkes_mallows_score(y_true, y_pred))


def davies_bouldin(X, labels) -> float:
    """Davies-Bouldin index (lower is better); needs 2 <= clusters <= n - 1."""
    X, labels = _check_internal(X, labels)
    return float(skm.davies_bouldin_score(X, labels))


def normalized_davies_bouldin(X, labels) -> float:
    """Davies-Bouldin index mapped to (0, 1] by ``1 / (1 + DBI)``; higher is better."""
    return 1.0 / (1.0 + davies_bouldin(X, labels))


def silhouette(X, labels) -> float:
    """Mean silhouette coefficient (Euclidean); needs 2 <= clusters <= n - 1."""
    X, labels = _check_internal(X, labels)
    return float(skm.silhouette_score(X, labels))


def score_all(y_true, y_pred, X=None) -> dict[str, float]:
    """Every score that applies, as ``{name: value}``.

    Parameters
    ----------
    y_true : array-like or None
        Known classes; ``None`` skips the external scores.
    y_pred : array-like
        Cluster labels.
    X : array-like of shape (n_samples, n_features), optional
        The features that were clustered; adds ``dbi``, ``ndbi`` and ``silhouette``
        (NaN when undefined: one cluster, or every sample its own cluster).

    Returns
    -------
    dict
        Keys from :data:`EXTERNAL` (when ``y_true`` is given) then :data:`INTERNAL`
        (when ``X`` is given), values as Python floats.

    Examples
    --------
    >>> score_all(['a', 'a', 'b', 'b'], [1, 1, 0, 0])['acc']
    1.0
    """
    y_pred = np.asarray(y_pred)
    out: dict[str, float] = {}
    if y_true is not None:
        y_true, y_pred = _check_pair(y_true, y_pred)
        for name in EXTERNAL:
            out[name] = globals()[name](y_true, y_pred)
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(y_pred):
            raise ValueError(f'X must have one row per label: got shape {X.shape} for '
                             f'{len(y_pred)} labels')
        k = len(np.unique(y_pred))
        if 2 <= k <= len(X) - 1:
            dbi = davies_bouldin(X, y_pred)
            out.update(dbi=dbi, ndbi=1.0 / (1.0 + dbi), silhouette=silhouette(X, y_pred))
        else:
            out.update(dbi=math.nan, ndbi=math.nan, silhouette=math.nan)
    return out
