"""Clusterers that learn on top of frozen features, without labels.

- :class:`TEMIClusterer`: a clustering head trained by self-distillation over nearest
  neighbours of the frozen features (TEMI, Adaloglou et al. 2023, "Exploring the limits
  of deep image clustering using pretrained models"). Each row and one of its nearest
  neighbours are two "views" of the same thing; a student head is trained to agree with
  an exponential-moving-average teacher on the pair, through the pointwise mutual
  information of the two cluster distributions (which, unlike a plain dot product, does
  not reward putting everything in one cluster). Several heads are trained at once and
  the one with the lowest loss answers.
- :class:`UMAPWard`: UMAP down to a few dimensions, then Ward linkage (a recipe studied
  on unseen data sets by Lowe et al. 2024, "An empirical study into clustering of unseen
  datasets with self-supervised encoders").

Both take an already-normalised matrix (what :func:`~sorting_cell.perception.assign`
builds) and always return labels ``0..n_clusters-1`` with every cluster used.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .estimator import _relabel_by_first_seen, _to_k_clusters, check_features

__all__ = ['TEMIClusterer', 'UMAPWard']


def _check_common(est, X) -> np.ndarray:
    n = est.n_clusters
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f'n_clusters must be an integer >= 1, got {n!r}')
    check_features(X)
    X = validate_data(est, X, accept_sparse=False, dtype=np.float64,
                      ensure_all_finite=False, ensure_min_samples=1)
    return check_features(X, min_samples=n)


def _positive_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    return int(value)


def _exactly_k(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    # A head may leave a cluster empty; a cell with k boxes still gets k groups, made
    # by splitting the widest ones (the method's own grouping is kept where it can be).
    if len(np.unique(labels)) != k:
        labels = _to_k_clusters(X, labels, k)
    return _relabel_by_first_seen(labels)


@contextmanager
def _torch_threads(n: int):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


class TEMIClusterer(ClusterMixin, BaseEstimator):
    """Clustering heads trained on frozen features by nearest-neighbour self-distillation.

    Parameters
    ----------
    n_clusters : int
        Number of groups (boxes).
    n_neighbors : int
        Neighbours (cosine) a row is paired with; capped at ``n_samples - 1``.
    n_components : int or None
        The heads see the rows' first principal components (cost grows with the input
        width; the neighbours are found on the full rows); None keeps every column.
    n_heads : int
        Heads trained together; the one with the lowest final loss gives the labels.
    hidden : int
        Width of each head's hidden layer.
    epochs : int
        Passes over the rows.
    batch_size : int
        Rows per step (capped at ``n_samples``).
    beta : float
        Exponent of the PMI loss (TEMI's beta; 1 is plain PMI, lower is softer).
    student_temp, teacher_temp : float
        Softmax temperatures; the teacher is sharper.
    momentum : float
        EMA rate of the teacher's weights.
    lr : float
        AdamW learning rate.
    random_state : int, RandomState or None
        Seed of initialisation and sampling (the result is reproducible for a seed).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
    head_ : int
        Index of the head whose labels were taken.
    losses_ : ndarray, shape (n_heads,)
        Final training loss of each head.
    n_clusters_found_ : int
        Clusters the chosen head used before topping up to ``n_clusters``.
    """

    def __init__(self, n_clusters: int = 2, *, n_neighbors: int = 10, n_components=64,
                 n_heads: int = 8, hidden: int = 128, epochs: int = 200, batch_size: int = 128,
                 beta: float = 0.6, student_temp: float = 0.1, teacher_temp: float = 0.04,
                 momentum: float = 0.99, lr: float = 1e-3, random_state=None):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.n_heads = n_heads
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.beta = beta
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.momentum = momentum
        self.lr = lr
        self.random_state = random_state

    def _check_params(self) -> None:
        for name in ('n_neighbors', 'n_heads', 'hidden', 'epochs', 'batch_size'):
            _positive_int(getattr(self, name), name)
        if self.n_components is not None:
            _positive_int(self.n_components, 'n_components')
        for name in ('beta', 'student_temp', 'teacher_temp', 'lr'):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f'{name} must be a positive number, got {v!r}')
        if not 0.0 <= float(self.momentum) < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {self.momentum!r}')

    def fit(self, X, y=None):
        self._check_params()
        X = _check_common(self, X)
        n, k = len(X), int(self.n_clusters)
        if k in (1, n):
            self.labels_ = np.zeros(n, int) if k == 1 else np.arange(n)
            self.head_, self.losses_, self.n_clusters_found_ = 0, np.zeros(1), k
            return self
        rng = check_random_state(self.random_state)
        Z = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        m = min(int(self.n_neighbors), n - 1)
        # Column 0 is the row itself (or an exact duplicate): pairs come from the others.
        nn = NearestNeighbors(n_neighbors=m + 1).fit(Z).kneighbors(Z, return_distance=False)
        nn = nn[:, 1:]
        if self.n_components is not None and self.n_components < min(Z.shape):
            Z = PCA(n_components=int(self.n_components), random_state=0).fit_transform(Z)
            Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        # One thread: seconds on a few thousand rows, and the machine is shared.
        with _torch_threads(1) as torch:
            probs, losses = self._train(torch, Z, nn, k, rng)
        self.losses_ = losses
        self.head_ = int(np.argmin(losses))
        labels = probs[self.head_].argmax(1)
        self.n_clusters_found_ = len(np.unique(labels))
        self.labels_ = _exactly_k(Z, labels, k)
        return self

    def _heads(self, torch, d: int, k: int):
        return _Heads(torch, self.n_heads, d, int(self.hidden), k)

    def _train(self, torch, Z, nn, k, rng):
        torch.manual_seed(int(rng.randint(2 ** 31 - 1)))
        n, d = Z.shape
        student = self._heads(torch, d, k)
        teacher = self._heads(torch, d, k)
        teacher.load_state_dict(student.state_dict())
        for p in teacher.parameters():
            p.requires_grad_(False)
        opt = torch.optim.AdamW(student.parameters(), lr=self.lr, weight_decay=1e-4)
        X = torch.as_tensor(Z, dtype=torch.float32)
        prior = torch.full((self.n_heads, k), 1.0 / k)  # teacher's cluster marginal (EMA)
        bs = min(int(self.batch_size), n)
        beta = float(self.beta)
        last = torch.zeros(self.n_heads)
        for _ in range(int(self.epochs)):
            order = rng.permutation(n)
            for s in range(0, n - bs + 1, bs):
                idx = order[s:s + bs]
                pair = nn[idx, rng.randint(nn.shape[1], size=len(idx))]
                a, b = X[idx], X[pair]
                sa = student(a) / self.student_temp
                sb = student(b) / self.student_temp
                with torch.no_grad():
                    ta = torch.softmax(teacher(a) / self.teacher_temp, -1)
                    tb = torch.softmax(teacher(b) / self.teacher_temp, -1)
                    # Pairs the teacher thinks belong together count more (TEMI's weight,
                    # shared by all heads).
                    w = ((ta * tb) ** beta / prior[:, None, :]).sum(-1).mean(0)
                    w = w / w.mean()
                # PMI^beta between student and teacher, symmetrised over the pair.
                lpa, lpb = torch.log_softmax(sa, -1), torch.log_softmax(sb, -1)
                logp = torch.log(prior)[:, None, :]
                pmi_ab = torch.logsumexp(beta * (lpa + torch.log(tb + 1e-12)) - logp, -1)
                pmi_ba = torch.logsumexp(beta * (lpb + torch.log(ta + 1e-12)) - logp, -1)
                loss_h = -(w[None] * (pmi_ab + pmi_ba) / 2).mean(1)
                opt.zero_grad()
                loss_h.sum().backward()
                opt.step()
                with torch.no_grad():
                    for pt, ps in zip(teacher.parameters(), student.parameters()):
                        pt.mul_(self.momentum).add_(ps.detach(), alpha=1 - self.momentum)
                    prior.mul_(0.9).add_(0.1 * torch.cat([ta, tb], 1).mean(1))
                last = loss_h.detach()
        with torch.no_grad():
            probs = torch.softmax(teacher(X) / self.teacher_temp, -1)
        return probs.numpy(), last.numpy().astype(float)


def _Heads(torch, n_heads: int, d: int, hidden: int, k: int):
    """``n_heads`` two-layer heads as batched matrices (one matmul for all heads)."""

    class Heads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            def init(*shape, fan_in):
                bound = 1.0 / np.sqrt(fan_in)  # torch.nn.Linear's default
                return torch.nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))
            self.w1 = init(n_heads, d, hidden, fan_in=d)
            self.b1 = init(n_heads, 1, hidden, fan_in=d)
            self.w2 = init(n_heads, hidden, k, fan_in=hidden)
            self.b2 = init(n_heads, 1, k, fan_in=hidden)

        def forward(self, x):  # (batch, d) -> (heads, batch, k)
            h = torch.nn.functional.gelu(torch.baddbmm(self.b1, x.expand(n_heads, -1, -1),
                                                       self.w1))
            return torch.baddbmm(self.b2, h, self.w2)

    return Heads()


class UMAPWard(ClusterMixin, BaseEstimator):
    """UMAP to a few dimensions, then Ward linkage.

    Parameters
    ----------
    n_clusters : int
        Number of groups (boxes).
    n_components : int
        UMAP output dimension (capped below ``n_samples - 1``).
    n_neighbors : int
        UMAP's neighbourhood size (capped at ``n_samples - 1``).
    min_dist : float
        UMAP's minimum distance; 0 packs clusters tightly, which is what clustering wants.
    random_state : int, RandomState or None
        Seed of UMAP's layout (a seed also makes UMAP single-threaded and reproducible).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
    embedding_ : ndarray, shape (n_samples, n_components)
    """

    def __init__(self, n_clusters: int = 2, *, n_components: int = 10, n_neighbors: int = 15,
                 min_dist: float = 0.0, random_state=None):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.random_state = random_state

    def fit(self, X, y=None):
        comps = _positive_int(self.n_components, 'n_components')
        nbrs = _positive_int(self.n_neighbors, 'n_neighbors', low=2)
        if not isinstance(self.min_dist, (int, float)) or not 0 <= self.min_dist <= 1:
            raise ValueError(f'min_dist must be in [0, 1], got {self.min_dist!r}')
        X = _check_common(self, X)
        n, k = len(X), int(self.n_clusters)
        if k in (1, n) or n < 4:
            # Nothing to embed (UMAP needs a few rows): the trivial or Ward answer.
            self.embedding_ = X
            self.labels_ = (np.zeros(n, int) if k == 1 else np.arange(n) if k == n else
                            AgglomerativeClustering(n_clusters=k).fit_predict(X))
            return self
        import umap
        rs = self.random_state
        seed = None if rs is None else int(check_random_state(rs).randint(2 ** 31 - 1))
        reducer = umap.UMAP(n_components=min(comps, n - 2), n_neighbors=min(nbrs, n - 1),
                            min_dist=float(self.min_dist), random_state=seed,
                            n_jobs=1 if seed is not None else -1)
        self.embedding_ = reducer.fit_transform(X)
        labels = AgglomerativeClustering(n_clusters=k).fit_predict(self.embedding_)
        self.labels_ = _exactly_k(self.embedding_, labels, k)
        return self
