"""Clustering that bootstraps itself from cheap features by transfer learning.

After Dong & Wang, "A transfer learning based feature-weak-relevant method for image
clustering" (arXiv:1808.04068): a cheap *boot feature* (raw pixels, HOG, Gabor, raw
pixels + PCA) gives a first clustering; every round keeps the ``delta`` fraction of each
cluster's samples nearest its centroid as *reliable* (confirmed samples stay confirmed with
the label they were confirmed with: the set only grows), trains a pretrained network on the
confirmed samples, predicts the others, re-extracts features with the trained network,
clusters them again, and relaxes ``delta`` by ``delta_step`` -- until every sample is
confirmed or ``max_rounds`` rounds have run. The final clustering is that of the last
re-extracted features. The final result depends little on which boot feature started it
(the paper's "feature-weak-relevance", measured by :func:`difference_rate`).

Two safeguards against label noise, both label-free and the same for every boot feature:

- *Agreement before confirming* (``agreement=True``). After round 0, a sample near its new
  cluster's centroid is confirmed only if the trained network's prediction gives it the same
  label. The network fits the confirmed set exactly (training loss ~0), so every wrong
  confirmed label is learned for good; without the check the late, loose rounds confirmed
  mostly wrong labels. Measured on the 8x8 digits with the raw-pixel boot feature
  (benchmarks/bootstrap.py, seed 0): the newly confirmed samples of the last round were
  57 % right without the check (NMI fell round by round, 0.753 -> 0.732, below the boot
  clustering's 0.741) and 70 % right with it (NMI rose, 0.742 -> 0.763). Samples that
  never get an agreeing label stay unconfirmed and keep the network's prediction.
- *Final re-clustering* (``final_labels='recluster'``). ``labels_`` is the clustering of
  the last re-extracted features (k-means started from the confirmed + predicted labels),
  not the confirmed labels themselves, so the learned representation can still move a
  sample whose confirmed label was wrong (raw pixels on digits: NMI 0.763 -> 0.778).
  ``final_labels='head'`` keeps the paper's confirmed + predicted labels.

What is trained, on a CPU (``network``):

- ``'head'``: a classification head (``d -> hidden -> k`` MLP) on *frozen* pretrained
  features (any extractor, e.g. the LiteRT MobileNets), whose hidden layer is the
  re-extracted feature. Cheap (well under a second per round) and works from features
  alone, but it cannot change the pretrained representation: on the tool dataset raw pixels
  and HOG stay far behind Gabor and raw + PCA, and eta(NMI) or eta(ACC) grows in 4 of 5
  conditions (benchmarks/results/bootstrap.md).
- an :class:`~sorting_cell.bootstrap.finetune.EfficientNetLiteTail`: the paper's recipe --
  the last block of a pretrained EfficientNet-Lite is fine-tuned on the confirmed samples
  and its pooled features are re-extracted -- made affordable by running the frozen front
  once (``fit([boot, tail.trunk(images)])``); 14-42 s per 112-image fit on a loaded 2-core
  machine. Every boot feature then ends near the same clustering (tools: eta(NMI) 0.30-0.43
  -> 0.02-0.10, benchmarks/results/bootstrap_tail_tools.md). The final labels are a fresh
  k-means (``final_labels='fresh'``): started from the confirmed + predicted labels,
  k-means keeps the boot feature's mistakes
  (benchmarks/results/bootstrap_tail_ablation_recluster_tools.md).

With ``head_input='boot+pretrained'`` (default) both also see the boot feature: the head as
extra inputs, the tail through a small branch beside it whose output is concatenated with
the pooled CNN feature.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import check_random_state

from ..training import progress_bar, torch_session
from ..multiview.views import check_views
from .finetune import EfficientNetLiteTail
from .learners import HeadLearner, TailLearner

__all__ = ['TransferBootstrap', 'difference_rate', 'reliable_mask']


def difference_rate(values) -> float:
    """Index difference rate ``eta = (max - min) / max`` of one index over boot features.

    How much a clustering index changes with the boot feature that started it: 0 means
    the result does not depend on the boot feature at all. (The source paper's exact
    formula is not available offline; this is the relative spread it describes.)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f'need a non-empty 1-D array of finite values, got {values!r}')
    top = v.max()
    if top <= 0:
        raise ValueError(f'difference rate needs a positive maximum, got {top}')
    return float((top - v.min()) / top)


def reliable_mask(F: np.ndarray, labels: np.ndarray, fraction: float) -> np.ndarray:
    """The ``fraction`` of each cluster's samples nearest the cluster centroid.

    Per cluster (not globally) so that a loose cluster still gets reliable samples and the
    classifier sees every class; at least one sample per cluster.
    """
    mask = np.zeros(len(F), dtype=bool)
    for c in np.unique(labels):
        idx = np.nonzero(labels == c)[0]
        d = np.linalg.norm(F[idx] - F[idx].mean(0), axis=1)
        n_keep = max(1, int(np.ceil(fraction * len(idx))))
        mask[idx[np.argsort(d, kind='stable')[:n_keep]]] = True
    return mask


