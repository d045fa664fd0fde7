"""The ros2_control arm on real rclpy/DDS: plans in-process, executes on the sim node
through its FollowJointTrajectory and GripperCommand action servers.

The object to pick is chosen with the sim's ground truth (test only); its mask comes from
the depth image alone (``relocate``), and the outcome is checked from the sim's physics.
"""
import os
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy')
os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from sorting_cell.manipulation.base import PickRequest  # noqa: E402
from sorting_cell.manipulation.grasp import relocate  # noqa: E402
from sorting_cell.frame_tree import FrameLookupError  # noqa: E402
from sorting_cell.nodes.conversions import camera_info_to_dict, depth_from_image  # noqa: E402
from sorting_cell.nodes.qos import sensor_qos  # noqa: E402
from sorting_cell.nodes.sim import SimNode  # noqa: E402
from sorting_cell.nodes.tf import StaticTransformBroadcaster, TransformListener  # noqa: E402,E501
from sorting_cell.nodes.ros2_control_arm import make_manipulator  # noqa: E402


@pytest.fixture
def made(ros):
    """``made.arm(host)`` / ``made.sim(**params)``, closed after the test even when it fails
    (before the harness shuts the context down)."""
    class Made:
        def arm(self, host):
            self.arms.append(make_manipulator(host))
            return self.arms[-1]

        def sim(self, **params):
            self.sims.append(ros.add(SimNode(context=ros.context,
                                             parameter_overrides=sim_params(**params))))
            # the camera's calibrated pose on /tf_static, as cell_frames latches it (its
            # 100 Hz TCP frames are left out: they would slow this process's sim)
            StaticTransformBroadcaster(ros.probe).send([
                ('world', 'camera_optical_frame',
                 self.sims[-1]._world.info.camera.T_world_camera)])
            return self.sims[-1]

    m = Made()
    m.arms, m.sims = [], []
    yield m
    for arm in m.arms:
        arm.stop()
        arm.backend.close()
    for sim in m.sims:
        sim.close()


def sim_params(**kw):
    values = dict(seed=7, num_boxes=4, n_objects=3, camera_rate=4.0, real_time_factor=0.0,
                  joint_state_rate=100.0, frame_id='camera_optical_frame')
    values.update(kw)
    return [Parameter(k, value=v) for k, v in values.items()]


class Camera:
    """Depth frames with the camera pose from tf (world -> camera_info's frame)."""

    def __init__(self, node: Node):
        self.lock = threading.Lock()
        self.depth = self.info = None
        node.create_subscription(Image, 'camera/depth', self._set('depth'), sensor_qos(depth=1))
        node.create_subscription(CameraInfo, 'camera/camera_info', self._set('info'),
                                 sensor_qos(depth=1))
        self.tf = TransformListener(node)

    def pose(self):
        try:
            return self.tf.lookup('world', self.info.header.frame_id)
        except FrameLookupError:
            return None

    def _set(self, attr):
        def cb(msg):
            with self.lock:
                setattr(self, attr, msg)
        return cb

    def ready(self):
        with self.lock:
            return self.depth is not None and self.info is not None and self.pose() is not None

    def frame(self):
        with self.lock:
            return depth_from_image(self.depth), camera_info_to_dict(self.info, self.pose())


def test_arm_picks_into_box_through_the_actions(ros, made):
    sim = made.sim()
    host = ros.add(Node('sorter', context=ros.context, parameter_overrides=[
        Parameter('use_sim_time', value=True)]))
    cam = Camera(ros.probe)
    arm = made.arm(host)           # asks the sim node for num_boxes
    assert len(arm.spec.boxes) == 4
    # use_sim_time is honoured: the arm's clock is the sim's /clock.
    ros.wait_for(lambda: abs(arm.backend.now() - sim._world.time) < 0.5, 10.0, 'sim time')
    ros.wait_for(cam.ready, 60.0, 'camera frames')
    arm.home()
    world = sim._world
    name = world.info.object_bodies[0]
    xy = world.object_poses()[name][0][:2]          # ground truth: which object to take
    depth, info = cam.frame()
    mask = relocate(depth, info, xy, radius=0.06)
    assert mask is not None and mask.sum() > 50
    out = arm.pick_and_place(PickRequest(name, 1, mask, depth, info))
    assert out.success, f'{out.reason}; log: {arm.last_log.events}'
    ros.wait_for(lambda: name in world.objects_in_box(1), 30.0, f'{name} in box 1')
    # A fresh look (re-perception after a failed grasp): depth newer than the call, the
    # camera pose from tf, which the sim's cell_frames publishes.
    snap = arm.backend.snapshot()
    assert snap is not None and snap.camera_info['frame_id'] == 'camera_optical_frame'
    np.testing.assert_allclose(snap.camera_info['T_world_camera'],
                               world.info.camera.T_world_camera, atol=1e-6)
    # Unreachable targets are reported without moving.
    far = arm.pick_and_place(PickRequest('far', 0, position=(1.4, 0.0, 0.02)))
    assert not far.success and far.reason.startswith('unreachable: ')


