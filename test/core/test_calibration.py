"""Calibration: board pose from images, touch points, the calibration file, and the whole
chain in the simulator against the true camera pose."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sorting_cell.calibration import (BoardError, BoardNotFound, BoardPoseEstimator,
                                      Calibration, CalibrationError, CharucoBoardSpec,
                                      TouchCalibration, TouchError, default_touch_corners)
from sorting_cell.transforms import (TransformError, check_transform, fit_rigid_transform,
                                     from_translation_quat, invert, make_transform,
                                     rotation_error_deg, to_translation_quat,
                                     translation_error)

BOARD = CharucoBoardSpec()


def _random_pose(rng) -> np.ndarray:
    return make_transform(Rotation.random(random_state=rng).as_matrix(),
                          rng.uniform(-1, 1, 3))


def test_transform_round_trips_and_rigid_fit():
    rng = np.random.default_rng(0)
    T = _random_pose(rng)
    t, q = to_translation_quat(T)
    assert q[3] >= 0
    assert np.allclose(from_translation_quat(t, q), T)
    assert np.allclose(invert(T) @ T, np.eye(4))
    src = rng.uniform(-0.2, 0.2, (6, 3))
    dst = src @ T[:3, :3].T + T[:3, 3]
    fit, rms = fit_rigid_transform(src, dst)
    assert rms < 1e-9 and translation_error(fit, T) < 1e-9 and rotation_error_deg(fit, T) < 1e-6


@pytest.mark.parametrize('bad, match', [
    (np.eye(3), 'expected a 4x4'),
    (np.diag([1.0, 1.0, -1.0, 1.0]), 'not a rigid transform'),
    (np.full((4, 4), np.nan), 'NaN'),
])
def test_check_transform_says_what_is_wrong(bad, match):
    with pytest.raises(TransformError, match=match):
        check_transform(bad)


def test_rigid_fit_refuses_points_on_a_line():
    line = np.outer(np.linspace(0, 1, 4), [1.0, 0.0, 0.0])
    with pytest.raises(TransformError, match='one line'):
        fit_rigid_transform(line, line)
    with pytest.raises(TransformError, match='at least 3'):
        fit_rigid_transform(line[:2], line[:2])


@pytest.mark.parametrize('kwargs, match', [
    (dict(squares_x=2), 'at least 3x3'),
    (dict(marker_length=0.05), 'marker_length < square_length'),
    (dict(dictionary='DICT_6X6_2'), 'unknown ArUco dictionary'),
    (dict(squares_x=20, squares_y=20, dictionary='DICT_4X4_50'), 'has only 50'),
])
def test_board_spec_errors(kwargs, match):
    with pytest.raises(BoardError, match=match):
        CharucoBoardSpec(**kwargs)


def test_board_pose_from_a_synthetic_view():
    """Warp the board image into a pinhole view of a known pose; recover that pose."""
    import cv2
    ppsq = 100
    image = BOARD.image(ppsq)
    K = np.array([[900.0, 0, 639.5], [0, 900.0, 479.5], [0, 0, 1]])
    R = Rotation.from_euler('xyz', [15, -10, 12], degrees=True).as_matrix()
    T_cb = make_transform(R, [-0.15, -0.1, 0.75])
    # board pixel (u, v) <-> board point (u, v) * square / ppsq: a homography to the view
    S = np.diag([BOARD.square_length / ppsq, BOARD.square_length / ppsq, 1.0])
    H = K @ np.column_stack([T_cb[:3, 0], T_cb[:3, 1], T_cb[:3, 3]]) @ S
    # pixel centres: board pixel i covers [i, i+1) in board units, OpenCV samples centres
    H = H @ np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    view = cv2.warpPerspective(image, H, (1280, 960), flags=cv2.INTER_LINEAR,
                               borderValue=200)
    est = BoardPoseEstimator(BOARD).fit([view], K)
    assert est.n_corners_ >= 30
    assert translation_error(est.T_camera_board_, T_cb) < 1e-3
    assert rotation_error_deg(est.T_camera_board_, T_cb) < 0.1


def test_no_board_in_view_is_a_clear_error():
    with pytest.raises(BoardNotFound, match='found 0 distinct board corners'):
        BoardPoseEstimator(BOARD).fit([np.full((480, 640, 3), 128, np.uint8)], np.eye(3))
    with pytest.raises(ValueError, match='positive focal lengths'):
        BoardPoseEstimator(BOARD).fit([np.zeros((4, 4), np.uint8)], np.zeros((3, 3)))


def test_touch_calibration_fits_and_rejects_bad_touches():
    rng = np.random.default_rng(1)
    T = _random_pose(rng)
    ids = default_touch_corners(BOARD)
    assert ids == (0, 6, 28, 34)
    corners = BOARD.corners()[list(ids)]
    tcp = corners - [0, 0, 0.01]             # the TCP 1 cm above the touching tip
    points = [(i, T[:3, :3] @ p + T[:3, 3]) for i, p in zip(ids, tcp)]
    fit = TouchCalibration(BOARD, tcp_offset=0.01).fit(points)
    assert fit.rms_ < 1e-9 and translation_error(fit.T_base_board_, T) < 1e-9
    with pytest.raises(TouchError, match='do not exist'):
        TouchCalibration(BOARD).fit([(99, (0, 0, 0))] + points[1:])
    with pytest.raises(TouchError, match='more than once'):
        TouchCalibration(BOARD).fit(points[:2] + [points[0]])
    wrong = [(ids[1], points[0][1]), (ids[0], points[1][1])] + points[2:]   # ids swapped
    with pytest.raises(TouchError, match='wrong corner id'):
        TouchCalibration(BOARD, tcp_offset=0.01).fit(wrong)


def test_calibration_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    calib = Calibration(_random_pose(rng), _random_pose(rng), base_frame='base',
                        camera_frame='cam_optical', board=CharucoBoardSpec(squares_x=9),
                        quality={'reprojection_rms_px': 0.1})
    path = calib.save(tmp_path / 'c.yaml')
    back = Calibration.load(path)
    assert back.board == calib.board and back.camera_frame == 'cam_optical'
    assert translation_error(back.T_base_camera, calib.T_base_camera) < 1e-6
    assert rotation_error_deg(back.T_base_camera, calib.T_base_camera) < 1e-5
    assert [(p, c) for p, c, _ in back.transforms()] == [('base', 'table'),
                                                          ('table', 'cam_optical')]
    with pytest.raises(CalibrationError, match='no such calibration file'):
        Calibration.load(tmp_path / 'missing.yaml')
    (tmp_path / 'x.yaml').write_text('a: 1\n')
    with pytest.raises(CalibrationError, match='not a sorting_cell calibration'):
        Calibration.load(tmp_path / 'x.yaml')
    data = calib.to_dict()
    data['transforms'] = data['transforms'][:1]
    with pytest.raises(CalibrationError, match='no transform table -> cam_optical'):
        Calibration.from_dict(data)
    data = calib.to_dict()
    data['transforms'][1]['rotation_xyzw'] = [0, 0, 0, 0]
    with pytest.raises(CalibrationError, match=r'transforms\[1\].*no direction'):
        Calibration.from_dict(data)


def test_calibration_in_sim_meets_the_accuracy_goal():
    """The board rendered on the simulated table, seen by the cell's 640x480 camera and
    touched by the arm: camera pose within 2 mm and 0.2 degrees of the truth."""
    pytest.importorskip('mujoco')
    from sorting_cell.calibration.simulated import calibrate_in_sim
    report = calibrate_in_sim()
    assert report.calibration.quality['corners'] == 35
    assert report.camera_translation_error <= 0.002
    assert report.camera_rotation_error_deg <= 0.2
    assert report.base_translation_error <= 0.002
    assert report.base_rotation_error_deg <= 0.2
    assert report.calibration.quality['touch_rms_m'] < 5e-4
    assert math.isfinite(report.calibration.quality['reprojection_rms_px'])


def test_calibrate_cli_from_files_then_touch(tmp_path, capsys):
    """The steps a person runs on a real cell, fed with the simulator's image and touches:
    `calibrate camera --images` then `calibrate touch`; the file gives the true camera pose;
    bad input gets a clear message and exit code 2."""
    pytest.importorskip('mujoco')
    import cv2
    import yaml

    from sorting_cell.calibration.simulated import board_scene, touch_corners
    from sorting_cell.cli import main
    model, data, info, T_world_board, rgb = board_scene(BOARD)
    cv2.imwrite(str(tmp_path / 'board.png'), rgb[:, :, ::-1])
    (tmp_path / 'info.yaml').write_text(yaml.safe_dump({
        'image_width': 640, 'image_height': 480, 'camera_name': 'overhead',
        'camera_matrix': {'rows': 3, 'cols': 3, 'data': info.camera.K.ravel().tolist()},
        'distortion_model': 'plumb_bob',
        'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0.0] * 5}}))
    out = tmp_path / 'cell_calibration.yaml'
    board_args = ['--board-thickness', '0.002']
    assert main(['calibrate', 'camera', '--images', str(tmp_path / 'board.png'),
                 '--camera-info', str(tmp_path / 'info.yaml'), '--out', str(out),
                 '--camera-frame', 'overhead_optical_frame', *board_args]) == 0
    points, tip = touch_corners(model, data, info, BOARD, T_world_board,
                                default_touch_corners(BOARD))
    (tmp_path / 'touched.yaml').write_text(yaml.safe_dump(
        [{'corner': p.corner_id, 'tcp': list(p.tcp_position)} for p in points]))
    assert main(['calibrate', 'touch', str(out), '--points', str(tmp_path / 'touched.yaml'),
                 '--tcp-offset', str(tip)]) == 0
    calib = Calibration.load(out)
    assert calib.camera_frame == 'overhead_optical_frame'
    assert translation_error(calib.T_base_camera, info.camera.T_world_camera) < 0.002
    assert rotation_error_deg(calib.T_base_camera, info.camera.T_world_camera) < 0.2
    capsys.readouterr()
    assert main(['calibrate', 'camera', '--images', str(tmp_path / 'board.png'),
                 '--out', str(out)]) == 2
    assert '--images needs --camera-info' in capsys.readouterr().err
    assert main(['calibrate', 'touch', str(out), '--points', str(tmp_path / 'nope.yaml')]) == 2
    assert 'no such file' in capsys.readouterr().err
    assert main(['calibrate', 'camera', '--squares', '8by6', '--out', str(out)]) == 2
    assert '--squares must look like 8x6' in capsys.readouterr().err
