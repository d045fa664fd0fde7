"""What a finished sort remembers, and new objects put into the boxes it filled.

:class:`Boxes` keeps each box's members as they were described (raw appearance rows,
mask sizes and outlines) with the choices the sort was made with (normalisation, weights,
the geometry decision). :func:`place` puts the objects of a new :class:`Description` into
those boxes, or says that an object is of a kind none of them holds.

**Where a new object goes, and new kinds (a label-free open-set test).** Old and new rows
are clustered together, as one set, with the method and normalisation of the sort
(:func:`~sorting_cell.perception.assign.assign`: centring removes what *this* set shares,
and the set is now both batches), into ``k + new_kinds`` groups: one more group than there
are boxes (by default). A new object goes to the box that holds most of the boxed objects
of its group. A group with no boxed object at all is a kind none of the boxes holds: the
clusterer found it as far from every box as the boxes are from each other, so its
objects are a "new kind" (they are still given the box whose centroid is nearest, the one
they are least unlike). Placing by clustering both batches together keeps the placement
as close as it can be to sorting everything at once; the boxed objects cannot move, so
where the first sort erred the placement follows the boxes.
"""
from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .assign import assign, clustered_matrix
from .description import Decision, Description
from .methods import Input, lookup

__all__ = ['Boxes', 'Placement', 'place', 'placement_decision', 'continue_boxes', 'Match',
           'BOXES_FILE', 'DEFAULT_NEW_KINDS']

#: The file a sort writes its boxes into (``sorting-cell cluster --out DIR``).
BOXES_FILE = 'boxes.npz'
#: Groups beyond the boxes that the joint clustering may open for kinds no box holds.
DEFAULT_NEW_KINDS = 1
_FORMAT = 1


class Match(enum.IntEnum):
    """How an object's box was chosen (``ObjectOutcome.MATCH_*`` on the wire)."""

    #: A sort of its own: the box of the object's cluster.
    CLUSTERED = 0
    #: A continued sort: the box whose contents the object matches.
    BOX = 1
    #: A continued sort: a kind no box holds, put into a box that held nothing.
    FREE_BOX = 2
    #: A continued sort: a kind no box holds, and no box was free (box -1, not moved).
    NEW_KIND_NO_BOX = 3