def test_arm_reports_missing_robot(ros, made):
    host = ros.add(Node('sorter', context=ros.context, parameter_overrides=[
        Parameter('arm.num_boxes', value=4), Parameter('arm.server_timeout', value=1.0)]))
    arm = made.arm(host)
    t0 = time.monotonic()
    out = arm.pick_and_place(PickRequest('x', 0, position=(0.5, 0.0, 0.02)))
    assert not out.success and out.reason.startswith('no_robot: no joint_states')
    assert time.monotonic() - t0 < 10.0


def test_stop_halts_a_running_pick(ros, made):
    import threading as th

    sim = made.sim(real_time_factor=1.0)
    host = ros.add(Node('sorter', context=ros.context))
    cam = Camera(ros.probe)
    arm = made.arm(host)
    ros.wait_for(cam.ready, 60.0, 'camera frames')
    world = sim._world
    name = world.info.object_bodies[1]
    depth, info = cam.frame()
    mask = relocate(depth, info, world.object_poses()[name][0][:2], radius=0.06)
    assert mask is not None
    result = {}
    worker = th.Thread(target=lambda: result.update(
        out=arm.pick_and_place(PickRequest(name, 0, mask, depth, info))))
    q0 = world.arm_positions()
    worker.start()
    ros.wait_for(lambda: abs(world.arm_positions() - q0).max() > 0.05, 30.0, 'arm moving')
    t0 = time.monotonic()
    arm.stop()
    worker.join(timeout=20.0)
    assert not worker.is_alive()
    assert time.monotonic() - t0 < 5.0
    assert result['out'].reason == 'stopped: goal cancelled'
    # The cancel reaches the controller asynchronously (later on a loaded machine): wait
    # until the arm is still, then check it stopped near where it was, far short of the
    # pre-grasp the trajectory was heading to.
    q_stop = world.arm_positions()
    last = [q_stop, time.monotonic()]

    def still():
        q, now = world.arm_positions(), time.monotonic()
        if abs(q - last[0]).max() > 0.002:
            last[:] = [q, now]
        return now - last[1] > 0.5
    ros.wait_for(still, 10.0, 'the arm held still')
    assert abs(world.arm_positions() - q_stop).max() < 0.1, 'the arm kept moving'


def test_arm_plans_on_the_cell_config(ros, made, tmp_path):
    """With ``cell_config`` (what `up robot` passes), the planning model is the configured
    robot with the configured boxes; an arm without a model fails at start, clearly."""
    import yaml

    from sorting_cell.sim.cell import UnsupportedRobotError
    robots = Path(__file__).resolve().parents[2] / 'config' / 'robots'
    data = yaml.safe_load((robots / 'ur5e.yaml').read_text())
    data['boxes'] = [{'position': [0.1, -0.5, 0.0], 'yaw': 0.3, 'size': [0.2, 0.16, 0.09]},
                     {'position': [-0.3, 0.4, 0.0]}]
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    host = ros.add(Node('sorter', context=ros.context, parameter_overrides=[
        Parameter('cell_config', value=str(tmp_path / 'cell.yaml')),
        Parameter('arm.joints', value=list(data['arm']['joints'])),
        Parameter('arm.action', value='/scaled_joint_trajectory_controller/'
                                      'follow_joint_trajectory'),
        Parameter('gripper.max_opening', value=0.085)]))
    arm = made.arm(host)
    np.testing.assert_allclose([(*b.center, *b.inner_half_size, b.yaw) for b in arm.spec.boxes],
                               [(0.1, -0.5, 0.1, 0.08, 0.3), (-0.3, 0.4, 0.09, 0.09, 0.0)])
    assert arm.spec.boxes[0].wall_top_z - arm.spec.boxes[0].floor_z == pytest.approx(0.09)
    assert arm.spec.max_opening == 0.085
    assert arm.backend.node.resolve_topic_name(arm.backend.arm_action) == \
        '/scaled_joint_trajectory_controller/follow_joint_trajectory'
    fr3 = ros.add(Node('fr3_sorter', context=ros.context, parameter_overrides=[
        Parameter('cell_config', value=str(robots / 'franka_fr3.yaml'))]))
    with pytest.raises(UnsupportedRobotError, match="no planning model for arm 'fr3'"):
        make_manipulator(fr3)
    bad = ros.add(Node('bad_sorter', context=ros.context, parameter_overrides=[
        Parameter('cell_config', value=str(tmp_path / 'cell.yaml')),
        Parameter('arm.joints', value=['a', 'b'])]))
    with pytest.raises(ValueError, match='arm.joints: 6 joint names are needed'):
        make_manipulator(bad)
