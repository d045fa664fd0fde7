"""numpy <-> message conversions, including the bad inputs nodes must survive."""
import array

import numpy as np
import pytest
from geometry_msgs.msg import Pose
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from sorting_cell.nodes.conversions import (MessageError, backproject, camera_info_to_dict,
                                            depth_from_image, detection_to_region,
                                            image_to_numpy, make_assignments,
                                            numpy_to_image, pose_to_matrix,
                                            regions_to_detections, rgb_from_image)
from sorting_cell.regions import Region

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def test_rgb_round_trip_and_bgr_rgba():
    assert np.array_equal(rgb_from_image(numpy_to_image(RGB)), RGB)
    bgr = numpy_to_image(np.ascontiguousarray(RGB[:, :, ::-1]), 'bgr8')
    assert np.array_equal(rgb_from_image(bgr), RGB)
    bgra = np.concatenate([RGB[:, :, ::-1], np.full((7, 5, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(rgb_from_image(numpy_to_image(bgra, 'bgra8')), RGB)
    mono = numpy_to_image(RGB[:, :, 0])
    assert mono.encoding == 'mono8'
    assert np.array_equal(rgb_from_image(mono), np.repeat(RGB[:, :, :1], 3, axis=2))


def test_row_padding_and_big_endian():
    msg = numpy_to_image(RGB)
    padded = np.zeros((7, 5 * 3 + 4), np.uint8)
    padded[:, :15] = RGB.reshape(7, 15)
    msg.step, msg.data = 19, array.array('B', padded.tobytes())
    assert np.array_equal(rgb_from_image(msg), RGB)
    depth16 = (np.arange(35, dtype=np.uint16).reshape(7, 5) * 100)
    be = Image(height=7, width=5, encoding='16UC1', is_bigendian=1, step=10,
               data=array.array('B', depth16.astype('>u2').tobytes()))
    assert np.array_equal(image_to_numpy(be), depth16)
    d = depth_from_image(be)
    assert np.isnan(d[0, 0]) and d[0, 1] == pytest.approx(0.1)


@pytest.mark.parametrize('mutate, match', [
    (lambda m: setattr(m, 'encoding', 'yuv422'), 'unsupported image encoding'),
    (lambda m: setattr(m, 'encoding', 'bayer_rggb8'), 'unsupported image encoding'),
    (lambda m: (setattr(m, 'width', 0), setattr(m, 'height', 0)), 'empty image'),
    (lambda m: setattr(m, 'data', array.array('B', b'\0' * 10)), 'needs'),
    (lambda m: setattr(m, 'step', 3), 'step'),
])
def test_bad_images_raise_specific_errors(mutate, match):
    msg = numpy_to_image(RGB)
    mutate(msg)
    with pytest.raises(MessageError, match=match):
        rgb_from_image(msg)


def test_depth_is_not_a_colour_image():
    msg = numpy_to_image(np.ones((4, 4), np.float32))
    with pytest.raises(MessageError, match='expected a colour'):
        rgb_from_image(msg)
    with pytest.raises(MessageError, match='expected a depth'):
        depth_from_image(numpy_to_image(RGB))


def test_detections_round_trip():
    mask = np.zeros((10, 20), bool)
    mask[2:8, 5:15] = True
    crop = RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    region = Region(box=(30, 40, 50, 50), mask=mask, crop=crop, score=0.8)
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 5
    msg = regions_to_detections([region], header, (480, 640), [(0.1, 0.2, 0.3)], 'world')
    assert msg.image_width == 640 and msg.detections[0].id == '12.000000005/0'
    det = msg.detections[0]
    assert det.has_position and det.position.header.frame_id == 'world'
    back = detection_to_region(det)
    assert back.box == region.box and np.array_equal(back.mask, mask)
    assert np.array_equal(back.crop, crop) and back.score == pytest.approx(0.8)
    assert back.centroid == pytest.approx(region.centroid)
    det.crop = Image()
    det.crop_ref = 'http://example.org/x.png'
    with pytest.raises(MessageError, match="carries no crop.*only 'file://'"):
        detection_to_region(det)
    det.crop_ref = 'file:///nonexistent/x.png'
    with pytest.raises(MessageError, match='crop_ref unusable: .*does not exist'):
        detection_to_region(det)


def test_crop_by_file_reference(tmp_path):
    import cv2
    crop = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'c.png'), crop[:, :, ::-1])
    region = Region(box=(0, 0, 4, 4), mask=np.ones((4, 4), bool), crop=crop,
                    extra={'crop_ref': f'file://{tmp_path}/c.png'})
    msg = regions_to_detections([region], Header(), (10, 10), include_crops=False)
    det = msg.detections[0]
    assert det.crop.width == 0 and det.crop_ref.startswith('file://')
    assert np.array_equal(detection_to_region(det).crop, crop)


def test_assignments_message():
    msg = make_assignments(Header(), 3, ['a', 'b'], np.array([2, 0]), features='hog',
                           method='kmeans', features_seconds=0.5)
    assert list(msg.boxes) == [2, 0] and msg.num_boxes == 3 and len(msg.stamps) == 2


def test_backprojection_with_pose():
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    info = CameraInfo(width=640, height=480, k=K.ravel().tolist())
    cam = camera_info_to_dict(info)
    depth = np.full((480, 640), 2.0, np.float32)
    mask = np.ones((20, 20), bool)
    region = Region(box=(410, 230, 430, 250), mask=mask, crop=RGB)
    x, y, z = backproject(region, depth, cam['K'])
    assert (x, y, z) == pytest.approx(((419.5 - 320) * 2 / 500, (239.5 - 240) * 2 / 500, 2.0))
    pose = Pose()
    pose.position.z = 1.5
    pose.orientation.x, pose.orientation.w = 1.0, 0.0   # 180 deg about x: looking down
    T = pose_to_matrix(pose)
    wx, wy, wz = backproject(region, depth, cam['K'], T)
    assert wz == pytest.approx(1.5 - 2.0) and wy == pytest.approx(-y)
    depth[:] = np.nan
    assert backproject(region, depth, cam['K']) is None
    with pytest.raises(MessageError, match='intrinsics'):
        camera_info_to_dict(CameraInfo())
