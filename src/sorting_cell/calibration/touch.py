"""The board's pose in the robot base frame from board corners touched with the tool tip.

Why touch points and not hand-eye calibration: the overhead camera looks down on the table,
and the board already lies there for the camera's calibration. Touching three or more of its
corners with the tool centre point (TCP) and reading the TCP position from the robot gives
the board in the base frame with the robot's own accuracy (tenths of a millimetre on a
UR5e or Franka), in one board placement and a minute of jogging. Hand-eye calibration
(``cv2.calibrateRobotWorldHandEye``) would need a board mounted rigidly on the flange, held
in view in a dozen or more well-spread poses under an overhead camera whose view is mostly
the table, and its rotation errors leak into translation over the arm's reach. Chaining
``T_base_board`` (touch) with ``T_camera_board`` (image) gives ``T_base_camera`` directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sorting_cell.transforms import fit_rigid_transform

from .board import CharucoBoardSpec

__all__ = ['TouchPoint', 'TouchCalibration', 'TouchError', 'default_touch_corners']


class TouchError(ValueError):
    """Touch points that cannot give a board pose, and why."""


@dataclass(frozen=True)
class TouchPoint:
    """A ChArUco corner (by id) and where the TCP was when it touched it (base frame, m)."""

    corner_id: int
    tcp_position: tuple[float, float, float]


def default_touch_corners(board: CharucoBoardSpec) -> tuple[int, ...]:
    """The four outermost inner corners (ids), the best-spread points to touch."""
    nx, ny = board.squares_x - 1, board.squares_y - 1
    return (0, nx - 1, nx * (ny - 1), nx * ny - 1)


class TouchCalibration:
    """Board pose in the base frame from touched corners (least-squares rigid fit).

    Parameters
    ----------
    board : CharucoBoardSpec
    tcp_offset : float
        Distance (m) from the touching tip to the point the robot reports as its TCP along
        the board normal, when the configured TCP is not the tip itself (e.g. a pointer
        longer than the TCP offset of the controller). 0 when they coincide.
    max_rms : float
        Refuse a fit whose RMS residual exceeds this (m): a corner touched wrongly or a
        wrong corner id.

    Attributes
    ----------
    T_base_board_ : (4, 4) array
    rms_ : float
        RMS distance (m) between the touched points and the fitted corners.
    """

    def __init__(self, board: CharucoBoardSpec | None = None, tcp_offset: float = 0.0,
                 max_rms: float = 0.003):
        self.board = board
        self.tcp_offset = tcp_offset
        self.max_rms = max_rms

    def fit(self, points) -> TouchCalibration:
        board = self.board if self.board is not None else CharucoBoardSpec()
        points = [p if isinstance(p, TouchPoint) else TouchPoint(int(p[0]), tuple(p[1]))
                  for p in points]
        corners = board.corners()
        ids = [p.corner_id for p in points]
        bad = [i for i in ids if not 0 <= i < len(corners)]
        if bad:
            raise TouchError(f'corner ids {bad} do not exist on a {board.squares_x}x'
                             f'{board.squares_y} board (0..{len(corners) - 1})')
        if len(set(ids)) != len(ids):
            raise TouchError(f'corner ids touched more than once: {ids}')
        src = corners[ids]
        # the tip touches the printed face; the TCP sits tcp_offset above it (board -z)
        src = src - np.array([0.0, 0.0, self.tcp_offset])
        dst = np.array([p.tcp_position for p in points], float)
        try:
            T, rms = fit_rigid_transform(src, dst)
        except ValueError as exc:
            raise TouchError(str(exc)) from exc
        if rms > self.max_rms:
            raise TouchError(f'touched points do not fit the board: RMS {rms * 1000:.1f} mm > '
                             f'{self.max_rms * 1000:.1f} mm (a wrong corner id, or the tip '
                             'missed a corner?)')
        self.T_base_board_, self.rms_ = T, rms
        return self