def _align(labels: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Rename ``labels`` to agree best with ``reference`` (Hungarian on the overlap)."""
    table = np.zeros((k, k))
    np.add.at(table, (labels, reference), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    lookup = np.arange(k)
    lookup[rows] = cols
    return lookup[labels]


class TransferBootstrap(ClusterMixin, BaseEstimator):
    """Transfer-learning bootstrapping clusterer.

    ``fit(X)`` takes a list of views: ``X[0]`` is the boot feature; ``X[1:]`` are frozen
    pretrained-network features of the same images (concatenated after L2 normalisation)
    that the trainable head sits on -- or, with ``network=EfficientNetLiteTail(...)``, the
    one matrix ``network.trunk(images)`` of frozen-layer activations its tail is trained on.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    clusterer : {'kmeans', 'gmm'}
        Clusterer of the boot features and of every round's re-extracted features.
    boot_pca : int, float or None
        PCA of the (standardised) boot feature before clustering (``raw + PCA``).
    delta : float
        Initial reliable fraction ``Delta`` per cluster, in (0, 1].
    delta_step : float
        Relaxation ``delta`` added to ``Delta`` after every round.
    max_rounds : int
        ``k_max``: most rounds of select -> train -> predict -> re-extract.
    hidden : int
        Width of the head's hidden layer (the re-extracted feature).
    epochs : int
        Training epochs of the head per round (full batch, Adam).
    lr, weight_decay : float
        Adam parameters of the head.
    head_input : {'boot+pretrained', 'pretrained'}
        What the trained network sees: the frozen pretrained features alone, or next to
        the (standardised) boot feature. The paper fine-tunes the whole CNN, so the network
        can learn what the reliable samples share even where ImageNet features are weak
        (8x8 digits); a head on *frozen* features cannot, and then loses to a good boot
        feature (HOG on digits). Giving the head the boot feature too lets it learn, from
        the reliable samples, how much of either to use. With a fine-tuned tail the boot
        feature goes through a ``boot -> hidden`` branch beside it: needed on the 8x8
        digits (ImageNet features are weak there: HOG fell 0.850 -> 0.748 NMI without it,
        benchmarks/results/bootstrap_tail_ablation_nobranch_digits.md), harmful on photos
        of objects, where it pulls every boot feature back to its own clustering (tools:
        mean NMI 0.803 -> 0.513, eta grows in 4 of 5 conditions,
        bootstrap_tail_ablation_branch_tools.md) -- use ``'pretrained'`` there (what
        ``method='bootstrap-finetune'`` does).
    head_boot_dims : int, float or None
        With ``head_input='boot+pretrained'``, the head sees at most this many principal
        components of the (standardised) boot feature (a float in (0, 1): as many as keep
        that fraction of its variance); ``None`` gives it the whole boot feature. The
        clustering of the boot feature itself is not affected. Measured trade-off
        (benchmarks/results/bootstrap_ablation_head_boot_dims20.md): 20 components help a
        3072-pixel boot feature on the 112-image tool sets (mean NMI over conditions and
        boot features 0.645 -> 0.699) but cost HOG on the 8x8 digits, where the CNN features
        are weak and the head needs the whole boot feature (NMI 0.879 -> 0.769, below the
        boot clustering's 0.850) -- hence the default ``None``.
    agreement : bool
        Confirm a sample (after round 0) only when its re-clustered label and the trained
        network's prediction agree (see the module docstring).
    final_labels : {'auto', 'recluster', 'fresh', 'head'}
        ``labels_`` from clustering the last re-extracted features -- started from the
        confirmed + predicted labels (``'recluster'``) or from scratch (``'fresh'``, k-means++
        with 10 restarts, independent of the boot feature's labels) -- or the confirmed
        labels plus the network's predictions for the rest (``'head'``, the paper's).
        ``'auto'``: ``'fresh'`` with a fine-tuned tail, ``'recluster'`` with the head.
    network : 'head' or EfficientNetLiteTail
        What is trained each round (see the module docstring). With a tail, ``fit`` takes
        ``[boot_feature, network.trunk(images)]``, and ``hidden`` is the width of the boot
        branch; ``epochs``, ``lr`` and ``weight_decay`` here are the head's (the tail
        carries its own training recipe).
    random_state : int, RandomState or None
        Seed; two fits with the same integer seed are identical.
    progress : bool or None
        Progress bar over rounds; ``None`` shows it on a terminal only.
    n_threads : int
        Upper bound on torch's CPU threads.

    Attributes
    ----------
    labels_ : ndarray of int
        The final clustering: ``cluster_labels_`` or ``head_labels_`` (``final_labels``).
    head_labels_ : ndarray of int
        Confirmed samples keep their confirmed label; the others get the head's prediction.
    boot_labels_ : ndarray of int
        The clustering of the boot feature alone (round 0).
    cluster_labels_ : ndarray of int
        Clustering of the last re-extracted features, started from ``head_labels_`` and
        numbered like them.
    confirmed_ : ndarray of bool
        Which samples ended confirmed.
    embedding_ : ndarray
        The last re-extracted features (head's hidden layer) of all samples.
    rounds_ : list of dict
        Per round: ``delta``, ``n_confirmed``, ``confirmed`` (mask), ``labels`` (confirmed
        + predicted, after the round), ``pred`` (the head's prediction of every sample),
        ``cluster`` (the clustering the round selected from), ``loss`` (head's training
        loss), ``time``.
    n_rounds_ : int
    """

    def __init__(self, n_clusters: int = 2, clusterer: str = 'kmeans', boot_pca=None,
                 delta: float = 0.2, delta_step: float = 0.2, max_rounds: int = 5,
                 hidden: int = 256, epochs: int = 100, lr: float = 1e-3,
                 weight_decay: float = 1e-4, boot_normalize: str | None = None,
                 warm_start: bool = False, head_input: str = 'boot+pretrained',
                 agreement: bool = True, final_labels: str = 'auto',
                 head_boot_dims: int | None = None, network='head',
                 random_state=None, progress=None, n_threads: int = 2):
        self.n_clusters = n_clusters
        self.head_input = head_input
        self.agreement = agreement
        self.final_labels = final_labels
        self.head_boot_dims = head_boot_dims
        self.network = network
        self.boot_normalize = boot_normalize
        self.warm_start = warm_start
        self.clusterer = clusterer
        self.boot_pca = boot_pca
        self.delta = delta
        self.delta_step = delta_step
        self.max_rounds = max_rounds
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress
        self.n_threads = n_threads

    def _check_params(self):
        if self.head_input not in ('boot+pretrained', 'pretrained'):
            raise ValueError(f"head_input must be 'boot+pretrained' or 'pretrained', got "
                             f'{self.head_input!r}')
        hb = self.head_boot_dims
        if isinstance(hb, float):
            if not 0 < hb < 1:
                raise ValueError(f'head_boot_dims as a float is a fraction of variance in '
                                 f'(0, 1), got {hb!r}')
        elif hb is not None and (isinstance(hb, bool) or not isinstance(hb, (int, np.integer))
                                 or hb < 1):
            raise ValueError(f'head_boot_dims must be an integer >= 1, a fraction in (0, 1) '
                             f'or None, got {hb!r}')
        if self.final_labels not in ('auto', 'recluster', 'fresh', 'head'):
            raise ValueError(f"final_labels must be 'auto', 'recluster', 'fresh' or 'head', "
                             f'got {self.final_labels!r}')
        if self.boot_normalize not in ('standard', None):
            raise ValueError(f"boot_normalize must be 'standard' or None, got "
                             f'{self.boot_normalize!r}')
        if isinstance(self.network, EfficientNetLiteTail):
            self.network.check()
        elif not (isinstance(self.network, str) and self.network == 'head'):
            raise ValueError(f"network must be 'head' or an EfficientNetLiteTail, got "
                             f'{self.network!r}')
        if self.clusterer not in ('kmeans', 'gmm'):
            raise ValueError(f"clusterer must be 'kmeans' or 'gmm', got {self.clusterer!r}")
        if not 0 < self.delta <= 1:
            raise ValueError(f'delta (initial reliable fraction) must be in (0, 1], got '
                             f'{self.delta!r}')
        if not 0 <= self.delta_step <= 1:
            raise ValueError(f'delta_step must be in [0, 1], got {self.delta_step!r}')
        for name in ('max_rounds', 'hidden', 'epochs'):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f'{name} must be an integer >= 1, got {v!r}')

    def _boot_input(self, F: np.ndarray, seed: int) -> np.ndarray:
        """The (standardised, optionally PCA-reduced) boot feature the network also sees."""
        boot = StandardScaler().fit_transform(F)
        hb = self.head_boot_dims
        n_head = (boot.shape[1] if hb is None else hb if isinstance(hb, float)
                  else min(hb, len(boot)))
        if isinstance(n_head, float) or boot.shape[1] > n_head:
            boot = StandardScaler().fit_transform(
                PCA(n_head, random_state=seed).fit_transform(boot))
        return boot

    def _cluster(self, F: np.ndarray, seed: int, init_labels: np.ndarray | None) -> np.ndarray:
        k = self.n_clusters
        if init_labels is not None and len(np.unique(init_labels)) == k:
            # Start from the current labelling so that cluster ids stay comparable.
            means = np.stack([F[init_labels == c].mean(0) for c in range(k)])
            if self.clusterer == 'kmeans':
                return KMeans(k, init=means, n_init=1, random_state=seed).fit_predict(F)
            return GaussianMixture(k, covariance_type='diag', means_init=means,
                                   random_state=seed, reg_covar=1e-4).fit(F).predict(F)
        if self.clusterer == 'kmeans':
            return KMeans(k, n_init=10, random_state=seed).fit_predict(F)
        return GaussianMixture(k, covariance_type='diag', n_init=3, random_state=seed,
                               reg_covar=1e-4).fit(F).predict(F)

    def fit(self, X, y=None):
        """Run the bootstrapping rounds.

        ``X = [boot_feature, pretrained_1, ...]`` with the head (``network='head'``), or
        ``X = [boot_feature, network.trunk(images)]`` with a fine-tuned network tail.
        """
        self._check_params()
        tail = self.network != 'head'
        if tail and (not isinstance(X, (list, tuple)) or len(X) != 2):
            raise ValueError('with a fine-tuned network, X must be [boot_feature, '
                             'network.trunk(images)]')
        views = check_views(X, n_clusters=self.n_clusters, min_views=2,
                            names=None if not isinstance(X, (list, tuple)) else
                            ['boot feature'] + ['trunk rows' if tail else f'pretrained view {i}'
                                                for i in range(1, len(X))])
        t0 = time.perf_counter()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        k = int(self.n_clusters)
        F = views[0] if self.boot_normalize is None else StandardScaler().fit_transform(views[0])
        if self.boot_pca:
            n = (self.boot_pca if isinstance(self.boot_pca, float)
                 else min(self.boot_pca, *F.shape))
            F = PCA(n, random_state=seed).fit_transform(F)
        boot = self._boot_input(F, seed) if self.head_input == 'boot+pretrained' else None
        labels = self._cluster(F, seed, None)
        self.boot_labels_ = labels.copy()
        confirmed = np.zeros(len(F), dtype=bool)
        conf_label = np.full(len(F), -1)
        rounds, rate = [], float(self.delta)
        full = labels  # confirmed + predicted labels of the previous round
        with torch_session(seed, self.n_threads), \
                progress_bar(self.max_rounds, 'bootstrap', 'round', self.progress) as bar:
            if tail:
                learner = TailLearner(self.network, views[1], k, seed, boot, self.hidden)
            else:
                deep = StandardScaler().fit_transform(
                    np.hstack([l2_normalize(V) for V in views[1:]]))
                learner = HeadLearner(deep if boot is None else np.hstack([deep, boot]), k,
                                      self.hidden, self.epochs, self.lr, self.weight_decay)
            for r in range(self.max_rounds):
                if r == 0 or not self.warm_start:
                    learner.start()
                tr = time.perf_counter()
                if confirmed.any():
                    labels = _align(labels, np.where(confirmed, conf_label, full), k)
                selected_from = labels.copy()
                new = reliable_mask(F, labels, min(rate, 1.0)) & ~confirmed
                if self.agreement and r > 0:
                    # Confirm only where the re-clustering and the network agree: the
                    # network memorises every confirmed label, right or wrong.
                    new &= labels == full
                conf_label[new] = labels[new]
                confirmed |= new
                # Train on the confirmed samples only.
                loss = learner.train(np.nonzero(confirmed)[0], conf_label[confirmed], r)
                F, pred = learner.embed()
                full = np.where(confirmed, conf_label, pred)
                rounds.append({'round': r, 'delta': min(rate, 1.0),
                               'n_confirmed': int(confirmed.sum()), 'labels': full.copy(),
                               'confirmed': confirmed.copy(), 'pred': pred.copy(),
                               'cluster': selected_from,
                               'loss': loss, 'time': time.perf_counter() - tr})
                bar.set_postfix(confirmed=f'{confirmed.sum()}/{len(F)}', refresh=False)
                bar.update()
                if confirmed.all():
                    break
                labels = self._cluster(F, seed, None)
                rate += self.delta_step
        self.head_labels_ = full.astype(int)
        final = self.final_labels
        if final == 'auto':
            final = 'fresh' if tail else 'recluster'
        self.cluster_labels_ = _align(
            self._cluster(F, seed, full if final == 'recluster' else None), full, k)
        self.labels_ = (self.head_labels_ if final == 'head' else self.cluster_labels_).copy()
        self.confirmed_ = confirmed
        self.embedding_ = F
        self.rounds_ = rounds
        self.n_rounds_ = len(rounds)
        self.fit_time_ = time.perf_counter() - t0
        return self
