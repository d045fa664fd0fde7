"""One estimator over the classic clusterers, with ``n_clusters`` = number of boxes."""
from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn import cluster, mixture
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

__all__ = ['ImageClusterer', 'METHODS', 'check_features', 'normalize_features']

# Methods whose number of clusters is set by the data rather than by n_clusters: the
# estimator maps their result onto n_clusters (see _to_k_clusters) so a cell with N boxes
# always gets labels 0..N-1.
_FREE_K = {'affinity_propagation', 'mean_shift', 'dbscan'}

METHODS = ('agglomerative', 'kmeans', 'minibatch_kmeans', 'affinity_propagation',
           'mean_shift', 'dbscan', 'birch', 'gmm', 'spectral')


def check_features(X, min_samples: int = 1) -> np.ndarray:
    """Validate a feature matrix: 2-D, finite, enough rows. Clear errors otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f'features must be a 2-D array (n_samples, n_features), got shape '
                         f'{X.shape}')
    if X.shape[0] < min_samples:
        raise ValueError(f'need at least {min_samples} samples to make {min_samples} '
                         f'clusters, got {X.shape[0]}')
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f'features contain NaN or infinity in {rows.size} row(s) '
                         f'(first: {rows[:5].tolist()}); fix or drop those samples')
    return X


class ImageClusterer(ClusterMixin, BaseEstimator):
    """Cluster feature vectors into exactly ``n_clusters`` groups.

    Parameters
    ----------
    n_clusters : int
        Number of groups (boxes). Must be >= 1 and <= number of samples.
    method : str
        One of :data:`METHODS`. Agglomerative (Ward) is the default: it was the best
        classic clusterer on CNN features in Guerin et al. 2017, and it is deterministic.
    normalize : {'l2', 'centered', 'whitened', 'standard', None}
        Row L2-normalisation (cosine geometry, the usual choice for CNN embeddings);
        ``'centered'``: signed square root, L2, minus the set's mean, L2 (what all samples
        share is removed -- the pipeline's default for CNN features); or per-feature
        standardisation.
    pca : int or float or None
        Optional PCA (components, or explained-variance fraction) after normalising.
    random_state : int, RandomState or None
        Seed of the stochastic methods (k-means, GMM, spectral, ...).
    params : dict or None
        Extra keyword arguments for the underlying scikit-learn estimator
        (e.g. ``{'linkage': 'average'}``).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
        Cluster of each sample, in ``0..n_clusters-1``.
    estimator_ : object
        The fitted scikit-learn estimator.
    n_clusters_found_ : int
        For methods that choose their own number of clusters, how many they found
        before being mapped onto ``n_clusters``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.1]])
    >>> ImageClusterer(n_clusters=2, normalize=None).fit_predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, n_clusters: int = 2, method: str = 'agglomerative',
                 normalize: str | None = 'l2', pca=None, random_state=None,
                 params: dict | None = None):
        self.n_clusters = n_clusters
        self.method = method
        self.normalize = normalize
        self.pca = pca
        self.random_state = random_state
        self.params = params

    def fit(self, X, y=None):
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 1:
            raise ValueError(f'n_clusters must be an integer >= 1, got {self.n_clusters!r}')
        if self.method not in METHODS:
            raise ValueError(f'unknown method {self.method!r}; choose one of {", ".join(METHODS)}')
        # Sets n_features_in_ and refuses sparse and complex input with sklearn's own
        # messages; shape, NaN and too few rows get ours (which rows, what to do).
        if not sparse.issparse(X):
            check_features(X)
        X = validate_data(self, X, accept_sparse=False, dtype=np.float64,
                          ensure_all_finite=False, ensure_min_samples=1)
        X = check_features(X, min_samples=self.n_clusters)
        rng = check_random_state(self.random_state)
        Z = self._prepare(X, rng)
        if self.n_clusters in (1, len(Z)):
            # Trivial partitions; several sklearn methods fail on them (spectral's eigsh
            # needs k < n), and there is only one answer anyway.
            self.labels_ = (np.zeros(len(Z), dtype=int) if self.n_clusters == 1
                            else np.arange(len(Z)))
            self.estimator_ = None
            self.n_clusters_found_ = self.n_clusters
            return self
        self.estimator_ = self._make(rng, len(Z))
        labels = np.asarray(self.estimator_.fit_predict(Z))
        self.n_clusters_found_ = len(np.unique(labels[labels >= 0]))
        # Fixed-k methods can still return fewer groups (k-means / GMM on duplicated
        # samples), so they are topped up the same way.
        if self.method in _FREE_K or self.n_clusters_found_ != self.n_clusters:
            labels = _to_k_clusters(Z, labels, self.n_clusters)
        self.labels_ = _relabel_by_first_seen(labels)
        return self

    def _prepare(self, X: np.ndarray, rng) -> np.ndarray:
        X = normalize_features(X, self.normalize)
        if self.pca:
            n = self.pca if isinstance(self.pca, float) else min(self.pca, *X.shape)
            X = PCA(n_components=n, random_state=rng.randint(2**31 - 1)).fit_transform(X)
        return X

    def _make(self, rng, n_samples: int):
        k, seed, p = self.n_clusters, rng.randint(2**31 - 1), dict(self.params or {})
        m = self.method
        if m == 'agglomerative':
            return cluster.AgglomerativeClustering(n_clusters=k, **p)
        if m == 'kmeans':
            return cluster.KMeans(n_clusters=k, n_init=p.pop('n_init', 10), random_state=seed, **p)
        if m == 'minibatch_kmeans':
            return cluster.MiniBatchKMeans(n_clusters=k, n_init=p.pop('n_init', 10),
                                           random_state=seed, **p)
        if m == 'affinity_propagation':
            # sklearn's damping=0.5 oscillates without converging even on well-separated
            # blobs (then nearly every sample is an exemplar); 0.9 converges there.
            return cluster.AffinityPropagation(damping=p.pop('damping', 0.9), random_state=seed,
                                               **p)
        if m == 'mean_shift':
            return cluster.MeanShift(**p)
        if m == 'dbscan':
            return cluster.DBSCAN(**p)
        if m == 'birch':
            return cluster.Birch(n_clusters=k, threshold=p.pop('threshold', 0.1), **p)
        if m == 'gmm':
            return mixture.GaussianMixture(n_components=k, covariance_type=p.pop(
                'covariance_type', 'diag'), random_state=seed, **p)
        if m == 'spectral':
            return cluster.SpectralClustering(
                n_clusters=k, random_state=seed, affinity=p.pop('affinity', 'nearest_neighbors'),
                n_neighbors=p.pop('n_neighbors', min(10, n_samples - 1)), **p)
        raise AssertionError(m)


