"""`sorting-cell calibrate camera` live: frames and intrinsics from best-effort camera topics
(as camera drivers publish), then the board pose; a silent camera times out with a reason."""
import threading

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from sorting_cell.calibration import Calibration, CharucoBoardSpec
from sorting_cell.cli import main
from sorting_cell.nodes.conversions import numpy_to_image
from sorting_cell.nodes.qos import sensor_qos
from sorting_cell.transforms import rotation_error_deg, translation_error
from sensor_msgs.msg import Image


def test_calibrate_camera_from_live_best_effort_topics(ros, tmp_path):
    pytest.importorskip('mujoco')
    from sorting_cell.calibration.simulated import board_scene
    board = CharucoBoardSpec()
    _, _, info, _, rgb = board_scene(board)
    be = sensor_qos(best_effort=True)
    img_pub = ros.probe.create_publisher(Image, 'cam/color/image_raw', be)
    info_pub = ros.probe.create_publisher(CameraInfo, 'cam/color/camera_info', be)
    msg = numpy_to_image(rgb)
    msg.header.frame_id = 'cam_color_optical_frame'
    cinfo = CameraInfo(width=640, height=480, k=info.camera.K.ravel().tolist(), d=[0.0] * 5)
    cinfo.header.frame_id = 'cam_color_optical_frame'
    stop = threading.Event()

    def stream():
        while not stop.wait(0.05):
            img_pub.publish(msg)
            info_pub.publish(cinfo)
    threading.Thread(target=stream, daemon=True).start()
    out = tmp_path / 'cal.yaml'
    try:
        code = main(['calibrate', 'camera', '--topic', 'cam/color/image_raw', '--frames', '3',
                     '--timeout', '30', '--out', str(out), '--board-thickness', '0.002'])
    finally:
        stop.set()
    assert code == 0
    calib = Calibration.load(out)
    assert calib.camera_frame == 'cam_color_optical_frame'   # from camera_info
    assert calib.quality['views'] == 3
    from sorting_cell.calibration.result import board_to_table
    from sorting_cell.calibration.simulated import board_pose_on_tray
    from sorting_cell.transforms import invert
    truth = invert(board_pose_on_tray(board) @ board_to_table(0.002)) @ \
        info.camera.T_world_camera
    assert translation_error(calib.T_table_camera, truth) < 0.002
    assert rotation_error_deg(calib.T_table_camera, truth) < 0.2
    assert np.isfinite(calib.quality['reprojection_rms_px'])


def test_silent_camera_times_out_with_the_reason(ros, tmp_path, capsys):
    assert main(['calibrate', 'camera', '--topic', 'nobody/image_raw', '--timeout', '1',
                 '--out', str(tmp_path / 'cal.yaml')]) == 2
    err = capsys.readouterr().err
    assert 'got 0/10 frames on nobody/image_raw and 0 camera_info on nobody/camera_info' in err


def test_calibrate_touch_live_reads_the_tcp_from_tf(ros, tmp_path, monkeypatch, capsys):
    """The operator jogs the tip onto each corner and presses Enter; the TCP comes from /tf
    as a robot_state_publisher sends it (continuously, the current pose)."""
    from rclpy.node import Node

    from sorting_cell.calibration import default_touch_corners
    from sorting_cell.nodes.tf import TransformBroadcaster
    from sorting_cell.transforms import make_transform
    board = CharucoBoardSpec()
    T_base_board = make_transform([[0, -1, 0], [-1, 0, 0], [0, 0, -1]], [0.6, 0.2, 0.003])
    corners = board.corners()
    cal = tmp_path / 'cal.yaml'
    Calibration(make_transform(translation=[0.2, -0.1, 0.6]), board=board).save(cal)
    robot = ros.add(Node('robot_state_publisher', context=ros.context))
    tf = TransformBroadcaster(robot)
    current = {'T': make_transform(translation=[0.2, 0.0, 0.5])}   # on the way
    robot.create_timer(0.02, lambda: tf.send([('base_link', 'tool0', current['T'])]))
    pending = list(default_touch_corners(board))

    def operator(prompt):   # jogs the tip onto the corner named in the prompt
        cid = pending.pop(0)
        assert f'corner {cid}' in prompt
        tip = T_base_board[:3, :3] @ corners[cid] + T_base_board[:3, 3]
        current['T'] = make_transform(translation=tip + [0, 0, 0.01])   # TCP 1 cm above tip
        return ''
    monkeypatch.setattr('builtins.input', operator)
    assert main(['calibrate', 'touch', str(cal), '--live', '--tcp-offset', '0.01']) == 0
    assert not pending
    back = Calibration.load(cal)
    from sorting_cell.calibration.result import board_to_table
    assert translation_error(back.T_base_table, T_base_board @ board_to_table(0.0)) < 1e-4
    assert (tmp_path / 'cal.touched.yaml').is_file()
    assert 'touch RMS 0.00 mm over 4 corners' in capsys.readouterr().out
