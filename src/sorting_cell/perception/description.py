"""What describing a set of images produces, and what assigning boxes consumes."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..regions import Region

__all__ = ['Item', 'Decision', 'Description']


@dataclass
class Item:
    """One object to sort: where it came from, where it is, which box it goes to.

    ``label`` is -1 and ``error`` says why when the item could not be processed.
    """

    source: str
    region: Region | None = None
    label: int = -1
    error: str | None = None
    frame_index: int = 0


@dataclass(frozen=True)
class Decision:
    """An automatic choice about the input, with the evidence it was made from.

    ``forced`` is True when a parameter set it (the evidence is then for information).
    """

    value: bool
    reason: str
    evidence: dict = field(default_factory=dict)
    forced: bool = False

    def as_dict(self) -> dict:
        return {'value': self.value, 'forced': self.forced, 'reason': self.reason,
                'evidence': self.evidence}


@dataclass
class Description:
    """A set of objects described for clustering: one row per usable item.

    Attributes
    ----------
    items : list of Item
        Every input, usable or not (``error`` says why not).
    usable : list of int
        Indices into ``items`` of the rows below, in order.
    views : list of ndarray
        Appearance features, one ``(n_usable, d)`` matrix per view (one view unless a
        multi-view method asked for several).
    trunk : ndarray or None
        Rows of the fine-tunable network's frozen front, when a method needs them.
    sizes : ndarray or None
        ``(length, width)`` of each object's mask in pixels; None when no object was
        segmented (whole images).
    outlines : ndarray or None
        Width profile of each object's mask (:func:`~sorting_cell.regions.shape.
        width_profile`); None as for ``sizes``.
    decisions : dict of str -> Decision
        ``'fixed_camera'``, ``'objects'`` and ``'geometry'``: what was decided about the
        input, and from which evidence.
    crops : list of ndarray
        What the extractor saw for each row (for reports).
    timings : dict
        Seconds per stage.
    turn_views : TurnViews or None
        Whole images seen as they are, turned and trimmed
        (:class:`~sorting_cell.perception.turn.TurnViews`), while the turn is still to be
        decided (with the number of groups, in :func:`~sorting_cell.perception.assign`);
        ``views`` then holds the turned rows until it is.
    """

    items: list
    usable: list
    views: list
    trunk: np.ndarray | None = None
    sizes: np.ndarray | None = None
    outlines: np.ndarray | None = None
    decisions: dict = field(default_factory=dict)
    crops: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    turn_views: object | None = None

    def __len__(self) -> int:
        return len(self.usable)

    @property
    def features(self) -> np.ndarray:
        """All views side by side (for reports and quality indices)."""
        return self.views[0] if len(self.views) == 1 else np.hstack(self.views)

    @property
    def uses_geometry(self) -> bool:
        d = self.decisions.get('geometry')
        return bool(d and d.value) and self.sizes is not None

    def subset(self, rows) -> 'Description':
        """The description of rows ``rows`` (positions in ``usable``) only."""
        rows = np.asarray(rows, dtype=int)
        pick = (lambda a: None if a is None else np.asarray(a)[rows])
        return replace(self, usable=[self.usable[i] for i in rows],
                       views=[v[rows] for v in self.views], trunk=pick(self.trunk),
                       sizes=pick(self.sizes), outlines=pick(self.outlines),
                       crops=[self.crops[i] for i in rows] if self.crops else [],
                       turn_views=None if self.turn_views is None
                       else self.turn_views.subset(rows))

    @classmethod
    def of_features(cls, X, sizes=None, outlines=None, geometry: bool | None = None
                    ) -> 'Description':
        """A description from feature rows alone (already extracted elsewhere).

        ``X`` is one matrix or a list of per-view matrices; ``geometry`` forces the
        geometry decision (None: use size/outline whenever they are given).
        """
        views = [np.asarray(v) for v in (X if isinstance(X, list) else [X])]
        n = len(views[0])
        use = (sizes is not None) if geometry is None else bool(geometry)
        decisions = {'geometry': Decision(use, 'given by the caller', forced=True)}
        return cls(items=[Item(source=f'row{i}') for i in range(n)], usable=list(range(n)),
                   views=views, sizes=None if sizes is None else np.asarray(sizes, float),
                   outlines=None if outlines is None else np.asarray(outlines, float),
                   decisions=decisions)
