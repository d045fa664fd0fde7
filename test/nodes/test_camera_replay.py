"""Replay node in-process: bad frames are skipped with a clear error, the replay goes on."""
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from sorting_cell import bags
from sorting_cell.nodes.qos import sensor_qos
from sorting_cell.nodes.replay import ReplayNode

T0 = 1_700_000_000_000_000_000
RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)


def _raw_image(store, stamp, encoding, data, step, height=4, width=6):
    types = store.types
    header = types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=stamp // 10**9, nanosec=stamp % 10**9),
        frame_id='camera')
    msg = types['sensor_msgs/msg/Image'](header=header, height=height, width=width,
                                         encoding=encoding, is_bigendian=0, step=step,
                                         data=np.frombuffer(data, np.uint8).copy())
    return bytes(store.serialize_cdr(msg, 'sensor_msgs/msg/Image'))


@pytest.fixture
def mixed_bag(tmp_path):
    """rgb8, bgr8, 32FC1 (depth), truncated rgb8, rgb8 -- 50 ms apart."""
    path = tmp_path / 'mixed'
    with bags.BagWriter(path) as w:
        w.add_topic(bags.IMAGE_TOPIC, bags.IMAGE_TYPE)
        frames = [('rgb8', RGB.tobytes(), 18), ('bgr8', RGB[:, :, ::-1].tobytes(), 18),
                  ('32FC1', np.ones((4, 6), np.float32).tobytes(), 24),
                  ('rgb8', RGB.tobytes()[:-5], 18), ('rgb8', (255 - RGB).tobytes(), 18)]
        for i, (enc, data, step) in enumerate(frames):
            stamp = T0 + i * 50_000_000
            w.write(bags.IMAGE_TOPIC, stamp, _raw_image(w.store, stamp, enc, data, step))
    return path


def _replay(ros, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(ReplayNode(context=ros.context, parameter_overrides=overrides))


def test_wrong_encodings_are_skipped_with_clear_errors_and_replay_continues(ros, mixed_bag):
    images, diags = [], []
    ros.probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos())
    ros.probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
    node = _replay(ros, bag=str(mixed_bag), wait_for_subscribers=1, loop=False)
    try:
        ros.wait_future(node.done, 20, 'end of bag')
        ros.wait_for(lambda: len(images) >= 3, 5, '3 good frames')
        assert node.published == 3 and node.skipped == 2
        pixels = [np.frombuffer(m.data, np.uint8).reshape(4, 6, 3) for m in images]
        np.testing.assert_array_equal(pixels[0], RGB)
        np.testing.assert_array_equal(pixels[1], RGB)  # bgr8 converted to the rgb8 contract
        np.testing.assert_array_equal(pixels[2], 255 - RGB)
        assert all(m.encoding == 'rgb8' for m in images)
        # recorded stamps are kept (frame 1 was re-encoded, its stamp must survive)
        assert [m.header.stamp.nanosec for m in images] == [0, 50_000_000, 200_000_000]
        assert set(node.errors) == {"unsupported image encoding '32FC1'",
                                    'data has 67 bytes, but step*height = 18*4 = 72'}
        warn = ros.wait_for(lambda: [s for d in diags for s in d.status
                                     if s.level == DiagnosticStatus.WARN
                                     and s.message.startswith('end of bag')], 5, 'diagnostic')
        assert warn[-1].message == 'end of bag: 3 published, 2 skipped'
        # still alive and serving after the bad frames
        assert 'replay' in ros.probe.get_node_names()
    finally:
        node.close()


def test_rate_scales_timing_and_restamp_uses_now(ros, tmp_path, tools_root):
    bag = tmp_path / 'b'
    bags.bag_from_tools(bag, 1, root=tools_root, classes=['usb'], per_class=4, rate_hz=5.0,
                        start_ns=T0)
    images = []
    ros.probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos())
    node = _replay(ros, bag=str(bag), rate=4.0, restamp=True, wait_for_subscribers=1,
                   topics=['camera/image_raw'])
    try:
        ros.wait_future(node.done, 20, 'end of bag')
        ros.wait_for(lambda: len(images) == 4, 5, '4 frames')
        stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images])
        assert stamps[0] > T0 / 1e9 + 1e6  # restamped with the current time
        gaps = np.diff(stamps)
        # 200 ms recorded / rate 4 = 50 ms (loose bounds: CI machines are shared, and at
        # rate 1 the span would be 0.6 s)
        assert np.all((gaps > 0.01) & (gaps < 0.1)), gaps
        assert stamps[-1] - stamps[0] == pytest.approx(0.15, abs=0.05)
    finally:
        node.close()


def test_replay_parameters_are_checked(ros, tmp_path, mixed_bag):
    with pytest.raises(ValueError, match='parameter bag is required'):
        ReplayNode(context=ros.context)
    with pytest.raises(FileNotFoundError, match='no such bag'):
        ReplayNode(context=ros.context, parameter_overrides=[
            Parameter('bag', value=str(tmp_path / 'missing'))])
    with pytest.raises(ValueError, match='none of the topics'):
        ReplayNode(context=ros.context, parameter_overrides=[
            Parameter('bag', value=str(mixed_bag)), Parameter('topics', value=['other'])])
