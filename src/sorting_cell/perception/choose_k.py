"""Choose the number of groups without labels: the largest jump in Ward's merge heights.

One Ward tree is built on the rows being clustered
(:func:`~sorting_cell.perception.assign.clustered_matrix`). Going from ``k`` groups to
``k - 1`` costs the height of one more merge; where kinds are real, joining two of them
costs much more than any merge before it. The score of ``k`` is that ratio: the height of
the merge that would leave ``k - 1`` groups over the height of the one that left ``k``.
The chosen ``k`` has the largest ratio. The curve is returned so that a report shows how
clear the choice was; the mean silhouette of every cut is returned next to it, for
information (on the tool dataset it follows the objects, several per kind, and picks too
many groups: ``benchmarks/results/choose_k.md``).

Both scores need two groups at least, so ``k_min`` is at least 2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ['KChoice', 'choose_k', 'DEFAULT_K_MAX', 'SAMPLE']

#: Largest k tried when the caller gives none.
DEFAULT_K_MAX = 12
#: Rows on which the tree is built and scored (a seeded sample above it: Ward holds a
#: distance matrix, the silhouette every pairwise distance).
SAMPLE = 4000


@dataclass(frozen=True)
class KChoice:
    """The chosen number of groups and the evidence for it."""

    k: int
    #: ``{k: merge-height ratio}`` for every k tried (the choice is its largest).
    curve: dict = field(default_factory=dict)
    #: ``{k: mean silhouette of the cut}``, for information.
    silhouette: dict = field(default_factory=dict)
    k_min: int = 2
    k_max: int = DEFAULT_K_MAX
    rows: int = 0
    sampled: int = 0

    @property
    def margin(self) -> float:
        """Best score minus the runner-up (small: the choice is weak)."""
        s = sorted(self.curve.values(), reverse=True)
        return float(s[0] - s[1]) if len(s) > 1 else 0.0

    def as_dict(self) -> dict:
        return {'k': self.k, 'k_min': self.k_min, 'k_max': self.k_max,
                'score': 'Ward merge height leaving k-1 groups / the one leaving k',
                'curve': {str(k): round(v, 4) for k, v in self.curve.items()},
                'silhouette': {str(k): round(v, 4) for k, v in self.silhouette.items()},
                'margin': round(self.margin, 4), 'rows': self.rows, 'tree_rows': self.sampled}


def choose_k(X: np.ndarray, k_max: int = DEFAULT_K_MAX, k_min: int = 2,
             random_state=0) -> KChoice:
    """Pick the number of groups of rows ``X`` (already normalised as they are clustered).

    ``k_max`` is capped at ``len(X) - 1``.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max < 2:
        raise ValueError(f'k_max must be an integer >= 2, got {k_max!r}')
    if n < 3:
        raise ValueError(f'{n} object(s): at least 3 are needed to choose a number of groups')
    if not np.isfinite(X).all():
        raise ValueError('features hold NaN or infinite values: no number of groups can be '
                         'chosen from them')
    k_min = max(2, int(k_min))
    k_max = int(min(k_max, n - 1))
    if k_min > k_max:
        raise ValueError(f'k_min {k_min} > k_max {k_max} for {n} objects')
    if n > SAMPLE:
        rng = np.random.default_rng(random_state)
        X = X[np.sort(rng.choice(n, SAMPLE, replace=False))]
    tree = linkage(X, method='ward')
    heights = tree[:, 2]
    curve, silhouette = {}, {}
    for k in range(k_min, k_max + 1):
        # heights[-(k - 1)] joins k groups into k - 1; heights[-k] made the k groups.
        below = heights[-k]
        if below <= 0:  # duplicate rows: the k groups are not distinct
            continue
        curve[k] = float(heights[-(k - 1)] / below)
        labels = fcluster(tree, t=k, criterion='maxclust')
        if len(np.unique(labels)) == k:
            silhouette[k] = float(silhouette_score(X, labels))
    if not curve:
        raise ValueError('the rows are (nearly) all the same: no number of groups can be '
                         'chosen from them')
    best = max(curve, key=lambda k: (curve[k], -k))
    return KChoice(k=best, curve=curve, silhouette=silhouette, k_min=k_min, k_max=k_max,
                   rows=n, sampled=len(X))
