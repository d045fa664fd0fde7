"""TURTLE: the labelling that linear classifiers in several frozen spaces learn most easily.

Gadetsky, Jiang and Brbić (ICML 2024, "Let Go of Your Labels with Unsupervised Transfer")
search for the labelling of a data set that linear classifiers in the representation
spaces of several pretrained networks separate with large margins. It is a bilevel
problem, implemented here from the paper's description:

- a *task encoder* proposes soft labels: a softmax over the sum of one linear map per
  space (so a labelling is proposed jointly by every space);
- *inner* step: in each space a linear classifier is trained on those labels for a few
  gradient steps, warm-started from the previous round (a few steps of gradient descent
  on the cross-entropy approach the large-margin solution, so the labels a space can
  learn quickly are those it separates well);
- *outer* step: the task encoder moves towards labels the classifiers of all spaces
  already predict (their cross-entropy against the proposed labels, the classifiers held
  fixed: the paper's first-order approximation), minus ``gamma`` times the entropy of
  the mean label distribution, which keeps every cluster in use.

Several restarts are trained at once; the one with the lowest final outer loss answers
(the method's own criterion, no labels). The rows of each view are reduced to their first
principal components first: with far fewer images than feature columns any labelling is
linearly separable, and the few leading axes are where a small set's structure is.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from ..multiview.views import check_views
from .frozen import _exactly_k, _positive_int, _torch_threads

__all__ = ['TURTLEClusterer']


class TURTLEClusterer(ClusterMixin, BaseEstimator):
    """Unsupervised transfer over several frozen representation spaces (TURTLE).

    ``fit`` takes a list of per-view matrices (one per pretrained network, the same rows
    in each) or one 2-D matrix (one view).

    Parameters
    ----------
    n_clusters : int
        Number of groups (boxes).
    n_components : int or None
        Principal components kept per view (capped at ``n_samples - 1``); None keeps
        every column.
    gamma : float
        Weight of the entropy of the mean label distribution (higher: more even groups).
    inner_steps : int
        Gradient steps of each space's classifier per outer step.
    inner_lr : float
        Learning rate of those steps (plain gradient descent).
    outer_steps : int
        Updates of the task encoder (full batch).
    lr : float
        Adam learning rate of the task encoder.
    n_init : int
        Restarts trained together; the lowest final loss answers.
    random_state : int, RandomState or None
        Seed of the restarts' initialisation (the result is reproducible for a seed).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
    losses_ : ndarray, shape (n_init,)
        Final outer loss of each restart.
    loss_ : float
        That of the restart whose labels were taken.
    n_views_ : int
    n_clusters_found_ : int
        Clusters the chosen restart used before topping up to ``n_clusters``.
    """

    def __init__(self, n_clusters: int = 2, *, n_components=8, gamma: float = 10.0,
                 inner_steps: int = 3, inner_lr: float = 0.5, outer_steps: int = 300,
                 lr: float = 0.05, n_init: int = 8, random_state=None):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.gamma = gamma
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.outer_steps = outer_steps
        self.lr = lr
        self.n_init = n_init
        self.random_state = random_state

    def _check_params(self) -> None:
        n = self.n_clusters
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f'n_clusters must be an integer >= 1, got {n!r}')
        for name in ('inner_steps', 'outer_steps', 'n_init'):
            _positive_int(getattr(self, name), name)
        if self.n_components is not None:
            _positive_int(self.n_components, 'n_components')
        for name in ('inner_lr', 'lr'):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) \
                    or not np.isfinite(v) or v <= 0:
                raise ValueError(f'{name} must be a positive number, got {v!r}')
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, (int, float, np.floating)) \
                or not np.isfinite(g) or g < 0:
            raise ValueError(f'gamma must be a number >= 0, got {g!r}')

    def fit(self, X, y=None):
        self._check_params()
        views = check_views(X, n_clusters=self.n_clusters)
        n, k = len(views[0]), int(self.n_clusters)
        self.n_views_ = len(views)
        self.n_features_in_ = sum(V.shape[1] for V in views)
        if k in (1, n):
            self.labels_ = np.zeros(n, int) if k == 1 else np.arange(n)
            self.losses_, self.loss_, self.n_clusters_found_ = np.zeros(1), 0.0, k
            return self
        Z = [self._reduce(V) for V in views]
        rng = check_random_state(self.random_state)
        # One thread: seconds on a few thousand rows, and the machine is shared.
        with _torch_threads(1) as torch:
            probs, losses = self._train(torch, Z, k, int(rng.randint(2 ** 31 - 1)))
        self.losses_ = losses
        best = int(np.argmin(losses))
        self.loss_ = float(losses[best])
        labels = probs[best].argmax(1)
        self.n_clusters_found_ = len(np.unique(labels))
        self.labels_ = _exactly_k(np.hstack(Z), labels, k)
        return self

    def _reduce(self, V: np.ndarray) -> np.ndarray:
        """Leading principal axes of a view, scaled to unit mean row norm."""
        V = V - V.mean(0)
        c = self.n_components
        if c is not None and c < min(V.shape):
            V = PCA(n_components=int(c), random_state=0).fit_transform(V)
        # One scale per view (not per row or column): the classifiers' step sizes then mean
        # the same in every space, and the space's own geometry is kept.
        return V / max(float(np.linalg.norm(V, axis=1).mean()), 1e-12)

    def _train(self, torch, Z: list[np.ndarray], k: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        R, n = int(self.n_init), len(Z[0])
        # Views stacked into one (views, n, width + 1) tensor, narrower ones padded with
        # zero columns (which no weight can use), so every step is one batched product
        # whatever the number of views; the last column is the classifiers' bias.
        width = max(z.shape[1] for z in Z)
        x = torch.zeros(len(Z), n, width + 1)
        for i, z in enumerate(Z):
            x[i, :, :z.shape[1]] = torch.as_tensor(z, dtype=torch.float32)
        x[:, :, width] = 1.0
        # Task encoder: one linear map per view, for every restart at once.
        theta = torch.nn.Parameter(torch.randn(len(Z), R, width + 1, k, generator=gen))
        # Each view's classifier, warm-started from round to round.
        heads = torch.zeros(len(Z), R, width + 1, k)
        opt = torch.optim.Adam([theta], lr=float(self.lr))
        gamma, ilr = float(self.gamma), float(self.inner_lr)
        loss = torch.zeros(R)

        def encode():
            return torch.einsum('vnd,vrdk->rnk', x, theta)  # (R, n, k) logits

        for _ in range(int(self.outer_steps)):
            p = torch.softmax(encode(), -1)
            target = p.detach()[None]
            for _ in range(int(self.inner_steps)):
                # A gradient step of each classifier's mean cross-entropy against the labels.
                q = torch.softmax(torch.einsum('vnd,vrdk->vrnk', x, heads), -1)
                heads = heads - ilr * torch.einsum('vnd,vrnk->vrdk', x, q - target) / n
            logq = torch.log_softmax(torch.einsum('vnd,vrdk->vrnk', x, heads), -1)
            ce = -(p[None] * logq).sum(-1).mean(-1).sum(0)  # (R,): summed over views
            mean = p.mean(1)
            entropy = -(mean * torch.log(mean + 1e-12)).sum(-1)
            loss = ce - gamma * entropy
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
        with torch.no_grad():
            probs = torch.softmax(encode(), -1)
        return probs.numpy(), loss.detach().numpy().astype(float)
