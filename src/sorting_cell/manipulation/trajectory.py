"""Time a joint-space path with TOPP-RA so that every joint respects its velocity and
acceleration limits.

The planner returns a piecewise-linear path (1-3 segments after simplification). With
``blend=True`` a cubic spline is fitted through the waypoints, densified along each segment
so that the spline stays close to the (collision-checked) straight segments and only rounds
the corners, and TOPP-RA (``toppra``, the time-optimal parametrisation MoveIt 2 also ships)
times it: the arm keeps moving through the corners instead of stopping at each waypoint, and
velocity is continuous (piecewise-constant acceleration), which is what a real joint
trajectory controller wants to interpolate. ``blend=False`` times each straight segment on
its own, from rest to rest: the exact straight path, for callers whose rounded corner
collides (see :func:`max_deviation`).
"""
from __future__ import annotations

import logging

import numpy as np

__all__ = ['Trajectory', 'time_parametrize', 'max_deviation']

# toppra reports every solved instance at INFO level.
logging.getLogger('toppra').setLevel(logging.WARNING)


class Trajectory:
    """A timed joint trajectory: evaluate at any time or sample at a fixed step.

    Parameters
    ----------
    pieces : list of (t0, toppra trajectory)
        Consecutive timed pieces, each starting at ``t0`` (s).
    end : (n,) array
        Final joint positions.
    """

    def __init__(self, pieces: list, end: np.ndarray):
        self._pieces = pieces
        self._end = np.asarray(end, float)
        self.duration = (pieces[-1][0] + float(pieces[-1][1].duration)) if pieces else 0.0

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity and acceleration at time ``t`` (clamped to the ends)."""
        times, q, v, a = self._evaluate(np.array([float(t)]))
        return q[0], v[0], a[0]

    def _evaluate(self, times: np.ndarray):
        n = self._end.size
        q, v, a = (np.zeros((times.size, n)) for _ in range(3))
        q[:] = self._end
        if self._pieces:
            starts = np.array([t0 for t0, _ in self._pieces])
            which = np.clip(np.searchsorted(starts, times, side='right') - 1, 0,
                            len(self._pieces) - 1)
            for k in np.unique(which):
                t0, piece = self._pieces[k]
                sel = which == k
                local = np.clip(times[sel] - t0, 0.0, float(piece.duration))
                q[sel], v[sel], a[sel] = piece(local), piece(local, 1), piece(local, 2)
        after = times >= self.duration
        q[after], v[after], a[after] = self._end, 0.0, 0.0
        return times, q, v, a

    def sample(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Times (K,) and positions, velocities, accelerations (K, n), ends included."""
        if dt <= 0:
            raise ValueError(f'dt must be positive, got {dt}')
        times = np.arange(0.0, self.duration, dt)
        times = np.append(times, self.duration) if (
            times.size == 0 or times[-1] < self.duration - 1e-9) else times
        return self._evaluate(times)

    @property
    def end(self) -> np.ndarray:
        return self._end.copy()


def _dedupe(path: np.ndarray) -> np.ndarray:
    keep = [0] + [i for i in range(1, len(path))
                  if np.abs(path[i] - path[i - 1]).max() > 1e-9]
    return path[keep]


