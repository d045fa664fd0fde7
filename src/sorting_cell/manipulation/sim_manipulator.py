"""Run the pick-and-place stack on an in-process simulation of the cell.

:class:`SimWorldBackend` hands each timed trajectory to
:class:`sorting_cell.sim.SimWorld` as the same waypoint list the ROS sim node receives on
a FollowJointTrajectory goal (positions + velocities every ``dt``), then steps the physics
until the arm has arrived. The benchmark and the tests use it; the ros2_control arm
(:mod:`sorting_cell.nodes.ros2_control_arm`) drives the sim node through its actions instead.
"""
from __future__ import annotations

import numpy as np

from .executor import ArmBackend, MotionError, PickConfig, PickPlaceManipulator, Snapshot
from .failures import ExecutionFailure as F
from .robot import ArmSpec, arm_spec_from_cell
from .trajectory import Trajectory

__all__ = ['SimWorldBackend', 'make_sim_manipulator', 'trajectory_waypoints']


def trajectory_waypoints(trajectory: Trajectory, dt: float = 0.02):
    """``(times, positions, velocities)`` sampled every ``dt`` for a waypoint message.

    The first point (t = 0, the current pose) is dropped: controllers start from where
    the arm is.
    """
    times, pos, vel, _ = trajectory.sample(dt)
    if len(times) > 1:
        times, pos, vel = times[1:], pos[1:], vel[1:]
    return times, pos, vel


class SimWorldBackend(ArmBackend):
    """Execute on a :class:`sorting_cell.sim.SimWorld` by stepping it in simulated time.

    Parameters
    ----------
    world : SimWorld
    dt : float
        Waypoint spacing of the trajectories sent to the world, s.
    settle_tolerance : float
        Joint error (rad) under which a motion counts as finished.
    max_settle : float
        Longest wait for the servos after a trajectory's end, s.
    camera : bool
        Whether :meth:`snapshot` renders a depth frame (needs EGL / OSMesa).
    abort_unsettled : bool
        Behave as the sim node's trajectory controller does: when a joint is still more
        than ``settle_tolerance`` from the goal ``max_settle`` s after the trajectory's end
        (the arm or what it holds met something), hold the arm where it is and raise
        :class:`~sorting_cell.manipulation.executor.MotionError` (``aborted:
        GOAL_TOLERANCE_VIOLATED``). Otherwise the motion just ends where the arm got to.
    """

    def __init__(self, world, dt: float = 0.02, settle_tolerance: float = 0.01,
                 max_settle: float = 0.5, camera: bool = True, abort_unsettled: bool = False):
        self.world = world
        self.dt = dt
        self.settle_tolerance = settle_tolerance
        self.max_settle = max_settle
        self.camera = camera
        self.abort_unsettled = abort_unsettled
        self.snapshots = 0

    def joint_positions(self) -> np.ndarray:
        return self.world.arm_positions()

    def gripper_width(self) -> float:
        return self.world.gripper_width()

    def now(self) -> float:
        return self.world.time

    def execute(self, trajectory: Trajectory) -> np.ndarray:
        from sorting_cell.sim import JointTrajectory

        times, pos, vel = trajectory_waypoints(trajectory, self.dt)
        end = self.world.follow(JointTrajectory(self.world.info.arm_joint_names, times, pos,
                                                vel))
        self.world.advance(max(0.0, end - self.world.time))
        goal = trajectory.end
        waited, step = 0.0, 5 * self.world.timestep
        while (np.abs(self.world.arm_positions() - goal).max() > self.settle_tolerance
               and waited < self.max_settle):
            self.world.step(5)
            waited += step
        err = np.abs(self.world.arm_positions() - goal)
        if self.abort_unsettled and err.max() > self.settle_tolerance:
            self.world.stop()
            j = int(err.argmax())
            raise MotionError(F.ABORTED.reason(
                f'the {trajectory.duration:.2f} s trajectory: GOAL_TOLERANCE_VIOLATED: '
                f'{self.world.info.arm_joint_names[j]} is {err[j]:.4f} rad from the goal '
                f'{waited:.2f} s after the trajectory end (goal tolerance '
                f'{self.settle_tolerance:.4f})'))
        return self.world.arm_positions()

    def set_gripper(self, width: float, settle: float) -> float:
        self.world.set_gripper(width)
        if settle > 0:
            self.world.advance(settle)
        return self.world.gripper_width()

    def snapshot(self) -> Snapshot | None:
        if not self.camera:
            return None
        self.snapshots += 1
        frame = self.world.render(depth=True)
        return Snapshot(frame.depth, self.world.info.camera.as_dict())

    def stop(self) -> None:
        self.world.stop()


def make_sim_manipulator(world, config: PickConfig | None = None, camera: bool = True,
                         spec: ArmSpec | None = None,
                         abort_unsettled: bool = False) -> PickPlaceManipulator:
    """A :class:`PickPlaceManipulator` planning on a copy of ``world``'s model.

    Parameters
    ----------
    world : sorting_cell.sim.SimWorld
    config : PickConfig or None
    camera : bool
        Re-perceive with the overhead camera after a failed grasp.
    spec : ArmSpec or None
        Defaults to :func:`~sorting_cell.manipulation.robot.arm_spec_from_cell`.
    abort_unsettled : bool
        See :class:`SimWorldBackend` (the sim node's controller behaviour).
    """
    from sorting_cell.sim.cell import build_cell

    spec = spec or arm_spec_from_cell(world.info)
    # The same cell without objects: IK and collision checks cost scales with the
    # model's degrees of freedom, and objects are not planning obstacles anyway.
    planning, _, _ = build_cell(num_boxes=world.info.num_boxes, seed=None, n_objects=0)
    backend = SimWorldBackend(world, camera=camera, abort_unsettled=abort_unsettled)
    return PickPlaceManipulator(planning, spec, backend, config)
