"""tf over tf2_msgs/TFMessage: latched /tf_static for late joiners, the listener's tree, the
cell_frames node (sim: true camera pose, TCP from joint_states; boxes as markers), and the
proposals node putting detections in 3-D from tf."""
from pathlib import Path

import numpy as np
from rclpy.node import Node
from rclpy.parameter import Parameter
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image, JointState
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scenes import make_scene
from sorting_cell.nodes.cell_frames import CellFramesNode
from sorting_cell.nodes.conversions import numpy_to_image
from sorting_cell.nodes.proposals import ProposalsNode
from sorting_cell.nodes.qos import latched_qos, result_qos, sensor_qos, tf_static_qos
from sorting_cell.nodes.tf import (StaticTransformBroadcaster, TransformBroadcaster,
                                   TransformListener)
from sorting_cell.transforms import make_transform, rotation_error_deg, translation_error
from sorting_cell_interfaces.msg import Detections


def _pose(seed):
    rng = np.random.default_rng(seed)
    return make_transform(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))


def test_late_subscriber_gets_every_static_transform(ros):
    A, B = _pose(0), _pose(1)
    talker = ros.add(Node('talker', context=ros.context))
    static = StaticTransformBroadcaster(talker)
    static.send([('world', 'base_link', A)])
    static.send([('base_link', 'camera_optical_frame', B)])   # accumulates, as tf2 does
    # joins after both sends, with the QoS tf2's listener uses
    got = []
    ros.probe.create_subscription(TFMessage, '/tf_static', got.append, tf_static_qos(100))
    ros.wait_for(lambda: got, 10, 'latched /tf_static')
    assert {(t.header.frame_id, t.child_frame_id) for t in got[-1].transforms} == {
        ('world', 'base_link'), ('base_link', 'camera_optical_frame')}
    listener = TransformListener(ros.add(Node('listener', context=ros.context)))
    ros.wait_for(lambda: listener.tree.can_transform('world', 'camera_optical_frame'), 10,
                 'lookup')
    T = listener.lookup('world', 'camera_optical_frame')
    np.testing.assert_allclose(T, A @ B, atol=1e-9)
    # /tf (volatile): the moving TCP, newest wins
    dyn = TransformBroadcaster(talker)
    ros.wait_for(lambda: talker.count_subscribers('/tf') > 0, 10, 'listener on /tf')
    dyn.send([('base_link', 'tcp', A)])
    ros.wait_for(lambda: listener.tree.can_transform('world', 'tcp'), 10, 'tcp on /tf')
    np.testing.assert_allclose(listener.lookup('base_link', 'tcp'), A, atol=1e-9)


def test_listener_drops_a_broken_transform_and_keeps_the_rest(ros):
    talker = ros.add(Node('talker', context=ros.context))
    listener = TransformListener(ros.add(Node('listener', context=ros.context)))
    static = StaticTransformBroadcaster(talker)
    from sorting_cell.nodes.tf import to_msg
    bad = to_msg('world', 'broken', np.eye(4), talker.get_clock().now().to_msg())
    bad.transform.rotation.w = 0.0   # zero quaternion
    static.send([bad, ('world', 'ok', _pose(2))])
    ros.wait_for(lambda: listener.tree.can_transform('world', 'ok'), 10, 'good transform')
    assert 'broken' not in listener.tree.frames()


def test_cell_frames_sim_publishes_true_camera_tcp_and_box_markers(ros):
    pytest_mujoco = __import__('pytest').importorskip('mujoco')
    from sorting_cell.sim.cell import build_cell
    model, data, info = build_cell(num_boxes=3, n_objects=0)
    markers = []
    ros.probe.create_subscription(MarkerArray, 'boxes/markers', markers.append, latched_qos())
    node = ros.add(CellFramesNode(context=ros.context, parameter_overrides=[
        Parameter('num_boxes', value=3)]))
    listener = TransformListener(ros.add(Node('listener', context=ros.context)))
    ros.wait_for(lambda: listener.tree.can_transform('world', 'camera_optical_frame'), 10,
                 'camera tf')
    T = listener.lookup('world', 'camera_optical_frame')
    assert translation_error(T, info.camera.T_world_camera) < 1e-6
    assert rotation_error_deg(T, info.camera.T_world_camera) < 1e-4
    box2 = listener.lookup('base_link', 'box2')
    np.testing.assert_allclose(box2[:3, 3], info.boxes[2].center, atol=1e-6)
    ros.wait_for(lambda: markers, 10, 'box markers')
    cubes = [m for m in markers[-1].markers if m.type == Marker.CUBE]
    assert len(cubes) == 3 and cubes[0].header.frame_id == 'base_link'
    # TCP from joint_states: forward kinematics of the simulated arm
    q = np.array([0.3, -1.6, 1.7, -1.7, -1.57, 0.4])
    data.qpos[info.arm_qpos_adr] = q
    import mujoco
    mujoco.mj_kinematics(model, data)
    pub = ros.probe.create_publisher(JointState, 'joint_states', result_qos())
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'cell_frames on joint_states')
    pub.publish(JointState(name=list(info.arm_joint_names), position=q.tolist()))
    ros.wait_for(lambda: listener.tree.can_transform('base_link', 'tcp'), 10, 'tcp on /tf')
    np.testing.assert_allclose(listener.lookup('base_link', 'tcp')[:3, 3],
                               data.site(info.ee_site).xpos, atol=1e-6)
    assert node.source == 'sim'


