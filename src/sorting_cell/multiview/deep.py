"""Deep clustering on CPU with PyTorch: IDEC (one view) and DMVC (several views).

IDEC -- Guo, Gao, Liu, Yin, "Improved deep embedded clustering with local structure
preservation", IJCAI 2017: an autoencoder ``d-500-500-2000-e`` is pretrained on
reconstruction; k-means on its embedding initialises the cluster centres; then encoder,
decoder and centres are trained together on ``L = L_rec + gamma * KL(P || Q)``, where ``Q``
is the Student-t soft assignment of each embedding to the centres and ``P`` the sharpened
target ``p_ij ~ q_ij^2 / f_j`` recomputed every ``update_interval`` iterations. Training
stops when fewer than ``tol`` of the labels change between two target updates.

DMVC -- Guerin & Boots, "Improving image clustering with multiple pretrained CNN feature
extractors", ICANN 2018: MVnet has one MLP per view (the encoder of an autoencoder
pretrained on that view), concatenates their codes, and maps them through an output MLP
(the encoder of an autoencoder pretrained on the concatenated codes) to the clustering
embedding. The whole net is then trained end to end with the IDEC loss (the
reconstruction term sums every view's and the output autoencoder's).

Both expose ``transform`` (the learned embedding) so that k-means on it can be scored
like Table 4 of that paper, and ``predict`` (the argmax of ``Q``). Runs are bit-identical
for a fixed ``random_state`` (seeded torch, deterministic CPU kernels, fixed thread count).
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import check_random_state

from ..training import progress_bar, torch_session
from .views import check_views

__all__ = ['IDEC', 'DMVC']

#: Paper defaults (Guo et al. 2017, Xifeng Guo's reference code for MNIST).
PAPER_HIDDEN = (500, 500, 2000)


class _Scaler:
    """Per-view input scaling, kept so that ``transform`` sees what ``fit`` saw."""

    def __init__(self, how: str | None):
        if how not in ('standard', 'l2', None):
            raise ValueError(f"normalize must be 'standard', 'l2' or None, got {how!r}")
        self.how = how

    def fit(self, V: np.ndarray) -> '_Scaler':
        if self.how == 'standard':
            self.scaler = StandardScaler().fit(V)
        return self

    def transform(self, V: np.ndarray) -> np.ndarray:
        if self.how == 'standard':
            V = self.scaler.transform(V)
        elif self.how == 'l2':
            # Unit rows times sqrt(d): entries of RMS 1, the scale an MSE loss expects.
            V = l2_normalize(V) * math.sqrt(V.shape[1])
        return V.astype(np.float32)


def _mlp(dims: Sequence[int]):
    """Linear layers with ReLU between them; the last layer is linear."""
    from torch import nn

    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _autoencoder(d_in: int, hidden: Sequence[int], d_code: int):
    from torch import nn

    dims = [d_in, *hidden, d_code]
    return nn.ModuleDict({'encoder': _mlp(dims), 'decoder': _mlp(dims[::-1])})


def _batches(n: int, batch_size: int, gen):
    import torch

    order = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def _adam(params, lr: float):
    """Adam; the fused CPU kernel when this torch has it (same update rule, one kernel).

    Profiled on 112 x 3584 inputs with the paper's d-500-500-2000-k autoencoder: the
    per-parameter Python loop of the default Adam took a third of every step (22 of 70 ms);
    the fused kernel takes 4 ms.
    """
    import torch

    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # older torch or an unsupported dtype/device
        return torch.optim.Adam(params, lr=lr)


def _train_ae(ae, X, epochs: int, batch_size: int, lr: float, gen, progress, desc: str):
    """Pretrain one autoencoder on reconstruction (Adam, MSE), one bar tick per epoch."""
    import torch

    opt = _adam(ae.parameters(), lr)
    loss = torch.tensor(math.nan)
    with progress_bar(epochs, desc, 'epoch', progress) as bar:
        for _ in range(epochs):
            for idx in _batches(len(X), batch_size, gen):
                xb = X[idx]
                loss = torch.nn.functional.mse_loss(ae['decoder'](ae['encoder'](xb)), xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            bar.set_postfix(loss=f'{loss.item():.4f}', refresh=False)
            bar.update()
    return float(loss.item())


def _soft_assign(z, centers, alpha: float = 1.0):
    """Student-t kernel between embeddings and centres, rows normalised (DEC's Q)."""
    import torch

    d2 = torch.cdist(z, centers).pow(2)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def _target(q):
    """DEC's sharpened target: square, divide by cluster frequency, renormalise."""
    w = q.pow(2) / q.sum(dim=0)
    return (w.t() / w.sum(dim=1)).t()


class _DeepClusterer(ClusterMixin, BaseEstimator):
    """Shared fit loop of IDEC and DMVC; subclasses build the net and pretrain it."""

    _min_views = 1

    # -- subclass hooks -------------------------------------------------------------------
    def _build(self, dims: list[int], k: int):
        raise NotImplementedError

    def _pretrain(self, net, xs, gen) -> dict:
        raise NotImplementedError

    def _embed(self, net, xs):
        raise NotImplementedError

    def _train_outputs(self, net, xs):
        """Embedding and reconstruction loss of a batch, in one forward pass."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def _update_interval(self, n: int) -> int:
        """Iterations between target updates; 'auto' scales the paper's to the data size.

        The reference code's 140 iterations for MNIST (70000 samples, batches of 256) are
        half an epoch. On a 112-image set one epoch is one full-batch step, so 140 steps
        are 140 epochs between two looks at the labels: training cannot stop before
        them even when no label moves. 'auto' keeps half an epoch, between 10 (the target
        must not chase every step) and 140 (the paper's value, reached at MNIST size).
        """
        if self.update_interval == 'auto':
            half_epoch = math.ceil(0.5 * n / self.batch_size)
            return int(min(140, max(10, half_epoch)))
        return int(self.update_interval)

    def _check_params(self):
        names = ['pretrain_epochs', 'batch_size', 'max_iter']
        if self.update_interval != 'auto':
            names.append('update_interval')
        for name in names:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f'{name} must be an integer >= 1, got {v!r}')
        if not self.gamma >= 0:
            raise ValueError(f'gamma must be >= 0, got {self.gamma!r}')

    def _prepare(self, X, fitting: bool) -> list[np.ndarray]:
        if fitting:
            views = check_views(X, n_clusters=self.n_clusters, min_views=self._min_views)
            self.scalers_ = [_Scaler(self.normalize).fit(V) for V in views]
        else:
            views = check_views(X)
            if [V.shape[1] for V in views] != self.n_features_:
                raise ValueError(f'expected views with {self.n_features_} features, got '
                                 f'{[V.shape[1] for V in views]}')
        return [s.transform(V) for s, V in zip(self.scalers_, views)]

    def fit(self, X, y=None):
        """Pretrain, initialise centres with k-means, train with the clustering loss.

        Parameters
        ----------
        X : list of array-like, or one 2-D array-like
            Per-view feature matrices (rows = samples) or one matrix.
        """
        import torch

        self._check_params()
        t0 = time.perf_counter()
        views = self._prepare(X, fitting=True)
        self.n_features_ = [V.shape[1] for V in views]
        k = int(self.n_clusters)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        with torch_session(seed, self.n_threads) as gen:
            xs = [torch.from_numpy(V) for V in views]
            net = self._build(self.n_features_, k)
            self.pretrain_loss_ = self._pretrain(net, xs, gen)
            t_pre = time.perf_counter()
            with torch.no_grad():
                z0 = self._embed(net, xs).numpy()
            km = KMeans(n_clusters=k, n_init=20, random_state=seed % (2**31 - 1)).fit(z0)
            self.kmeans_pretrained_labels_ = km.labels_.copy()
            centers = torch.nn.Parameter(torch.tensor(km.cluster_centers_, dtype=torch.float32))
            labels, self.n_iter_, self.history_ = self._cluster(net, centers, xs, km.labels_,
                                                                gen)
            self.net_ = net.eval()
            self.cluster_centers_ = centers.detach().numpy().copy()
        self.labels_ = labels
        self.fit_time_ = time.perf_counter() - t0
        self.pretrain_time_ = t_pre - t0
        return self

    def _cluster(self, net, centers, xs, labels0: np.ndarray, gen):
        import torch
        from torch.nn import functional as F

        params = list(net.parameters()) + [centers]
        opt = _adam(params, self.lr)
        n = xs[0].shape[0]
        interval = self._update_interval(n)
        labels_prev = labels0.copy()
        history, p, it, order, pos = [], None, 0, None, n
        with progress_bar(self.max_iter, 'cluster', 'it', self.progress) as bar:
            while it < self.max_iter:
                if it % interval == 0:
                    with torch.no_grad():
                        q = _soft_assign(self._embed(net, xs), centers)
                    p = _target(q)
                    labels = q.argmax(1).numpy()
                    delta = float((labels != labels_prev).mean())
                    labels_prev = labels
                    history.append({'iter': it, 'delta_label': delta})
                    bar.set_postfix(delta_label=f'{delta:.4f}', refresh=False)
                    if it > 0 and delta < self.tol:
                        break
                if pos >= n:  # a new epoch: fresh shuffle
                    order, pos = torch.randperm(n, generator=gen), 0
                idx = order[pos:pos + self.batch_size]
                pos += self.batch_size
                batch = [x[idx] for x in xs]
                z, rec = self._train_outputs(net, batch)
                q = _soft_assign(z, centers)
                kl = F.kl_div(q.log(), p[idx], reduction='batchmean')
                loss = rec + self.gamma * kl
                opt.zero_grad()
                loss.backward()
                opt.step()
                it += 1
                bar.update()
            if history and history[-1]['iter'] != it:
                with torch.no_grad():
                    labels_prev = _soft_assign(self._embed(net, xs), centers).argmax(1).numpy()
        return labels_prev.astype(int), it, history

    def _forward(self, X):
        import torch

        if not hasattr(self, 'net_'):
            raise RuntimeError(f'this {type(self).__name__} is not fitted yet; call fit first')
        xs = [torch.from_numpy(V) for V in self._prepare(X, fitting=False)]
        with torch.no_grad():
            z = self._embed(self.net_, xs)
            q = _soft_assign(z, torch.from_numpy(self.cluster_centers_))
        return z.numpy(), q.numpy()

    def transform(self, X) -> np.ndarray:
        """The learned embedding of ``X`` (same views as in ``fit``)."""
        return self._forward(X)[0]

    def predict_proba(self, X) -> np.ndarray:
        """Soft assignment ``Q`` of every sample to every cluster."""
        return self._forward(X)[1]

    def predict(self, X) -> np.ndarray:
        """Hard assignment: the most likely cluster of every sample."""
        return self._forward(X)[1].argmax(1)


class IDEC(_DeepClusterer):
    """Improved Deep Embedded Clustering on one feature matrix (PyTorch, CPU).

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    hidden : tuple of int
        Hidden layer widths of the encoder (mirrored by the decoder); the paper's
        ``(500, 500, 2000)`` by default.
    embedding_dim : int or None
        Size of the embedding; ``None`` = ``n_clusters`` (10 for MNIST in the paper).
    gamma : float
        Weight of the clustering (KL) loss; 0.1 as in the paper.
    pretrain_epochs : int
        Autoencoder pretraining epochs (200 in the reference code).
    batch_size : int
        Mini-batch size (256).
    lr : float
        Adam learning rate of both phases (1e-3, the paper's MNIST setting).
    update_interval : int or 'auto'
        Iterations between target-distribution updates (and stop tests). The paper's 140
        for MNIST is half an epoch; ``'auto'`` keeps half an epoch, clipped to 10..140
        (140 at MNIST size, 10 on a 112-image set).
    tol : float
        Stop when fewer than this fraction of labels change between two updates (0.001).
    max_iter : int
        Iteration cap of the clustering phase (2e4).
    normalize : {'standard', 'l2', None}
        Input scaling: per-feature standardisation, or unit rows times ``sqrt(d)``.
    random_state : int, RandomState or None
        Seed: two fits with the same integer seed give identical results.
    progress : bool or None
        Progress bars (epochs, iterations); ``None`` shows them on a terminal only.
    n_threads : int
        Upper bound on torch's CPU threads during ``fit``.

    Attributes
    ----------
    labels_ : ndarray of int
        Argmax of the soft assignment at the end of training.
    kmeans_pretrained_labels_ : ndarray of int
        k-means on the pretrained (reconstruction-only) embedding: the "AE + k-means" row.
    cluster_centers_ : ndarray, shape (n_clusters, embedding_dim)
    n_iter_ : int
        Clustering-phase iterations run.
    history_ : list of dict
        ``delta_label`` at every target update.
    fit_time_ : float
        Seconds spent in ``fit``.
    pretrain_time_ : float
        Of which autoencoder pretraining.
    """

    def __init__(self, n_clusters: int = 2, hidden: Sequence[int] = PAPER_HIDDEN,
                 embedding_dim: int | None = None, gamma: float = 0.1,
                 pretrain_epochs: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 update_interval='auto', tol: float = 1e-3, max_iter: int = 20000,
                 normalize: str | None = 'standard', random_state=None, progress=None,
                 n_threads: int = 2):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.embedding_dim = embedding_dim
        self.gamma = gamma
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.normalize = normalize
        self.random_state = random_state
        self.progress = progress
        self.n_threads = n_threads

    def _prepare(self, X, fitting: bool):
        views = super()._prepare(X, fitting)
        if len(views) != 1:
            raise ValueError(f'IDEC clusters one feature matrix, got {len(views)} views; '
                             'concatenate them or use DMVC')
        return views

    def _build(self, dims, k):
        return _autoencoder(dims[0], self.hidden, self.embedding_dim or k)

    def _pretrain(self, net, xs, gen):
        return {'ae': _train_ae(net, xs[0], self.pretrain_epochs, self.batch_size, self.lr,
                                gen, self.progress, 'pretrain AE')}

    def _embed(self, net, xs):
        return net['encoder'](xs[0])

    def _train_outputs(self, net, xs):
        from torch.nn import functional as F

        z = net['encoder'](xs[0])
        return z, F.mse_loss(net['decoder'](z), xs[0])


class DMVC(_DeepClusterer):
    """Deep multi-view clustering with MVnet (PyTorch, CPU).

    One autoencoder per view (``d_v-hidden-view_dim``) is pretrained on its view; an
    output autoencoder (``n_views*view_dim - output_hidden - embedding_dim``) is pretrained
    on the concatenated view codes; then the stack (view encoders -> concatenation ->
    output encoder) is trained end to end with the IDEC loss, the reconstruction term
    being the sum of the view autoencoders' and the output autoencoder's MSE.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    hidden : tuple of int
        Hidden widths of each view's sub-net (the IDEC paper's ``(500, 500, 2000)``).
    view_dim : int or None
        Code size of each view's sub-net; ``None`` = ``n_clusters``.
    output_hidden : tuple of int
        Hidden widths of the output MLP.
    embedding_dim : int or None
        Size of the final embedding; ``None`` = ``n_clusters``.
    gamma, pretrain_epochs, batch_size, lr, update_interval, tol, max_iter, normalize,
    random_state, progress, n_threads
        As in :class:`IDEC` (``pretrain_epochs`` applies to each sub-net and the output net).

    Attributes
    ----------
    labels_, kmeans_pretrained_labels_, cluster_centers_, n_iter_, history_, fit_time_
        As in :class:`IDEC`.
    """

    _min_views = 1

    def __init__(self, n_clusters: int = 2, hidden: Sequence[int] = PAPER_HIDDEN,
                 view_dim: int | None = None, output_hidden: Sequence[int] = (500,),
                 embedding_dim: int | None = None, gamma: float = 0.1,
                 pretrain_epochs: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 update_interval='auto', tol: float = 1e-3, max_iter: int = 20000,
                 normalize: str | None = 'standard', random_state=None, progress=None,
                 n_threads: int = 2):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.view_dim = view_dim
        self.output_hidden = output_hidden
        self.embedding_dim = embedding_dim
        self.gamma = gamma
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.normalize = normalize
        self.random_state = random_state
        self.progress = progress
        self.n_threads = n_threads

    def _build(self, dims, k):
        from torch import nn

        vd = self.view_dim or k
        return nn.ModuleDict({
            'views': nn.ModuleList([_autoencoder(d, self.hidden, vd) for d in dims]),
            'output': _autoencoder(vd * len(dims), self.output_hidden, self.embedding_dim or k),
        })

    def _codes(self, net, xs):
        import torch

        return torch.cat([ae['encoder'](x) for ae, x in zip(net['views'], xs)], dim=1)

    def _pretrain(self, net, xs, gen):
        import torch

        losses = {}
        for i, (ae, x) in enumerate(zip(net['views'], xs)):
            losses[f'view{i}'] = _train_ae(ae, x, self.pretrain_epochs, self.batch_size,
                                           self.lr, gen, self.progress, f'pretrain view {i}')
        with torch.no_grad():
            codes = self._codes(net, xs)
        losses['output'] = _train_ae(net['output'], codes, self.pretrain_epochs,
                                     self.batch_size, self.lr, gen, self.progress,
                                     'pretrain output net')
        return losses

    def _embed(self, net, xs):
        return net['output']['encoder'](self._codes(net, xs))

    def _train_outputs(self, net, xs):
        import torch
        from torch.nn import functional as F

        loss, codes = 0.0, []
        for ae, x in zip(net['views'], xs):
            c = ae['encoder'](x)
            codes.append(c)
            loss = loss + F.mse_loss(ae['decoder'](c), x)
        h = torch.cat(codes, dim=1)
        z = net['output']['encoder'](h)
        return z, loss + F.mse_loss(net['output']['decoder'](z), h)
