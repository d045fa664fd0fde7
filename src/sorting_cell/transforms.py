"""Rigid transforms as 4x4 matrices: build, invert, compare, and convert to (t, quaternion).

``T_a_b`` maps points of frame ``b`` into frame ``a`` (the pose of ``b`` in ``a``), which is
what tf calls the transform from parent ``a`` to child ``b``. Quaternions are (x, y, z, w),
the order of geometry_msgs.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ['TransformError', 'make_transform', 'invert', 'from_translation_quat',
           'to_translation_quat', 'check_transform', 'translation_error', 'rotation_error_deg',
           'fit_rigid_transform']


class TransformError(ValueError):
    """Not a rigid transform, and why."""


def make_transform(rotation=None, translation=None) -> np.ndarray:
    """4x4 from a 3x3 rotation (default identity) and a translation (default 0)."""
    T = np.eye(4)
    if rotation is not None:
        T[:3, :3] = np.asarray(rotation, float)
    if translation is not None:
        T[:3, 3] = np.asarray(translation, float).reshape(3)
    return T


def check_transform(T, what: str = 'transform', tol: float = 1e-6) -> np.ndarray:
    """``T`` as a float 4x4 array, or :class:`TransformError` saying what is wrong."""
    T = np.asarray(T, float)
    if T.shape != (4, 4):
        raise TransformError(f'{what}: expected a 4x4 matrix, got shape {T.shape}')
    if not np.isfinite(T).all():
        raise TransformError(f'{what}: contains NaN or infinity')
    R = T[:3, :3]
    if (np.abs(R.T @ R - np.eye(3)).max() > tol or abs(np.linalg.det(R) - 1) > tol
            or np.abs(T[3] - [0, 0, 0, 1]).max() > tol):
        raise TransformError(f'{what}: not a rigid transform (rotation not orthonormal with '
                             'determinant 1, or last row not 0 0 0 1)')
    return T


def invert(T) -> np.ndarray:
    """Inverse of a rigid transform (exact, no general matrix inverse)."""
    T = np.asarray(T, float)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def from_translation_quat(translation, quat_xyzw) -> np.ndarray:
    """4x4 from a translation and an (x, y, z, w) quaternion (normalised here)."""
    q = np.asarray(quat_xyzw, float).reshape(4)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-9:
        raise TransformError(f'quaternion {q.tolist()} has no direction (zero or NaN)')
    t = np.asarray(translation, float).reshape(3)
    if not np.isfinite(t).all():
        raise TransformError(f'translation {t.tolist()} is not finite')
    return make_transform(Rotation.from_quat(q / n).as_matrix(), t)


def to_translation_quat(T) -> tuple[np.ndarray, np.ndarray]:
    """(translation (3,), quaternion (x, y, z, w) with w >= 0) of a rigid transform."""
    T = np.asarray(T, float)
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    return T[:3, 3].copy(), (q if q[3] >= 0 else -q)


def translation_error(T_a, T_b) -> float:
    """Distance between the origins of two poses (m)."""
    return float(np.linalg.norm(np.asarray(T_a)[:3, 3] - np.asarray(T_b)[:3, 3]))


def rotation_error_deg(T_a, T_b) -> float:
    """Angle of the rotation taking one pose's orientation to the other's (degrees)."""
    R = np.asarray(T_a)[:3, :3].T @ np.asarray(T_b)[:3, :3]
    return float(np.degrees(Rotation.from_matrix(R).magnitude()))


def fit_rigid_transform(src, dst) -> tuple[np.ndarray, float]:
    """Least-squares rigid ``T`` with ``dst ~ T @ src`` (Kabsch) and its RMS residual (m).

    Needs at least 3 point pairs that are not on one line.
    """
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    if src.ndim != 2 or src.shape[1] != 3 or src.shape != dst.shape:
        raise TransformError(f'need two (N, 3) point sets of the same size, got {src.shape} '
                             f'and {dst.shape}')
    if len(src) < 3:
        raise TransformError(f'need at least 3 point pairs, got {len(src)}')
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    # the second singular value of the centred points is ~0 when they lie on a line
    spread = np.linalg.svd(src - cs, compute_uv=False)
    if spread[1] < 1e-3 * max(spread[0], 1e-12) or spread[0] < 1e-6:
        raise TransformError('the points lie on one line (or coincide): touch at least 3 '
                             'points that span a triangle')
    rot, _ = Rotation.align_vectors(dst - cd, src - cs)
    T = make_transform(rot.as_matrix(), cd - rot.apply(cs))
    residual = dst - (src @ T[:3, :3].T + T[:3, 3])
    return T, float(np.sqrt((residual ** 2).sum(axis=1).mean()))
