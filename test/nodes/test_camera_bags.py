"""rosbags <-> rclpy: the bytes one writes, the other reads; the recorder records live topics."""
import shutil

import numpy as np
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image

from sorting_cell import bags
from sorting_cell.nodes._rosio import image_msg
from sorting_cell.nodes.camera import CameraNode
from sorting_cell.nodes.qos import latched_qos
from sorting_cell.nodes.recorder import RecorderNode


def test_rclpy_deserializes_a_rosbags_written_image(tmp_path, tools_root):
    bag = tmp_path / 'b'
    bags.bag_from_tools(bag, 4, root=tools_root, classes=['flat'], per_class=1,
                        start_ns=1_700_000_000_123_456_789)
    msgs = {m.topic: m for m in bags.read_messages(bag)}
    img = deserialize_message(msgs[bags.IMAGE_TOPIC].data, Image)
    assert (img.height, img.width, img.encoding, img.step) == (480, 640, 'rgb8', 1920)
    assert (img.header.stamp.sec, img.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    ts, rgb, _ = next(bags.read_images(bag))
    np.testing.assert_array_equal(np.frombuffer(img.data, np.uint8).reshape(480, 640, 3), rgb)
    info = deserialize_message(msgs[bags.INFO_TOPIC].data, CameraInfo)
    assert info.width == 640 and info.k[0] > 0 and info.distortion_model == 'plumb_bob'


def test_rosbags_deserializes_an_rclpy_image():
    rgb = np.random.default_rng(1).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    raw = serialize_message(image_msg(rgb, 42_000_000_017, 'cam'))
    back = bags.typestore().deserialize_cdr(raw, bags.IMAGE_TYPE)
    assert back.header.frame_id == 'cam' and back.header.stamp.nanosec == 17
    np.testing.assert_array_equal(back.data.reshape(3, 5, 3), rgb)


def test_custom_interface_definitions_match_rclpy():
    """Detections recorded by the recorder must decode with the .msg text rosbags registers."""
    from sorting_cell_interfaces.msg import Detection, Detections

    msg = Detections()
    msg.header.frame_id = 'camera'
    det = Detection(id='obj-3', score=0.75)
    det.box.width, det.crop.encoding = 40, 'rgb8'
    msg.detections = [det, Detection()]
    store = bags.typestore()
    added = bags.register_msg_types(store, ['sorting_cell_interfaces/msg/Detections'])
    assert 'sorting_cell_interfaces/msg/Detection' in added
    back = store.deserialize_cdr(serialize_message(msg), 'sorting_cell_interfaces/msg/Detections')
    assert back.header.frame_id == 'camera' and len(back.detections) == 2
    assert back.detections[0].id == 'obj-3' and back.detections[0].box.width == 40
    # and the other way round
    again = deserialize_message(bytes(store.serialize_cdr(
        back, 'sorting_cell_interfaces/msg/Detections')), Detections)
    assert again == msg


def test_recorder_writes_live_topics_to_a_standard_bag(ros, tmp_path, tools_root):
    from std_msgs.msg import Bool

    folder = tmp_path / 'frames'
    folder.mkdir()
    for path in bags.list_images(tools_root / 'conditions5' / 'clamp')[:4]:
        shutil.copy(path, folder / path.name)
    ready = ros.probe.create_publisher(Bool, 'clustering/ready', latched_qos())
    ready.publish(Bool(data=True))  # latched before the recorder exists: must still be recorded
    out = tmp_path / 'rec'
    rec = ros.add(RecorderNode(context=ros.context, parameter_overrides=[
        Parameter('output', value=str(out))]))
    cam = None
    try:
        ros.wait_for(lambda: '/clustering/ready' in rec.subscriptions_, 10, 'ready subscribed')
        cam = ros.add(CameraNode(context=ros.context, parameter_overrides=[
            Parameter('source', value='folder'), Parameter('folder', value=str(folder)),
            Parameter('loop', value=False), Parameter('rate_hz', value=10.0),
            Parameter('wait_for_subscribers', value=1)]))
        # Everything asserted below, not only the images: camera_info can trail its image.
        counts = rec.writer.counts
        ros.wait_for(lambda: counts.get('/camera/image_raw', 0) >= 4
                     and counts.get('/camera/camera_info', 0) >= 4
                     and counts.get('/clustering/ready', 0) >= 1, 20,
                     '4 recorded frames, their 4 camera_info and the ready state')
        ros.wait_for(lambda: cam.state.startswith('finished'), 10, 'the camera to finish')
    finally:
        if cam is not None:
            cam.close()
        summary = rec.close()
    assert summary.counts['/camera/image_raw'] == 4
    assert summary.counts['/camera/camera_info'] == 4
    assert summary.types['/clustering/ready'] == 'std_msgs/msg/Bool'
    frames = list(bags.read_images(out))
    assert len(frames) == 4
    assert all(rgb.shape == (480, 640, 3) for _, rgb, _ in frames)
    (ready_msg,) = list(bags.read_messages(out, ['/clustering/ready']))
    assert bags.typestore().deserialize_cdr(ready_msg.data, ready_msg.msgtype).data is True




def test_camera_holds_its_first_frame_until_camera_info_is_subscribed_too(ros, tmp_path,
                                                                          tools_root):
    """A subscriber of the image alone must not start the stream: the camera_info of the
    frames sent before its own subscriber matched would be lost."""
    import time

    from sensor_msgs.msg import CameraInfo, Image

    from sorting_cell.nodes.qos import sensor_qos

    folder = tmp_path / 'frames'
    folder.mkdir()
    for path in bags.list_images(tools_root / 'conditions5' / 'clamp')[:3]:
        shutil.copy(path, folder / path.name)
    images, infos = [], []
    ros.probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos())
    cam = ros.add(CameraNode(context=ros.context, parameter_overrides=[
        Parameter('source', value='folder'), Parameter('folder', value=str(folder)),
        Parameter('loop', value=False), Parameter('rate_hz', value=10.0),
        Parameter('wait_for_subscribers', value=1), Parameter('wait_timeout_s', value=60.0)]))
    try:
        ros.wait_for(lambda: cam.image_pub.get_subscription_count() >= 1, 20, 'image match')
        # The scenario, not a wait: the camera_info subscriber comes later than the image's
        # (as a recorder that discovered one topic before the other); a camera that started
        # on the image match alone has sent all 3 frames by then.
        time.sleep(0.5)
        ros.probe.create_subscription(CameraInfo, 'camera/camera_info', infos.append,
                                      sensor_qos())
        ros.wait_for(lambda: cam.state.startswith('finished'), 30, 'the camera to finish')
        ros.wait_for(lambda: len(images) >= 3 and len(infos) >= 3, 10,
                     'every image and every camera_info')
        assert len(images) == len(infos) == cam.published == 3
        assert [i.header.stamp for i in infos] == [m.header.stamp for m in images]
    finally:
        cam.close()