@dataclass
class Boxes:
    """The members of each box of a finished sort, as they were described.

    Attributes
    ----------
    rows : ndarray (n, d)
        Raw appearance features of the members (every view side by side).
    labels : ndarray (n,)
        Box of each member, ``0..k-1``.
    sizes, outlines : ndarray or None
        Mask sizes and outlines of the members (None when whole images were described).
    geometry : bool
        Whether size and outline were weighed in (the sort's geometry decision).
    params : dict
        ``features``, ``method``, ``normalize``, ``size_weight``, ``shape_weight``: what the
        rows were made and clustered with; a continuation describes with the same
        features.
    sources : list of str
        Where each member came from.
    """

    rows: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray | None = None
    outlines: np.ndarray | None = None
    geometry: bool = False
    params: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @classmethod
    def of(cls, d: Description, labels, **params) -> 'Boxes':
        """The boxes of description ``d`` sorted into ``labels`` (one per usable row)."""
        labels = np.asarray(labels, dtype=int)
        if len(labels) != len(d):
            raise ValueError(f'{len(labels)} labels for {len(d)} described objects')
        return cls(rows=np.asarray(d.features, dtype=np.float32), labels=labels,
                   sizes=d.sizes, outlines=d.outlines, geometry=d.uses_geometry,
                   params=dict(params), sources=[d.items[i].source for i in d.usable])

    def description(self) -> Description:
        """The members as a description (rows only), with the sort's geometry decision."""
        return Description.of_features(self.rows, self.sizes, self.outlines,
                                       geometry=self.geometry)

    def extended(self, d: Description, labels, keep=None) -> 'Boxes':
        """These boxes with the rows of ``d`` added into ``labels`` (where ``keep``)."""
        keep = np.ones(len(d), bool) if keep is None else np.asarray(keep, bool)
        labels = np.asarray(labels, dtype=int)
        cat = (lambda a, b: None if a is None or b is None
               else np.vstack([a, np.asarray(b)[keep]]))
        return Boxes(rows=np.vstack([self.rows, np.asarray(d.features, np.float32)[keep]]),
                     labels=np.concatenate([self.labels, labels[keep]]),
                     sizes=cat(self.sizes, d.sizes), outlines=cat(self.outlines, d.outlines),
                     geometry=self.geometry, params=dict(self.params),
                     sources=[*self.sources, *(d.items[i].source for i, k in
                                               zip(d.usable, keep) if k)])

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (``.npz``; atomically)."""
        path = Path(path)
        meta = {'format': _FORMAT, 'geometry': self.geometry, 'params': self.params,
                'sources': list(map(str, self.sources))}
        arrays = {'rows': self.rows, 'labels': self.labels}
        if self.sizes is not None:
            arrays['sizes'] = self.sizes
        if self.outlines is not None:
            arrays['outlines'] = self.outlines
        tmp = path.with_name(path.name + '.part')
        try:
            with open(tmp, 'wb') as f:
                np.savez(f, meta=np.array(json.dumps(meta, default=str)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'Boxes':
        """Read what :meth:`save` wrote; a clear error when it is not that."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z['meta']))
                arrays = {k: z[k] for k in z.files if k != 'meta'}
        except FileNotFoundError:
            raise ValueError(f'{path}: no such file (an earlier run of sorting-cell cluster '
                             f'writes {BOXES_FILE} into its --out folder)') from None
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f'{path}: not a boxes file ({exc})') from None
        if meta.get('format') != _FORMAT:
            raise ValueError(f'{path}: boxes format {meta.get("format")!r}, this version '
                             f'reads {_FORMAT}')
        return cls(rows=arrays['rows'], labels=arrays['labels'].astype(int),
                   sizes=arrays.get('sizes'), outlines=arrays.get('outlines'),
                   geometry=bool(meta['geometry']), params=meta['params'],
                   sources=meta['sources'])


@dataclass(frozen=True)
class Placement:
    """Where each new object goes."""

    #: Box of each new row (for a new kind: the box whose centroid is nearest).
    labels: np.ndarray
    #: True where the object is in a group holding none of the boxed objects.
    new_kind: np.ndarray
    #: Distance of each new row to its nearest box centroid (clustered space).
    distance: np.ndarray
    #: Groups the joint clustering was cut into (boxes + new kinds looked for).
    groups: int

    def as_dict(self) -> dict:
        return {'new_kind': int(self.new_kind.sum()), 'placed': int((~self.new_kind).sum()),
                'groups': self.groups,
                'test': 'old and new clustered together into one group more than there are '
                        'boxes; a group holding none of the boxed objects is a new kind'}


