"""Sim node in-process on real rclpy/DDS: sensors come out, the arm and gripper are driven
through the ros2_control actions (FollowJointTrajectory, GripperCommand)."""
import json
import os
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
os.environ.setdefault('MUJOCO_GL', 'egl')

from builtin_interfaces.msg import Duration  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from control_msgs.action import FollowJointTrajectory, GripperCommand  # noqa: E402
from control_msgs.msg import JointTolerance  # noqa: E402
from rosproc import domain_for  # noqa: E402  (test/nodes is on the path: conftest)
from rclpy.action import ActionClient  # noqa: E402
from std_msgs.msg import Empty, Int64, String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

from sorting_cell.nodes.conversions import depth_from_image, rgb_from_image  # noqa: E402
from sorting_cell.nodes.qos import latched_qos, sensor_qos  # noqa: E402
from sorting_cell.nodes.sim import SimNode  # noqa: E402
from sorting_cell.sim.cell import ARM_JOINTS, HOME_QPOS  # noqa: E402


class Probe:
    """A second node recording the latest message of each topic."""

    def __init__(self, context):
        self.node = rclpy.create_node('sim_probe', context=context)
        self.last, self.count = {}, {}
        self.lock = threading.RLock()   # predicates of wait() may take it again
        for topic, typ, qos in [('camera/image_raw', Image, sensor_qos()),
                                ('camera/depth', Image, sensor_qos()),
                                ('camera/camera_info', CameraInfo, sensor_qos()),
                                ('camera/background', Image, latched_qos()),
                                ('joint_states', JointState, 10),
                                ('sim/ground_truth', String, latched_qos()),
                                ('boxes/emptied', Empty, 10)]:
            self.node.create_subscription(typ, topic, self._store(topic), qos)
        self.arm = ActionClient(self.node, FollowJointTrajectory,
                                'joint_trajectory_controller/follow_joint_trajectory')
        self.grip = ActionClient(self.node, GripperCommand, 'gripper_controller/gripper_cmd')
        self.reset = self.node.create_publisher(Int64, 'sim/reset', 10)
        # Its own single-threaded executor: action client calls are made on it (see call()).
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, fn):
        """The future of an action client ``*_async`` call, made on the spin thread: rclpy
        drops a response that the spin thread handles before the call has stored its
        future."""
        return _wait(self.executor.create_task(fn), 10.0)

    def _store(self, topic):
        def cb(msg):
            with self.lock:
                self.last[topic] = msg
                self.count[topic] = self.count.get(topic, 0) + 1
        return cb

    def wait(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.02)
        return False


