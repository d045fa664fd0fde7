"""`sorting-cell replay` as its own process; this test process subscribes over DDS."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sorting_cell import bags
from rosproc import ros_env

DOMAIN = 200 + os.getpid() % 11  # 200-232: clear of test/nodes (100-199)
SORTING_CELL = str(Path(sys.executable).with_name('sorting-cell'))


@pytest.fixture(scope='module')
def tool_bag(tmp_path_factory, tools_root):
    out = tmp_path_factory.mktemp('replay') / 'tools'
    bags.bag_from_tools(out, condition=2, root=tools_root, per_class=3, rate_hz=10.0)
    return out


class Frames(list):
    """(arrival time, Image) per frame; ``infos``: the CameraInfo messages."""

    def __init__(self):
        super().__init__()
        self.infos = []


@pytest.fixture
def listener():
    """A subscriber in this process: (arrival monotonic time, Image) per frame, and the
    camera_info messages (``got.infos``): a replay waiting for subscribers waits for both."""
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image

    from sorting_cell.nodes.qos import sensor_qos

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    node = Node('replay_listener', context=ctx)
    got = Frames()
    node.create_subscription(Image, 'camera/image_raw',
                             lambda m: got.append((time.monotonic(), m)), sensor_qos(depth=50))
    node.create_subscription(CameraInfo, 'camera/camera_info', got.infos.append,
                             sensor_qos(depth=50))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        thread.join(timeout=5)


@pytest.mark.parametrize('rate', [1.0, 2.5])
def test_replay_process_delivers_every_frame_with_its_timing(tool_bag, listener, rate):
    env = ros_env(DOMAIN)
    proc = subprocess.run([SORTING_CELL, 'replay', str(tool_bag), '--rate', str(rate),
                           '--wait-for-subscribers', '1'], env=env, capture_output=True,
                          text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert 'end of bag: 42 published, 0 skipped' in proc.stderr
    deadline = time.monotonic() + 5
    while (len(listener) < 21 or len(listener.infos) < 21) and time.monotonic() < deadline:
        time.sleep(0.05)
    recorded = [m.timestamp_ns for m in bags.read_messages(tool_bag, [bags.IMAGE_TOPIC])]
    assert len(listener) == len(recorded) == 21  # lossless
    assert len(listener.infos) == 21
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in listener]
    assert stamps == recorded  # in order, original header stamps
    arrival = np.array([t for t, _ in listener])
    expected = (np.array(recorded) - recorded[0]) / 1e9 / rate
    # Each frame's arrival against its scheduled time; the common offset is the transport
    # latency, what varies around it is timing error. Pacing follows the wall clock from the
    # first frame, so errors must not accumulate over the bag.
    err = (arrival - arrival[0]) - expected
    err -= np.median(err)
    assert np.median(np.abs(err)) < 0.015 and np.abs(err).max() < 0.15, err
    span = arrival[-1] - arrival[0]
    assert span == pytest.approx(expected[-1], rel=0.05, abs=0.05)
    assert all(m.encoding == 'rgb8' and m.width == 640 for _, m in listener)
