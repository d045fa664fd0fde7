"""The manipulation contract the sorter drives, whatever arm is behind it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

__all__ = ['PickRequest', 'PickOutcome', 'Manipulator']


@dataclass
class PickRequest:
    """Move one perceived object into one box.

    Only perception is given -- never simulator ground truth.

    Attributes
    ----------
    object_id : str
        Stable id of the object in this sort (used in the sort log).
    box_index : int
        Target box, ``0..num_boxes-1``.
    mask : ndarray of bool, shape (H, W)
        The object's pixels in the camera frame.
    depth : ndarray of float32, shape (H, W), or None
        Depth in metres along the optical axis, when the camera has depth.
    camera_info : dict or None
        ``{'K': 3x3, 'width': W, 'height': H, 'T_world_camera': 4x4}``.
    position : (x, y, z) or None
        3-D position in the world frame when already known.
    """

    object_id: str
    box_index: int
    mask: np.ndarray | None = None
    depth: np.ndarray | None = None
    camera_info: dict | None = None
    position: tuple[float, float, float] | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class PickOutcome:
    """What happened. ``reason`` is a short machine-readable word plus detail,
    e.g. ``'unreachable: no IK solution within joint limits'``."""

    success: bool
    reason: str = ''
    attempts: int = 1
    final_position: tuple[float, float, float] | None = None


class Manipulator(ABC):
    """An arm that can move objects into boxes."""

    @abstractmethod
    def pick_and_place(self, request: PickRequest) -> PickOutcome:
        """Pick ``request``'s object and place it in its box; never raises for
        ordinary failures (unreachable, slipped, box full) -- report them instead."""

    def home(self) -> None:
        """Move to a pose that leaves the camera's view of the table clear."""

    def stop(self) -> None:
        """Stop motion as soon as safely possible (goal cancelled)."""