def _late_subscriber(ros, msg_type, topic, qos):
    got = []
    ros.probe.create_subscription(msg_type, topic, got.append, qos)
    return got


def test_recorded_latched_topic_replays_latched(ros, tmp_path):
    """Round trip: a latched and a volatile topic recorded live, then replayed; a subscriber
    that joins after the replay sent everything still gets the latched value."""
    from rclpy.qos import DurabilityPolicy
    from std_msgs.msg import Bool, String

    from sorting_cell.nodes.qos import result_qos
    from sorting_cell.nodes.replay import ReplayNode

    ready = ros.probe.create_publisher(Bool, 'clustering/ready', latched_qos())
    ready.publish(Bool(data=True))
    log = ros.probe.create_publisher(String, 'log_line', result_qos())
    out = tmp_path / 'rec'
    rec = ros.add(RecorderNode(context=ros.context, parameter_overrides=[
        Parameter('output', value=str(out)),
        Parameter('topics', value=['clustering/ready', 'log_line'])]))
    try:
        ros.wait_for(lambda: log.get_subscription_count() >= 1
                     and rec.writer.counts.get('/clustering/ready', 0) >= 1, 20,
                     'the recorder on both topics')
        log.publish(String(data='hello'))
        ros.wait_for(lambda: rec.writer.counts.get('/log_line', 0) >= 1, 10, 'volatile line')
    finally:
        summary = rec.close()
    ros.probe.destroy_publisher(ready)
    ros.probe.destroy_publisher(log)
    assert summary.counts == {'/clustering/ready': 1, '/log_line': 1}
    recorded = bags.summarize(out)
    assert recorded.ros_distro == 'jazzy'
    assert bags.is_latched(recorded.qos['/clustering/ready'])
    assert recorded.qos['/log_line'] and not bags.is_latched(recorded.qos['/log_line'])
    assert all(h.startswith('RIHS01_') for h in recorded.hashes.values())

    replay = ros.add(ReplayNode(context=ros.context, parameter_overrides=[
        Parameter('bag', value=str(out)),
        Parameter('topics', value=['clustering/ready', 'log_line'])]))
    try:
        ros.wait_future(replay.done, 20, 'end of bag')
        assert replay.published == 2
        durability = {t: replay.publishers_[t][0].qos_profile.durability
                      for t in ('/clustering/ready', '/log_line')}
        assert durability == {'/clustering/ready': DurabilityPolicy.TRANSIENT_LOCAL,
                              '/log_line': DurabilityPolicy.VOLATILE}
        late = _late_subscriber(ros, Bool, 'clustering/ready', latched_qos())
        ros.wait_for(lambda: late, 10, 'the latched value for a late subscriber')
        assert [m.data for m in late] == [True]
    finally:
        replay.close()