@pytest.fixture(scope='module')
def cell():
    # a domain of our own (set before init, restored after) keeps parallel runs apart
    saved = {k: os.environ.get(k) for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
    os.environ['ROS_DOMAIN_ID'] = str(domain_for('test_sim_node'))
    context = rclpy.Context()
    rclpy.init(context=context)
    # The sim's execute callbacks block until their goal ends (one thread each).
    executor = MultiThreadedExecutor(num_threads=5, context=context)
    sim = SimNode(context=context, parameter_overrides=[
        Parameter('seed', value=5), Parameter('num_boxes', value=3),
        Parameter('n_objects', value=6), Parameter('camera_rate', value=5.0),
        Parameter('real_time_factor', value=1.0), Parameter('publish_ground_truth', value=True)])
    probe = Probe(context)
    executor.add_node(sim)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield sim, probe
    finally:
        sim.close()
        executor.shutdown(timeout_sec=5)
        probe.executor.shutdown(timeout_sec=5)
        spinner.join(timeout=5)
        sim.destroy_node()
        probe.node.destroy_node()
        rclpy.try_shutdown(context=context)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_publishes_calibrated_rgbd_and_joint_states(cell):
    sim, probe = cell
    topics = ['camera/image_raw', 'camera/depth', 'camera/camera_info', 'joint_states',
              'sim/ground_truth']
    assert probe.wait(lambda: all(t in probe.last for t in topics)), \
        f'missing: {[t for t in topics if t not in probe.last]}'
    rgb = rgb_from_image(probe.last['camera/image_raw'])
    depth = depth_from_image(probe.last['camera/depth'])
    info = probe.last['camera/camera_info']
    assert rgb.shape == (480, 640, 3) and depth.shape == (480, 640)
    assert probe.last['camera/image_raw'].encoding == 'rgb8'
    assert probe.last['camera/depth'].encoding == '32FC1'
    # the tray is 0.60 m below the camera; objects stand at most a few cm above it
    assert 0.55 < float(np.median(depth)) < 0.61
    K = np.array(info.k).reshape(3, 3)
    np.testing.assert_allclose(K, sim._world.info.camera.K)
    # Like a camera driver the sim names its optical frame; the pose is tf's business.
    assert info.header.frame_id == sim.get_parameter('frame_id').value
    assert not any(name.endswith('camera/pose')
                   for name, _ in probe.node.get_topic_names_and_types())
    js = probe.last['joint_states']
    assert list(js.name[:6]) == list(ARM_JOINTS) and len(js.position) == 8
    np.testing.assert_allclose(js.position[:6], HOME_QPOS, atol=0.02)
    truth = json.loads(probe.last['sim/ground_truth'].data)
    assert truth['seed'] == 5 and len(truth['objects']) == 6


def test_latched_background_is_the_empty_cell(cell):
    sim, probe = cell
    assert probe.wait(lambda: 'camera/background' in probe.last
                      and 'camera/image_raw' in probe.last), 'no camera/background'
    # Latched: a subscriber that joins now still gets it, once.
    late, got = rclpy.create_node('late_probe', context=sim.context), []
    late.create_subscription(Image, 'camera/background', got.append, latched_qos())
    sim.executor.add_node(late)
    try:
        assert probe.wait(lambda: got, 10), 'latched background not replayed to a late joiner'
    finally:
        sim.executor.remove_node(late)
        late.destroy_node()
    with probe.lock:
        bg_msg, frame = probe.last['camera/background'], probe.last['camera/image_raw']
    assert bg_msg.encoding == 'rgb8' and bg_msg.header.frame_id == frame.header.frame_id
    bg, rgb = rgb_from_image(bg_msg), rgb_from_image(frame)
    assert bg.shape == rgb.shape == (480, 640, 3)
    # Same cell, same camera, no objects: frame and background differ only where objects
    # lie, i.e. inside the tray, over a few percent of the image.
    changed = np.abs(bg.astype(int) - rgb.astype(int)).max(axis=2) > 25
    assert 0.005 < changed.mean() < 0.2, changed.mean()
    ys, xs = np.nonzero(changed)
    uv = np.stack([xs, ys], 1)
    tray = _tray_pixels(sim)
    inside = ((uv >= tray[0]) & (uv <= tray[1])).all(axis=1)
    assert inside.mean() > 0.99, f'{(~inside).sum()} changed pixels outside the tray'


def _tray_pixels(sim):
    from sorting_cell.sim.camera import project
    x0, y0, x1, y1 = sim._world.info.tray
    corners = np.array([[x, y, 0.0] for x in (x0, x1) for y in (y0, y1)])
    uv = project(corners, sim._world.info.camera)
    return uv.min(0) - 5, uv.max(0) + 5


def test_reset_republishes_background(cell):
    sim, probe = cell
    assert probe.wait(lambda: probe.count.get('camera/background', 0) >= 1, 10)
    n = probe.count['camera/background']
    probe.reset.publish(Int64(data=-1))
    assert probe.wait(lambda: probe.count['camera/background'] > n, 20), \
        'no camera/background after sim/reset'


def _wait(future, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < deadline, 'timed out waiting for the action server'
        time.sleep(0.01)
    return future.result()


def _send(probe, client, goal, feedback=None):
    """Send ``goal``; the accepted goal handle."""
    assert client.wait_for_server(timeout_sec=10.0), 'action server not up'
    handle = _wait(probe.call(lambda: client.send_goal_async(goal,
                                                             feedback_callback=feedback)))
    assert handle.accepted
    return handle


def _result(probe, handle, timeout=20.0):
    return _wait(probe.call(handle.get_result_async), timeout)


def _arm_goal(points, names=ARM_JOINTS):
    goal = FollowJointTrajectory.Goal()
    goal.trajectory.joint_names = list(names)
    for t, q in points:
        goal.trajectory.points.append(JointTrajectoryPoint(
            positions=[float(v) for v in q],
            time_from_start=Duration(sec=int(t), nanosec=int(round((t % 1) * 1e9)))))
    return goal


def _arm_now(probe):
    assert probe.wait(lambda: 'joint_states' in probe.last), 'no joint_states from the sim'
    with probe.lock:
        return np.array(probe.last['joint_states'].position[:6])


def test_follows_trajectory_with_feedback_and_goal_tolerance(cell):
    sim, probe = cell
    assert probe.wait(lambda: 'joint_states' in probe.last)
    start = _arm_now(probe)
    goal_q = HOME_QPOS + np.array([0.5, 0.2, -0.2, 0.1, 0.0, 0.6])
    goal = _arm_goal([(0.6, (start + goal_q) / 2), (1.2, goal_q)])
    goal.goal_tolerance = [JointTolerance(name=j, position=0.01) for j in ARM_JOINTS]
    feedback = []
    handle = _send(probe, probe.arm, goal, feedback.append)
    result = _result(probe, handle, 30.0)
    assert result.status == 4, result   # SUCCEEDED
    assert result.result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    assert np.abs(_arm_now(probe) - goal_q).max() < 0.02
    assert feedback, 'no feedback while the trajectory ran'
    fb = feedback[-1].feedback
    assert list(fb.joint_names) == list(ARM_JOINTS) and len(fb.actual.positions) == 6
    # Sim time: feedback is stamped with the simulation clock.
    assert fb.header.stamp.sec < 10_000


def test_gripper_command_reaches_its_opening(cell):
    sim, probe = cell
    for width in (0.03, 0.08):
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = width, 20.0
        result = _result(probe, _send(probe, probe.grip, goal))
        assert result.status == 4, result
        assert result.result.reached_goal and not result.result.stalled
        assert abs(result.result.position - width) <= 0.004


def test_wrong_joints_and_bad_goals_abort_with_their_error_codes(cell):
    sim, probe = cell
    R = FollowJointTrajectory.Result
    bad_names = _arm_goal([(1.0, [0.0])], names=['no_such_joint'])
    res = _result(probe, _send(probe, probe.arm, bad_names))
    assert res.status == 6 and res.result.error_code == R.INVALID_JOINTS   # ABORTED
    assert 'no_such_joint' in res.result.error_string
    outside = _arm_goal([(1.0, HOME_QPOS + np.array([0, 0, 0, 0, 0, 40.0]))])
    res = _result(probe, _send(probe, probe.arm, outside))
    assert res.status == 6 and res.result.error_code == R.INVALID_GOAL
    assert 'outside' in res.result.error_string
    # A stamped goal that ended in the past.
    old = _arm_goal([(0.1, _arm_now(probe))])
    old.trajectory.header.stamp.sec = 1
    with probe.lock:
        now = probe.last['joint_states'].header.stamp.sec
    assert now >= 2 or probe.wait(lambda: probe.last['joint_states'].header.stamp.sec >= 2)
    res = _result(probe, _send(probe, probe.arm, old))
    assert res.status == 6 and res.result.error_code == R.OLD_HEADER_TIMESTAMP
    assert sim._thread.is_alive()


def test_path_tolerance_violation_aborts_and_holds(cell):
    sim, probe = cell
    start = _arm_now(probe)
    goal = _arm_goal([(1.0, start + np.array([0.6, 0, 0, 0, 0, 0]))])
    # The servos lag the setpoint by more than 0.1 mrad while moving.
    goal.path_tolerance = [JointTolerance(name=j, position=1e-4) for j in ARM_JOINTS]
    res = _result(probe, _send(probe, probe.arm, goal))
    assert res.status == 6, res
    assert res.result.error_code == FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
    assert 'path tolerance' in res.result.error_string
    held = _arm_now(probe)
    assert np.abs(held - start).max() < 0.3, 'the arm went on after the abort'


def test_goal_tolerance_not_met_in_goal_time_aborts(cell):
    sim, probe = cell
    start = _arm_now(probe)
    goal = _arm_goal([(0.5, start + np.array([0, 0, 0, 0, 0, 0.3]))])
    # Position servos never settle to 1 nrad: the goal must fail after the goal time.
    goal.goal_tolerance = [JointTolerance(name=j, position=1e-9) for j in ARM_JOINTS]
    goal.goal_time_tolerance = Duration(nanosec=200_000_000)
    res = _result(probe, _send(probe, probe.arm, goal))
    assert res.status == 6, res
    assert res.result.error_code == FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
    assert '0.20 s after the trajectory end' in res.result.error_string


def test_new_goal_preempts_and_cancel_holds(cell):
    sim, probe = cell
    start = _arm_now(probe)
    slow = _arm_goal([(4.0, start + np.array([0.8, 0, 0, 0, 0, 0]))])
    first = _send(probe, probe.arm, slow)
    first_result = probe.call(first.get_result_async)
    assert probe.wait(lambda: abs(_arm_now(probe)[0] - start[0]) > 0.02, 10), 'not moving'
    back = _arm_goal([(3.0, start)])
    second = _send(probe, probe.arm, back)
    res = _wait(first_result)
    assert res.status == 6 and 'preempted' in res.result.error_string
    assert probe.wait(lambda: abs(_arm_now(probe)[0] - start[0]) > 0.01, 10)
    cancel = _wait(probe.call(second.cancel_goal_async))
    assert len(cancel.goals_canceling) == 1
    res = _result(probe, second)
    assert res.status == 5, res   # CANCELED
    held = _arm_now(probe)
    time.sleep(0.5)   # the arm must stay where it stopped (a hold, not a stall of the test)
    assert np.abs(_arm_now(probe) - held).max() < 0.02
    assert np.abs(held - start).max() > 0.005, 'cancelled only after arriving'


def _set_arm_controller(probe, active: bool) -> None:
    """Over the sim's parameter service, as ``ros2 param set`` would."""
    client = AsyncParameterClient(probe.node, 'sim')
    assert client.wait_for_services(timeout_sec=10.0), 'no parameter service on the sim'
    response = _wait(probe.call(lambda: client.set_parameters(
        [Parameter('arm_controller_active', value=active)])))
    assert response.results[0].successful, response


def test_a_deactivated_controller_aborts_its_goal_and_rejects_new_ones(cell):
    """What a controller switch does to ros2_control's trajectory controller."""
    sim, probe = cell
    start = _arm_now(probe)
    slow = _arm_goal([(4.0, start + np.array([0.8, 0, 0, 0, 0, 0]))])
    handle = _send(probe, probe.arm, slow)
    result = probe.call(handle.get_result_async)
    assert probe.wait(lambda: abs(_arm_now(probe)[0] - start[0]) > 0.02, 10), 'not moving'
    try:
        _set_arm_controller(probe, False)
        res = _wait(result)
        assert res.status == 6, res   # ABORTED
        assert res.result.error_code == FollowJointTrajectory.Result.INVALID_GOAL
        assert 'deactivate' in res.result.error_string
        held = _arm_now(probe)
        time.sleep(0.5)   # the arm must stay where it stopped
        assert np.abs(_arm_now(probe) - held).max() < 0.02
        assert abs(held[0] - start[0]) < 0.7, 'the arm went on after the abort'
        rejected = _wait(probe.call(lambda: probe.arm.send_goal_async(_arm_goal([(1.0, start)]))))
        assert not rejected.accepted
    finally:
        _set_arm_controller(probe, True)
    back = _result(probe, _send(probe, probe.arm, _arm_goal([(2.0, start)])), 30.0)
    assert back.status == 4, back


def test_reset_respawns_tray(cell):
    sim, probe = cell
    emptied = probe.count.get('boxes/emptied', 0)
    probe.reset.publish(Int64(data=9))
    assert probe.wait(lambda: json.loads(probe.last['sim/ground_truth'].data)['seed'] == 9, 20)
    # the new tray's boxes are empty, and the sim says so (the sorter's arm recounts)
    assert probe.wait(lambda: probe.count.get('boxes/emptied', 0) > emptied, 20)


def test_the_clock_runs_on_across_a_reset(cell):
    """A new tray restarts the tray's time, not the clock: nodes that keep messages by stamp
    (the sorter pairs an image with the depth of its own stamp) never meet an old tray's
    stamps again."""
    sim, probe = cell

    def stamp(topic):
        s = probe.last[topic].header.stamp
        return s.sec + s.nanosec * 1e-9

    assert probe.wait(lambda: 'camera/depth' in probe.last
                      and json.loads(probe.last['sim/ground_truth'].data)['tray_time'] > 0.5)
    before = json.loads(probe.last['sim/ground_truth'].data)
    depth_before = stamp('camera/depth')
    probe.reset.publish(Int64(data=21))
    assert probe.wait(lambda: json.loads(probe.last['sim/ground_truth'].data)['seed'] == 21, 20)
    after = json.loads(probe.last['sim/ground_truth'].data)
    assert after['tray_time'] < before['tray_time'] and after['sim_time'] >= before['sim_time']
    assert probe.wait(lambda: stamp('camera/depth') > depth_before + 0.1, 20), \
        'no frame of the new tray stamped after the old one'


def test_joint_states_and_frames_continue_after_reset(cell):
    sim, probe = cell
    probe.reset.publish(Int64(data=12))
    assert probe.wait(lambda: json.loads(probe.last['sim/ground_truth'].data)['seed'] == 12, 20)
    time.sleep(1.0)
    n_js, n_img = probe.count['joint_states'], probe.count['camera/image_raw']
    assert probe.wait(lambda: probe.count['joint_states'] > n_js + 10
                      and probe.count['camera/image_raw'] > n_img, 20)
