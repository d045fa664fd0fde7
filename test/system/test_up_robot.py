"""`sorting-cell up robot --config CELL.yaml` as processes against a stand-in robot camera:
the camera publishes best effort under realsense topic names and its own camera_link ->
optical frame on /tf_static (the hardware edge, speaking sensor_msgs and tf as the driver
does); cell_frames latches the calibration on /tf_static, attached at camera_link; the
proposals node puts detections in the robot base frame from tf."""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import ros_env  # noqa: E402
from scenes import make_scene  # noqa: E402

from sorting_cell.calibration import Calibration  # noqa: E402
from sorting_cell.nodes.conversions import numpy_to_image  # noqa: E402
from sorting_cell.nodes.qos import result_qos, sensor_qos, tf_static_qos  # noqa: E402
from sorting_cell.transforms import make_transform  # noqa: E402
from sorting_cell_interfaces.msg import Detections  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = 190 + os.getpid() % 9
PREFIX = '/camera/camera'


def _cell(tmp_path: Path, scene) -> tuple[Path, np.ndarray]:
    """A UR5e cell config with a calibration whose camera looks down on the table."""
    T_base_table = make_transform(Rotation.from_euler('z', 30, degrees=True).as_matrix(),
                                  [0.45, -0.1, 0.0])
    T_table_camera = make_transform(Rotation.from_euler('xyz', [180, 0, 90],
                                                        degrees=True).as_matrix(),
                                    [0.2, -0.15, 0.7])
    Calibration(T_table_camera, T_base_table,
                camera_frame='camera_color_optical_frame').save(tmp_path / 'cal.yaml')
    cv2.imwrite(str(tmp_path / 'empty_table.png'), scene.background[:, :, ::-1])
    cfg = yaml.safe_load((ROOT / 'config' / 'robots' / 'ur5e.yaml').read_text())
    cfg['calibration'] = 'cal.yaml'
    cfg['camera']['background'] = 'empty_table.png'
    cfg['arm']['manipulator'] = 'none'
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(cfg))
    return tmp_path / 'cell.yaml', T_base_table @ T_table_camera


def test_up_robot_detections_in_the_base_frame_from_calibration(tmp_path, monkeypatch):
    scene = make_scene(n_objects=4, n_kinds=2, seed=5)
    config, T_base_camera = _cell(tmp_path, scene)
    env = ros_env(DOMAIN)
    up = subprocess.Popen(
        [str(Path(sys.executable).with_name('sorting-cell')), 'up', 'robot', '--config',
         str(config), '--nodes', 'cell_frames,proposals', '--transport', 'local',
         '--log-dir', str(tmp_path / 'logs'), '--exit-on-failure',
         '-p', 'proposals.camera_timeout:=60.0'],
        env=env, stdout=open(tmp_path / 'up.log', 'w'), stderr=subprocess.STDOUT)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(DOMAIN))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    node = Node('robot_camera', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    try:
        be = sensor_qos(best_effort=True)   # what realsense2_camera publishes with
        img = node.create_publisher(Image, f'{PREFIX}/color/image_raw', be)
        info_pub = node.create_publisher(CameraInfo, f'{PREFIX}/color/camera_info', be)
        depth_pub = node.create_publisher(
            Image, f'{PREFIX}/aligned_depth_to_color/image_raw', be)
        # like realsense2_camera: the driver's own camera_link -> optical frame chain
        from sorting_cell.nodes.tf import StaticTransformBroadcaster
        StaticTransformBroadcaster(node).send([(
            'camera_link', 'camera_color_optical_frame',
            make_transform(Rotation.from_euler('xyz', [-90, 0, -90], degrees=True).as_matrix(),
                           [0.0, 0.015, 0.0]))])
        dets, statics = [], []
        node.create_subscription(Detections, 'detections', dets.append, result_qos())
        node.create_subscription(TFMessage, '/tf_static', statics.append, tf_static_qos(100))
        info = CameraInfo(width=640, height=480, k=[600.0, 0, 319.5, 0, 600.0, 239.5, 0, 0, 1])
        info.header.frame_id = 'camera_color_optical_frame'
        depth = numpy_to_image(np.full((480, 640), 0.7, np.float32), '32FC1')
        frame = numpy_to_image(scene.frame)
        frame.header.frame_id = 'camera_color_optical_frame'
        deadline = time.monotonic() + 90
        while not dets and time.monotonic() < deadline:
            assert up.poll() is None, (tmp_path / 'up.log').read_text()
            for pub, msg in ((info_pub, info), (depth_pub, depth), (img, frame)):
                pub.publish(msg)
            ex.spin_once(timeout_sec=0.2)
        # the first frames may go out before the camera pose is known; wait for a placed one
        while time.monotonic() < deadline and not (
                dets and all(d.has_position and d.position.header.frame_id == 'base_link'
                             for d in dets[-1].detections)):
            for pub, msg in ((info_pub, info), (depth_pub, depth), (img, frame)):
                pub.publish(msg)
            ex.spin_once(timeout_sec=0.2)
        logs = '\n'.join(p.read_text() for p in (tmp_path / 'logs').glob('*.log'))
        assert dets, f'no detections\n{logs}'
        out = dets[-1]
        assert len(out.detections) == 4, logs
        for d in out.detections:
            assert d.has_position and d.position.header.frame_id == 'base_link', logs
            ray = np.array([(d.centroid_x - 319.5) / 600, (d.centroid_y - 239.5) / 600, 1.0])
            expected = T_base_camera[:3, :3] @ (ray * 0.7) + T_base_camera[:3, 3]
            p = d.position.point
            np.testing.assert_allclose([p.x, p.y, p.z], expected, atol=2e-3)
        edges = {(t.header.frame_id, t.child_frame_id) for m in statics for t in m.transforms}
        assert {('base_link', 'table'), ('table', 'camera_link'),
                ('camera_link', 'camera_color_optical_frame'),
                ('world', 'base_link'), ('base_link', 'box0')} <= edges
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        up.send_signal(2)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(timeout=10)
