"""numpy <-> ROS messages: images, detections, assignments, camera info.

Every conversion from a message checks what it is given and raises
:class:`MessageError` (a ``ValueError``) with a specific reason, so that nodes can log it,
publish a diagnostic and carry on.
"""
from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PointStamped
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header

from sorting_cell.images import ImageLoadError, load_image
from sorting_cell.regions import Region
from sorting_cell_interfaces.msg import ClusterAssignments, Detection, Detections

__all__ = ['MessageError', 'image_to_numpy', 'numpy_to_image', 'rgb_from_image',
           'depth_from_image', 'region_to_detection', 'detection_to_region',
           'regions_to_detections', 'detections_to_regions', 'camera_info_to_dict',
           'pose_to_matrix', 'backproject', 'make_assignments', 'ENCODINGS']


class MessageError(ValueError):
    """A message that cannot be used, and why."""


# encoding -> (dtype, channels)
ENCODINGS = {
    'rgb8': (np.uint8, 3), 'bgr8': (np.uint8, 3), 'rgba8': (np.uint8, 4),
    'bgra8': (np.uint8, 4), 'mono8': (np.uint8, 1), '8UC1': (np.uint8, 1),
    '8UC3': (np.uint8, 3), 'mono16': (np.uint16, 1), '16UC1': (np.uint16, 1),
    '32FC1': (np.float32, 1),
}
_COLOR = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', 'mono16', '16UC1')