def test_proposals_put_detections_in_3d_from_tf(ros):
    """The camera pose comes from /tf_static; each position is the mask centroid's ray at
    the depth, taken through that pose."""
    scene = make_scene(n_objects=5, n_kinds=2, seed=4)
    T = make_transform(Rotation.from_euler('xyz', [180, 0, -90], degrees=True).as_matrix(),
                       [0.49, 0.0, 0.6])
    talker = ros.add(Node('talker', context=ros.context))
    StaticTransformBroadcaster(talker).send([('world', 'base_link', np.eye(4)),
                                             ('base_link', 'camera_optical_frame', T)])
    node = ros.add(ProposalsNode(context=ros.context, parameter_overrides=[
        Parameter('camera_timeout', value=30.0), Parameter('best_effort', value=True)]))
    dets = []
    ros.probe.create_subscription(Detections, 'detections', dets.append, result_qos())
    markers = []
    ros.probe.create_subscription(MarkerArray, 'detections/markers', markers.append,
                                  result_qos())
    # best-effort publishers, like camera drivers' sensor-data QoS
    be = sensor_qos(best_effort=True)
    img_pub = ros.probe.create_publisher(Image, 'camera/image_raw', be)
    depth_pub = ros.probe.create_publisher(Image, 'camera/depth', be)
    info_pub = ros.probe.create_publisher(CameraInfo, 'camera/camera_info', be)
    ros.probe.create_publisher(Image, 'camera/background', latched_qos()).publish(
        numpy_to_image(scene.background))
    ros.wait_for(lambda: node.has_background, 10, 'background fitted')
    K = [500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1]
    info = CameraInfo(width=640, height=480, k=K)
    info.header.frame_id = 'camera_optical_frame'

    def geometry_ready():
        depth_pub.publish(numpy_to_image(np.full((480, 640), 0.6, np.float32)))
        info_pub.publish(info)
        return (node.geometry.depth is not None and node.geometry.info is not None
                and node.geometry.camera_pose('camera_optical_frame') is not None)
    ros.wait_for(geometry_ready, 10, 'depth, camera info and the camera pose from tf')
    msg = numpy_to_image(scene.frame)
    msg.header.frame_id = 'camera_optical_frame'
    ros.wait_for(lambda: (img_pub.publish(msg), dets)[1], 20, 'detections')
    out = dets[0]
    assert len(out.detections) == 5
    for d in out.detections:
        assert d.has_position and d.position.header.frame_id == 'world'
        ray = np.array([(d.centroid_x - 319.5) / 500.0, (d.centroid_y - 239.5) / 500.0, 1.0])
        expected = T[:3, :3] @ (ray * 0.6) + T[:3, 3]
        p = d.position.point
        np.testing.assert_allclose([p.x, p.y, p.z], expected, atol=2e-3)
        assert abs(p.z) < 1e-6   # 0.6 m below a camera 0.6 m up: the table
    ros.wait_for(lambda: markers, 10, 'detection markers')
    spheres = [m for m in markers[-1].markers if m.type == Marker.SPHERE]
    assert len(spheres) == 5 and spheres[0].header.frame_id == 'world'


def test_broadcasters_stamp_with_sim_time_under_use_sim_time(ros):
    """use_sim_time: the static transforms carry the /clock time, not the wall clock."""
    from rosgraph_msgs.msg import Clock
    talker = ros.add(Node('talker', context=ros.context, parameter_overrides=[
        Parameter('use_sim_time', value=True)]))
    clock = ros.probe.create_publisher(Clock, '/clock', 10)
    ros.wait_for(lambda: clock.get_subscription_count() > 0, 10, 'talker on /clock')

    def at_sim_time():
        clock.publish(Clock(clock=__import__('builtin_interfaces').msg.Time(sec=123)))
        return talker.get_clock().now().nanoseconds // 10**9 == 123
    ros.wait_for(at_sim_time, 10, 'sim time 123 s')
    got = []
    ros.probe.create_subscription(TFMessage, '/tf_static', got.append, tf_static_qos(100))
    StaticTransformBroadcaster(talker).send([('world', 'base_link', np.eye(4))])
    ros.wait_for(lambda: got, 10, '/tf_static')
    assert got[-1].transforms[0].header.stamp.sec == 123


def test_cell_frames_attaches_the_calibration_at_the_camera_drivers_root(ros, tmp_path):
    """A realsense-like driver publishes camera_link -> camera_color_optical_frame; the
    calibration (table -> optical) is attached at camera_link so the optical frame keeps
    its one parent, and base -> optical equals the calibration."""
    import yaml

    from sorting_cell.calibration import Calibration
    T_base_table, T_table_optical = _pose(3), _pose(4)
    Calibration(T_table_optical, T_base_table,
                camera_frame='camera_color_optical_frame').save(tmp_path / 'cal.yaml')
    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / 'config' / 'robots'
                          / 'ur5e.yaml').read_text())
    cfg['calibration'] = 'cal.yaml'
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(cfg))
    driver = ros.add(Node('realsense', context=ros.context))
    T_link_optical = _pose(5)
    StaticTransformBroadcaster(driver).send([('camera_link', 'camera_color_optical_frame',
                                              T_link_optical)])
    ros.add(CellFramesNode(context=ros.context, parameter_overrides=[
        Parameter('source', value='cell_config'),
        Parameter('cell_config', value=str(tmp_path / 'cell.yaml'))]))
    listener = TransformListener(ros.add(Node('listener', context=ros.context)))
    ros.wait_for(lambda: listener.tree.can_transform('base_link', 'camera_color_optical_frame'),
                 15, 'base -> optical through camera_link')
    np.testing.assert_allclose(listener.lookup('base_link', 'camera_color_optical_frame'),
                               T_base_table @ T_table_optical, atol=1e-6)
    assert listener.tree.edge('camera_color_optical_frame').parent == 'camera_link'
    assert listener.tree.edge('camera_link').parent == 'table'
    assert listener.tree.edge('box3').parent == 'base_link'
