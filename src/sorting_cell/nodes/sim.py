"""Sim node: the MuJoCo cell as a ros2_control robot and an RGB-D camera on ROS topics.

Publishes (relative names)
- ``camera/image_raw`` sensor_msgs/Image rgb8, ``camera/depth`` sensor_msgs/Image 32FC1 (m),
  ``camera/camera_info`` sensor_msgs/CameraInfo -- every ``1 / camera_rate`` s of sim time;
- no camera pose: like a camera driver, the node names its optical frame (``frame_id``) and
  the pose comes from tf (``cell_frames``, or a calibration file through ``up robot``);
- ``camera/background`` sensor_msgs/Image rgb8, latched: the camera's view of the same cell
  without objects -- the empty-table frame a real cell grabs at start-up for the background
  proposer. Published at start-up and again after every ``sim/reset``;
- ``joint_states`` sensor_msgs/JointState (arm + two finger joints) at ``joint_state_rate``;
- ``/clock`` rosgraph_msgs/Clock with the simulation time (``publish_clock``); every message
  the node publishes is then stamped with simulation time, else with the node's clock
  (which follows ``use_sim_time``);
- ``sim/ground_truth`` std_msgs/String (JSON: ``seed``, ``sim_time`` (the clock),
  ``tray_time`` (since this tray's reset), ``objects``: body -> family, instance, current
  position and orientation, spawn yaw, box it lies in or -1), latched and refreshed every
  second of sim time, only when ``publish_ground_truth`` is true. For tests (where did each object end up?);
  the pipeline
  never subscribes to it.

Action servers, as a ros2_control robot offers them (:mod:`sorting_cell.sim.controllers`)
- ``<arm_controller>/follow_joint_trajectory`` control_msgs/action/FollowJointTrajectory
  (``arm_controller`` default ``joint_trajectory_controller``): the goal must name exactly
  the six arm joints (else aborted with ``INVALID_JOINTS``); malformed points, positions
  outside the joint limits or unknown tolerance joints abort with ``INVALID_GOAL``; a stamped
  goal whose end is past aborts with ``OLD_HEADER_TIMESTAMP``. It starts at its header stamp
  (zero: now); points with velocities are interpolated by cubic Hermite, otherwise linearly.
  Path tolerances (against the setpoint) are checked while it runs, goal tolerances within
  ``goal_time_tolerance`` after its end; a violation holds the arm where it is and aborts with
  ``PATH_TOLERANCE_VIOLATED`` / ``GOAL_TOLERANCE_VIOLATED`` and the joint and error in
  ``error_string``. Tolerances of 0 take the node's ``constraints.*`` defaults, negative ones
  are not checked. Feedback (desired / actual / error) every 50 ms. Cancelling holds the arm
  where it is; a new goal preempts the running one (aborted, ``INVALID_GOAL``, "preempted"),
  as ros2_control's controller does. ros2_control's controller *rejects* goals with wrong
  joints instead of aborting them: clients must handle both.
  The controller can be deactivated and activated at run time (parameter
  ``arm_controller_active``, the one parameter that is not read-only), as
  ``ros2 control switch_controllers`` does on a real cell: deactivating aborts the running
  goal (``INVALID_GOAL``, "Current goal cancelled during deactivate transition.") and the arm
  holds where it is; while inactive, every new goal is rejected.
- ``<gripper_controller>/gripper_cmd`` control_msgs/action/GripperCommand
  (``gripper_controller`` default ``gripper_controller``): ``command.position`` is the
  finger opening (m, 0..0.08); the goal ends when the opening is within
  ``gripper_tolerance`` (``reached_goal``) or the fingers stop short of it (``stalled``:
  holding something; succeeded when ``gripper_allow_stalling``, else aborted). Result and
  feedback: position, effort (N), stalled, reached_goal. A new goal preempts the running one.
  ``max_effort`` is not applied: the simulated finger servos have a fixed force range.

Subscribes
- ``sim/reset`` std_msgs/Int64: rebuild the tray with this seed (negative: the same seed).
  The clock runs on across a reset, as a real cell's does: every node that keeps messages
  by stamp (depth for an image, tf, a bag) would otherwise meet the old tray's stamps again.
  The boxes of the rebuilt cell are empty: ``boxes/emptied`` (std_msgs/Empty) says so.

Physics runs in its own thread at ``real_time_factor`` times real time (0 = as fast as
possible); ROS callbacks only queue commands for it. Camera frames are rendered in a second
thread from a copy of the state taken at the frame's sim time: when rendering cannot keep up
with ``camera_rate`` frames are dropped (counted on ``/diagnostics``), physics keeps its pace.

Run: ``python -m sorting_cell.nodes.sim --ros-args --params-file config/sim.yaml``.
"""
from __future__ import annotations

