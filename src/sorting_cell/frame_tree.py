"""A tree of coordinate frames (what tf2's buffer holds): the latest transform of every
child in its parent, and lookups that chain them. ROS-free; the tf nodes fill it."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .transforms import check_transform, invert

__all__ = ['FrameTree', 'FrameLookupError', 'Edge']


class FrameLookupError(LookupError):
    """Two frames that cannot be related (unknown, or in different trees), and why."""


@dataclass(frozen=True)
class Edge:
    """``T_parent_child`` with the time it was stamped (s) and whether it is static."""

    parent: str
    child: str
    T: np.ndarray
    stamp: float
    static: bool


class FrameTree:
    """Latest transform per child frame; every frame has at most one parent (as in tf2).

    A child re-parented by a later transform takes the new parent (tf2 does the same).
    Lookups use the latest transforms, not interpolation in time: the cell's consumers ask
    for static frames (camera, table, boxes) and the current TCP. Thread-safe.
    """

    def __init__(self):
        self._edges: dict[str, Edge] = {}
        self._lock = threading.Lock()

    def set(self, parent: str, child: str, T, stamp: float = 0.0,
            static: bool = False) -> None:
        """Record ``T_parent_child``; a frame cannot be its own parent or ancestor."""
        parent, child = parent.lstrip('/'), child.lstrip('/')
        if not parent or not child:
            raise FrameLookupError(f'empty frame id in transform {parent!r} -> {child!r}')
        if parent == child:
            raise FrameLookupError(f'transform from {parent!r} to itself')
        T = check_transform(T, f'transform {parent} -> {child}', tol=1e-5)
        with self._lock:
            if child in self._ancestors(parent):
                raise FrameLookupError(f'{parent!r} -> {child!r} would close a loop: '
                                       f'{child!r} is already an ancestor of {parent!r}')
            self._edges[child] = Edge(parent, child, T, float(stamp), bool(static))

    def frames(self) -> set[str]:
        with self._lock:
            return set(self._edges) | {e.parent for e in self._edges.values()}

    def edge(self, child: str) -> Edge | None:
        with self._lock:
            return self._edges.get(child)

    def _ancestors(self, frame: str) -> list[str]:
        """``frame``, its parent, ... up to its root (lock held by the caller)."""
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
        return chain

    def _to_root(self, chain: list[str]) -> list[np.ndarray]:
        """``T_root_frame`` for each frame of an ancestor chain (lock held)."""
        out = [np.eye(4)] * len(chain)
        T = np.eye(4)
        for k in range(len(chain) - 2, -1, -1):
            T = T @ self._edges[chain[k]].T
            out[k] = T
        return out

    def lookup(self, target: str, source: str) -> np.ndarray:
        """``T_target_source``: maps points in ``source`` into ``target``."""
        target, source = target.lstrip('/'), source.lstrip('/')
        if target == source:
            return np.eye(4)
        with self._lock:
            known = set(self._edges) | {e.parent for e in self._edges.values()}
            for name in (target, source):
                if name not in known:
                    listing = ', '.join(sorted(known)) or ('none (nothing received on /tf or '
                                                           '/tf_static yet)')
                    raise FrameLookupError(f'frame {name!r} does not exist; known frames: '
                                           f'{listing}')
            up_t, up_s = self._ancestors(target), self._ancestors(source)
            if up_t[-1] != up_s[-1]:
                raise FrameLookupError(f'{target!r} and {source!r} are not connected: their '
                                       f'roots are {up_t[-1]!r} and {up_s[-1]!r}')
            root_t, root_s = self._to_root(up_t), self._to_root(up_s)
        return invert(root_t[0]) @ root_s[0]

    def can_transform(self, target: str, source: str) -> bool:
        try:
            self.lookup(target, source)
        except FrameLookupError:
            return False
        return True
