"""The sorter's arm over ros2_control: plan in-process, execute through the controllers' actions.

``make_manipulator(node)`` is what the sorter loads for ``manipulator: 'ros2_control'`` (or
``'sim'``). Planning stays the project's own (IK, collision-checked OMPL paths, TOPP-RA
timing) on a model of the cell; execution goes through the interfaces every ros2_control
robot offers, so the same code drives the sim node or a real arm's driver:

- ``arm.action`` (control_msgs/action/FollowJointTrajectory, e.g.
  ``/scaled_joint_trajectory_controller/follow_joint_trajectory`` on a UR): one goal per
  motion, with goal tolerances and ``goal_time_tolerance``, optional path tolerances;
- ``gripper.action`` (control_msgs/action/GripperCommand);
- ``joint_states`` (arm + finger joints); with ``use_sim_time`` the arm's clock is ``/clock``;
- after a failed grasp, a fresh look from ``camera/depth`` and ``camera/camera_info``, the
  camera pose read from tf (``world_frame`` -> the optical frame named in camera_info).

Every action call has a deadline. Each failure becomes the pick outcome of the object being
moved, as ``'word: detail'`` (:class:`~sorting_cell.manipulation.failures.ExecutionFailure`):
``no_robot`` (no joint states, no action server), ``rejected``, ``aborted`` (with the
controller's error code and string, e.g. ``aborted: PATH_TOLERANCE_VIOLATED: ...``),
``timed_out`` (no result in time; the goal is cancelled: the controller holds the arm),
``server_gone`` (the server vanished mid-goal), ``stopped`` (the sort was cancelled: the
running goal is cancelled, a controlled stop). A new motion preempts nothing on its own: the
backend waits for each goal's end before sending the next.

The actions run on a private node (``<sorter>_arm``, same namespace and context) spun in its
own thread, so ``pick_and_place`` may block inside the sorter's action callback whatever
executor the sorter uses.

Parameters (declared on the sorter node; ``sorting-cell up robot`` sets the first five from
the cell configuration), with defaults:

- ``cell_config`` (''): the cell configuration file; the planning model is its robot
  (``arm.model``), the table and its boxes. '' = the simulated cell, whose box count comes
  from ``arm.num_boxes`` (0: ask the sim node ``arm.sim_node``, 'sim');
- ``arm.action`` ('joint_trajectory_controller/follow_joint_trajectory'), ``gripper.action``
  ('gripper_controller/gripper_cmd'): full action names (relative ones resolve in the
  sorter's namespace);
- ``arm.joints`` (the model's): the controller's joint names, in the model's joint order;
- ``gripper.max_opening`` (0.08 m);
- ``arm.goal_tolerance`` (0.01 rad), ``arm.path_tolerance`` (0: the controller's default),
  ``arm.goal_time_tolerance`` (0.5 s): sent with every trajectory;
- ``arm.server_timeout`` (10 s): waiting for a server, for goal acceptance, for joint states;
- ``arm.timeout_factor`` (4), ``arm.timeout_margin`` (5 s): a trajectory of duration T must
  finish within ``factor * (T + goal_time_tolerance) + margin`` seconds of the robot's
  clock (the node's: ``/clock`` under ``use_sim_time``, so a simulator slower than real
  time gets the same room as a real arm; the factor leaves room for a speed-scaled
  robot), and of the wall clock (room for the result to arrive from a simulator faster
  than real time). A robot clock that stands still for ``server_timeout`` wall seconds
  ends the wait too;
- ``arm.gripper_timeout`` (5 s), ``arm.gripper_max_effort`` (20 N),
  ``arm.gripper_position_scale`` (1: the command is the finger opening in m).

``world_frame`` is the sorter's own parameter (the frame its perception works in).
"""
from __future__ import annotations

import threading
import time

import numpy as np
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, JointState

from sorting_cell.manipulation.executor import (ArmBackend, MotionError, PickConfig,
                                                PickPlaceManipulator, Snapshot)
