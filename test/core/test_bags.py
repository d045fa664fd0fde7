"""rosbag2 writing/reading without ROS: tool-dataset bags, encodings, custom types."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
import yaml

from sorting_cell import bags
from sorting_cell.images import load_image


@pytest.fixture(scope='module')
def tool_bag(tmp_path_factory, tools_root):
    out = tmp_path_factory.mktemp('bags') / 'tools_c3'
    summary = bags.bag_from_tools(out, condition=3, root=tools_root, per_class=2, rate_hz=10.0,
                                  start_ns=1_700_000_000_000_000_000)
    return out, summary


def test_tool_bag_is_standard_mcap_rosbag2(tool_bag):
    out, summary = tool_bag
    meta = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['storage_identifier'] == 'mcap'
    assert meta['message_count'] == 28
    assert len(list(out.glob('*.mcap'))) == 1
    topics = {t['topic_metadata']['name']: t for t in meta['topics_with_message_count']}
    assert topics['/camera/image_raw']['message_count'] == 14
    assert topics['/camera/image_raw']['topic_metadata']['type'] == 'sensor_msgs/msg/Image'
    # rosbag2 needs the type hash to play a bag back (Jazzy, metadata version 9).
    assert topics['/camera/image_raw']['topic_metadata']['type_description_hash'].startswith(
        'RIHS01_')
    assert summary.counts == {'/camera/image_raw': 14, '/camera/camera_info': 14}


def test_tool_bag_reads_back_with_rosbags(tool_bag, tools_root):
    from rosbags.rosbag2 import Reader

    out, _ = tool_bag
    store = bags.typestore()
    expected = [p for c in sorted(p.name for p in (tools_root / 'conditions3').iterdir()
                                  if p.is_dir())
                for p in bags.list_images(tools_root / 'conditions3' / c)[:2]]
    with Reader(out) as reader:
        conn = [c for c in reader.connections if c.topic == '/camera/image_raw']
        frames = [(t, store.deserialize_cdr(raw, c.msgtype))
                  for c, t, raw in reader.messages(connections=conn)]
    assert len(frames) == len(expected) == 14
    stamps = np.array([t for t, _ in frames])
    assert stamps[0] == 1_700_000_000_000_000_000
    assert np.all(np.diff(stamps) == 100_000_000)  # exactly 1 / 10 Hz
    for (t, msg), path in zip(frames, expected):
        assert msg.encoding == 'rgb8'
        assert (msg.height, msg.width, msg.step) == (480, 640, 640 * 3)
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == t
        assert msg.header.frame_id == 'camera'
    # pixels are stored losslessly: the first frame is exactly the decoded JPEG
    first = frames[0][1]
    np.testing.assert_array_equal(first.data.reshape(480, 640, 3), load_image(expected[0]))


def test_camera_info_is_consistent_pinhole(tool_bag):
    out, _ = tool_bag
    store = bags.typestore()
    msg = next(store.deserialize_cdr(m.data, m.msgtype)
               for m in bags.read_messages(out, [bags.INFO_TOPIC]))
    k = msg.k.reshape(3, 3)
    assert (msg.width, msg.height) == (640, 480)
    # 60 deg horizontal FOV: fx = 320 / tan(30 deg)
    assert k[0, 0] == pytest.approx(320 / np.tan(np.radians(30)))
    assert k[0, 0] == k[1, 1] and k[0, 2] == pytest.approx(319.5)
    np.testing.assert_allclose(msg.p.reshape(3, 4)[:, :3], k)


def test_read_images_decodes_all_frames(tool_bag):
    out, _ = tool_bag
    frames = list(bags.read_images(out))
    assert len(frames) == 14
    assert all(rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8 for _, rgb, _ in frames)


@pytest.mark.parametrize('encoding, convert', [
    ('bgr8', lambda rgb: rgb[:, :, ::-1]),
    ('rgba8', lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
    ('bgra8', lambda rgb: np.dstack([rgb[:, :, ::-1], np.zeros(rgb.shape[:2], np.uint8)])),
])
def test_image_to_rgb8_converts_colour_orders(encoding, convert):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    src = np.ascontiguousarray(convert(rgb))
    out = bags.image_to_rgb8(encoding, 6, 5, src.strides[0], src.tobytes())
    np.testing.assert_array_equal(out, rgb)


def test_image_to_rgb8_mono_and_padded_rows():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    padded = np.zeros((3, 8), np.uint8)
    padded[:, :4] = gray
    out = bags.image_to_rgb8('mono8', 3, 4, 8, padded.tobytes())
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))
    deep = np.array([[0, 65535]], dtype='>u2')
    out16 = bags.image_to_rgb8('mono16', 1, 2, 4, deep.tobytes(), is_bigendian=1)
    np.testing.assert_array_equal(out16[0, :, 0], [0, 255])


@pytest.mark.parametrize('fields, match', [
    (('32FC1', 2, 2, 8, bytes(16)), "unsupported image encoding '32FC1'"),
    (('yuv422', 2, 2, 4, bytes(8)), 'unsupported image encoding'),
    (('rgb8', 2, 2, 6, bytes(11)), r'data has 11 bytes, but step\*height = 6\*2 = 12'),
    (('rgb8', 2, 2, 5, bytes(10)), 'step 5 is shorter than one rgb8 row'),
    (('rgb8', 0, 2, 6, b''), 'empty image'),
])
def test_image_to_rgb8_rejects_bad_frames_clearly(fields, match):
    with pytest.raises(bags.ImageEncodingError, match=match):
        bags.image_to_rgb8(*fields, source='/camera/image_raw[3]')


def test_writer_never_overwrites(tool_bag):
    with pytest.raises(FileExistsError, match='already exists'):
        bags.BagWriter(tool_bag[0])


def test_unreadable_images_are_skipped_not_fatal(tmp_path, tools_root):
    good = bags.list_images(tools_root / 'conditions1' / 'pen')[:2]
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not a jpeg')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        summary = bags.write_image_bag(tmp_path / 'b', [good[0], bad, good[1]], rate_hz=5)
    assert summary.counts['/camera/image_raw'] == 2
    assert any('broken.jpg' in str(w.message) for w in caught)
    with pytest.raises(ValueError, match='none of the 1 images could be read'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            bags.write_image_bag(tmp_path / 'c', [bad])


def test_bad_inputs_have_specific_errors(tmp_path, tools_root):
    with pytest.raises(FileNotFoundError, match='conditions9'):
        bags.bag_from_tools(tmp_path / 'x', condition=9, root=tools_root)
    with pytest.raises(ValueError, match=r"unknown tool classes \['hammer'\]"):
        bags.bag_from_tools(tmp_path / 'y', root=tools_root, classes=['hammer'])
    with pytest.raises(ValueError, match='rate_hz must be positive'):
        bags.write_image_bag(tmp_path / 'z', ['a.jpg'], rate_hz=0)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='metadata.yaml missing'):
        list(bags.read_messages(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match='no such bag'):
        bags.summarize(tmp_path / 'nope')
    with pytest.raises(ValueError, match='not a ROS camera calibration file'):
        bad = tmp_path / 'cal.yaml'
        bad.write_text('foo: 1\n')
        bags.Intrinsics.from_yaml(bad)


def test_calibration_yaml_round_trip(tmp_path):
    cal = tmp_path / 'cam.yaml'
    cal.write_text(yaml.safe_dump({
        'image_width': 640, 'image_height': 480, 'camera_name': 'c',
        'camera_matrix': {'rows': 3, 'cols': 3, 'data': [500, 0, 320, 0, 501, 240, 0, 0, 1]},
        'distortion_model': 'plumb_bob',
        'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0.1, -0.2, 0, 0, 0]},
    }))
    intr = bags.Intrinsics.from_yaml(cal)
    assert intr.k[4] == 501 and intr.d[:2] == [0.1, -0.2]
    assert intr.p == [500, 0, 320, 0, 0, 501, 240, 0, 0, 0, 1, 0]


def test_custom_message_types_register_from_msg_files(tmp_path, monkeypatch):
    share = tmp_path / 'prefix' / 'share' / 'demo_msgs' / 'msg'
    share.mkdir(parents=True)
    (share / 'Box.msg').write_text('string label\nfloat32[4] xyxy\n')
    (share / 'Boxes.msg').write_text('std_msgs/Header header\ndemo_msgs/Box[] boxes\n')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'prefix'))
    with bags.BagWriter(tmp_path / 'custom') as writer:
        writer.add_topic('boxes', 'demo_msgs/msg/Boxes')
        store = writer.store
        assert {'demo_msgs/msg/Boxes', 'demo_msgs/msg/Box'} <= set(store.types)
        T = store.types
        msg = T['demo_msgs/msg/Boxes'](
            header=T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=1,
                                                                                   nanosec=2),
                                            frame_id='cam'),
            boxes=[T['demo_msgs/msg/Box'](label='pen', xyxy=np.array([1, 2, 3, 4], np.float32))])
        writer.write('boxes', 5, store.serialize_cdr(msg, 'demo_msgs/msg/Boxes'))
    (m,) = list(bags.read_messages(tmp_path / 'custom'))
    back = store.deserialize_cdr(m.data, m.msgtype)
    assert m.topic == '/boxes' and back.boxes[0].label == 'pen'
    np.testing.assert_array_equal(back.boxes[0].xyxy, [1, 2, 3, 4])
    with pytest.raises(KeyError, match='no nowhere_msgs/msg/X.msg was found'):
        bags.register_msg_types(bags.typestore(), ['nowhere_msgs/msg/X'])


def test_bag_and_bringup_modules_stay_ros_free():
    code = ('import sys, sorting_cell.bags, sorting_cell.bringup, sorting_cell.cli.up, '
            'sorting_cell.cli.record, sorting_cell.cli.replay; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "rclpy"))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == '[]'


def test_record_cli_writes_tool_and_folder_bags_without_ros(tmp_path, tools_root, capsys):
    from sorting_cell.cli import main

    out = tmp_path / 'cli_tools'
    assert main(['record', str(out), '--from-tools', '--condition', '2', '--classes', 'pen',
                 'usb', '--per-class', '2', '--rate', '4']) == 0
    summary = bags.summarize(out)
    assert summary.counts['/camera/image_raw'] == 4
    assert summary.duration_s == pytest.approx(0.75, abs=1e-6)
    assert main(['record', str(out), '--from-tools']) == 2
    assert 'already exists' in capsys.readouterr().err
    assert main(['record', str(tmp_path / 'f'), '--from-folder', str(tmp_path / 'nope')]) == 2
    assert 'does not exist' in capsys.readouterr().err


def test_metadata_is_what_rosbag2_jazzy_writes(tmp_path):
    """Offered QoS profiles as a list of named policies, the installed type's RIHS01 hash on
    one line, ros_distro jazzy, metadata version 9 -- in metadata.yaml and inside the MCAP."""
    from mcap.reader import make_reader

    forever = 2**63 - 1
    latched = bags.offered_qos(3, 0, 1, 1, forever, forever, 1, forever, False)
    out = tmp_path / 'b'
    with bags.BagWriter(out) as w:
        w.add_topic('/clustering/ready', 'std_msgs/msg/Bool', [latched])
        w.add_topic('/detections', 'sorting_cell_interfaces/msg/Detections')
    text = (out / 'metadata.yaml').read_text()
    meta = yaml.safe_load(text)['rosbag2_bagfile_information']
    assert meta['version'] == 9 and meta['ros_distro'] == 'jazzy'
    topics = {t['topic_metadata']['name']: t['topic_metadata']
              for t in meta['topics_with_message_count']}
    (qos,) = topics['/clustering/ready']['offered_qos_profiles']
    assert qos['durability'] == 'transient_local' and qos['reliability'] == 'reliable'
    assert qos['history'] == 'unknown' and qos['deadline'] == {'sec': 9223372036,
                                                               'nsec': 854775807}
    assert topics['/detections']['offered_qos_profiles'] == []
    # The hash ROS computed for the installed interface, not an empty or folded value.
    installed = yaml.safe_load((bags.find_msg_file('std_msgs/msg/Bool').with_suffix('.json')
                                ).read_text())['type_hashes'][0]['hash_string']
    assert topics['/clustering/ready']['type_description_hash'] == installed
    assert f'type_description_hash: {installed}\n' in text
    assert topics['/detections']['type_description_hash'].startswith('RIHS01_')
    with open(next(out.glob('*.mcap')), 'rb') as f:
        (record,) = [m for m in make_reader(f).iter_metadata() if m.name == 'rosbag2']
    embedded = yaml.safe_load(record.metadata['serialized_metadata'])
    assert embedded['ros_distro'] == 'jazzy' and embedded['version'] == 9
    summary = bags.summarize(out)
    assert summary.ros_distro == 'jazzy'
    assert bags.is_latched(summary.qos['/clustering/ready'])
    assert not bags.is_latched(summary.qos['/detections'])


def test_bare_or_broken_bag_files_are_named_clearly(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    with pytest.raises(ValueError, match='not a rosbag2 directory .* nor an .mcap file'):
        bags.summarize(text)
    broken = tmp_path / 'cut.mcap'
    broken.write_bytes(b'\x89MCAP0\r\n' + b'\0' * 20)
    with pytest.raises(ValueError, match='cut.mcap: (not a readable MCAP file|MCAP file '
                                         'without a summary)'):
        bags.summarize(broken)