def image_to_numpy(msg: Image) -> np.ndarray:
    """The pixels of ``msg`` as an (H, W) or (H, W, C) array (a copy, native byte order)."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise MessageError(f'unsupported image encoding {enc!r}; supported: '
                           f'{", ".join(sorted(ENCODINGS))}')
    if msg.width == 0 or msg.height == 0:
        raise MessageError(f'empty image ({msg.width}x{msg.height}, encoding {enc})')
    dtype, ch = ENCODINGS[enc]
    dt = np.dtype(dtype).newbyteorder('>' if msg.is_bigendian else '<')
    row = msg.width * ch * dt.itemsize
    if msg.step < row:
        raise MessageError(f'image step {msg.step} is smaller than width * pixel size = {row} '
                           f'({msg.width}x{msg.height} {enc})')
    need = msg.step * msg.height
    data = np.frombuffer(msg.data, dtype=np.uint8)   # array.array('B') in rclpy: no copy
    if data.size < need:
        raise MessageError(f'image data has {data.size} bytes but {msg.width}x{msg.height} '
                           f'{enc} with step {msg.step} needs {need}')
    rows = data[:need].reshape(msg.height, msg.step)[:, :row]
    arr = np.ascontiguousarray(rows).view(dt).reshape(msg.height, msg.width, ch)
    arr = arr.astype(dt.newbyteorder('='), copy=False)
    return arr[:, :, 0] if ch == 1 else arr


def rgb_from_image(msg: Image) -> np.ndarray:
    """An image message as RGB uint8 (H, W, 3), for colour encodings only."""
    arr = image_to_numpy(msg)
    if msg.encoding not in _COLOR:
        raise MessageError(f'expected a colour or grey image (one of {", ".join(_COLOR)}), '
                           f'got encoding {msg.encoding!r}')
    enc = msg.encoding
    if enc in ('mono16', '16UC1'):
        arr = (arr / 257.0).round().astype(np.uint8)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if enc.startswith('bgr'):
        arr = arr[:, :, 2::-1] if enc == 'bgr8' else arr[:, :, [2, 1, 0]]
    return np.ascontiguousarray(arr[:, :, :3])


def depth_from_image(msg: Image) -> np.ndarray:
    """A depth image as float32 metres: 32FC1 as is, 16UC1/mono16 taken as millimetres."""
    if msg.encoding == '32FC1':
        return image_to_numpy(msg)
    if msg.encoding in ('16UC1', 'mono16'):
        depth = image_to_numpy(msg).astype(np.float32) / 1000.0
        depth[depth == 0] = np.nan  # 0 mm means "no reading" for 16-bit depth cameras
        return depth
    raise MessageError(f'expected a depth image (32FC1 metres or 16UC1 millimetres), got '
                       f'encoding {msg.encoding!r}')


def numpy_to_image(arr: np.ndarray, encoding: str | None = None,
                   header: Header | None = None) -> Image:
    """An array as an Image message; encoding defaults to rgb8/mono8/32FC1 by dtype/shape."""
    arr = np.ascontiguousarray(arr)
    if encoding is None:
        if arr.dtype == np.float32:
            encoding = '32FC1'
        elif arr.dtype == np.uint16:
            encoding = '16UC1'
        elif arr.ndim == 2:
            encoding = 'mono8'
        else:
            encoding = {3: 'rgb8', 4: 'rgba8'}.get(arr.shape[2], '')
    if encoding not in ENCODINGS:
        raise MessageError(f'cannot encode array of shape {arr.shape} dtype {arr.dtype} '
                           f'as {encoding!r}')
    dtype, ch = ENCODINGS[encoding]
    if arr.dtype != dtype or (arr.shape[2] if arr.ndim == 3 else 1) != ch:
        raise MessageError(f'array of shape {arr.shape} dtype {arr.dtype} does not match '
                           f'encoding {encoding}')
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(arr.shape[1] * ch * arr.dtype.itemsize)
    # array.array is the fast path rclpy accepts for uint8[] (no per-element checks).
    msg.data = array.array('B', arr.tobytes())
    return msg


def region_to_detection(region: Region, object_id: str, header: Header | None = None,
                        position: tuple[float, float, float] | None = None,
                        position_frame: str = '', include_crop: bool = True) -> Detection:
    """A core :class:`~sorting_cell.regions.Region` as a Detection message."""
    x0, y0, x1, y1 = (int(v) for v in region.box)
    det = Detection()
    det.id = object_id
    det.box = RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)
    det.mask = numpy_to_image(np.asarray(region.mask, bool).astype(np.uint8) * 255, 'mono8',
                              header)
    if include_crop:
        det.crop = numpy_to_image(np.asarray(region.crop, np.uint8), 'rgb8', header)
    det.crop_ref = str(region.extra.get('crop_ref', '')) if not include_crop else ''
    det.score = float(region.score)
    cx, cy = region.centroid
    det.centroid_x, det.centroid_y = float(cx), float(cy)
    if position is not None:
        det.has_position = True
        det.position = PointStamped()
        if header is not None:
            det.position.header.stamp = header.stamp
        det.position.header.frame_id = position_frame
        det.position.point.x, det.position.point.y, det.position.point.z = map(float, position)
    return det


def detection_to_region(det: Detection) -> Region:
    """A Detection message as a Region (crop inline, or a 'file://' crop_ref)."""
    box = (det.box.x_offset, det.box.y_offset, det.box.x_offset + det.box.width,
           det.box.y_offset + det.box.height)
    if det.box.width == 0 or det.box.height == 0:
        raise MessageError(f'detection {det.id!r} has an empty box')
    if det.crop.width and det.crop.height:
        crop = rgb_from_image(det.crop)
    elif det.crop_ref.startswith('file://'):
        try:
            crop = load_image(det.crop_ref[len('file://'):])
        except ImageLoadError as exc:
            raise MessageError(f'detection {det.id!r}: crop_ref unusable: {exc}') from exc
    else:
        why = (f" (crop_ref {det.crop_ref!r}: only 'file://' references are resolved)"
               if det.crop_ref else '')
        raise MessageError(f'detection {det.id!r} carries no crop{why}')
    if det.mask.width and det.mask.height:
        mask = image_to_numpy(det.mask) > 0
        if mask.shape != (det.box.height, det.box.width):
            raise MessageError(f'detection {det.id!r}: mask {mask.shape[1]}x{mask.shape[0]} '
                               f'does not match box {det.box.width}x{det.box.height}')
    else:
        mask = np.ones((det.box.height, det.box.width), bool)
    extra = {'id': det.id}
    if det.has_position:
        p = det.position.point
        extra['position'] = (p.x, p.y, p.z)
        extra['position_frame'] = det.position.header.frame_id
    return Region(box=box, mask=mask, crop=crop, score=float(det.score), extra=extra)


def regions_to_detections(regions: list[Region], header: Header, image_shape: tuple,
                          positions: list | None = None, position_frame: str = '',
                          include_crops: bool = True) -> Detections:
    """All regions of one image; ids are '<sec>.<nanosec>/<rank>' of the image stamp."""
    msg = Detections()
    msg.header = header
    msg.image_height, msg.image_width = int(image_shape[0]), int(image_shape[1])
    stamp = f'{header.stamp.sec}.{header.stamp.nanosec:09d}'
    positions = positions or [None] * len(regions)
    msg.detections = [region_to_detection(r, f'{stamp}/{j}', header, p, position_frame,
                                          include_crops)
                      for j, (r, p) in enumerate(zip(regions, positions))]
    return msg


def detections_to_regions(msg: Detections) -> list[Region]:
    return [detection_to_region(d) for d in msg.detections]


def make_assignments(header: Header, num_boxes: int, object_ids: list[str], boxes,
                     stamps: list[Time] | None = None, features: str = '', method: str = '',
                     features_seconds: float = 0.0,
                     clustering_seconds: float = 0.0) -> ClusterAssignments:
    msg = ClusterAssignments()
    msg.header = header
    msg.num_boxes = int(num_boxes)
    msg.object_ids = list(object_ids)
    msg.boxes = [int(b) for b in boxes]
    msg.stamps = list(stamps) if stamps is not None else [header.stamp] * len(object_ids)
    msg.features, msg.method = features, method
    msg.features_seconds = float(features_seconds)
    msg.clustering_seconds = float(clustering_seconds)
    return msg


def camera_info_to_dict(info: CameraInfo, t_world_camera: np.ndarray | None = None) -> dict:
    """CameraInfo as the dict the manipulation boundary takes (K, width, height, pose)."""
    K = np.asarray(info.k, dtype=float).reshape(3, 3)
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise MessageError(f'camera_info has no valid intrinsics (fx={K[0, 0]}, fy={K[1, 1]})')
    out = {'K': K, 'width': int(info.width), 'height': int(info.height),
           'frame_id': info.header.frame_id}
    if t_world_camera is not None:
        out['T_world_camera'] = np.asarray(t_world_camera, float)
    return out


def pose_to_matrix(pose) -> np.ndarray:
    """geometry_msgs/Pose as a 4x4 homogeneous transform."""
    x, y, z, w = (pose.orientation.x, pose.orientation.y, pose.orientation.z,
                  pose.orientation.w)
    n = x * x + y * y + z * z + w * w
    if n < 1e-12:
        raise MessageError('pose orientation is a zero quaternion')
    s = 2.0 / n
    T = np.eye(4)
    T[:3, :3] = [[1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
                 [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
                 [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)]]
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def backproject(region: Region, depth: np.ndarray, K: np.ndarray,
                t_world_camera: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """3-D point of a region's mask centroid (median depth over the mask), in the camera's
    optical frame, or in the world frame when ``t_world_camera`` is given. None when the
    mask has no valid depth."""
    x0, y0, x1, y1 = region.box
    d = depth[y0:y1, x0:x1][region.mask[:depth[y0:y1, x0:x1].shape[0],
                                        :depth[y0:y1, x0:x1].shape[1]]]
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        return None
    z = float(np.median(d))
    u, v = region.centroid
    p = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z, 1.0])
    if t_world_camera is not None:
        p = t_world_camera @ p
    return float(p[0]), float(p[1]), float(p[2])
