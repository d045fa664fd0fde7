"""Does a set of whole images have an up? The turn decision, made once k is known.

Things seen from above lie either way round, so a view turned by 180 degrees is another
image of the same kind, and averaging it in helps. Letters, clothes and faces have an
up: their turned view is no image of the set, and averaging it in blurs the kinds. The
images say which holds: cluster the set into the k groups asked for with the turned view
averaged in, and again with a control view averaged in (the image trimmed by a twentieth
on each side, surely still an image of the set), and compare how well separated the two
clusterings are (silhouette). The turn is kept only where it separates the kinds better
than the control does: averaging in any second view smooths the rows, so the control,
not the image as is, is what the turn must beat.

The rule and the alternatives that were measured against it are in
``benchmarks/turn_evidence.py``; ``docs/perception.md`` says where it is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score

from ..clustering.estimator import normalize_features
from .description import Decision

__all__ = ['TurnViews', 'decide_turn', 'trimmed', 'TRIM', 'DECIDE_ROWS', 'MIN_PER_GROUP']

#: Share of the width and height trimmed off each side for the control view.
TRIM = 0.05
#: Fewest images per group the decision is made from: with fewer, the two silhouettes
#: differ by chance more than by the turn (measured on letters and clothes, see
#: ``docs/perception.md``), and the set is turned as objects are.
MIN_PER_GROUP = 30
#: Most rows the decision clusters (a seeded sample above; Ward's cost grows as n^2).
DECIDE_ROWS = 3000


def trimmed(image: np.ndarray) -> np.ndarray:
    """The control view: ``image`` with :data:`TRIM` of it cut off each side."""
    h, w = image.shape[:2]
    dy, dx = int(h * TRIM), int(w * TRIM)
    return np.ascontiguousarray(image[dy:h - dy, dx:w - dx])


@dataclass
class TurnViews:
    """One set of whole images described three ways (rows in the same order).

    ``turned`` and ``trimmed`` are the image as is averaged with its 180-degree turn and
    with its trimmed view (:func:`trimmed`).
    """

    as_is: np.ndarray
    turned: np.ndarray
    trimmed: np.ndarray

    @classmethod
    def of(cls, as_is, turned, trimmed) -> 'TurnViews':
        """From the rows of the three views seen alone."""
        as_is = np.asarray(as_is, dtype=np.float64)
        return cls(as_is=as_is, turned=(as_is + np.asarray(turned, np.float64)) / 2,
                   trimmed=(as_is + np.asarray(trimmed, np.float64)) / 2)

    def subset(self, rows) -> 'TurnViews':
        return TurnViews(self.as_is[rows], self.turned[rows], self.trimmed[rows])


def _separation(X: np.ndarray, k: int, normalize) -> float:
    Z = normalize_features(X, normalize)
    labels = AgglomerativeClustering(n_clusters=k).fit_predict(Z)
    if len(set(labels)) < 2:
        return -1.0
    return float(silhouette_score(Z, labels))


def decide_turn(views: TurnViews, k: int, normalize, random_state=0) -> Decision:
    """Whether to average in the turned view (``value``), from ``views`` and ``k`` groups.

    ``normalize`` is the normalisation the rows will be clustered with. With fewer than
    two groups, or fewer than :data:`MIN_PER_GROUP` images per group, the evidence is too
    thin and the turn stays on (what is done for objects).
    """
    n = len(views.as_is)
    if k < 2:
        return Decision(True, f'{k} group: nothing to compare, turned as objects are',
                        {'k': int(k), 'images': n})
    if n < MIN_PER_GROUP * k:
        return Decision(True, f'{n} images for {k} groups: too few (fewer than '
                        f'{MIN_PER_GROUP} per group) to tell whether the set has an up; '
                        'turned as objects are', {'k': int(k), 'images': n})
    rows = np.arange(n)
    if n > DECIDE_ROWS:
        rows = np.sort(np.random.default_rng(random_state).choice(n, DECIDE_ROWS,
                                                                  replace=False))
    part = views.subset(rows)
    turned = _separation(part.turned, k, normalize)
    control = _separation(part.trimmed, k, normalize)
    evidence = {'k': int(k), 'rows': int(len(rows)), 'silhouette_turned': round(turned, 4),
                'silhouette_trimmed': round(control, 4)}
    if turned > control:
        return Decision(True, f'the set looks the same either way up: averaging in each '
                        f'image turned by 180 degrees separates {k} groups better '
                        f'(silhouette {turned:.3f}) than averaging in a trimmed view '
                        f'({control:.3f})', evidence)
    return Decision(False, f'the set has an up: averaging in each image turned by 180 '
                    f'degrees separates {k} groups no better (silhouette {turned:.3f}) than '
                    f'averaging in a trimmed view ({control:.3f}); images are seen as they '
                    'are', evidence)
