"""What the camera sees in the boxes, and whether it agrees with the recorded box fill.

The boxes stand in the overhead camera's view. From a depth image, the camera's
intrinsics and its pose in the world, :func:`look_into_boxes` measures, for each box, how much
of its inside is seen and how much of that has something standing above the box floor.
:func:`check_fill` compares this with what the sort log says the boxes hold. ROS-free.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from .grasp import backproject
from .robot import BoxSpec

__all__ = ['BoxSight', 'BoxView', 'FillCheck', 'look_into_boxes', 'check_fill']


class BoxSight(enum.Enum):
    """What the camera sees of a box."""

    #: Too little of its inside in view (off-image, hidden, no depth).
    NOT_SEEN = 'not_seen'
    #: Its floor, with nothing on it.
    EMPTY = 'empty'
    #: Something above its floor.
    HOLDS_OBJECTS = 'holds_objects'


class FillCheck(enum.Enum):
    """The recorded fill of a box against the camera."""

    AGREES = 'agrees'
    #: The camera cannot tell.
    NOT_SEEN = 'not_seen'
    #: The log counts objects in the box, the camera sees it empty (emptied unannounced).
    CAMERA_SEES_EMPTY = 'camera_sees_empty'
    #: The log counts none, the camera sees something in it (filled by someone else).
    CAMERA_SEES_OBJECTS = 'camera_sees_objects'


@dataclass
class BoxView:
    """One box as the camera sees it.

    ``seen``: fraction of the box's inside seen with a valid depth; ``occupied``: fraction of
    the seen inside with something more than ``min_height`` above the floor; ``top``: height
    of the highest thing above the floor (m, 0 when empty).
    """

    box: int
    seen: float
    occupied: float
    top: float
    sight: BoxSight


def look_into_boxes(depth: np.ndarray, K: np.ndarray, T_world_camera: np.ndarray,
                    boxes: list[BoxSpec], margin: float = 0.01, min_height: float = 0.006,
                    min_occupied: float = 0.02, min_seen: float = 0.5) -> list[BoxView]:
    """:class:`BoxView` of each box (inside shrunk by ``margin`` m, clear of the walls).

    A pixel counts for a box when its back-projected point lies inside the box's inner
    outline: a ray that hits a wall, or passes over the box to something else, does not.
    """
    h, w = depth.shape[:2]
    R, t = T_world_camera[:3, :3], T_world_camera[:3, 3]
    views = []
    for i, box in enumerate(boxes):
        hx, hy = (max(v - margin, 0.001) for v in box.inner_half_size)
        corners = np.array([np.r_[box.to_world(c), box.floor_z]
                            for c in ((-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy))])
        cam = (corners - t) @ R              # world -> camera frame
        if np.any(cam[:, 2] <= 0):
            views.append(BoxView(i, 0.0, 0.0, 0.0, BoxSight.NOT_SEEN))
            continue
        uv = (cam[:, :2] / cam[:, 2:]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(uv).astype(np.int32), 1)
        expected = int(cv2.contourArea(uv.astype(np.float32)))
        rows, cols = np.nonzero(mask)
        points = backproject(rows, cols, depth, K, T_world_camera)
        local = np.array([box.to_local(p[:2]) for p in points]) if len(points) else \
            np.zeros((0, 2))
        inside = (np.abs(local[:, 0]) <= hx) & (np.abs(local[:, 1]) <= hy) if len(local) \
            else np.zeros(0, bool)
        heights = points[inside, 2] - box.floor_z
        seen = min(1.0, len(heights) / max(expected, 1))
        above = heights > min_height
        occupied = float(above.mean()) if len(heights) else 0.0
        top = float(heights[above].max()) if above.any() else 0.0
        sight = (BoxSight.NOT_SEEN if seen < min_seen else
                 BoxSight.HOLDS_OBJECTS if occupied >= min_occupied else BoxSight.EMPTY)
        views.append(BoxView(i, round(seen, 3), round(occupied, 3), round(top, 4), sight))
    return views


def check_fill(counts: dict[int, int], views: list[BoxView]) -> dict[int, FillCheck]:
    """Per box: the logged object ``counts`` against the camera's ``views``."""
    out = {}
    for view in views:
        logged = counts.get(view.box, 0)
        if view.sight is BoxSight.NOT_SEEN:
            out[view.box] = FillCheck.NOT_SEEN
        elif logged and view.sight is BoxSight.EMPTY:
            out[view.box] = FillCheck.CAMERA_SEES_EMPTY
        elif not logged and view.sight is BoxSight.HOLDS_OBJECTS:
            out[view.box] = FillCheck.CAMERA_SEES_OBJECTS
        else:
            out[view.box] = FillCheck.AGREES
    return out
