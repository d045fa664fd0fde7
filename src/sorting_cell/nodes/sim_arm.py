"""The simulated arm behind the sorter: plan in-process, execute on the sim node over ROS.

``make_manipulator(node)`` is what the sorter loads for ``manipulator: 'sim'``. It builds
its own copy of the cell model (same box layout as the sim node, no objects) for IK,
collision checks and planning, and drives the sim node through the contract topics:

- publishes ``arm/joint_trajectory`` (trajectory_msgs/JointTrajectory, positions +
  velocities every 20 ms) and ``gripper/command`` (std_msgs/Float64, opening in m);
- follows ``joint_states`` (arm + finger joints) and ``/clock`` (simulated time);
- re-perceives after a failed grasp from ``camera/depth``, ``camera/camera_info`` and the
  latched ``camera/pose``.

The topics run on a private node (``<sorter>_arm``, same namespace and context) spun in
its own thread, so ``pick_and_place`` may block inside the sorter's action callback
whatever executor the sorter uses.

Parameters (declared on the sorter node):

- ``sim_arm.num_boxes`` (int, 0): boxes of the simulated cell; 0 = ask the sim node's
  ``num_boxes`` parameter;
- ``sim_arm.sim_node`` (str, 'sim'): name of the sim node to ask;
- ``sim_arm.timeout`` (float, 30 s): wall-clock limit for a motion that makes no progress.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from sorting_cell.manipulation.executor import (ArmBackend, MotionError, PickConfig,
                                                PickPlaceManipulator, Snapshot)
from sorting_cell.manipulation.robot import arm_spec_from_cell
from sorting_cell.manipulation.sim_manipulator import trajectory_waypoints
from sorting_cell.manipulation.trajectory import Trajectory

from .conversions import camera_info_to_dict, depth_from_image, pose_to_matrix
from .qos import latched_qos, result_qos, sensor_qos

__all__ = ['RosArmBackend', 'make_manipulator', 'trajectory_to_msg']


def trajectory_to_msg(trajectory: Trajectory, joint_names, dt: float = 0.02) -> JointTrajectory:
    """A timed :class:`Trajectory` as trajectory_msgs/JointTrajectory (starts on receipt)."""
    times, pos, vel = trajectory_waypoints(trajectory, dt)
    msg = JointTrajectory()
    msg.joint_names = list(joint_names)
    for t, q, v in zip(times, pos, vel):
        p = JointTrajectoryPoint()
        p.positions = [float(x) for x in q]
        p.velocities = [float(x) for x in v]
        p.time_from_start.sec = int(t)
        p.time_from_start.nanosec = int(round((t - int(t)) * 1e9)) % 1_000_000_000
        msg.points.append(p)
    return msg


class RosArmBackend(ArmBackend):
    """An :class:`ArmBackend` over the contract topics, on a private node and thread.

    Parameters
    ----------
    context : rclpy.Context
    namespace : str
    name : str
        Name of the private node.
    arm_joints, finger_joints : sequences of str
    timeout : float
        Wall seconds a motion may go without the sim clock reaching its end.
    settle_tolerance, max_settle : float
        Joint error (rad) that counts as arrived, and the longest extra sim time to wait.
    """

    def __init__(self, context, namespace: str, name: str, arm_joints, finger_joints,
                 timeout: float = 30.0, settle_tolerance: float = 0.01,
                 max_settle: float = 0.5):
        self.arm_joints, self.finger_joints = list(arm_joints), list(finger_joints)
        self.timeout, self.settle_tolerance, self.max_settle = timeout, settle_tolerance, \
            max_settle
        self.node = Node(name, namespace=namespace, context=context)
        self._cv = threading.Condition()
        self._q: np.ndarray | None = None
        self._width = 0.0
        self._clock: float | None = None
        self._depth: tuple[Image, float] | None = None
        self._info: CameraInfo | None = None
        self._pose: np.ndarray | None = None
        self._stops = 0          # bumped by stop(); a running wait sees it change
        n = self.node
        self._pub_traj = n.create_publisher(JointTrajectory, 'arm/joint_trajectory', 10)
        self._pub_grip = n.create_publisher(Float64, 'gripper/command', 10)
        n.create_subscription(JointState, 'joint_states', self._on_js, result_qos())
        n.create_subscription(Clock, '/clock', self._on_clock, 10)
        n.create_subscription(Image, 'camera/depth', self._on_depth, sensor_qos(depth=1))
        n.create_subscription(CameraInfo, 'camera/camera_info', self._on_info,
                              sensor_qos(depth=1))
        n.create_subscription(PoseStamped, 'camera/pose', self._on_pose, latched_qos())
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(n)
        self._thread = threading.Thread(target=self._spin, name=f'{name}-spin', daemon=True)
        self._thread.start()
        self._t0 = time.monotonic()

    # -------------------------------------------------------------- subscriptions
    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 -- context shutdown ends the thread
            pass

    def _on_js(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if not all(j in pos for j in self.arm_joints):
            return
        with self._cv:
            self._q = np.array([pos[j] for j in self.arm_joints])
            self._width = float(sum(abs(pos.get(j, 0.0)) for j in self.finger_joints))
            self._cv.notify_all()

    def _on_clock(self, msg: Clock) -> None:
        with self._cv:
            self._clock = msg.clock.sec + msg.clock.nanosec * 1e-9
            self._cv.notify_all()

    def _on_depth(self, msg: Image) -> None:
        with self._cv:
            self._depth = (msg, self.now())
            self._cv.notify_all()

    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose = pose_to_matrix(msg.pose)

    # -------------------------------------------------------------- ArmBackend
    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until joint states arrive; raise MotionError if they do not."""
        timeout = min(self.timeout, 10.0) if timeout is None else timeout
        with self._cv:
            if not self._cv.wait_for(lambda: self._q is not None, timeout):
                raise MotionError(f'no_robot: no joint_states on '
                                  f'{self.node.resolve_topic_name("joint_states")} within '
                                  f'{timeout} s (is the sim node running?)')

    def now(self) -> float:
        # Simulated time when the sim publishes /clock, else the wall clock.
        return self._clock if self._clock is not None else time.monotonic() - self._t0

    def joint_positions(self) -> np.ndarray:
        self.wait_ready()
        with self._cv:
            return self._q.copy()

    def gripper_width(self) -> float:
        self.wait_ready()
        with self._cv:
            return self._width

    def _wait_sim(self, until: float, done=None) -> bool:
        """Wait until the sim clock passes ``until`` (or ``done()``); False on a stall.

        Raises MotionError('stopped: ...') as soon as :meth:`stop` is called.
        """
        deadline = time.monotonic() + self.timeout
        stops = self._stops
        with self._cv:
            while time.monotonic() < deadline:
                if self._stops != stops:
                    raise MotionError('stopped: goal cancelled')
                if self.now() >= until or (done is not None and done()):
                    return True
                self._cv.wait(0.05)
        return False

    def execute(self, trajectory: Trajectory) -> np.ndarray:
        self.wait_ready()
        start = self.now()
        self._pub_traj.publish(trajectory_to_msg(trajectory, self.arm_joints))
        goal = trajectory.end
        arrived = lambda: np.abs(self._q - goal).max() <= self.settle_tolerance  # noqa: E731
        if not self._wait_sim(start + trajectory.duration):
            raise MotionError(f'execution_failed: the sim clock stalled during a '
                              f'{trajectory.duration:.2f} s motion')
        if not self._wait_sim(start + trajectory.duration + self.max_settle, arrived):
            raise MotionError('execution_failed: the sim clock stalled while settling')
        return self.joint_positions()

    def set_gripper(self, width: float, settle: float) -> float:
        start = self.now()
        self._pub_grip.publish(Float64(data=float(width)))
        if settle > 0 and not self._wait_sim(start + settle):
            raise MotionError('execution_failed: the sim clock stalled while the gripper moved')
        return self.gripper_width()

    def snapshot(self) -> Snapshot | None:
        """The first depth frame rendered after now (the arm is out of view by then)."""
        asked = self.now()
        with self._cv:
            ok = self._cv.wait_for(lambda: self._depth is not None and self._depth[1] > asked
                                   and self._info is not None and self._pose is not None,
                                   self.timeout)
            if not ok:
                return None
            msg = self._depth[0]
        return Snapshot(depth_from_image(msg), camera_info_to_dict(self._info, self._pose))

    def stop(self) -> None:
        # An empty trajectory is rejected; holding the current pose stops the arm.
        with self._cv:
            self._stops += 1
            self._cv.notify_all()
            q = None if self._q is None else self._q.copy()
        if q is not None:
            msg = JointTrajectory()
            msg.joint_names = list(self.arm_joints)
            p = JointTrajectoryPoint()
            p.positions = [float(x) for x in q]
            p.time_from_start.nanosec = 1_000_000
            msg.points.append(p)
            self._pub_traj.publish(msg)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def _sim_num_boxes(node: Node, sim_node: str, timeout: float) -> int:
    """Ask the sim node for its ``num_boxes`` parameter."""
    from rcl_interfaces.srv import GetParameters

    ns = node.get_namespace().rstrip('/')
    name = sim_node if sim_node.startswith('/') else f'{ns}/{sim_node}'
    helper = Node(f'{node.get_name()}_arm_query', namespace=node.get_namespace(),
                  context=node.context)
    try:
        client = helper.create_client(GetParameters, f'{name}/get_parameters')
        if not client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError(f'sim node {name!r} does not answer (set sim_arm.num_boxes)')
        future = client.call_async(GetParameters.Request(names=['num_boxes']))
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(helper)
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        executor.shutdown(timeout_sec=1.0)
        if not future.done() or not future.result().values:
            raise RuntimeError(f'sim node {name!r} did not return num_boxes in {timeout} s')
        return int(future.result().values[0].integer_value)
    finally:
        helper.destroy_node()


def make_manipulator(node: Node) -> PickPlaceManipulator:
    """The simulated arm for the sorter node (``manipulator: 'sim'``)."""
    from sorting_cell.sim.cell import build_cell

    def param(name, default):
        if not node.has_parameter(name):
            node.declare_parameter(name, default)
        return node.get_parameter(name).value

    num_boxes = int(param('sim_arm.num_boxes', 0))
    sim_node = str(param('sim_arm.sim_node', 'sim'))
    timeout = float(param('sim_arm.timeout', 30.0))
    if num_boxes <= 0:
        num_boxes = _sim_num_boxes(node, sim_node, min(timeout, 15.0))
    model, _, info = build_cell(num_boxes=num_boxes, seed=None, n_objects=0)
    spec = arm_spec_from_cell(info)
    backend = RosArmBackend(node.context, node.get_namespace(), f'{node.get_name()}_arm',
                            info.arm_joint_names, info.gripper_joint_names, timeout=timeout)
    node.get_logger().info(f'sim arm: planning on a {num_boxes}-box cell, executing over '
                           f'{backend.node.resolve_topic_name("arm/joint_trajectory")}')
    return PickPlaceManipulator(model, spec, backend, PickConfig())