def _replay_node(ros, bag, topics, **params):
    from sorting_cell.nodes.replay import ReplayNode

    overrides = [Parameter('bag', value=str(bag)), Parameter('topics', value=topics)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(ReplayNode(context=ros.context, parameter_overrides=overrides))


def test_bag_written_by_rosbags_own_writer_replays(ros, tmp_path):
    """A bag made with the rosbags library's Writer (not project code): a latched topic
    replays latched, images arrive with their pixels."""
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)
    from rosbags.rosbag2 import StoragePlugin, Writer
    from sensor_msgs.msg import Image
    from std_msgs.msg import Bool

    from sorting_cell.nodes.qos import sensor_qos

    store = bags.typestore()
    never = QosTime(0, 0)
    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE,
                  QosDurability.TRANSIENT_LOCAL, never, never, QosLiveliness.AUTOMATIC, never,
                  False)
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out = tmp_path / 'other'
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        ready = w.add_connection('/clustering/ready', 'std_msgs/msg/Bool', typestore=store,
                                 offered_qos_profiles=[latched])
        image = w.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image',
                                 typestore=store)
        w.write(ready, 10**9, bytes(store.serialize_cdr(
            store.types['std_msgs/msg/Bool'](data=True), 'std_msgs/msg/Bool')))
        for i in range(3):
            w.write(image, 10**9 + (i + 1) * 20_000_000,
                    bags.image_cdr(store, rgb + i, 10**9 + i))
    images = []
    ros.probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos())
    replay = _replay_node(ros, out, ['camera/image_raw', 'clustering/ready'],
                          wait_for_subscribers=1)
    try:
        ros.wait_future(replay.done, 20, 'end of bag')
        ros.wait_for(lambda: len(images) >= 3, 10, '3 images')
        for i, msg in enumerate(images):
            np.testing.assert_array_equal(
                np.frombuffer(msg.data, np.uint8).reshape(2, 3, 3), rgb + i)
        late = _late_subscriber(ros, Bool, 'clustering/ready', latched_qos())
        ros.wait_for(lambda: late, 10, 'the latched value for a late subscriber')
        assert [m.data for m in late] == [True]
    finally:
        replay.close()


def test_bare_mcap_written_by_the_mcap_librarys_ros2_writer_replays(ros, tmp_path):
    """An .mcap file (no metadata.yaml) from mcap-ros2-support's writer replays: the stream
    arrives whole, with the recorded stamps."""
    from mcap_ros2.writer import Writer
    from sensor_msgs.msg import CameraInfo, Image

    from sorting_cell.nodes.qos import sensor_qos

    store = bags.typestore()
    path = tmp_path / 'camera.mcap'
    with open(path, 'wb') as f:
        writer = Writer(f)
        schemas = {t: writer.register_msgdef(t, store.generate_msgdef(t, ros_version=2)[0])
                   for t in (bags.IMAGE_TYPE, bags.INFO_TYPE)}
        for i in range(4):
            stamp = 1_700_000_000_000_000_000 + i * 25_000_000
            header = {'stamp': {'sec': stamp // 10**9, 'nanosec': stamp % 10**9},
                      'frame_id': 'camera'}
            writer.write_message(bags.IMAGE_TOPIC, schemas[bags.IMAGE_TYPE], {
                'header': header, 'height': 2, 'width': 2, 'encoding': 'rgb8',
                'is_bigendian': 0, 'step': 6, 'data': bytes([i] * 12)}, log_time=stamp)
            writer.write_message(bags.INFO_TOPIC, schemas[bags.INFO_TYPE], {
                'header': header, 'height': 2, 'width': 2, 'distortion_model': 'plumb_bob',
                'd': [0.0] * 5, 'k': [1.0, 0, 1, 0, 1, 1, 0, 0, 1], 'r': [0.0] * 9,
                'p': [0.0] * 12}, log_time=stamp)
        writer.finish()
    summary = bags.summarize(path)
    assert summary.counts == {bags.IMAGE_TOPIC: 4, bags.INFO_TOPIC: 4}
    images, infos = [], []
    ros.probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos())
    ros.probe.create_subscription(CameraInfo, 'camera/camera_info', infos.append,
                                  sensor_qos())
    replay = _replay_node(ros, path, ['camera/image_raw', 'camera/camera_info'],
                          wait_for_subscribers=1)
    try:
        ros.wait_future(replay.done, 20, 'end of bag')
        ros.wait_for(lambda: len(images) >= 4 and len(infos) >= 4, 10, 'the whole stream')
        assert [m.data[0] for m in images] == [0, 1, 2, 3]
        assert [m.header.stamp.nanosec for m in infos] == [0, 25_000_000, 50_000_000,
                                                          75_000_000]
        assert infos[0].k[0] == 1.0 and replay.skipped == 0
    finally:
        replay.close()
