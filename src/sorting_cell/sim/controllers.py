"""What ros2_control's trajectory and gripper controllers do with a goal, on a SimWorld.

ROS-free and single-threaded: the sim node's physics thread owns these objects and calls
``update()`` after each physics chunk. The semantics follow ros2_control's
``joint_trajectory_controller`` and ``gripper_action_controller`` so that a client written
against the simulator behaves the same on a robot:

- a trajectory starts now (or at its header stamp); path tolerances are checked against
  the commanded setpoint while it runs; after its last point, the goal tolerances must be
  met within ``goal_time`` s;
- a violated tolerance stops the arm where it is (holds the measured position);
- a gripper goal ends when the opening is within ``tolerance`` of the target
  (``reached_goal``) or when the fingers stop moving short of it (``stalled``: holding an
  object).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .world import JointTrajectory

__all__ = ['Status', 'Tolerances', 'TrajectoryExecution', 'GripperExecution']


class Status(enum.Enum):
    """State of one controller goal."""

    RUNNING = 'running'
    SUCCEEDED = 'succeeded'
    PATH_TOLERANCE_VIOLATED = 'path_tolerance_violated'
    GOAL_TOLERANCE_VIOLATED = 'goal_tolerance_violated'
    STALLED = 'stalled'
    CANCELED = 'canceled'
    #: Replaced by a newer goal (or the world was reset) before it finished.
    PREEMPTED = 'preempted'
    #: Refused by the world (limits, unknown joints).
    INVALID = 'invalid'


@dataclass
class Tolerances:
    """Per-joint position tolerances (rad; ``inf`` = not checked) and the goal time (s)."""

    path: np.ndarray
    goal: np.ndarray
    goal_time: float


class TrajectoryExecution:
    """One trajectory goal running on a :class:`~sorting_cell.sim.world.SimWorld`.

    Starting it replaces whatever the arm was following (a new goal preempts the old one).

    Parameters
    ----------
    world : SimWorld
    trajectory : JointTrajectory
        Must name every arm joint (any order).
    tolerances : Tolerances
        In the world's arm joint order.

    Raises
    ------
    TrajectoryError
        The world refuses the trajectory (limits, unknown joints).
    """

    def __init__(self, world, trajectory: JointTrajectory, tolerances: Tolerances):
        self.world = world
        self.tolerances = tolerances
        self.start_time = world.time
        self.end_time = world.follow(trajectory)
        names = list(world.info.arm_joint_names)
        order = [list(trajectory.joint_names).index(n) for n in names]
        self.goal = trajectory.positions[-1, order]
        self.status = Status.RUNNING
        self.message = ''

    def feedback(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired (commanded) and actual joint positions, and actual velocities."""
        _, _, vel = self.world.joint_state()
        n = len(self.goal)
        return self.world.arm_target(), self.world.arm_positions(), vel[:n]

    def update(self) -> Status:
        """Check the tolerances at the world's current time; stop the arm on a violation."""
        if self.status is not Status.RUNNING:
            return self.status
        names = self.world.info.arm_joint_names
        desired, actual, _ = self.feedback()
        now = self.world.time
        if now <= self.end_time:
            err = np.abs(desired - actual)
            bad = np.nonzero(err > self.tolerances.path)[0]
            if bad.size:
                j = int(bad[0])
                return self._finish(Status.PATH_TOLERANCE_VIOLATED,
                                    f'{names[j]} is {err[j]:.4f} rad from its setpoint at '
                                    f't={now - self.start_time:.2f} s (path tolerance '
                                    f'{self.tolerances.path[j]:.4f})')
            return self.status
        err = np.abs(self.goal - actual)
        bad = np.nonzero(err > self.tolerances.goal)[0]
        if not bad.size:
            self.status = Status.SUCCEEDED
            return self.status
        if now > self.end_time + self.tolerances.goal_time:
            j = int(bad[0])
            return self._finish(Status.GOAL_TOLERANCE_VIOLATED,
                                f'{names[j]} is {err[j]:.4f} rad from the goal '
                                f'{self.tolerances.goal_time:.2f} s after the trajectory end '
                                f'(goal tolerance {self.tolerances.goal[j]:.4f})')
        return self.status

    def _finish(self, status: Status, message: str) -> Status:
        self.world.stop()   # hold where the arm is, as the controller does on an abort
        self.status, self.message = status, message
        return status


class GripperExecution:
    """One gripper goal: move the fingers to an opening, end when reached or stalled.

    Parameters
    ----------
    world : SimWorld
    position : float
        Target opening, m.
    tolerance : float
        Opening error that counts as reached, m.
    stall_window : float
        Sim seconds over which the opening must change by less than ``stall_motion``
        to count as stalled.
    stall_motion : float
        m.
    """

    def __init__(self, world, position: float, tolerance: float = 0.004,
                 stall_window: float = 0.06, stall_motion: float = 0.0003):
        if not np.isfinite(position):
            raise ValueError(f'gripper position must be finite, got {position}')
        self.world = world
        self.target = float(position)
        self.tolerance, self.stall_window, self.stall_motion = tolerance, stall_window, \
            stall_motion
        self.start_time = world.time
        self._history: list[tuple[float, float]] = []
        world.set_gripper(self.target)
        self.status = Status.RUNNING

    def effort(self) -> float:
        """Total force of the finger actuators, N."""
        ids = list(self.world.info.gripper_actuator_ids)
        return float(np.abs(self.world.data.actuator_force[ids]).sum())

    def width(self) -> float:
        return self.world.gripper_width()

    def reached(self) -> bool:
        return abs(self.width() - self.target) <= self.tolerance

    def update(self) -> Status:
        if self.status is not Status.RUNNING:
            return self.status
        now, width = self.world.time, self.width()
        if abs(width - self.target) <= self.tolerance:
            self.status = Status.SUCCEEDED
            return self.status
        self._history.append((now, width))
        # The latest opening at least one window ago; older ones are no longer needed.
        old = [k for k, (t, _) in enumerate(self._history) if t <= now - self.stall_window]
        if old:
            del self._history[:old[-1]]
            if abs(width - self._history[0][1]) < self.stall_motion:
                self.status = Status.STALLED
        return self.status