def normalize_features(X: np.ndarray, how: str | None) -> np.ndarray:
    """Row normalisation before clustering: 'l2', 'centered', 'whitened', 'standard' or None."""
    if how == 'whitened':
        return _whitened(X)
    if how == 'l2':
        return l2_normalize(X)
    if how == 'centered':
        return _centered(X)
    if how == 'standard':
        return StandardScaler().fit_transform(X)
    if how is None:
        return X
    raise ValueError(f"normalize must be 'l2', 'centered', 'whitened', 'standard' or None, "
                     f"got {how!r}")


def _centered(X: np.ndarray) -> np.ndarray:
    """Signed square root, L2, subtract the set's mean, L2 again.

    The square root damps the few very large activations of ReLU features (power
    normalisation); removing the mean removes what every object of this set shares --
    the table, the light -- so the clusters form on what differs between objects.
    """
    X = l2_normalize(np.sign(X) * np.sqrt(np.abs(X)))
    X = X - X.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    # A set of identical rows centres to zero: keep zeros rather than dividing by 0.
    return X / np.where(norms > 1e-12, norms, 1.0)


#: Principal axes kept by the 'whitened' normalisation (fewer when the set has fewer rows).
WHITEN_AXES = 64


def _whitened(X: np.ndarray, n_axes: int = WHITEN_AXES) -> np.ndarray:
    """Centred rows on the set's leading principal axes, half-whitened, L2 again.

    Each kept axis is divided by the square root of its spread: the few axes along which
    every image of the set varies (light, background, framing) no longer outweigh the
    many weaker ones that tell the kinds apart, yet weak axes are not blown up into noise
    as full whitening would (partial whitening, as in image retrieval).
    """
    X = _centered(X)
    if len(X) < 3:
        return X
    # The second L2 moved the mean a little. In place: a big folder's rows are most of
    # the memory.
    X -= X.mean(axis=0, keepdims=True)
    # Eigen-decomposition of the small (columns x columns) scatter matrix: memory does not
    # grow with the number of rows as an SVD of X would.
    evals, evecs = np.linalg.eigh(X.T @ X)
    order = np.argsort(evals)[::-1][:min(n_axes, len(X) - 1)]
    evals, evecs = evals[order], evecs[:, order]
    keep = evals > max(evals[0], 0.0) * 1e-9
    if not keep.any():  # all rows alike: nothing to whiten
        return X
    Z = (X @ evecs[:, keep]) / np.power(evals[keep], 0.25).astype(X.dtype)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norms > 1e-12, norms, 1.0)


def _to_k_clusters(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Map a free-k partition (noise = -1) onto exactly k clusters.

    The found clusters' centroids are merged with Ward linkage when there are too many;
    when there are too few, the widest cluster is split with 2-means, repeatedly. Noise
    points join their nearest centroid. This keeps the method's own grouping where it can.
    """
    labels = labels.copy()
    found = [c for c in np.unique(labels) if c >= 0]
    if not found:
        labels[:] = 0
        found = [0]
    centroids = np.stack([Z[labels == c].mean(0) for c in found])
    noise = labels < 0
    if noise.any():
        d = ((Z[noise, None, :] - centroids[None]) ** 2).sum(-1)
        labels[noise] = np.asarray(found)[d.argmin(1)]
    if len(found) > k:
        merge = cluster.AgglomerativeClustering(n_clusters=k).fit_predict(centroids)
        lookup = dict(zip(found, merge))
        return np.array([lookup[c] for c in labels])
    labels = _relabel_by_first_seen(labels)
    while len(np.unique(labels)) < k:
        sizes = np.bincount(labels)
        spread = [((Z[labels == c] - Z[labels == c].mean(0)) ** 2).sum() if sizes[c] > 1 else -1
                  for c in range(len(sizes))]
        c = int(np.argmax(spread))
        idx = np.nonzero(labels == c)[0]
        halves = np.zeros(len(idx), dtype=int)
        if spread[c] > 0:
            halves = cluster.KMeans(n_clusters=2, n_init=3, random_state=0).fit_predict(Z[idx])
        if halves.min() == halves.max():
            # Identical samples (duplicate images): 2-means cannot separate them and the
            # loop would never end; any split of indistinguishable samples is as good.
            halves = (np.arange(len(idx)) >= len(idx) // 2).astype(int)
        labels[idx[halves == 1]] = labels.max() + 1
    return labels


def _relabel_by_first_seen(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0, 1, 2, ... in order of first appearance (stable, readable)."""
    _, first = np.unique(labels, return_index=True)
    order = np.asarray(labels)[np.sort(first)]
    lookup = {old: new for new, old in enumerate(order)}
    return np.array([lookup[v] for v in labels], dtype=int)
