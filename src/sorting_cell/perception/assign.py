"""Turn a description and a number of boxes into box labels.

The one place where features are normalised, size and outline are weighed in, whole
images are decided to be seen turned or not (it needs the number of boxes), and the
clustering method is looked up (:mod:`~sorting_cell.perception.methods`).
"""
from __future__ import annotations

import numpy as np

from ..clustering.estimator import normalize_features
from .choose_k import DEFAULT_K_MAX, KChoice, choose_k
from .description import Decision, Description
from .methods import Input, lookup
from .turn import decide_turn

__all__ = ['assign', 'clustered_matrix', 'EXACT_WARD_MAX', 'geometry_block',
           'check_assign_params', 'resolve_k', 'resolve_normalize', 'AUTO_SIZE_WEIGHT',
           'AUTO_SHAPE_WEIGHT', 'AUTO_K', 'AUTO_NORMALIZE', 'resolve_turn']

#: The value of ``n_boxes`` / ``n_clusters`` that asks for the number of groups to be chosen
#: from the data (:mod:`~sorting_cell.perception.choose_k`).
AUTO_K = 'auto'

#: Most rows clustered by exact Ward; above, ``'agglomerative'`` runs as ``'knn_ward'``
#: (exact Ward's distance matrix grows as n^2; benchmarks/results/scale.md measures the
#: NMI the switch costs where both run).
EXACT_WARD_MAX = 10_000
#: Weight of object size when the evidence says size and outline carry information.
AUTO_SIZE_WEIGHT = 0.3
#: Weight of the outline's width profile under the same evidence.
AUTO_SHAPE_WEIGHT = 0.5
#: The value of ``normalize`` that lets the description decide (:func:`resolve_normalize`).
AUTO_NORMALIZE = 'auto'
_NORMALIZE = (AUTO_NORMALIZE, 'centered', 'whitened', 'l2', 'standard', None)


def _weight(value, auto: float, use: bool, name: str) -> float:
    if isinstance(value, str):
        if value != 'auto':
            raise ValueError(f"{name} must be a number or 'auto', got {value!r}")
        return auto if use else 0.0
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or 'auto', got {value!r}") from None
    if not np.isfinite(w) or w < 0:
        raise ValueError(f'{name} must be finite and >= 0, got {value!r}')
    return w


def check_assign_params(n_boxes, method, normalize, size_weight, shape_weight,
                        k_max=DEFAULT_K_MAX) -> None:
    """Every parameter check of :func:`assign`, in one place (clear errors)."""
    if isinstance(n_boxes, str) and n_boxes == AUTO_K:
        if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max < 2:
            raise ValueError(f'k_max must be an integer >= 2 with n_clusters={AUTO_K!r}, '
                             f'got {k_max!r}')
    elif isinstance(n_boxes, bool) or not isinstance(n_boxes, (int, np.integer)) or n_boxes < 1:
        raise ValueError(f'n_clusters (number of boxes) must be >= 1 (an integer) or '
                         f'{AUTO_K!r}, got {n_boxes!r}')
    lookup(method)
    if normalize not in _NORMALIZE:
        raise ValueError(f'normalize must be one of {_NORMALIZE}, got {normalize!r}')
    _weight(size_weight, 0.0, False, 'size_weight')
    _weight(shape_weight, 0.0, False, 'shape_weight')


def geometry_block(d: Description, size_weight='auto', shape_weight='auto') -> np.ndarray:
    """The weighted, standardised size and outline columns of ``d`` (zero columns if unused).

    ``'auto'`` weights apply when the description's geometry decision says yes; a number
    applies whenever the description has sizes / outlines.
    """
    n = len(d)
    parts = [np.zeros((n, 0))]
    use = d.uses_geometry
    w = _weight(size_weight, AUTO_SIZE_WEIGHT, use, 'size_weight')
    if d.sizes is not None and w > 0:
        S = np.log(np.maximum(np.asarray(d.sizes, dtype=float), 1.0))
        parts.append(w * (S - S.mean(0)) / np.maximum(S.std(0), 1e-6))
    w = _weight(shape_weight, AUTO_SHAPE_WEIGHT, use, 'shape_weight')
    if d.outlines is not None and w > 0:
        # Same recipe as appearance features: what all outlines share is removed.
        parts.append(w * normalize_features(np.asarray(d.outlines, dtype=float), 'centered'))
    return np.hstack(parts)


def resolve_normalize(d: Description, normalize=AUTO_NORMALIZE):
    """The appearance normalisation ``normalize`` means for ``d``.

    ``'auto'`` follows the description's ``objects`` decision and records its own,
    ``d.decisions['whitening']``: objects cut out of their background are centred (what
    the set shares is mostly gone already); whole images are half-whitened, because the
    few directions in which a set of photos varies most are framing, background and light
    rather than the kinds. Rows given by a caller (no ``objects`` decision) are centred.
    """
    if normalize != AUTO_NORMALIZE:
        return normalize
    objects = d.decisions.get('objects')
    if objects is None or objects.value:
        why = ('objects cut out of their background: centred' if objects is not None
               else 'feature rows given by the caller: centred')
        d.decisions['whitening'] = Decision(False, why, {'normalize': 'centered'})
        return 'centered'
    d.decisions['whitening'] = Decision(
        True, 'whole images: centred, then half-whitened on the set\'s leading principal '
        'axes (framing, background and light no longer dominate)',
        {'normalize': 'whitened', 'objects': False})
    return 'whitened'


