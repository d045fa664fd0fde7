"""Protocols A, B and C of the tool-dataset benchmark (shared/docs/BENCHMARK.md).

Every image is described once (proposal + features); the draws then only cluster
subsets of those rows, so 100 draws x 6 columns cost seconds, not hours.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sklearn.base import clone

from ..clustering.metrics import acc, ari, nmi, purity
from ..perception import Description
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
    """The whole dataset described once, with its ground truth."""

    images: list                # ToolImage per row
    description: Description    # rows in the order of ``images``
    seconds_per_image: dict     # {'load': s, 'proposals': s, 'features': s}

    def select(self, idx) -> Description:
        return self.description.subset(idx)


def describe(images, pipeline: SortingPipeline, progress: bool = True) -> Described:
    """Load, find and describe every image of ``images`` (ToolImage list) at once.

    Exactly what ``sorting-cell cluster`` does with the same pipeline: the decisions
    (fixed camera, objects, geometry) are made from all frames; the protocols then only
    cluster subsets of the rows.
    """
    describer = clone(pipeline).set_params(progress=progress).describer()
    d = describer.images([im.path for im in images])
    bad = [it for it in d.items if it.error is not None]
    if bad:
        raise ValueError(f'{len(bad)} dataset image(s) unreadable, first: {bad[0].source}: '
                         f'{bad[0].error}')
    n = max(1, len(images))
    return Described(list(images), d, {k: v / n for k, v in d.timings.items()
                                       if k in ('load', 'proposals', 'features')})


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
    pred = clone(pipeline).set_params(n_clusters=k).assign(d.select(idx))
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