from sorting_cell.manipulation.failures import ExecutionFailure as F
from sorting_cell.manipulation.robot import arm_spec_from_cell
from sorting_cell.manipulation.trajectory import Trajectory

from .controller_msgs import error_name, to_duration, tolerances_msg, trajectory_to_msg
from sorting_cell.frame_tree import FrameLookupError

from .conversions import camera_info_to_dict, depth_from_image
from .params import declare
from .qos import result_qos, sensor_qos
from .tf import TransformListener

__all__ = ['ControllerArmBackend', 'make_manipulator']

_STATUS = {GoalStatus.STATUS_ABORTED: 'aborted', GoalStatus.STATUS_CANCELED: 'canceled',
           GoalStatus.STATUS_SUCCEEDED: 'succeeded'}


class ControllerArmBackend(ArmBackend):
    """An :class:`ArmBackend` over ros2_control actions, on a private node and thread.

    Parameters
    ----------
    context : rclpy.Context
    namespace, name : str
        Of the private node.
    arm_joints, finger_joints : sequences of str
        As the controller and ``joint_states`` name them.
    arm_action, gripper_action : str
        FollowJointTrajectory and GripperCommand action names.
    world_frame : str or callable
        tf frame of the camera pose for re-perception (a callable is asked at each look:
        the sorter declares its ``world_frame`` after the arm is made).
    goal_tolerance, path_tolerance, goal_time_tolerance : float
        rad, rad (0: controller default), s.
    server_timeout, timeout_factor, timeout_margin, gripper_timeout : float
    gripper_max_effort, gripper_position_scale : float
    use_sim_time : bool
    sample_dt : float
        Spacing of the trajectory points sent, s.
    """

    def __init__(self, context, namespace: str, name: str, arm_joints, finger_joints, *,
                 arm_action: str = 'joint_trajectory_controller/follow_joint_trajectory',
                 gripper_action: str = 'gripper_controller/gripper_cmd',
                 world_frame='world',
                 goal_tolerance: float = 0.01, path_tolerance: float = 0.0,
                 goal_time_tolerance: float = 0.5, server_timeout: float = 10.0,
                 timeout_factor: float = 4.0, timeout_margin: float = 5.0,
                 gripper_timeout: float = 5.0, gripper_max_effort: float = 20.0,
                 gripper_position_scale: float = 1.0, use_sim_time: bool = False,
                 sample_dt: float = 0.05):
        self.arm_joints, self.finger_joints = list(arm_joints), list(finger_joints)
        self.goal_tolerance, self.path_tolerance = goal_tolerance, path_tolerance
        self.goal_time_tolerance = goal_time_tolerance
        self.server_timeout, self.timeout_factor = server_timeout, timeout_factor
        self.timeout_margin, self.gripper_timeout = timeout_margin, gripper_timeout
        self.gripper_max_effort = gripper_max_effort
        self.gripper_position_scale = gripper_position_scale
        self.sample_dt = sample_dt
        self.world_frame = world_frame
        self.node = Node(name, namespace=namespace, context=context, parameter_overrides=[
            Parameter('use_sim_time', value=bool(use_sim_time))])
        n = self.node
        self._cv = threading.Condition()
        self._q: np.ndarray | None = None
        self._width = 0.0
        self._depth: tuple[Image, float] | None = None
        self._info: CameraInfo | None = None
        self._stops = 0          # bumped by stop(); a running wait sees it change
        self._active: list = []  # goal handles of running goals (arm, gripper)
        self.arm_action, self.gripper_action = arm_action, gripper_action
        self._arm = ActionClient(n, FollowJointTrajectory, self.arm_action)
        self._gripper = ActionClient(n, GripperCommand, self.gripper_action)
        n.create_subscription(JointState, 'joint_states', self._on_js, result_qos())
        n.create_subscription(Image, 'camera/depth', self._on_depth, sensor_qos(depth=1))
        n.create_subscription(CameraInfo, 'camera/camera_info', self._on_info,
                              sensor_qos(depth=1))
        self._tf = TransformListener(n)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(n)
        self._thread = threading.Thread(target=self._spin, name=f'{name}-spin', daemon=True)
        self._thread.start()

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

    def _on_depth(self, msg: Image) -> None:
        with self._cv:
            self._depth = (msg, self.now())
            self._cv.notify_all()

    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _camera_pose(self) -> np.ndarray | None:
        """``T_world_optical`` from tf for the frame camera_info names, or None (yet)."""
        info = self._info
        if info is None:
            return None
        world = self.world_frame() if callable(self.world_frame) else self.world_frame
        try:
            return self._tf.lookup(world, info.header.frame_id)
        except FrameLookupError:
            return None

    # -------------------------------------------------------------- waiting
    def _notify(self, *_) -> None:
        with self._cv:
            self._cv.notify_all()

    def _wait_future(self, future, deadline, stops: int, client, what: str):
        """Wait for ``future`` until ``deadline`` (monotonic seconds, or a _RobotDeadline);
        None on timeout.

        Raises MotionError when stop() is called or the server vanishes meanwhile.
        """
        future.add_done_callback(self._notify)
        gone_since = None
        passed = deadline.passed if isinstance(deadline, _RobotDeadline) else (
            lambda: time.monotonic() >= deadline)
        with self._cv:
            while not future.done():
                if self._stops != stops:
                    raise MotionError(F.STOPPED.reason('goal cancelled'))
                now = time.monotonic()
                if passed():
                    return None
                if client.server_is_ready():
                    gone_since = None
                elif gone_since is None:
                    gone_since = now
                elif now - gone_since > 1.0:
                    raise MotionError(F.SERVER_GONE.reason(
                        f'{self._name(client)} vanished while {what}'))
                self._cv.wait(0.05)
        return future.result()

    def _call(self, fn, stops: int, client, what: str):
        """``fn()`` (an action client ``*_async`` call) run on the spin thread; its future.

        rclpy's ActionClient stores a request's future only after sending it: a response
        processed by the spin thread in between is dropped ("Ignoring unexpected goal
        response") and the call never completes. Sending from the spin thread itself
        serialises the two.
        """
        task = self._executor.create_task(fn)
        inner = self._wait_future(task, time.monotonic() + self.server_timeout, stops, client,
                                  what)
        if inner is None:
            raise MotionError(F.TIMED_OUT.reason(f'the arm client did not get to {what} '
                                                 f'within {self.server_timeout:g} s'))
        return inner

    def _name(self, client) -> str:
        action = self.arm_action if client is self._arm else self.gripper_action
        return self.node.resolve_topic_name(action)

    def _send(self, client, goal, stops: int, what: str):
        """Send ``goal``; the accepted goal handle (or MotionError)."""
        if not client.wait_for_server(timeout_sec=self.server_timeout):
            raise MotionError(F.NO_ROBOT.reason(
                f'action server {self._name(client)} not available within '
                f'{self.server_timeout:g} s (is the controller running?)'))
        deadline = time.monotonic() + self.server_timeout
        sent = self._call(lambda: client.send_goal_async(goal), stops, client,
                          f'send the {what} goal')
        handle = self._wait_future(sent, deadline, stops, client, f'sending the {what} goal')
        if handle is None:
            raise MotionError(F.TIMED_OUT.reason(
                f'{self._name(client)} did not answer the {what} goal within '
                f'{self.server_timeout:g} s'))
        if not handle.accepted:
            raise MotionError(F.REJECTED.reason(f'{self._name(client)} rejected the {what} '
                                                'goal'))
        with self._cv:
            self._active.append(handle)
        return handle

    def _result(self, client, handle, timeout: float, stops: int, what: str):
        """Wait for the goal's result; on timeout cancel it (the controller holds the arm)."""
        try:
            asked = self._call(handle.get_result_async, stops, client,
                               f'ask for the {what} result')
            deadline = _RobotDeadline(self.now, timeout, stall=self.server_timeout)
            res = self._wait_future(asked, deadline, stops, client, f'running the {what} goal')
            if res is None:
                cancel = self._wait_future(
                    self._call(handle.cancel_goal_async, stops, client,
                               f'cancel the {what} goal'),
                    time.monotonic() + self.server_timeout, stops, client,
                    f'cancelling the {what} goal')
                held = ('cancelled' if cancel is not None and cancel.goals_canceling
                        else 'cancel not acknowledged')
                raise MotionError(F.TIMED_OUT.reason(
                    f'no result from {self._name(client)} for the {what} goal within '
                    f'{deadline.describe()} ({held})'))
            return res
        except MotionError as exc:
            if exc.reason.startswith(F.STOPPED.value):
                # Controlled stop: the controller holds the arm.
                self._executor.create_task(handle.cancel_goal_async)
            raise
        finally:
            with self._cv:
                if handle in self._active:
                    self._active.remove(handle)

    # -------------------------------------------------------------- ArmBackend
    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until joint states arrive; raise MotionError if they do not."""
        timeout = self.server_timeout if timeout is None else timeout
        with self._cv:
            if not self._cv.wait_for(lambda: self._q is not None, timeout):
                raise MotionError(F.NO_ROBOT.reason(
                    f'no joint_states on {self.node.resolve_topic_name("joint_states")} '
                    f'within {timeout:g} s (is the robot driver or the sim running?)'))

    def now(self) -> float:
        # The node's clock: /clock with use_sim_time, else the system clock.
        return self.node.get_clock().now().nanoseconds * 1e-9

    def joint_positions(self) -> np.ndarray:
        self.wait_ready()
        with self._cv:
            return self._q.copy()

    def gripper_width(self) -> float:
        self.wait_ready()
        with self._cv:
            return self._width

    def execute(self, trajectory: Trajectory) -> np.ndarray:
        self.wait_ready()
        if trajectory.duration <= 0:    # already there: nothing to send
            return self.joint_positions()
        stops = self._stops
        goal = FollowJointTrajectory.Goal()
        goal.trajectory = trajectory_to_msg(trajectory, self.arm_joints, self.sample_dt)
        goal.goal_tolerance = tolerances_msg(self.arm_joints, self.goal_tolerance)
        if self.path_tolerance:
            goal.path_tolerance = tolerances_msg(self.arm_joints, self.path_tolerance)
        goal.goal_time_tolerance = to_duration(self.goal_time_tolerance)
        handle = self._send(self._arm, goal, stops, 'trajectory')
        timeout = (self.timeout_factor * (trajectory.duration + self.goal_time_tolerance)
                   + self.timeout_margin)
        res = self._result(self._arm, handle, timeout, stops, 'trajectory')
        if res.status != GoalStatus.STATUS_SUCCEEDED:
            if self._stops != stops:
                raise MotionError(F.STOPPED.reason('goal cancelled'))
            code = res.result.error_code
            raise MotionError(F.ABORTED.reason(
                f'{self._name(self._arm)} {_STATUS.get(res.status, res.status)} the '
                f'{trajectory.duration:.2f} s trajectory: {error_name(code)}'
                + (f': {res.result.error_string}' if res.result.error_string else '')))
        return self.joint_positions()

    def set_gripper(self, width: float, settle: float) -> float:
        """Command the opening; with ``settle`` > 0 wait for the gripper's result (reached
        or stalled on an object), else only for the goal's acceptance."""
        stops = self._stops
        goal = GripperCommand.Goal()
        goal.command.position = float(width) * self.gripper_position_scale
        goal.command.max_effort = float(self.gripper_max_effort)
        handle = self._send(self._gripper, goal, stops, 'gripper')
        if settle <= 0:
            with self._cv:
                self._active.remove(handle)
            return self.gripper_width()
        res = self._result(self._gripper, handle, self.gripper_timeout, stops, 'gripper')
        r = res.result
        # A gripper closing on an object stalls; ros2_control's gripper controller aborts
        # such a goal unless allow_stalling is set: both are a normal grasp.
        if res.status == GoalStatus.STATUS_SUCCEEDED or r.stalled:
            return float(r.position) / self.gripper_position_scale
        if self._stops != stops:
            raise MotionError(F.STOPPED.reason('goal cancelled'))
        raise MotionError(F.ABORTED.reason(
            f'{self._name(self._gripper)} {_STATUS.get(res.status, res.status)} the gripper '
            f'goal {width:.3f} m at {r.position / self.gripper_position_scale:.3f} m'))

    def snapshot(self) -> Snapshot | None:
        """The first depth frame stamped after now (the arm is out of view by then), with
        the camera pose from tf; None if either is missing within ``server_timeout``."""
        asked = self.now()
        deadline = time.monotonic() + self.server_timeout
        with self._cv:
            while True:
                # tf arrives without a notify: poll the lookup at a short period
                pose = self._camera_pose()
                if pose is not None and self._depth is not None and self._depth[1] > asked:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(min(left, 0.05))
            msg, info = self._depth[0], self._info
        return Snapshot(depth_from_image(msg), camera_info_to_dict(info, pose))

    def stop(self) -> None:
        """Cancel the running goals (the controllers hold the arm) and end any wait."""
        with self._cv:
            self._stops += 1
            active = list(self._active)
            self._cv.notify_all()
        for handle in active:
            self._executor.create_task(handle.cancel_goal_async)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self._arm.destroy()
        self._gripper.destroy()
        self.node.destroy_node()


