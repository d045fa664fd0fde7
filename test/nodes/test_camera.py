"""Camera node in-process: folder streaming, dead cameras retried with backoff."""
import shutil
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from sorting_cell.bags import Intrinsics, list_images
from sorting_cell.images import load_image
from sorting_cell.nodes.qos import sensor_qos
from sorting_cell.nodes.camera import Backoff, CameraNode


def _camera(ros, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(CameraNode(context=ros.context, parameter_overrides=overrides))


def _collect(ros, topic, msg_type, qos=None):
    got = []
    ros.probe.create_subscription(msg_type, topic, got.append, qos or sensor_qos())
    return got


@pytest.fixture
def frames_dir(tmp_path, tools_root):
    src = list_images(tools_root / 'conditions2' / 'screw')[:3]
    folder = tmp_path / 'frames' / 'sub'
    folder.mkdir(parents=True)
    for i, path in enumerate(src):
        shutil.copy(path, folder / f'{i}.jpg')
    (folder / 'broken.png').write_bytes(b'\x89PNG but not really')
    return tmp_path / 'frames', src


def test_folder_source_publishes_every_image_then_idles(ros, frames_dir):
    folder, src = frames_dir
    images = _collect(ros, 'camera/image_raw', Image)
    infos = _collect(ros, 'camera/camera_info', CameraInfo)
    diags = _collect(ros, '/diagnostics', DiagnosticArray, 10)
    cam = _camera(ros, source='folder', folder=str(folder), rate_hz=20.0, loop=False,
                  wait_for_subscribers=1, hfov_deg=70.0)
    try:
        ros.wait_for(lambda: len(images) >= 3 and len(infos) >= 3, 20, '3 frames')
        ros.wait_for(lambda: cam.state.startswith('finished'), 10, 'end of folder')
        time.sleep(0.3)
        assert len(images) == 3 and cam.published == 3
        assert cam.skipped == 1  # broken.png: reported, skipped, not fatal
        for msg, path in zip(images, src):
            assert (msg.encoding, msg.height, msg.width, msg.step) == ('rgb8', 480, 640, 1920)
            pixels = np.frombuffer(msg.data, np.uint8).reshape(480, 640, 3)
            np.testing.assert_array_equal(pixels, load_image(path))
        assert infos[0].header.stamp == images[0].header.stamp
        np.testing.assert_allclose(infos[0].k, Intrinsics.from_fov(640, 480, 70.0).k)
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images]
        assert np.all(np.diff(stamps) > 0.03)  # paced at 20 Hz, not bursted
        ros.wait_for(lambda: any(s.message.startswith('finished') for d in diags
                                 for s in d.status), 5, 'finished diagnostic')
    finally:
        cam.close()


@pytest.mark.parametrize('device', ['/dev/video99', 'http://127.0.0.1:9/stream.mjpg'])
def test_dead_camera_keeps_node_alive_and_retries_with_backoff(ros, device):
    diags = _collect(ros, '/diagnostics', DiagnosticArray, 10)
    cam = _camera(ros, source='opencv', device=device, reconnect_initial_s=0.1,
                  reconnect_max_s=0.4, open_timeout_s=1.0)
    try:
        ros.wait_for(lambda: len(cam.failures) >= 5, 15, '5 failed attempts')
        gaps = np.diff(cam.failures[:5])
        # 0.1, 0.2, 0.4, 0.4 s (+ open time): grows, then capped
        assert gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5
        assert gaps[3] == pytest.approx(gaps[2], abs=0.25)
        assert cam._thread.is_alive()
        errors = ros.wait_for(lambda: [s for d in diags for s in d.status
                                       if s.level == DiagnosticStatus.ERROR], 5, 'ERROR diag')
        assert 'cannot open camera' in errors[-1].message and 'retry' in errors[-1].message
        assert errors[-1].hardware_id == f'opencv {device}'
        # the node still answers on the graph while the camera is down
        assert 'camera' in ros.probe.get_node_names()
    finally:
        cam.close()
    assert not cam._thread.is_alive()


def test_missing_folder_is_retried_until_it_appears(ros, frames_dir, tmp_path):
    folder, _ = frames_dir
    later = tmp_path / 'later'
    images = _collect(ros, 'camera/image_raw', Image)
    cam = _camera(ros, source='folder', folder=str(later), reconnect_initial_s=0.1,
                  reconnect_max_s=0.2, rate_hz=30.0)
    try:
        ros.wait_for(lambda: len(cam.failures) >= 2, 10, 'failed attempts')
        assert 'does not exist' in cam.state
        shutil.copytree(folder, later)
        ros.wait_for(lambda: len(images) >= 2, 15, 'frames after the folder appeared')
    finally:
        cam.close()


def test_bad_parameters_fail_fast_with_reasons(ros):
    with pytest.raises(ValueError, match="source must be one of"):
        CameraNode(context=ros.context, parameter_overrides=[Parameter('source', value='sim')])
    with pytest.raises(ValueError, match='needs parameter folder'):
        CameraNode(context=ros.context, parameter_overrides=[Parameter('source',
                                                                       value='folder')])


def test_backoff_doubles_and_caps():
    b = Backoff(0.5, 3.0)
    assert [b.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next_delay() == 0.5


def test_opencv_stream_that_ends_is_reopened_and_resumes(ros, tmp_path):
    """A video file stands in for a camera that stops delivering: OpenCV reads real frames,
    then fails at the end; the node reports it, backs off and reconnects."""
    import cv2

    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), (40 * i, 0, 200), np.uint8))  # BGR: red stays 200
    writer.release()
    images = _collect(ros, 'camera/image_raw', Image)
    cam = _camera(ros, source='opencv', device=str(video), rate_hz=0.0,
                  reconnect_initial_s=0.2, reconnect_max_s=0.2)
    try:
        ros.wait_for(lambda: len(images) >= 8 and cam.failures, 20, 'frames after a reconnect')
        assert cam._thread.is_alive()
        first = np.frombuffer(images[0].data, np.uint8).reshape(48, 64, 3)
        assert (images[0].width, images[0].height) == (64, 48)
        assert abs(int(first[..., 0].mean()) - 200) < 10  # BGR -> RGB: red channel first
        # 4 frames per opening: 8 frames mean the stream was reopened after it failed
        assert cam.published >= 8 and len(cam.failures) >= 1
    finally:
        cam.close()


def test_live_source_faster_than_rate_drops_frames_instead_of_queueing(ros, tmp_path):
    import cv2

    video = tmp_path / 'fast.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 100, (32, 24))
    for i in range(200):
        writer.write(np.full((24, 32, 3), i % 256, np.uint8))
    writer.release()
    images = _collect(ros, 'camera/image_raw', Image)
    cam = _camera(ros, source='opencv', device=str(video), rate_hz=5.0)
    try:
        ros.wait_for(lambda: len(images) >= 5, 10, '5 frames')
    finally:
        cam.close()
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images])
    assert np.all(np.diff(stamps) > 0.15)  # ~0.2 s apart at 5 Hz
    # the file decodes far faster than 5 Hz: frames in between were dropped, not queued
    assert cam.dropped > 3 * cam.published
