"""Protocols A, B and C of the tool-dataset benchmark (shared/docs/BENCHMARK.md).

Every image is described once (proposal + features); the draws then only cluster
subsets of those rows, so 100 draws x 6 columns cost seconds, not hours.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sklearn.base import clone

from ..regions.shape import width_profile
from ..regions.upright import region_size
from ..clustering.metrics import acc, ari, nmi, purity
from ..images import load_image
from ..pipeline import SortingPipeline

__all__ = ['PUBLISHED_A', 'Described', 'describe', 'protocol_a_draws', 'run_protocol_a',
           'run_protocol_b', 'run_protocol_c']

# Guerin et al. 2017, Table 5 (Xception + agglomerative).
PUBLISHED_A = {
    'nmi': {'c1': 0.87, 'c2': 0.94, 'c3': 0.83, 'c4': 0.71, 'c5': 0.82, 'mixed': 0.54},
    'purity': {'c1': 0.85, 'c2': 0.94, 'c3': 0.84, 'c4': 0.69, 'c5': 0.79, 'mixed': 0.58},
}


@dataclass
class Described:
    """The whole dataset turned into feature rows, with its ground truth."""

    images: list            # ToolImage per row
    X: np.ndarray           # features, one row per image (or a list of views)
    crops: list             # the crop each row was computed from
    seconds_per_image: dict  # {'proposals': s, 'features': s}
    sizes: np.ndarray | None = None  # (length, width) of each region, pixels
    shapes: np.ndarray | None = None  # width profile of each region (regions.shape)

    def select(self, idx):
        idx = np.asarray(idx)
        if isinstance(self.X, list):
            return [v[idx] for v in self.X]
        return self.X[idx]


def describe(images, pipeline: SortingPipeline, progress: bool = True) -> Described:
    """Load, propose and describe every image of ``images`` (ToolImage list).

    The proposer is fitted once on all frames: the cell's camera is fixed, so the empty
    table is learnt from the frames themselves (no labels are used).
    """
    from tqdm import tqdm

    frames = [load_image(im.path) for im in tqdm(images, desc='load', disable=not progress)]
    t0 = time.perf_counter()
    proposer = pipeline.proposer_().fit(frames)
    regions = [proposer.propose_main(f)
               for f in tqdm(frames, desc='find objects', disable=not progress)]
    crops = [pipeline.feature_crop(f, r) for f, r in zip(frames, regions)]
    sizes = np.array([region_size(r) for r in regions])
    shapes = np.array([width_profile(r) for r in regions])
    t1 = time.perf_counter()
    X = _batched(pipeline, crops, progress)
    t2 = time.perf_counter()
    n = max(1, len(images))
    return Described(list(images), X, crops,
                     {'proposals': (t1 - t0) / n, 'features': (t2 - t1) / n}, sizes, shapes)


def _batched(pipeline: SortingPipeline, crops, progress: bool, size: int = 28):
    from tqdm import tqdm

    parts = [pipeline.describe(crops[i:i + size])
             for i in tqdm(range(0, len(crops), size), desc='features', unit='batch',
                           disable=not progress)]
    if isinstance(parts[0], list):  # per-view matrices (multi-view methods)
        return [np.concatenate([p[v] for p in parts]) for v in range(len(parts[0]))]
    return np.concatenate(parts)


def protocol_a_draws(images, condition, n_draws: int = 100, seed: int = 0) -> list[np.ndarray]:
    """Row indices of each draw: one shot of each of the 28 objects.

    ``condition`` is 1..5, or ``'mixed'`` where each object's condition is drawn too.
    """
    rng = np.random.default_rng(seed)
    by_key: dict[tuple, int] = {(im.object_id, im.condition, im.shot): i
                                for i, im in enumerate(images)}
    objects = sorted({im.object_id for im in images})
    conditions = sorted({im.condition for im in images})
    shots = sorted({im.shot for im in images})
    draws = []
    for _ in range(n_draws):
        idx = []
        for obj in objects:
            c = conditions[rng.integers(len(conditions))] if condition == 'mixed' else condition
            idx.append(by_key[(obj, c, shots[rng.integers(len(shots))])])
        draws.append(np.array(idx))
    return draws


def _labels(images, idx, key='label') -> np.ndarray:
    names = [getattr(images[i], key) for i in idx]
    lookup = {n: j for j, n in enumerate(sorted(set(names)))}
    return np.array([lookup[n] for n in names])


def _cluster(d: Described, idx, k: int, pipeline: SortingPipeline) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    pipe = clone(pipeline).set_params(n_clusters=k)
    idx = np.asarray(idx)
    sizes = None if d.sizes is None else d.sizes[idx]
    shapes = None if d.shapes is None else d.shapes[idx]
    pred = pipe.cluster_features(d.select(idx), sizes, shapes)
    return pred, time.perf_counter() - t0


def run_protocol_a(d: Described, pipeline: SortingPipeline, n_draws: int = 100,
                   seed: int = 0) -> dict:
    """Mean (and std) NMI and purity over ``n_draws`` draws, per condition and mixed."""
    conds = sorted({im.condition for im in d.images})
    table = {}
    for col in [*conds, 'mixed']:
        scores = {'nmi': [], 'purity': [], 'seconds': []}
        for idx in protocol_a_draws(d.images, col, n_draws, seed):
            y = _labels(d.images, idx)
            pred, sec = _cluster(d, idx, len(set(y)), pipeline)
            scores['nmi'].append(nmi(y, pred))
            scores['purity'].append(purity(y, pred))
            scores['seconds'].append(sec)
        name = f'c{col}' if col != 'mixed' else 'mixed'
        table[name] = {k: {'mean': float(np.mean(v)), 'std': float(np.std(v))}
                       for k, v in scores.items()}
    return table


def run_protocol_b(d: Described, pipeline: SortingPipeline) -> dict:
    """Purity of clustering each class's images into its objects, per condition."""
    table: dict = {}
    for c in sorted({im.condition for im in d.images}):
        for label in sorted({im.label for im in d.images}):
            idx = [i for i, im in enumerate(d.images) if im.condition == c and im.label == label]
            y = _labels(d.images, idx, 'object_id')
            pred, _ = _cluster(d, idx, len(set(y)), pipeline)
            table.setdefault(label, {})[f'c{c}'] = float(purity(y, pred))
    return table


def run_protocol_c(d: Described, pipeline: SortingPipeline) -> dict:
    """NMI, purity, ARI, ACC and clustering time on all 112 images of each condition."""
    table = {}
    for c in sorted({im.condition for im in d.images}):
        idx = [i for i, im in enumerate(d.images) if im.condition == c]
        y = _labels(d.images, idx)
        pred, sec = _cluster(d, idx, len(set(y)), pipeline)
        table[f'c{c}'] = {'nmi': float(nmi(y, pred)),
                          'purity': float(purity(y, pred)),
                          'ari': float(ari(y, pred)),
                          'acc': float(acc(y, pred)), 'seconds': sec}
    return table