class _RobotDeadline:
    """``timeout`` seconds on the robot's clock (``now``: the node's clock, ``/clock``
    under ``use_sim_time``) and on the wall clock both, or ``stall`` wall seconds in which
    the robot's clock stands still.

    Why the robot's clock: a simulator on a loaded machine runs many times slower than
    real time, and its controller finishes a trajectory on its own clock. Why the wall
    clock too: a simulator faster than real time spends the margin before the result has
    crossed DDS. On a real robot the two are one. The stall guard ends the wait when the
    robot's clock stops (a dead or paused simulator).
    """

    def __init__(self, now, timeout: float, *, stall: float):
        self._now, self.timeout, self.stall = now, timeout, stall
        self._last = now()
        self._end = self._last + timeout
        self._moved = time.monotonic()
        self._wall_end = self._moved + timeout
        self.stalled = False

    def passed(self) -> bool:
        t, wall = self._now(), time.monotonic()
        if t != self._last:
            self._last, self._moved = t, wall
        elif wall - self._moved > self.stall:
            self.stalled = True
            return True
        return t >= self._end and wall >= self._wall_end

    def describe(self) -> str:
        if self.stalled:
            return (f'{self.timeout:.1f} s: the robot clock stood still for '
                    f'{self.stall:g} s (is the simulator paused or gone?)')
        return f'{self.timeout:.1f} s'


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
            raise RuntimeError(f'sim node {name!r} does not answer (set arm.num_boxes)')
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