def _densify(path: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` rad (max-joint distance) along each straight segment."""
    out = [path[0]]
    for q0, q1 in zip(path[:-1], path[1:]):
        k = max(1, int(np.ceil(np.abs(q1 - q0).max() / spacing)))
        out.extend(q0 + (q1 - q0) * (i / k) for i in range(1, k + 1))
    return np.array(out)


def _toppra(points: np.ndarray, vmax: np.ndarray, amax: np.ndarray):
    import toppra
    import toppra.algorithm
    import toppra.constraint

    # Path parameter = cumulative chord length, so that the spline's speed along the path
    # is about uniform and the straight segments stay straight.
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    ss = chord / chord[-1]
    if len(points) == 2:
        ss = np.array([0.0, 1.0])
    path = toppra.SplineInterpolator(ss, points, bc_type='clamped' if len(points) > 2
                                     else 'not-a-knot')
    constraints = [toppra.constraint.JointVelocityConstraint(np.stack([-vmax, vmax], 1)),
                   toppra.constraint.JointAccelerationConstraint(np.stack([-amax, amax], 1))]
    grid = max(50, min(400, 20 * len(points)))
    instance = toppra.algorithm.TOPPRA(constraints, path,
                                       gridpoints=np.linspace(0.0, 1.0, grid + 1),
                                       parametrizer='ParametrizeConstAccel')
    return instance.compute_trajectory(0.0, 0.0)


def time_parametrize(path: np.ndarray, max_velocity: np.ndarray,
                     max_acceleration: np.ndarray, speed_scale: float = 1.0,
                     blend: bool = True, spacing: float = 0.2) -> Trajectory:
    """Time a piecewise-linear joint path (TOPP-RA), starting and ending at rest.

    Parameters
    ----------
    path : (K, n) array
        Waypoints, start first; K >= 1.
    max_velocity, max_acceleration : (n,) arrays
        Per-joint limits (positive).
    speed_scale : float
        Fraction (0, 1] of the velocity limits to use; accelerations scale with its square.
    blend : bool
        Round the corners (keep moving through waypoints); else stop at each waypoint.
    spacing : float
        Densification step along segments for the blended spline, rad.

    Returns
    -------
    Trajectory

    Raises
    ------
    ValueError
        Bad limits or shapes, or no feasible parametrisation.
    """
    path = np.atleast_2d(np.asarray(path, float))
    vmax = np.asarray(max_velocity, float) * speed_scale
    amax = np.asarray(max_acceleration, float) * speed_scale ** 2
    if not (0 < speed_scale <= 1):
        raise ValueError(f'speed_scale must be in (0, 1], got {speed_scale}')
    if path.shape[0] < 1 or path.shape[1] != vmax.size or amax.size != vmax.size:
        raise ValueError(f'path {path.shape} does not match limits of size {vmax.size}')
    if np.any(vmax <= 0) or np.any(amax <= 0):
        raise ValueError('velocity and acceleration limits must be positive')
    if not np.all(np.isfinite(path)):
        raise ValueError('path contains NaN or infinite values')
    path = _dedupe(path)
    if len(path) == 1:
        return Trajectory([], path[-1])
    if blend and len(path) > 2:
        points = _densify(path, spacing)
        v_lim, a_lim = vmax, amax
        # TOPP-RA meets the limits at its grid points; on a curved path they can be exceeded
        # a little in between. Check densely and tighten until they hold everywhere.
        for _ in range(4):
            timed = _toppra(points, v_lim, a_lim)
            if timed is None:
                break
            traj = Trajectory([(0.0, timed)], path[-1])
            _, _, v, a = traj.sample(0.002)
            over = max(float((np.abs(v) / vmax).max()), float((np.abs(a) / amax).max()))
            if over <= 1.0 + 1e-6:
                return traj
            v_lim, a_lim = v_lim / over, a_lim / over
    pieces, t = [], 0.0
    for q0, q1 in zip(path[:-1], path[1:]):
        timed = _toppra(np.stack([q0, q1]), vmax, amax)
        if timed is None:
            raise ValueError(f'TOPP-RA found no feasible timing from {np.round(q0, 3)} to '
                             f'{np.round(q1, 3)}')
        pieces.append((t, timed))
        t += float(timed.duration)
    return Trajectory(pieces, path[-1])


def max_deviation(trajectory: Trajectory, path: np.ndarray, dt: float = 0.01) -> float:
    """Largest joint-space distance (max over joints, rad) of the timed trajectory from the
    piecewise-linear ``path`` it was made from."""
    path = _dedupe(np.atleast_2d(np.asarray(path, float)))
    _, q, _, _ = trajectory.sample(dt)
    if len(path) == 1:
        return float(np.abs(q - path[0]).max())
    best = np.full(len(q), np.inf)
    for a, b in zip(path[:-1], path[1:]):
        d = b - a
        s = np.clip(((q - a) @ d) / max(float(d @ d), 1e-18), 0.0, 1.0)
        best = np.minimum(best, np.abs(q - (a + s[:, None] * d)).max(axis=1))
    return float(best.max())
