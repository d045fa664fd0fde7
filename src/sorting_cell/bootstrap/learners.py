"""What bootstrapping trains each round: a head on frozen features, or a network's tail.

Both offer the same three steps to :class:`~sorting_cell.bootstrap.TransferBootstrap`:
``start`` (a fresh network, or keep the last one), ``train`` on the confirmed samples, and
``embed`` (re-extracted features of every sample, to cluster, and the network's predicted
labels).
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import normalize as l2_normalize

from ..features.efficientnet_lite import FEATURE_DIM


class HeadLearner:
    """``d -> hidden -> k`` MLP on frozen features; the hidden layer is the new feature.

    Trained full-batch: the confirmed set is small and the head is cheap.
    """

    def __init__(self, inputs: np.ndarray, k: int, hidden: int, epochs: int, lr: float,
                 weight_decay: float):
        import torch

        self.x = torch.from_numpy(inputs.astype(np.float32))
        self.k, self.hidden, self.epochs = k, hidden, epochs
        self.lr, self.weight_decay = lr, weight_decay

    def start(self) -> None:
        import torch
        from torch import nn

        self.body = nn.Sequential(nn.Linear(self.x.shape[1], self.hidden), nn.ReLU())
        self.head = nn.Linear(self.hidden, self.k)
        self.opt = torch.optim.Adam([*self.body.parameters(), *self.head.parameters()],
                                    lr=self.lr, weight_decay=self.weight_decay)

    def train(self, idx: np.ndarray, target: np.ndarray, round_: int) -> float:
        import torch
        from torch import nn

        x, t = self.x[torch.from_numpy(idx)], torch.from_numpy(target.astype(np.int64))
        self.body.train()
        for _ in range(self.epochs):
            loss = nn.functional.cross_entropy(self.head(self.body(x)), t)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self.body.eval()
        return float(loss.item())

    def embed(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad():
            emb = self.body(self.x)
            pred = self.head(emb).argmax(1).numpy()
        return emb.numpy().astype(np.float64), pred


class TailLearner:
    """The trainable tail of a pretrained CNN (:class:`EfficientNetLiteTail`) + a linear head.

    Batch norm keeps its ImageNet statistics (the tail always runs in eval mode): batches of
    a few dozen confirmed samples would give noisy statistics. The new feature is the pooled
    activation (``FEATURE_DIM``), L2-normalised as the pipeline does with CNN features.

    With ``boot`` rows, a ``boot -> hidden`` ReLU branch (learning rate ``BRANCH_LR``,
    trained from scratch) runs beside the tail, and the feature is both, each L2-normalised,
    side by side: where ImageNet features are weak (8x8 digits) the network can still learn
    from the boot feature what the reliable samples share.
    """

    BRANCH_LR = 1e-3

    def __init__(self, network, rows: np.ndarray, k: int, seed: int,
                 boot: np.ndarray | None = None, hidden: int = 256):
        import torch

        self.network, self.k, self.seed, self.hidden = network, k, seed, hidden
        self.x = torch.from_numpy(rows.astype(np.float32))
        self.boot = None if boot is None else torch.from_numpy(boot.astype(np.float32))

    def start(self) -> None:
        import torch
        from torch import nn

        self.tail = self.network.build(self.x.shape[1])
        self.tail.eval()
        width = FEATURE_DIM
        if self.boot is not None:
            self.branch = nn.Sequential(nn.Linear(self.boot.shape[1], self.hidden), nn.ReLU())
            width += self.hidden
        self.head = nn.Linear(width, self.k)
        self.opt = torch.optim.Adam([*self.tail.parameters(), *self.head.parameters()],
                                    lr=self.network.lr, weight_decay=self.network.weight_decay)
        if self.boot is not None:
            self.opt.add_param_group({'params': list(self.branch.parameters()),
                                      'lr': self.BRANCH_LR})

    def _features(self, idx):
        import torch
        from torch.nn.functional import normalize

        out = self.tail(self.x[idx])
        if self.boot is None:
            return out
        return torch.cat([normalize(out), normalize(self.branch(self.boot[idx]))], dim=1)

    def train(self, idx: np.ndarray, target: np.ndarray, round_: int) -> float:
        import torch
        from torch import nn

        t = torch.from_numpy(target.astype(np.int64))
        bs = int(self.network.batch_size)
        rng = np.random.RandomState((self.seed + 7919 * round_) % 2**32)
        for _ in range(int(self.network.epochs)):
            order = rng.permutation(len(idx))
            for s in range(0, len(idx), bs):
                part = torch.from_numpy(order[s:s + bs])
                rows = torch.from_numpy(idx[order[s:s + bs]])
                loss = nn.functional.cross_entropy(self.head(self._features(rows)), t[part])
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
        return float(loss.item())

    def embed(self, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad():
            pooled = torch.cat([self._features(torch.arange(s, min(s + batch, len(self.x))))
                                for s in range(0, len(self.x), batch)])
            pred = self.head(pooled).argmax(1).numpy()
        return l2_normalize(pooled.numpy().astype(np.float64)), pred