def place(boxes: Boxes, new: Description, new_kinds: int = DEFAULT_NEW_KINDS,
          random_state=0) -> Placement:
    """Put the usable rows of ``new`` into ``boxes`` (see the module docstring).

    ``new`` must be described with the features the boxes were made with; ``new_kinds``
    is how many groups beyond the boxes the joint clustering may open (0: every object
    goes into a box; a group without boxed objects then goes to the nearest centroid).
    """
    if isinstance(new_kinds, bool) or not isinstance(new_kinds, (int, np.integer)) \
            or new_kinds < 0:
        raise ValueError(f'new_kinds must be an integer >= 0, got {new_kinds!r}')
    if boxes.k < 1:
        raise ValueError('the boxes are empty: nothing to place objects into')
    n_old = len(boxes.rows)
    X_new = np.asarray(new.features)
    if X_new.ndim != 2 or X_new.shape[1] != boxes.rows.shape[1]:
        raise ValueError(f'new objects have {X_new.shape[-1]} feature columns, the boxes '
                         f'{boxes.rows.shape[1]}: describe them with the features the boxes '
                         f'were made with ({boxes.params.get("features", "?")})')
    if len(X_new) == 0:
        return Placement(np.zeros(0, int), np.zeros(0, bool), np.zeros(0), boxes.k)
    geo = boxes.geometry and new.sizes is not None and boxes.sizes is not None

    def stack(a, b):
        return None if not geo else np.vstack([np.asarray(a, float), np.asarray(b, float)])

    both = Description.of_features(np.vstack([boxes.rows, X_new]).astype(np.float64),
                                   stack(boxes.sizes, new.sizes),
                                   stack(boxes.outlines, new.outlines), geometry=geo)
    p = boxes.params
    how = {k: p[k] for k in ('normalize', 'size_weight', 'shape_weight') if k in p}
    groups = min(boxes.k + new_kinds, len(both))
    method = p.get('method', 'agglomerative')
    if lookup(method).input is not Input.MATRIX:
        method = 'agglomerative'  # the boxes keep one matrix, not a method's views
    joint = assign(both, groups, method=method, random_state=random_state, **how)
    X = clustered_matrix(both, **how)
    X = X[0] if len(X) == 1 else np.hstack(X)
    present = np.array([np.any(boxes.labels == c) for c in range(boxes.k)])
    centroids = np.stack([X[:n_old][boxes.labels == c].mean(0) if present[c]
                          else np.zeros(X.shape[1]) for c in range(boxes.k)])
    dist = np.linalg.norm(X[n_old:, None, :] - centroids[None], axis=2)
    dist[:, ~present] = np.inf
    labels = dist.argmin(1)
    new_kind = np.zeros(len(X_new), bool)
    for g in np.unique(joint[n_old:]):
        held = boxes.labels[joint[:n_old] == g]
        rows = joint[n_old:] == g
        if len(held):
            labels[rows] = np.bincount(held, minlength=boxes.k).argmax()
        elif new_kinds:
            new_kind[rows] = True
        # else: no new kind is looked for; they keep the nearest box
    return Placement(labels=labels, new_kind=new_kind,
                     distance=dist[np.arange(len(labels)), labels], groups=groups)


def continue_boxes(boxes: Boxes, new: Description, num_boxes: int,
                   new_kinds: int = DEFAULT_NEW_KINDS,
                   random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes for the objects of ``new`` when boxes ``0..num_boxes-1`` are available and
    ``boxes`` says what some of them already hold.

    Returns the box of each usable row of ``new`` (-1: none) and its :class:`Match`. Objects
    that match a box's contents (:func:`place`) go there; a new kind goes to the lowest box
    holding nothing, or gets no box when every box holds something.
    """
    if isinstance(num_boxes, bool) or not isinstance(num_boxes, (int, np.integer)) \
            or num_boxes < boxes.k:
        raise ValueError(f'num_boxes must be an integer >= the {boxes.k} boxes already '
                         f'filled, got {num_boxes!r}')
    p = place(boxes, new, new_kinds, random_state)
    labels = p.labels.astype(int)
    match = np.full(len(labels), Match.BOX, dtype=int)
    if p.new_kind.any():
        free = sorted(set(range(num_boxes)) - set(boxes.labels.tolist()))
        labels[p.new_kind] = free[0] if free else -1
        match[p.new_kind] = Match.FREE_BOX if free else Match.NEW_KIND_NO_BOX
    return labels, match


def placement_decision(p: Placement, boxes: Boxes) -> Decision:
    """The placement as a report decision (how many objects matched no box)."""
    n = len(p.labels)
    return Decision(bool(p.new_kind.any()),
                    f'{int(p.new_kind.sum())} of {n} new object(s) match none of the '
                    f'{boxes.k} boxes (a group of their own when old and new are clustered '
                    f'together into {p.groups} groups)', p.as_dict())
