"""control_msgs <-> core conversions for the ros2_control action interfaces.

``FollowJointTrajectory`` goals carry a ``trajectory_msgs/JointTrajectory`` plus tolerances;
:func:`trajectory_to_msg` samples a timed core :class:`~sorting_cell.manipulation.trajectory.
Trajectory` into one, :func:`trajectory_from_msg` reads one back as the simulator's
:class:`~sorting_cell.sim.world.JointTrajectory`.
"""
from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from control_msgs.msg import JointTolerance
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

__all__ = ['ERROR_CODES', 'error_name', 'to_duration', 'from_duration', 'trajectory_to_msg',
           'trajectory_from_msg', 'tolerances_msg', 'tolerance_array']

_R = FollowJointTrajectory.Result
#: FollowJointTrajectory result codes by value.
ERROR_CODES = {_R.SUCCESSFUL: 'SUCCESSFUL', _R.INVALID_GOAL: 'INVALID_GOAL',
               _R.INVALID_JOINTS: 'INVALID_JOINTS', _R.OLD_HEADER_TIMESTAMP: 'OLD_HEADER_TIMESTAMP',
               _R.PATH_TOLERANCE_VIOLATED: 'PATH_TOLERANCE_VIOLATED',
               _R.GOAL_TOLERANCE_VIOLATED: 'GOAL_TOLERANCE_VIOLATED'}


def error_name(code: int) -> str:
    return ERROR_CODES.get(int(code), f'error code {int(code)}')


def to_duration(seconds: float) -> Duration:
    ns = int(round(max(0.0, float(seconds)) * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def from_duration(d) -> float:
    return d.sec + d.nanosec * 1e-9


def trajectory_to_msg(trajectory, joint_names, dt: float = 0.05) -> JointTrajectoryMsg:
    """A timed trajectory as JointTrajectory points (positions, velocities, accelerations)
    every ``dt`` s, the last point exactly at its end; header stamp zero = start on receipt.

    The t = 0 point (the current pose) is left out: a controller starts from where the arm
    is, and some reject a first point at time zero.
    """
    times, pos, vel, acc = trajectory.sample(dt)
    if len(times) > 1:
        times, pos, vel, acc = times[1:], pos[1:], vel[1:], acc[1:]
    msg = JointTrajectoryMsg()
    msg.joint_names = list(joint_names)
    for t, q, v, a in zip(times, pos, vel, acc):
        msg.points.append(JointTrajectoryPoint(
            positions=[float(x) for x in q], velocities=[float(x) for x in v],
            accelerations=[float(x) for x in a], time_from_start=to_duration(t)))
    return msg


def trajectory_from_msg(msg: JointTrajectoryMsg, offset: float = 0.0):
    """A JointTrajectory message as the simulator's trajectory, shifted by ``offset`` s.

    Points that the shift puts at or before t = 0 are dropped (they are in the past).

    Raises
    ------
    TrajectoryError
        Empty, mismatched sizes, non-increasing times, NaN, nothing left after the shift.
    """
    from sorting_cell.sim import JointTrajectory, TrajectoryError

    if not msg.points:
        raise TrajectoryError('trajectory has no points')
    n = len(msg.joint_names)
    times, pos, vel = [], [], []
    for i, p in enumerate(msg.points):
        if len(p.positions) != n:
            raise TrajectoryError(f'point {i} has {len(p.positions)} positions for {n} joints')
        times.append(from_duration(p.time_from_start) + offset)
        pos.append(list(p.positions))
        vel.append(list(p.velocities))
    has_vel = all(len(v) == n for v in vel)
    if not has_vel and any(len(v) for v in vel):
        raise TrajectoryError('velocities must be given for every point or for none')
    times, pos = np.array(times), np.array(pos, float)
    vel = np.array(vel, float) if has_vel else None
    keep = times > 0
    if not keep.any():
        raise TrajectoryError('every point is in the past')
    return JointTrajectory(tuple(msg.joint_names), times[keep], pos[keep],
                           vel[keep] if vel is not None else None)


def tolerances_msg(joint_names, position: float) -> list[JointTolerance]:
    """The same position tolerance for every joint (0: controller default, < 0: none)."""
    return [JointTolerance(name=j, position=float(position)) for j in joint_names]


def tolerance_array(tolerances, joint_names, default: float) -> np.ndarray:
    """Position tolerance per joint of ``joint_names`` from JointTolerance messages.

    Per control_msgs: 0 (or not given) means the controller's ``default``, a negative value
    means not checked (``inf``); ``default`` <= 0 also means not checked.

    Raises
    ------
    ValueError
        A tolerance names a joint the controller does not have.
    """
    base = default if default > 0 else math.inf
    out = np.full(len(joint_names), base)
    index = {j: k for k, j in enumerate(joint_names)}
    for tol in tolerances:
        if tol.name not in index:
            raise ValueError(f'tolerance for unknown joint {tol.name!r}')
        if tol.position < 0:
            out[index[tol.name]] = math.inf
        elif tol.position > 0:
            out[index[tol.name]] = tol.position
    return out
