"""``sorting-cell calibrate camera|touch|sim|board``: the camera's pose on the table from a
ChArUco board, the table in the robot base frame from touched corners, written as the
calibration file the bring-up reads."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='step', required=True, metavar='STEP')
    cam = sub.add_parser('camera', help='camera pose on the table from images of the board '
                         '(files, or live from the camera topics)')
    cam.add_argument('--out', required=True, help='calibration file to write (YAML)')
    cam.add_argument('--images', nargs='+', metavar='FILE',
                     help='board images from the fixed camera (else: live from --topic)')
    cam.add_argument('--camera-info', metavar='YAML',
                     help='intrinsics file (ROS camera_calibration format) for --images')
    cam.add_argument('--topic', default='camera/image_raw',
                     help='live: image topic (camera_info from the sibling camera_info topic)')
    cam.add_argument('--info-topic', help='live: camera_info topic (default: next to --topic)')
    cam.add_argument('--frames', type=int, default=10, help='live: frames to average (10)')
    cam.add_argument('--timeout', type=float, default=20.0,
                     help='live: seconds to wait for the frames (20)')
    cam.add_argument('--camera-frame', default='',
                     help="camera optical frame name (default: camera_info's frame_id, else "
                          'camera_optical_frame)')
    cam.add_argument('--table-frame', default='table')
    cam.add_argument('--base-frame', default='base_link')
    _board_arguments(cam)

    touch = sub.add_parser('touch', help='add the table in the robot base frame from board '
                           'corners touched with the tool tip')
    touch.add_argument('calibration', help='calibration file from `calibrate camera` (updated)')
    src = touch.add_mutually_exclusive_group(required=True)
    src.add_argument('--points', metavar='YAML',
                     help="touched corners: a list of {corner: ID, tcp: [x, y, z]} in the "
                          'base frame (m)')
    src.add_argument('--live', action='store_true',
                     help='read the TCP from tf at each corner (press Enter when the tip is '
                          'on it); the points are saved next to the calibration file')
    touch.add_argument('--corners', type=int, nargs='+', metavar='ID',
                       help='live: corner ids to touch (default: the four outermost)')
    touch.add_argument('--tcp-frame', default='tool0', help='live: TCP frame on tf (tool0)')
    touch.add_argument('--timeout', type=float, default=10.0,
                       help='live: seconds to wait for the TCP on tf')
    touch.add_argument('--tcp-offset', type=float, default=0.0,
                       help='how far the reported TCP lies above the touching tip (m)')
    touch.add_argument('--max-rms', type=float, default=0.003,
                       help='refuse a fit with a larger RMS residual (m, default 0.003)')

    sim = sub.add_parser('sim', help='the whole calibration in the simulator, compared with '
                         'the true camera pose')
    sim.add_argument('--out', help='calibration file to write')
    sim.add_argument('--width', type=int, default=640)
    sim.add_argument('--height', type=int, default=480)
    sim.add_argument('--yaw', type=float, default=8.0, help='board yaw on the table (deg)')
    _board_arguments(sim)

    snap = sub.add_parser('snapshot', help="save one live frame (e.g. the empty table for "
                          "the cell configuration's camera.background)")
    snap.add_argument('--out', required=True, help='image file (PNG)')
    snap.add_argument('--topic', default='camera/image_raw', help='image topic')
    snap.add_argument('--timeout', type=float, default=20.0)

    board = sub.add_parser('board', help='write the board as a printable image')
    board.add_argument('--out', required=True, help='image file (PNG)')
    board.add_argument('--pixels-per-square', type=int, default=200)
    _board_arguments(board)


def _board_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group('board (must match the printed board)')
    g.add_argument('--squares', default='8x6', help='squares along x by y (8x6)')
    g.add_argument('--square-length', type=float, default=0.045, help='square side (m)')
    g.add_argument('--marker-length', type=float, default=0.034, help='marker side (m)')
    g.add_argument('--dictionary', default='DICT_5X5_100', help='ArUco dictionary')
    g.add_argument('--board-thickness', type=float, default=0.0,
                   help='height of the printed face above the table (m)')


def _board(args):
    from ..calibration import BoardError, CharucoBoardSpec
    try:
        sx, sy = (int(v) for v in args.squares.lower().split('x'))
    except ValueError:
        raise BoardError(f'--squares must look like 8x6, got {args.squares!r}') from None
    return CharucoBoardSpec(sx, sy, args.square_length, args.marker_length, args.dictionary)


def load_camera_info_yaml(path) -> tuple[np.ndarray, np.ndarray, str]:
    """(K, distortion, frame) from a ROS camera_calibration YAML (camera_info_manager)."""
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text())
        K = np.asarray(data['camera_matrix']['data'], float).reshape(3, 3)
        dist = np.asarray(data.get('distortion_coefficients', {}).get('data', []), float)
    except FileNotFoundError:
        raise ValueError(f'{path}: no such camera info file') from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f'{path}: not a camera calibration file (needs camera_matrix.data '
                         f'with 9 numbers; {exc})') from None
    return K, dist, str(data.get('camera_name', '') or '')


def run(args: argparse.Namespace) -> int:
    from ..calibration import BoardError, BoardNotFound, CalibrationError, TouchError
    try:
        return {'camera': _camera, 'touch': _touch, 'sim': _sim, 'board': _print_board,
                'snapshot': _snapshot}[args.step](args)
    except (BoardError, BoardNotFound, CalibrationError, TouchError, ValueError,
            TimeoutError) as exc:
        print(f'calibrate {args.step}: {exc}', file=sys.stderr)
        return 2


def _camera(args) -> int:
    from ..calibration import BoardPoseEstimator, Calibration
    from ..images import load_image
    board = _board(args)
    if args.images:
        if not args.camera_info:
            raise ValueError('--images needs --camera-info (the intrinsics of that camera)')
        K, dist, _ = load_camera_info_yaml(args.camera_info)
        images = [load_image(p, max_side=1 << 30) for p in args.images]
        frame = ''
    else:
        from ..nodes.capture import capture_frames
        info_topic = args.info_topic or args.topic.rsplit('/', 1)[0] + '/camera_info'
        images, K, dist, frame = capture_frames(args.topic, info_topic, args.frames,
                                                args.timeout)
    est = BoardPoseEstimator(board).fit(images, K, dist)
    calib = Calibration.from_board_pose(
        est.T_camera_board_, board, args.board_thickness, base_frame=args.base_frame,
        table_frame=args.table_frame,
        camera_frame=args.camera_frame or frame or 'camera_optical_frame',
        quality={'reprojection_rms_px': est.reprojection_rms_px_, 'corners': est.n_corners_,
                 'views': len(images)})
    path = calib.save(args.out)
    t = calib.T_table_camera[:3, 3]
    print(f'camera on the table: {np.round(t, 4).tolist()} m from the board origin '
          f'({est.n_corners_} corners in {len(images)} frame(s), reprojection RMS '
          f'{est.reprojection_rms_px_:.3f} px) -> {path}')
    print('next: touch board corners with the tool tip and run `sorting-cell calibrate touch '
          f'{path} --points touched.yaml`')
    return 0


def _touch(args) -> int:
    import yaml

    from ..calibration import Calibration, TouchCalibration, TouchError
    calib = Calibration.load(args.calibration)
    if args.live:
        from ..calibration import default_touch_corners
        from ..nodes.capture import record_touches
        corners = args.corners or default_touch_corners(calib.board)
        touched = record_touches(corners, calib.base_frame, args.tcp_frame, args.timeout)
        args.points = str(Path(args.calibration).with_suffix('.touched.yaml'))
        Path(args.points).write_text(yaml.safe_dump(
            [{'corner': c, 'tcp': p} for c, p in touched], default_flow_style=None))
        print(f'touched points saved to {args.points}')
    try:
        entries = yaml.safe_load(Path(args.points).read_text())
        points = [(int(e['corner']), [float(v) for v in e['tcp']]) for e in entries]
    except FileNotFoundError:
        raise TouchError(f'{args.points}: no such file') from None
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise TouchError(f'{args.points}: expected a list of {{corner: ID, tcp: [x, y, z]}} '
                         f'({exc})') from None
    fit = TouchCalibration(calib.board, args.tcp_offset, args.max_rms).fit(points)
    thickness = float(calib.quality.get('board_thickness_m', 0.0))
    calib = calib.with_touch(fit.T_base_board_, thickness, fit.rms_)
    calib.save(args.calibration)
    t = calib.T_base_camera[:3, 3]
    print(f'table in {calib.base_frame}: touch RMS {fit.rms_ * 1000:.2f} mm over {len(points)} '
          f'corners; camera at {np.round(t, 4).tolist()} m in {calib.base_frame} -> '
          f'{args.calibration}')
    return 0


def _sim(args) -> int:
    from ..calibration.simulated import calibrate_in_sim
    report = calibrate_in_sim(_board(args), args.yaw, args.width, args.height)
    print(f'camera on the table: error {report.camera_translation_error * 1000:.2f} mm, '
          f'{report.camera_rotation_error_deg:.3f} deg '
          f'(reprojection RMS {report.calibration.quality["reprojection_rms_px"]:.3f} px)')
    print(f'camera in the base frame (board touched by the arm): error '
          f'{report.base_translation_error * 1000:.2f} mm, '
          f'{report.base_rotation_error_deg:.3f} deg (touch RMS '
          f'{report.calibration.quality["touch_rms_m"] * 1000:.2f} mm)')
    if args.out:
        print(f'wrote {report.calibration.save(args.out)}')
    return 0


def _print_board(args) -> int:
    import cv2
    board = _board(args)
    image = board.image(args.pixels_per_square)
    margin = args.pixels_per_square // 2   # white border: the detector needs it
    image = cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_CONSTANT,
                               value=255)
    if not cv2.imwrite(args.out, image):
        raise ValueError(f'cannot write {args.out}')
    w, h = board.size
    print(f'wrote {args.out}: print it so that the squares measure {board.square_length * 1000:g}'
          f' mm ({w * 1000:g} x {h * 1000:g} mm without the margin)')
    return 0


def _snapshot(args) -> int:
    import cv2

    from ..nodes.capture import capture_frames
    info_topic = args.topic.rsplit('/', 1)[0] + '/camera_info'
    frames, _, _, _ = capture_frames(args.topic, info_topic, 1, args.timeout,
                                     need_info=False)
    if not cv2.imwrite(args.out, frames[0][:, :, ::-1]):
        raise ValueError(f'cannot write {args.out}')
    print(f'wrote {args.out} ({frames[0].shape[1]}x{frames[0].shape[0]}) from {args.topic}')
    return 0