def _planning_cell(node: Node, cell_config: str, num_boxes: int, sim_node: str,
                   timeout: float):
    """The planning model (robot, table, boxes) and its CellInfo; the config if any."""
    from sorting_cell.sim.cell import BoxPlacement, build_cell

    if cell_config:
        from sorting_cell.cell_config import CellConfig, CellConfigError
        config = CellConfig.load(cell_config)
        if not config.arm.model:
            raise CellConfigError(f'{config.source}: arm.model: missing: the arm whose model '
                                  'the sorter plans on (e.g. ur5e)')
        boxes = [BoxPlacement(b.position, b.yaw, b.size) for b in config.boxes]
        model, _, info = build_cell(boxes=boxes, robot=config.arm.model, seed=None,
                                    n_objects=0)
        return model, info, config
    if num_boxes <= 0:
        num_boxes = _sim_num_boxes(node, sim_node, timeout)
    model, _, info = build_cell(num_boxes=num_boxes, seed=None, n_objects=0)
    return model, info, None


def make_manipulator(node: Node) -> PickPlaceManipulator:
    """The arm for the sorter node (``manipulator: 'ros2_control'`` or ``'sim'``).

    Raises ValueError (e.g. :class:`~sorting_cell.sim.cell.UnsupportedRobotError`) when the
    cell configuration names an arm the project has no model of, or joint names that do not
    fit it: at start, before anything moves.
    """
    def param(name, default, description, **kw):
        if node.has_parameter(name):
            return node.get_parameter(name).value
        return declare(node, name, default, description, read_only=True, **kw)

    cell_config = str(param('cell_config', '', 'cell configuration file (robot model, box '
                            "poses); '' = the simulated cell"))
    arm_action = param('arm.action', 'joint_trajectory_controller/follow_joint_trajectory',
                       'control_msgs/action/FollowJointTrajectory action name')
    gripper_action = param('gripper.action', 'gripper_controller/gripper_cmd',
                           'control_msgs/action/GripperCommand action name')
    max_opening = float(param('gripper.max_opening', 0.08, 'widest gripper opening (m)',
                              min_value=0.001, max_value=0.5))
    kw = dict(
        goal_tolerance=param('arm.goal_tolerance', 0.01, 'goal position tolerance (rad)',
                             min_value=0.0, max_value=1.0),
        path_tolerance=param('arm.path_tolerance', 0.0, 'path position tolerance (rad); 0 '
                             '= the controller default', min_value=0.0, max_value=3.2),
        goal_time_tolerance=param('arm.goal_time_tolerance', 0.5, 'goal_time_tolerance (s)',
                                  min_value=0.0, max_value=60.0),
        server_timeout=param('arm.server_timeout', 10.0, 'wait for servers, acceptance and '
                             'joint states (s)', min_value=0.1, max_value=600.0),
        timeout_factor=param('arm.timeout_factor', 4.0, 'trajectory deadline: factor * '
                             '(duration + goal time) + margin', min_value=1.0,
                             max_value=100.0),
        timeout_margin=param('arm.timeout_margin', 5.0, 'see arm.timeout_factor (s)',
                             min_value=0.0, max_value=600.0),
        gripper_timeout=param('arm.gripper_timeout', 5.0, 'deadline of a gripper goal (s)',
                              min_value=0.1, max_value=600.0),
        gripper_max_effort=param('arm.gripper_max_effort', 20.0, 'GripperCommand '
                                 'max_effort (N)', min_value=0.0, max_value=1000.0),
        gripper_position_scale=param('arm.gripper_position_scale', 1.0, 'GripperCommand '
                                     'position per metre of opening', min_value=1e-6,
                                     max_value=1e6))
    num_boxes = int(param('arm.num_boxes', 0, 'boxes of the simulated cell model; 0 = ask '
                          'the sim node', min_value=0, max_value=8))
    sim_node = str(param('arm.sim_node', 'sim', 'sim node to ask for num_boxes'))
    model, info, config = _planning_cell(node, cell_config, num_boxes, sim_node,
                                         min(kw['server_timeout'], 15.0))
    joints = list(param('arm.joints', list(info.arm_joint_names),
                        "the controller's joint names, in the planning model's order"))
    if len(joints) != len(info.arm_joint_names) or not all(joints):
        raise ValueError(f'arm.joints: {len(info.arm_joint_names)} joint names are needed for '
                         f'the planning model ({", ".join(info.arm_joint_names)}), got {joints}')
    spec = arm_spec_from_cell(info, max_opening=max_opening)

    def world_frame() -> str:
        # declared by the sorter's perception after the arm is made
        return (node.get_parameter('world_frame').value if node.has_parameter('world_frame')
                else 'world')

    backend = ControllerArmBackend(
        node.context, node.get_namespace(), f'{node.get_name()}_arm', joints,
        info.gripper_joint_names, arm_action=arm_action, gripper_action=gripper_action,
        world_frame=world_frame, use_sim_time=bool(node.get_parameter('use_sim_time').value),
        **kw)
    where = (f'{config.arm.model} cell of {config.source}' if config is not None
             else 'the simulated cell')
    node.get_logger().info(
        f'ros2_control arm: planning on {where} ({info.num_boxes} boxes), executing through '
        f'{backend.node.resolve_topic_name(backend.arm_action)} and '
        f'{backend.node.resolve_topic_name(backend.gripper_action)}')
    return PickPlaceManipulator(model, spec, backend, PickConfig())
