"""Where in a box to release a held object so that all of it lands inside the walls.

The object's footprint is known relative to the tool from the grasp (the convex hull of
what the camera saw, in the world's x-y plane, measured from the grasp point). While it is
held it turns with the hand: at a placing yaw the footprint is the grasp-time hull turned
by ``yaw - grasp_yaw``. A spot is a tool position in the box for which the turned hull
stays ``margin`` inside the walls and the open fingers stay clear of them; spots are
ordered by preference (the requested lane first, then the other lanes, then the other
hand orientations) so that the caller can fall back when one cannot be reached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .robot import BoxSpec

__all__ = ['PlacementSpot', 'placement_spots', 'turned_footprint']


@dataclass
class PlacementSpot:
    """A tool position and yaw over a box; the footprint's bounds there, box frame."""

    xy: np.ndarray          # tool position, world x-y, m
    yaw: float              # closing-axis direction, world, rad
    lane: int               # the lane whose centre it aims at
    local: np.ndarray       # tool position in the box frame, m
    bounds: np.ndarray      # footprint (xmin, ymin, xmax, ymax) in the box frame, m


def turned_footprint(footprint: np.ndarray, turn: float) -> np.ndarray:
    """Footprint points (N, 2) turned by ``turn`` rad about the tool."""
    c, s = np.cos(turn), np.sin(turn)
    return np.asarray(footprint, float) @ np.array([[c, s], [-s, c]])


def placement_spots(footprint: np.ndarray, grasp_yaw: float, box: BoxSpec, lanes: int,
                    lane: int, finger_reach: float, finger_depth: float,
                    margin: float = 0.006, diagonal: bool = False) -> list[PlacementSpot]:
    """Tool positions over ``box`` at which the whole held footprint lies inside the walls.

    Parameters
    ----------
    footprint : (N, 2) array
        The object's outline relative to the tool at the grasp, world x-y, m.
    grasp_yaw : float
        The hand's yaw when it grasped (the footprint turns with the hand), rad.
    box : BoxSpec
    lanes, lane : int
        Lanes side by side along the box's x axis; ``lane`` is preferred.
    finger_reach : float
        From the tool out to the outer face of a finger along the closing axis, m.
    finger_depth : float
        Half the fingers' size across the closing axis, m.
    margin : float
        Gap kept between the footprint and the inner walls, m.
    diagonal : bool
        Prefer the box's diagonal (objects longer than the box's sides).

    Returns
    -------
    list of PlacementSpot
        Feasible spots, best first: for each hand yaw (the box's y axis along the object,
        both ways round; then across; the diagonal first when asked), the requested lane
        and then the others by distance. Empty when the object fits no way.
    """
    hx, hy = box.inner_half_size
    fp = np.asarray(footprint, float).reshape(-1, 2)
    if not len(fp):
        fp = np.zeros((1, 2))
    yaws = [box.yaw, box.yaw + np.pi, box.yaw + np.pi / 2, box.yaw - np.pi / 2]
    if diagonal:
        yaws = [box.yaw + np.pi / 4, box.yaw + np.pi / 4 + np.pi,
                box.yaw - np.pi / 4, box.yaw - np.pi / 4 + np.pi] + yaws
    spots = []
    for yaw in yaws:
        # Footprint in the box frame for a tool at the box centre.
        local = turned_footprint(fp, yaw - grasp_yaw - box.yaw)
        # Where the fingers reach, box frame: along the closing axis and across it.
        rel = yaw - box.yaw
        ax = np.array([np.cos(rel), np.sin(rel)])
        ac = np.array([-ax[1], ax[0]])
        fingers = np.array([s1 * finger_reach * ax + s2 * finger_depth * ac
                            for s1 in (-1, 1) for s2 in (-1, 1)])
        lo = np.maximum(-np.array([hx, hy]) + margin - local.min(axis=0),
                        -np.array([hx, hy]) + 0.004 - fingers.min(axis=0))
        hi = np.minimum(np.array([hx, hy]) - margin - local.max(axis=0),
                        np.array([hx, hy]) - 0.004 - fingers.max(axis=0))
        if np.any(lo > hi + 1e-9):
            continue
        # Lanes: the footprint's middle on the lane's centre (x), the box's middle (y).
        mid = (local.min(axis=0) + local.max(axis=0)) / 2
        span = hx - margin - (local.max(axis=0)[0] - local.min(axis=0)[0]) / 2
        centres = (np.linspace(-span, span, lanes) if lanes > 1 and not diagonal
                   and span > 0 else np.zeros(max(lanes, 1)))
        order = sorted(range(len(centres)), key=lambda k: (abs(k - lane), k))
        seen = []
        for k in order:
            tool = np.clip(np.array([centres[k], 0.0]) - mid, lo, hi)
            if any(np.linalg.norm(tool - s) < 0.01 for s in seen):
                continue
            seen.append(tool)
            bounds = np.concatenate([(local + tool).min(axis=0), (local + tool).max(axis=0)])
            spots.append(PlacementSpot(box.to_world(tool), float(yaw), int(k), tool, bounds))
    return spots