def clustered_matrix(d: Description, normalize=AUTO_NORMALIZE, size_weight='auto',
                     shape_weight='auto') -> list[np.ndarray]:
    """Per view: normalised appearance next to the weighted geometry (what is clustered).

    Normalisation is per set (centring removes what this set's objects share), so it
    happens here, on the rows being clustered, never once for a whole dataset.
    """
    normalize = resolve_normalize(d, normalize)
    G = geometry_block(d, size_weight, shape_weight)
    # Big sets stay in single precision: the rows are then most of the memory.
    dtype = np.float64 if len(d) <= EXACT_WARD_MAX else np.float32
    views = [normalize_features(np.asarray(v, dtype=dtype), normalize) for v in d.views]
    G = G.astype(dtype, copy=False)
    # Size and outline belong to the object, not to a view: every view gets them.
    return [np.hstack([V, G]) if G.shape[1] else V for V in views]


def resolve_k(d: Description, n_boxes, *, k_max: int = DEFAULT_K_MAX, normalize=AUTO_NORMALIZE,
              size_weight='auto', shape_weight='auto', random_state=0) -> int:
    """``n_boxes``, or with ``'auto'`` the number of groups chosen from ``d``'s rows.

    The choice and its silhouette curve are recorded in ``d.decisions['number_of_groups']``
    (so they reach summary.json and report.html with the other decisions).
    """
    if not (isinstance(n_boxes, str) and n_boxes == AUTO_K):
        return n_boxes
    views = clustered_matrix(d, normalize, size_weight, shape_weight)
    X = views[0] if len(views) == 1 else np.hstack(views)
    choice = choose_k(X, k_max=k_max, random_state=random_state)
    d.decisions['number_of_groups'] = _k_decision(choice)
    return choice.k


def resolve_turn(d: Description, n_boxes: int, normalize=AUTO_NORMALIZE,
                 random_state=0) -> None:
    """Decide, for whole images still undecided, whether each is also seen turned.

    Made here because the rule needs the number of groups
    (:func:`~sorting_cell.perception.turn.decide_turn`); ``d.views`` becomes the rows
    chosen and ``d.decisions['turn']`` says why. A description already decided (or
    never undecided) is left as it is.
    """
    if d.turn_views is None:
        return
    views, d.turn_views = d.turn_views, None
    decision = decide_turn(views, n_boxes, resolve_normalize(d, normalize), random_state)
    d.views = [views.turned if decision.value else views.as_is]
    d.decisions['turn'] = decision


def _k_decision(choice: KChoice) -> Decision:
    others = {k: v for k, v in choice.curve.items() if k != choice.k}
    runner = max(others, key=others.get) if others else None
    why = (f'k = {choice.k}: largest jump in Ward merge height ({choice.curve[choice.k]:.2f}x) '
           f'of k {choice.k_min}..{choice.k_max}'
           + (f' (next: k = {runner}, {others[runner]:.2f}x)' if runner else ''))
    return Decision(True, why, choice.as_dict())


def assign(d: Description, n_boxes, *, method: str = 'agglomerative',
           normalize=AUTO_NORMALIZE, size_weight='auto', shape_weight='auto',
           random_state=0, progress: bool = False, k_max: int = DEFAULT_K_MAX) -> np.ndarray:
    """Box labels ``0..n_boxes-1`` for the rows of description ``d``.

    Parameters
    ----------
    d : Description
        From :func:`~sorting_cell.perception.describe_images` and friends (or
        :meth:`Description.of_features`).
    n_boxes : int or 'auto'
        Number of boxes (clusters); at most ``len(d)``. ``'auto'`` chooses it from the
        rows (:func:`resolve_k`, at most ``k_max``).
    method : str
        A name of :data:`~sorting_cell.perception.methods.METHODS`.
    normalize : {'auto', 'centered', 'whitened', 'l2', 'standard', None}
        Appearance normalisation (see :func:`~sorting_cell.clustering.normalize_features`);
        ``'auto'`` is decided from ``d`` (:func:`resolve_normalize`).
    size_weight, shape_weight : float or 'auto'
        Weights of size and outline; ``'auto'`` follows ``d.decisions['geometry']``.
    random_state : int or None
        Seed of the stochastic methods.
    progress : bool
        Epoch bars of the trained methods.
    k_max : int
        Largest number of groups tried with ``n_boxes='auto'``.
    """
    check_assign_params(n_boxes, method, normalize, size_weight, shape_weight, k_max)
    n_boxes = resolve_k(d, n_boxes, k_max=k_max, normalize=normalize,
                        size_weight=size_weight, shape_weight=shape_weight,
                        random_state=random_state)
    if method == 'agglomerative' and len(d) > EXACT_WARD_MAX:
        method = 'knn_ward'
        d.decisions['clustering'] = Decision(
            True, f'{len(d)} objects > {EXACT_WARD_MAX}: Ward restricted to a '
            '10-nearest-neighbour graph (128 principal axes)', {'objects': len(d)})
    spec = lookup(method)
    if len(d) < n_boxes:
        raise ValueError(f'found {len(d)} usable object(s) but {n_boxes} boxes were asked '
                         'for; need at least as many objects as boxes')
    resolve_turn(d, n_boxes, normalize, random_state)
    views = clustered_matrix(d, normalize, size_weight, shape_weight)
    est = spec.build(n_boxes, random_state, progress)
    if spec.input is Input.MATRIX:
        X = views[0] if len(views) == 1 else np.hstack(views)
        return np.asarray(est.fit_predict(X), dtype=int)
    if spec.input is Input.TRUNK:
        if d.trunk is None:
            raise ValueError(f'method {method!r} needs the trunk rows of the network it '
                             'fine-tunes; describe the set with this method')
        views = [*views, np.asarray(d.trunk, dtype=np.float64)]
    return np.asarray(est.fit_predict(views), dtype=int)