import functools
import json
import math
import os
import queue
import threading
import time

import mujoco
from builtin_interfaces.msg import Time
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Empty, Int64, String
from trajectory_msgs.msg import JointTrajectoryPoint

from sorting_cell import heap
from sorting_cell.sim import FAMILY_NAMES, SimWorld, TrajectoryError
from sorting_cell.sim.camera import CameraRenderer
from sorting_cell.sim.cell import build_cell
from sorting_cell.sim.controllers import (GripperExecution, Status, Tolerances,
                                          TrajectoryExecution)

from . import _rosio
from .controller_msgs import tolerance_array, trajectory_from_msg
from .conversions import numpy_to_image
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .params import descriptor
from .liveness import Heartbeat
from .qos import latched_qos, result_qos, sensor_qos

__all__ = ['SimNode', 'main', 'camera_info_from_spec']


def camera_info_from_spec(camera, stamp, frame_id: str) -> CameraInfo:
    """CameraInfo of a :class:`sorting_cell.sim.cell.CameraSpec` (ideal pinhole)."""
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(camera.width), int(camera.height)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    K = camera.K
    msg.k = [float(v) for v in K.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [float(K[0, 0]), 0.0, float(K[0, 2]), 0.0, 0.0, float(K[1, 1]), float(K[1, 2]), 0.0,
             0.0, 0.0, 1.0, 0.0]
    return msg


class SimNode(Node):
    """The simulated cell on ROS topics (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__('sim', **kwargs)
        p = self.declare_parameter
        # Read-only: the world is built once, at start-up (arm_controller_active, below, is
        # the exception).
        fixed_param = functools.partial(descriptor, read_only=True)
        p('seed', 0, fixed_param('tray layout and object draw seed'))
        p('num_boxes', 4, fixed_param('open boxes around the arm', int_range=(1, 8)))
        p('n_objects', -1, fixed_param('objects in the tray; -1 = three per family',
                                       int_range=(-1, 60)))
        p('families', '', fixed_param('comma-separated object families; empty = first '
                                      f'num_boxes of {", ".join(FAMILY_NAMES)}'))
        p('objects', 'primitives', fixed_param("what the objects are: 'primitives', 'tools' "
                                               '(the tool dataset\'s 28 tools), \'household\' '
                                               "(robosuite's kitchen objects, 5 x 3) or a "
                                               'folder of <category>/<instance>/ meshes'))
        p('width', 640, fixed_param('camera image width (px)', int_range=(16, 4096)))
        p('height', 480, fixed_param('camera image height (px)', int_range=(16, 4096)))
        p('camera_rate', 10.0, fixed_param('camera frames per second of sim time; 0 = off',
                                           float_range=(0.0, 60.0)))
        p('publish_depth', True, fixed_param('publish camera/depth (32FC1, m)'))
        p('joint_state_rate', 50.0, fixed_param('joint_states per second of sim time',
                                                float_range=(1.0, 500.0)))
        p('real_time_factor', 1.0, fixed_param('sim seconds per wall second; 0 = as fast as '
                                               'possible', float_range=(0.0, 100.0)))
        p('publish_clock', True, fixed_param('publish the simulation time on /clock'))
        p('publish_ground_truth', False, fixed_param('latched sim/ground_truth JSON for tests; '
                                                     'never used by the pipeline'))
        p('frame_id', 'camera', fixed_param('frame of the images and camera_info'))
        p('reliable', True, fixed_param('RELIABLE image QoS (best effort only with SHM)'))
        p('queue_depth', 5, fixed_param('image QoS depth', int_range=(1, 100)))
        p('arm_controller', 'joint_trajectory_controller',
          fixed_param('serves <arm_controller>/follow_joint_trajectory'))
        p('gripper_controller', 'gripper_controller',
          fixed_param('serves <gripper_controller>/gripper_cmd'))
        p('constraints.goal', 0.01, fixed_param('default goal position tolerance (rad); '
                                                '0 = not checked', float_range=(0.0, 3.2)))
        p('constraints.trajectory', 0.0, fixed_param('default path position tolerance (rad); '
                                                     '0 = not checked', float_range=(0.0, 3.2)))
        p('constraints.goal_time', 0.5, fixed_param('default goal_time_tolerance (s)',
                                                    float_range=(0.0, 60.0)))
        p('gripper_tolerance', 0.004, fixed_param('opening error that counts as reached (m)',
                                                  float_range=(0.0, 0.08)))
        p('gripper_allow_stalling', True, fixed_param('a stalled gripper goal succeeds '
                                                      '(else it is aborted)'))
        # Not read-only: what an operator's controller switch does to a running cell.
        p('arm_controller_active', True, descriptor(
            'the arm controller is active; false: deactivated (the running goal is aborted, '
            'new goals are rejected), as a controller switch does'))
        g = lambda name: self.get_parameter(name).value  # noqa: E731
        self._rtf = float(g('real_time_factor'))
        self._cam_period = 1.0 / g('camera_rate') if g('camera_rate') > 0 else math.inf
        self._js_period = 1.0 / float(g('joint_state_rate'))
        self._publish_depth = bool(g('publish_depth'))
        self._publish_clock = bool(g('publish_clock'))
        self._publish_gt = bool(g('publish_ground_truth'))
        self._frame_id = g('frame_id')
        self._defaults = {k: float(g(f'constraints.{k}'))
                          for k in ('goal', 'trajectory', 'goal_time')}
        self._gripper_tolerance = float(g('gripper_tolerance'))
        self._allow_stalling = bool(g('gripper_allow_stalling'))
        self._arm_active = bool(g('arm_controller_active'))
        self.add_on_set_parameters_callback(self._on_parameters)
        families = g('families').strip() or None
        n_objects = int(g('n_objects'))
        self._build_args = dict(num_boxes=int(g('num_boxes')), seed=int(g('seed')),
                                n_objects=None if n_objects < 0 else n_objects,
                                families=families, width=int(g('width')),
                                height=int(g('height')), objects=g('objects').strip() or None)
        os.environ.setdefault('MUJOCO_GL', 'egl')
        # Every reset frees a cell and a GL context from the physics and camera threads; with
        # glibc's default arena per thread that memory stayed mapped (see sorting_cell.heap).
        heap.limit_arenas(2)
        # Build here so that a bad parameter fails at start-up with its reason.
        self._world = SimWorld(**self._build_args)
        self._diag = Diagnostics(self, 'simulation', hardware_id='mujoco')

        img_qos = sensor_qos(best_effort=not g('reliable'), depth=int(g('queue_depth')))
        self._pub_rgb = self.create_publisher(Image, 'camera/image_raw', img_qos)
        self._pub_depth = self.create_publisher(Image, 'camera/depth', img_qos)
        self._pub_info = self.create_publisher(CameraInfo, 'camera/camera_info', img_qos)
        self._pub_background = self.create_publisher(Image, 'camera/background', latched_qos())
        self._pub_js = self.create_publisher(JointState, 'joint_states', result_qos())
        self._pub_clock = self.create_publisher(Clock, '/clock', 10)
        self._pub_gt = (self.create_publisher(String, 'sim/ground_truth', latched_qos())
                        if self._publish_gt else None)
        self._pub_emptied = self.create_publisher(Empty, 'boxes/emptied', 10)
        self.create_subscription(Int64, 'sim/reset', self._on_reset, 10)
        # Goals block their execute callback until the physics thread finishes them: a
        # reentrant group lets a new goal (preemption) and cancels in meanwhile.
        actions = ReentrantCallbackGroup()
        accept_cancel = lambda _: CancelResponse.ACCEPT  # noqa: E731
        self._arm_server = ActionServer(
            self, FollowJointTrajectory,
            f'{g("arm_controller")}/follow_joint_trajectory', self._execute_trajectory,
            goal_callback=self._on_arm_goal, cancel_callback=accept_cancel,
            callback_group=actions)
        self._gripper_server = ActionServer(
            self, GripperCommand, f'{g("gripper_controller")}/gripper_cmd',
            self._execute_gripper, goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=accept_cancel, callback_group=actions)
        self._arm_goal: _Goal | None = None         # physics thread only
        self._gripper_goal: _Goal | None = None     # physics thread only

        self._commands: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.frames_published = 0
        self.frames_dropped = 0
        self.realtime_achieved = float('nan')
        # Camera frames are rendered in their own thread from a copy of the state, so that
        # slow (software) rendering drops frames instead of slowing physics below real time.
        self._model_lock = threading.Lock()     # held while rendering and while rebuilding
        self._frame_ready = threading.Event()   # a state copy waits to be rendered
        self._render_data = mujoco.MjData(self._world.model)
        self._render_stamp = None
        self._clock_offset = 0.0   # sim time of the trays before this one (the clock runs on)
        self._background_due = threading.Event()   # the (new) tray's empty frame is owed
        self._background_due.set()
        self.backgrounds_published = 0
        self._publish_static()
        self._thread = threading.Thread(target=self._run, name='sim-physics', daemon=True)
        self._render_thread = threading.Thread(target=self._render_loop, name='sim-camera',
                                               daemon=True)
        self._thread.start()
        if self._cam_period < math.inf:
            self._render_thread.start()
        self.get_logger().info(
            f'sim up: {self._world.info.num_boxes} boxes, {len(self._world.info.object_bodies)} '
            f'objects (seed {self._build_args["seed"]}), camera {self._cam_period ** -1:.1f} Hz, '
            f'real_time_factor {self._rtf:g}')
        # last: beats only once the node is built (see nodes/liveness.py)
        self.heartbeat = Heartbeat(self)

    # ------------------------------------------------------------------ callbacks (any thread)
    def _on_parameters(self, params) -> SetParametersResult:
        for param in params:
            if param.name == 'arm_controller_active':
                active = bool(param.value)
                if active != self._arm_active:
                    self._arm_active = active
                    if not active:
                        self._commands.put(('arm_deactivate', None))
                    self.get_logger().info(
                        f'arm controller {"activated" if active else "deactivated"}')
        return SetParametersResult(successful=True)

    def _on_arm_goal(self, _goal) -> GoalResponse:
        if not self._arm_active:
            self.get_logger().warning(
                "Can't accept new action goals. Controller is not running.")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_trajectory(self, handle) -> FollowJointTrajectory.Result:
        """FollowJointTrajectory: validate, hand to the physics thread, follow it to its end."""
        goal: FollowJointTrajectory.Goal = handle.request
        R = FollowJointTrajectory.Result
        names = list(self._world.info.arm_joint_names)
        given = list(goal.trajectory.joint_names)
        if sorted(given) != sorted(names) or len(set(given)) != len(given):
            missing = [n for n in names if n not in given]
            unknown = [n for n in given if n not in names]
            return self._abort(handle, R(error_code=R.INVALID_JOINTS, error_string=(
                f'goal joints {given} are not the controller joints {names} (missing '
                f'{missing}, unknown {unknown})')))
        try:
            stamp = goal.trajectory.header.stamp
            offset = 0.0
            if stamp.sec or stamp.nanosec:
                offset = stamp.sec + stamp.nanosec * 1e-9 - self._sim_now()
            traj = trajectory_from_msg(goal.trajectory, offset)
            tolerances = Tolerances(
                tolerance_array(goal.path_tolerance, names, self._defaults['trajectory']),
                tolerance_array(goal.goal_tolerance, names, self._defaults['goal']),
                (goal.goal_time_tolerance.sec + goal.goal_time_tolerance.nanosec * 1e-9)
                or self._defaults['goal_time'])
        except TrajectoryError as exc:
            code = R.OLD_HEADER_TIMESTAMP if 'past' in str(exc) else R.INVALID_GOAL
            return self._abort(handle, R(error_code=code, error_string=str(exc)))
        except ValueError as exc:
            return self._abort(handle, R(error_code=R.INVALID_GOAL, error_string=str(exc)))
        job = _Goal('trajectory', (traj, tolerances))
        self._commands.put(('arm_goal', job))
        feedback = FollowJointTrajectory.Feedback(joint_names=names)
        while not job.done.wait(0.05):
            if not self._thread.is_alive():
                return self._abort(handle, R(error_code=R.INVALID_GOAL,
                                             error_string='the simulation stopped'))
            if handle.is_cancel_requested:
                self._commands.put(('arm_cancel', job))
            state = job.feedback
            if state is not None:
                desired, actual, vel = state
                feedback.header.stamp = self._stamp()
                feedback.desired = JointTrajectoryPoint(positions=desired.tolist())
                feedback.actual = JointTrajectoryPoint(positions=actual.tolist(),
                                                       velocities=vel.tolist())
                feedback.error = JointTrajectoryPoint(positions=(desired - actual).tolist())
                handle.publish_feedback(feedback)
        if job.status is Status.SUCCEEDED:
            handle.succeed()
            return R(error_code=R.SUCCESSFUL)
        if job.status is Status.CANCELED:
            handle.canceled()
            return R(error_code=R.SUCCESSFUL, error_string='cancelled: holding position')
        code = {Status.PATH_TOLERANCE_VIOLATED: R.PATH_TOLERANCE_VIOLATED,
                Status.GOAL_TOLERANCE_VIOLATED: R.GOAL_TOLERANCE_VIOLATED}.get(
                    job.status, R.INVALID_GOAL)
        return self._abort(handle, R(error_code=code, error_string=job.message))

    def _execute_gripper(self, handle) -> GripperCommand.Result:
        """GripperCommand: move the fingers; end when reached, stalled or preempted."""
        command = handle.request.command
        if not math.isfinite(command.position):
            handle.abort()
            return GripperCommand.Result()
        job = _Goal('gripper', float(command.position))
        self._commands.put(('gripper_goal', job))
        while not job.done.wait(0.05):
            if not self._thread.is_alive():
                handle.abort()
                return GripperCommand.Result()
            if handle.is_cancel_requested:
                self._commands.put(('gripper_cancel', job))
            if job.feedback is not None:
                handle.publish_feedback(GripperCommand.Feedback(**job.feedback))
        result = GripperCommand.Result(**(job.feedback or {}))
        if job.status is Status.SUCCEEDED or (job.status is Status.STALLED
                                              and self._allow_stalling):
            handle.succeed()
        elif job.status is Status.CANCELED:
            handle.canceled()
        else:
            handle.abort()
        return result

    @staticmethod
    def _abort(handle, result):
        handle.abort()
        return result

    def _on_reset(self, msg: Int64) -> None:
        self._commands.put(('reset', int(msg.data)))

    # ------------------------------------------------------------------ physics thread
    def _apply(self, kind: str, value) -> None:
        world = self._world
        if kind == 'arm_goal':
            if self._arm_goal is not None:
                self._arm_goal.finish(Status.PREEMPTED, 'preempted by a new goal')
            traj, tolerances = value.request
            try:
                value.execution = TrajectoryExecution(world, traj, tolerances)
            except TrajectoryError as exc:
                self._diag.update(WARN, f'rejected trajectory: {exc}')
                self._arm_goal = None
                value.finish(Status.INVALID, str(exc))
                return
            self._arm_goal = value
        elif kind == 'arm_cancel':
            if value is self._arm_goal:
                world.stop()    # controlled stop: hold where the arm is
                self._arm_goal = None
                value.finish(Status.CANCELED, 'cancelled')
        elif kind == 'arm_deactivate':
            if self._arm_goal is not None:
                world.stop()    # hold where the arm is
                self._arm_goal.finish(Status.PREEMPTED,
                                      'Current goal cancelled during deactivate transition.')
                self._arm_goal = None
        elif kind == 'gripper_goal':
            if self._gripper_goal is not None:
                self._gripper_goal.finish(Status.PREEMPTED, 'preempted by a new goal')
            value.execution = GripperExecution(world, value.request, self._gripper_tolerance)
            self._gripper_goal = value
        elif kind == 'gripper_cancel':
            if value is self._gripper_goal:
                world.set_gripper(world.gripper_width())
                self._gripper_goal = None
                value.finish(Status.CANCELED, 'cancelled')
        elif kind == 'reset':
            seed = value if value >= 0 else self._build_args['seed']
            self._build_args['seed'] = seed
            for job in (self._arm_goal, self._gripper_goal):
                if job is not None:
                    job.finish(Status.PREEMPTED, 'the simulation was reset')
            self._arm_goal = self._gripper_goal = None
            with self._model_lock:
                self._clock_offset += world.time
                world.reset(seed=seed)
                self._render_data = mujoco.MjData(world.model)
                self._frame_ready.clear()
                self._background_due.set()
            heap.trim()
            self._publish_static()
            # the rebuilt cell's boxes are empty: whoever counts their contents must know
            self._pub_emptied.publish(Empty())
            self.get_logger().info(f'tray reset with seed {seed}')

    def _run(self) -> None:
        world = self._world
        try:
            chunk = max(1, int(round(0.01 / world.timestep)))   # 100 Hz command/publish tick
            next_js = next_cam = next_gt = world.time
            wall0, sim0 = time.monotonic(), world.time
            last_report = wall0
            while not self._stop.is_set():
                rebuilt = False
                while True:
                    try:
                        kind, value = self._commands.get_nowait()
                    except queue.Empty:
                        break
                    self._apply(kind, value)
                    rebuilt |= kind == 'reset'
                    if self._stop.is_set():
                        return
                if rebuilt:   # the world restarted at t = 0
                    next_js = next_cam = next_gt = sim0 = world.time
                    wall0 = time.monotonic()
                world.step(chunk)
                self._update_goals()
                now_sim = world.time
                if now_sim >= next_js:
                    self._publish_joint_state()
                    next_js += self._js_period * max(1, math.floor((now_sim - next_js)
                                                                   / self._js_period) + 1)
                if self._pub_gt is not None and now_sim >= next_gt:
                    self._publish_ground_truth()
                    next_gt = now_sim + 1.0
                if now_sim >= next_cam:
                    self._request_frame()
                    next_cam += self._cam_period * max(1, math.floor((now_sim - next_cam)
                                                                     / self._cam_period) + 1)
                wall = time.monotonic()
                if self._rtf > 0:
                    ahead = (now_sim - sim0) / self._rtf - (wall - wall0)
                    if ahead > 0:
                        self._stop.wait(ahead)
                if wall - last_report > 2.0:
                    self.realtime_achieved = (now_sim - sim0) / max(wall - wall0, 1e-9)
                    self._diag.update(OK, 'running', sim_time=f'{now_sim:.2f}',
                                      realtime_factor=f'{self.realtime_achieved:.2f}',
                                      frames=self.frames_published,
                                      frames_dropped=self.frames_dropped)
                    last_report = wall
        except Exception as exc:  # noqa: BLE001 -- keep the node alive to report it
            if self._stop.is_set() or not self.context.ok():
                return   # shutting down (Ctrl-C, SIGTERM): publishers are already gone
            self.get_logger().error(f'simulation stopped: {type(exc).__name__}: {exc}')
            self._diag.update(ERROR, f'simulation stopped: {exc}')

    def _update_goals(self) -> None:
        """Advance the controller goals by one physics chunk (physics thread)."""
        job = self._arm_goal
        if job is not None:
            status = job.execution.update()
            job.feedback = job.execution.feedback()
            if status is not Status.RUNNING:
                self._arm_goal = None
                job.finish(status, job.execution.message)
        job = self._gripper_goal
        if job is not None:
            ex = job.execution
            status = ex.update()
            job.feedback = dict(position=ex.width(), effort=ex.effort(),
                                stalled=status is Status.STALLED, reached_goal=ex.reached())
            if status is not Status.RUNNING:
                self._gripper_goal = None
                job.finish(status, '')

    def _request_frame(self) -> None:
        """Hand the current state to the camera thread, or drop the frame if it is busy."""
        if self._frame_ready.is_set():
            self.frames_dropped += 1
            return
        mujoco.mj_copyData(self._render_data, self._world.model, self._world.data)
        self._render_stamp = self._stamp()
        self._frame_ready.set()

    def _render_loop(self) -> None:
        renderer, model = None, None
        try:
            while not self._stop.is_set():
                if self._background_due.is_set():
                    self._publish_background()
                if not self._frame_ready.wait(timeout=0.1):
                    continue
                with self._model_lock:
                    if not self._frame_ready.is_set():   # cleared by a reset meanwhile
                        continue
                    if model is not self._world.model:
                        if renderer is not None:
                            renderer.close()
                        model = self._world.model
                        renderer = CameraRenderer(model, self._world.info.camera)
                        heap.trim()   # the old model's GL context and shaders are freed
                    frame = renderer.render(self._render_data, depth=self._publish_depth)
                    stamp = self._render_stamp
                    self._frame_ready.clear()
                self._publish_camera(frame, stamp)
        except Exception as exc:  # noqa: BLE001 -- keep the node alive to report it
            if self._stop.is_set() or not self.context.ok():
                return
            self.get_logger().error(f'camera stopped: {type(exc).__name__}: {exc}')
            self._diag.update(ERROR, f'camera stopped: {exc}')
        finally:
            if renderer is not None:
                renderer.close()   # the GL context belongs to this thread

    def _publish_background(self) -> None:
        """Render and latch the empty cell (camera thread: it owns the GL contexts).

        The same cell built without objects -- same boxes, camera and image size -- stands in
        for the frame a real cell takes of its empty table before objects are put down.
        """
        with self._model_lock:
            self._background_due.clear()
            args = dict(self._build_args, n_objects=0)
        model, data, info = build_cell(**args)
        renderer = CameraRenderer(model, info.camera)
        try:
            rgb = renderer.render(data, depth=False).rgb
        finally:
            renderer.close()
        del model, data
        heap.trim()
        msg = numpy_to_image(rgb, 'rgb8')
        msg.header.stamp, msg.header.frame_id = self._stamp(), self._frame_id
        self._pub_background.publish(msg)
        self.backgrounds_published += 1
        self.get_logger().info(f'published camera/background (empty cell, seed '
                               f'{args["seed"]})')

    def _sim_now(self) -> float:
        """The time messages are stamped with, s."""
        if self._publish_clock:
            return self._clock_offset + self._world.time
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp(self) -> Time:
        # The sim is the clock when it publishes /clock; else the node's clock (wall time,
        # or /clock from elsewhere with use_sim_time).
        if self._publish_clock:
            t = self._sim_now()
            return Time(sec=int(t), nanosec=int((t - int(t)) * 1e9))
        return self.get_clock().now().to_msg()

    def _publish_joint_state(self) -> None:
        names, pos, vel = self._world.joint_state()
        msg = JointState()
        msg.header.stamp = self._stamp()
        msg.name = names
        msg.position = pos.tolist()
        msg.velocity = vel.tolist()
        self._pub_js.publish(msg)
        if self._publish_clock:
            self._pub_clock.publish(Clock(clock=msg.header.stamp))

    def _publish_camera(self, frame, stamp) -> None:
        rgb = numpy_to_image(frame.rgb, 'rgb8')
        rgb.header.stamp, rgb.header.frame_id = stamp, self._frame_id
        self._pub_rgb.publish(rgb)
        if frame.depth is not None:
            depth = numpy_to_image(frame.depth, '32FC1')
            depth.header.stamp, depth.header.frame_id = stamp, self._frame_id
            self._pub_depth.publish(depth)
        self._pub_info.publish(camera_info_from_spec(self._world.info.camera, stamp,
                                                     self._frame_id))
        self.frames_published += 1

    def _publish_static(self) -> None:
        if self._pub_gt is not None:
            self._publish_ground_truth()

    def _publish_ground_truth(self) -> None:
        world = self._world
        poses = world.object_poses()
        box_of = {name: b for b in range(world.info.num_boxes)
                  for name in world.objects_in_box(b)}
        truth = {t.body: {'family': t.family,
                          'position': [float(v) for v in poses[t.body][0]],
                          'quat': [float(v) for v in poses[t.body][1]],
                          'instance': t.spec.instance,
                          'yaw': t.placement.yaw, 'box': box_of.get(t.body, -1)}
                 for t in world.info.ground_truth}
        self._pub_gt.publish(String(data=json.dumps(
            {'seed': self._build_args['seed'],
             'sim_time': round(self._clock_offset + world.time, 3),   # the clock, runs on
             'tray_time': round(world.time, 3),                      # since this tray's reset
             'objects': truth})))

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop the physics thread (it releases the renderer)."""
        self._stop.set()
        for thread in (self._thread, self._render_thread):
            if thread.is_alive():
                thread.join(timeout=10.0)


class _Goal:
    """One action goal handed from an execute callback to the physics thread."""

    def __init__(self, kind: str, request):
        self.kind, self.request = kind, request
        self.execution = None
        self.feedback = None
        self.status = Status.RUNNING
        self.message = ''
        self.done = threading.Event()

    def finish(self, status: Status, message: str) -> None:
        self.status, self.message = status, message
        self.done.set()


def main(args=None) -> int:
    # Action goals block their callback until done: spin on several threads.
    return _rosio.run(SimNode, args, threads=4)


if __name__ == '__main__':
    raise SystemExit(main())
