"""Cluster several views of the same images jointly (CC, MVEC, IDEC, DMVC).

Every method is a scikit-learn clusterer (``n_clusters``, ``random_state``, ``fit`` ->
``labels_``) whose ``fit`` takes a list of per-view feature matrices (or one matrix).
:func:`make_multiview` builds one from the name the pipeline / CLI uses (``--method``).
"""
from __future__ import annotations

import numpy as np

from .deep import DMVC, IDEC
from .ensemble import (ConcatClustering, MultiViewEnsembleClustering, co_association,
                       normalize_view)
from .views import Views, check_n_clusters, check_views

__all__ = ['Views', 'check_views', 'check_n_clusters', 'ConcatClustering',
           'MultiViewEnsembleClustering', 'co_association', 'IDEC', 'DMVC', 'MULTIVIEW_METHODS',
           'make_multiview', 'is_multiview']

#: Method names routed to :func:`make_multiview`; values say what ``fit`` expects.
MULTIVIEW_METHODS = {
    'cc': 'list of views: normalised, concatenated, clustered',
    'mvec': 'list of views: one partition per view, co-association, average linkage',
    'idec': 'one matrix (a list of views is concatenated after per-view normalisation)',
    'dmvc': 'list of views: MVnet trained with the IDEC loss',
}


def is_multiview(method) -> bool:
    """Whether ``method`` names a method of this package (vs. a classic clusterer)."""
    return isinstance(method, str) and method in MULTIVIEW_METHODS


def make_multiview(method: str, n_clusters: int, random_state=None, **kw):
    """A multi-view clusterer from its name.

    Parameters
    ----------
    method : {'cc', 'mvec', 'idec', 'dmvc'}
        See :data:`MULTIVIEW_METHODS`.
    n_clusters : int
        Number of clusters (boxes).
    random_state : int, RandomState or None
        Seed; two fits with the same integer seed are identical.
    **kw
        Any other constructor parameter of the class (e.g. ``base='kmeans'`` for MVEC,
        ``progress=True`` or ``pretrain_epochs=50`` for the deep methods).

    Returns
    -------
    estimator
        Unfitted; call ``fit_predict(views)`` with a list of ``(n_samples, d_v)`` matrices.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> a = np.r_[rng.normal([1, 0, 0], .1, (5, 3)), rng.normal([0, 1, 0], .1, (5, 3))]
    >>> make_multiview('mvec', 2, random_state=0).fit_predict([a, a ** 2]).tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """
    if method == 'cc':
        return ConcatClustering(n_clusters=n_clusters, random_state=random_state, **kw)
    if method == 'mvec':
        return MultiViewEnsembleClustering(n_clusters=n_clusters, random_state=random_state,
                                           **kw)
    if method == 'idec':
        return _ConcatIDEC(n_clusters=n_clusters, random_state=random_state, **kw)
    if method == 'dmvc':
        return DMVC(n_clusters=n_clusters, random_state=random_state, **kw)
    raise ValueError(f'unknown multi-view method {method!r}; choose one of '
                     f'{", ".join(MULTIVIEW_METHODS)}')


class _ConcatIDEC(IDEC):
    """IDEC that also accepts a list of views (standardised each, then concatenated)."""

    def _prepare(self, X, fitting: bool):
        views = check_views(X, n_clusters=self.n_clusters if fitting else None)
        if len(views) > 1:
            X = [np.hstack([normalize_view(V, 'l2') for V in views])]
        return super()._prepare(X, fitting)
