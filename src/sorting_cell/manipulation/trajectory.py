"""Time a joint-space path so that every joint respects velocity and acceleration limits.

Each straight segment between waypoints gets a trapezoidal velocity profile in its
path parameter, scaled so that the most constrained joint just meets its limits; the
arm comes to rest at each waypoint. After path simplification a move has 1-3 segments,
so stopping at corners costs little, and the profile is exact (no limit is overshot).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['Trajectory', 'time_parametrize']


@dataclass
class _Segment:
    t0: float
    q0: np.ndarray
    dq: np.ndarray      # q1 - q0
    t_acc: float        # duration of the acceleration (and deceleration) phase
    t_total: float
    s_vel: float        # peak path speed, 1/s
    s_acc: float        # path acceleration, 1/s^2

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tau = min(max(t - self.t0, 0.0), self.t_total)
        a, v, ta, T = self.s_acc, self.s_vel, self.t_acc, self.t_total
        if T == 0.0:
            return self.q0.copy(), np.zeros_like(self.q0), np.zeros_like(self.q0)
        if tau < ta:
            s, sd, sdd = 0.5 * a * tau ** 2, a * tau, a
        elif tau <= T - ta:
            s, sd, sdd = 0.5 * a * ta ** 2 + v * (tau - ta), v, 0.0
        else:
            r = T - tau
            s, sd, sdd = 1.0 - 0.5 * a * r ** 2, a * r, -a
        return self.q0 + s * self.dq, sd * self.dq, sdd * self.dq


class Trajectory:
    """A timed joint trajectory: evaluate at any time or sample at a fixed step."""

    def __init__(self, segments: list[_Segment], end: np.ndarray):
        self._segments = segments
        self._end = np.asarray(end, float)
        self.duration = segments[-1].t0 + segments[-1].t_total if segments else 0.0

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity and acceleration at time ``t`` (clamped to the ends)."""
        if not self._segments or t >= self.duration:
            z = np.zeros_like(self._end)
            return self._end.copy(), z, z.copy()
        for seg in self._segments:
            if t <= seg.t0 + seg.t_total:
                return seg.at(t)
        return self._segments[-1].at(t)

    def sample(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Times (K,) and positions, velocities, accelerations (K, n), ends included."""
        if dt <= 0:
            raise ValueError(f'dt must be positive, got {dt}')
        times = np.arange(0.0, self.duration, dt)
        times = np.append(times, self.duration) if (
            times.size == 0 or times[-1] < self.duration - 1e-9) else times
        pos, vel, acc = zip(*(self.at(t) for t in times))
        return times, np.array(pos), np.array(vel), np.array(acc)

    @property
    def end(self) -> np.ndarray:
        return self._end.copy()


def time_parametrize(path: np.ndarray, max_velocity: np.ndarray,
                     max_acceleration: np.ndarray, speed_scale: float = 1.0) -> Trajectory:
    """Time a piecewise-linear joint path.

    Parameters
    ----------
    path : (K, n) array
        Waypoints, start first; K >= 1.
    max_velocity, max_acceleration : (n,) arrays
        Per-joint limits (positive).
    speed_scale : float
        Fraction (0, 1] of the velocity limits to use; accelerations scale with its square.

    Returns
    -------
    Trajectory
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
    segments = []
    t = 0.0
    for q0, q1 in zip(path[:-1], path[1:]):
        dq = q1 - q0
        moving = np.abs(dq) > 1e-12
        if not moving.any():
            continue
        # Limits on the path parameter s in [0, 1]: q = q0 + s * dq.
        sv = float(np.min(vmax[moving] / np.abs(dq[moving])))
        sa = float(np.min(amax[moving] / np.abs(dq[moving])))
        if sv * sv / sa >= 1.0:       # triangular: never reaches the speed limit
            ta = float(np.sqrt(1.0 / sa))
            sv = sa * ta
            total = 2 * ta
        else:
            ta = sv / sa
            total = 1.0 / sv + ta
        segments.append(_Segment(t, q0.copy(), dq, ta, total, sv, sa))
        t += total
    return Trajectory(segments, path[-1])
