"""Seeded, non-overlapping placements of objects in a rectangular tray.

Each object is a rotated rectangle (its footprint grown by a clearance margin); positions and
yaws are drawn uniformly and rejected when the rectangle leaves the tray or touches one
already placed. The same seed always gives the same layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ['Placement', 'LayoutError', 'sample_layout', 'footprint_corners', 'overlaps']


class LayoutError(RuntimeError):
    """The objects do not fit in the tray without overlapping."""


@dataclass(frozen=True)
class Placement:
    """Where one object lies: centre ``(x, y)`` in the world (m) and yaw about z (rad)."""

    x: float
    y: float
    yaw: float


def footprint_corners(x: float, y: float, yaw: float, length: float,
                      width: float) -> np.ndarray:
    """Corners (4, 2) of a ``length`` x ``width`` rectangle centred at (x, y) rotated by yaw."""
    c, s = math.cos(yaw), math.sin(yaw)
    half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float) * [length / 2, width / 2]
    rot = np.array([[c, -s], [s, c]])
    return half @ rot.T + [x, y]


def _rect(x: float, y: float, yaw: float, length: float, width: float):
    # OpenCV's rotated rectangles take degrees; millimetres keep its float tolerances sane.
    return ((x * 1000.0, y * 1000.0), (length * 1000.0, width * 1000.0), math.degrees(yaw))


def overlaps(a: tuple[float, float, float, float, float],
             b: tuple[float, float, float, float, float]) -> bool:
    """Whether two rotated rectangles ``(x, y, yaw, length, width)`` intersect."""
    kind, _ = cv2.rotatedRectangleIntersection(_rect(*a), _rect(*b))
    return kind != cv2.INTERSECT_NONE


def sample_layout(footprints: list[tuple[float, float]],
                  tray: tuple[float, float, float, float],
                  rng: np.random.Generator | int | None = None,
                  clearance: float = 0.015, max_tries: int = 2000,
                  restarts: int = 20) -> list[Placement]:
    """Place rectangles in ``tray`` without overlaps.

    Parameters
    ----------
    footprints : list of (length, width)
        Object extents (m), in placement order (largest first packs best; the caller keeps
        its own order, so this function does not reorder).
    tray : (x_min, y_min, x_max, y_max)
        The area objects must lie inside (m, world frame).
    rng : Generator, int or None
        Random state; an int seeds a new generator.
    clearance : float
        Free gap kept between objects and to the tray edge (m); the gripper's fingers need
        room to close around an object.
    max_tries : int
        Attempts per object before starting the whole layout again.
    restarts : int
        Whole-layout attempts before giving up (an early object can block a later one).

    Raises
    ------
    LayoutError
        An object cannot be placed: too many or too large objects for the tray.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x_min, y_min, x_max, y_max = tray
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f'empty tray {tray}: need x_min < x_max and y_min < y_max')
    failure = ''
    for _ in range(restarts):
        out, failure = _attempt(footprints, tray, rng, clearance, max_tries)
        if out is not None:
            return out
    area = (x_max - x_min) * (y_max - y_min)
    used = sum(a * b for a, b in footprints)
    raise LayoutError(
        f'{failure} after {restarts} restarts: {len(footprints)} objects cover {used / area:.0%} '
        f'of the {(x_max - x_min) * 100:.0f} x {(y_max - y_min) * 100:.0f} cm tray; use fewer '
        f'objects or a larger tray')


def _attempt(footprints, tray, rng, clearance, max_tries):
    x_min, y_min, x_max, y_max = tray
    placed: list[tuple[float, float, float, float, float]] = []
    out: list[Placement] = []
    for i, (length, width) in enumerate(footprints):
        grown = (length + clearance, width + clearance)
        for _ in range(max_tries):
            yaw = float(rng.uniform(-math.pi, math.pi))
            x = float(rng.uniform(x_min, x_max))
            y = float(rng.uniform(y_min, y_max))
            corners = footprint_corners(x, y, yaw, length, width)
            inside = (corners[:, 0].min() >= x_min + clearance
                      and corners[:, 0].max() <= x_max - clearance
                      and corners[:, 1].min() >= y_min + clearance
                      and corners[:, 1].max() <= y_max - clearance)
            if not inside:
                continue
            cand = (x, y, yaw, *grown)
            if any(overlaps(cand, other) for other in placed):
                continue
            placed.append(cand)
            out.append(Placement(x, y, yaw))
            break
        else:
            return None, (f'could not place object {i} ({length * 100:.1f} x '
                          f'{width * 100:.1f} cm) in {max_tries} tries')
    return out, ''
