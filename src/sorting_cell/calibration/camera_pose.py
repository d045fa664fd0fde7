"""The pose of a fixed camera relative to a ChArUco board lying in its view."""
from __future__ import annotations

import cv2
import numpy as np

from sorting_cell.images import to_rgb8
from sorting_cell.transforms import make_transform

from .board import CharucoBoardSpec

__all__ = ['BoardNotFound', 'BoardPoseEstimator', 'detect_corners']


class BoardNotFound(RuntimeError):
    """Too few board corners were found in the images to compute a pose."""


def detect_corners(image: np.ndarray, board: CharucoBoardSpec
                   ) -> tuple[np.ndarray, np.ndarray]:
    """ChArUco corners in one image: ``(ids (N,), pixels (N, 2))``, subpixel-refined.

    N may be 0. The detector refines every interpolated chessboard corner to subpixel
    accuracy (``cornerSubPix``), which is what makes millimetre poses possible.
    """
    # never rescaled: pixel coordinates must stay those of the camera_info
    grey = cv2.cvtColor(to_rgb8(image, max_side=1 << 30), cv2.COLOR_RGB2GRAY)
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board.board()).detectBoard(grey)
    if ids is None or len(ids) == 0:
        return np.zeros(0, int), np.zeros((0, 2))
    return np.asarray(ids, int).ravel(), np.asarray(corners, float).reshape(-1, 2)


class BoardPoseEstimator:
    """Pose of the board in a fixed camera's optical frame, from one or more frames.

    The camera and the board must not move between the frames: every frame's corners
    enter one perspective-n-point fit (OpenCV ``solvePnP`` with the planar IPPE solution,
    refined by Levenberg-Marquardt), so more frames average out image noise.

    Parameters
    ----------
    board : CharucoBoardSpec
    min_corners : int
        Fewest distinct corners (over all frames) accepted for a pose.

    Attributes
    ----------
    T_camera_board_ : (4, 4) array
        Board frame in the camera's optical frame (x right, y down, z forward).
    reprojection_rms_px_ : float
    n_corners_ : int
        Distinct corner ids seen.
    n_observations_ : int
        Corner detections used (over all frames).
    """

    def __init__(self, board: CharucoBoardSpec | None = None, min_corners: int = 6):
        self.board = board
        self.min_corners = min_corners

    def fit(self, images, camera_matrix, dist_coeffs=None) -> BoardPoseEstimator:
        board = self.board if self.board is not None else CharucoBoardSpec()
        if self.min_corners < 4:
            raise ValueError(f'min_corners must be >= 4, got {self.min_corners}')
        K = np.asarray(camera_matrix, float)
        if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f'camera_matrix must be a 3x3 intrinsics matrix with positive '
                             f'focal lengths, got {K.tolist()}')
        dist = np.zeros(5) if dist_coeffs is None else np.asarray(dist_coeffs, float).ravel()
        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
            images = [images]
        images = list(images)
        if not images:
            raise ValueError('no images given')
        object_points, image_points, seen = [], [], set()
        board_corners = board.corners()
        for image in images:
            ids, pixels = detect_corners(image, board)
            object_points.append(board_corners[ids])
            image_points.append(pixels)
            seen.update(ids.tolist())
        if len(seen) < self.min_corners:
            raise BoardNotFound(
                f'found {len(seen)} distinct board corners in {len(images)} image(s), need '
                f'{self.min_corners}: is the whole board ({board.squares_x}x{board.squares_y} '
                f'squares, {board.dictionary}) in view, lit evenly, and are the board '
                'parameters those of the printed board?')
        obj = np.concatenate(object_points)
        img = np.concatenate(image_points)
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, flags=cv2.SOLVEPNP_IPPE)
        if not ok:
            raise BoardNotFound('solvePnP found no board pose from the detected corners')
        rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, rvec, tvec)
        projected, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
        err = projected.reshape(-1, 2) - img
        self.T_camera_board_ = make_transform(cv2.Rodrigues(rvec)[0], tvec.ravel())
        self.reprojection_rms_px_ = float(np.sqrt((err ** 2).sum(axis=1).mean()))
        self.n_corners_ = len(seen)
        self.n_observations_ = len(obj)
        return self
