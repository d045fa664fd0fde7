"""Latest depth, intrinsics and camera pose (from tf) of the cell's camera, to put objects
in 3-D."""
from __future__ import annotations

import collections
import threading

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from sorting_cell.regions import Region

from .conversions import MessageError, backproject, camera_info_to_dict, depth_from_image
from .params import declare
from .qos import sensor_qos
from .tf import FrameLookupError, TransformListener

__all__ = ['Perception3D', 'CLOCK_JUMP_S']

#: A depth stamped this much (s) before the latest one means the camera's clock went back.
CLOCK_JUMP_S = 0.5


class Perception3D:
    """Latest depth and intrinsics, and the camera pose from tf, to put detections in 3-D.

    Shared by the proposals and sorter nodes. The camera pose is the tf transform from the
    node's ``world_frame`` parameter to the optical frame named in ``camera_info``'s header
    (a static transform from the calibration, the robot description or the simulator).
    Positions are in ``world_frame`` when that transform is known, else in the optical frame.
    """

    def __init__(self, node: Node, best_effort: bool = False):
        self._lock = threading.Lock()
        self.depth: np.ndarray | None = None
        # the last few depth images by header stamp (s): an image's own depth is found by
        # its stamp even when a later one (or a late, older one) came in meanwhile
        self._recent: collections.deque = collections.deque(maxlen=10)
        self.info: CameraInfo | None = None
        self._node = node
        self.world_frame = declare(node, 'world_frame', 'world', 'tf frame of the 3-D '
                                   'positions given to detections and picks (the frame the '
                                   'arm plans in)', read_only=True)
        self.tf = TransformListener(node)
        self._announced = False
        node.create_subscription(Image, 'camera/depth', self._on_depth, sensor_qos(best_effort))
        node.create_subscription(CameraInfo, 'camera/camera_info', self._on_info,
                                 sensor_qos(best_effort))

    def _on_depth(self, msg: Image) -> None:
        try:
            depth = depth_from_image(msg)
        except MessageError as exc:
            self._node.get_logger().warning(f'camera/depth: {exc}', throttle_duration_sec=10.0)
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            # The camera's clock went back (a simulator reset, a bag played again): the
            # depths kept are of another scene, and their stamps come round again -- an
            # image of the new scene would find the old scene's depth at its own stamp.
            if self._recent and stamp < self._recent[-1][0] - CLOCK_JUMP_S:
                self._recent.clear()
            self.depth = depth
            self._recent.append((stamp, depth))

    def _on_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self.info = msg

    def camera_pose(self, optical_frame: str) -> np.ndarray | None:
        """``T_world_camera`` from tf, or None while tf cannot relate the two frames."""
        if not optical_frame:
            return None
        try:
            T = self.tf.lookup(self.world_frame, optical_frame)
        except FrameLookupError:
            return None
        if not self._announced:
            self._announced = True
            self._node.get_logger().info(f'camera pose from tf ({self.world_frame} -> '
                                         f'{optical_frame}): detections get positions in '
                                         f'{self.world_frame!r}')
        return T

    def snapshot(self, shape: tuple[int, int], image_stamp: float | None = None,
                 tolerance: float = 0.02) -> tuple[np.ndarray | None, dict | None]:
        """Depth and camera-info dict (with ``T_world_camera`` when tf knows it) matching an
        image of ``shape`` (or None).

        With ``image_stamp`` (the image's header stamp, s) only the depth of that frame
        counts (stamped within ``tolerance``): the depth comes on its own topic, and the
        last one received may be of another scene (before a pause, a reset, a late
        delivery). Without it, the latest depth.
        """
        with self._lock:
            depth, info = self.depth, self.info
            if image_stamp is not None:
                # closest stamp; of equally close ones the latest received
                near = [(abs(t - image_stamp), -k) for k, (t, _) in enumerate(self._recent)
                        if abs(t - image_stamp) <= tolerance]
                depth = self._recent[-min(near)[1]][1] if near else None
        if info is None:
            return None, None
        try:
            cam = camera_info_to_dict(info, self.camera_pose(info.header.frame_id))
        except MessageError:
            return None, None
        if depth is not None and depth.shape[:2] != tuple(shape[:2]):
            depth = None
        return depth, cam

    def positions(self, regions: list[Region], depth: np.ndarray | None,
                  cam: dict | None, image_frame: str = '') -> tuple[list, str]:
        """3-D point per region and its frame (``world_frame`` if the camera pose is known,
        else the image's optical frame)."""
        if depth is None or cam is None:
            return [None] * len(regions), ''
        T = cam.get('T_world_camera')
        frame = self.world_frame if T is not None else (image_frame or cam.get('frame_id', ''))
        return [backproject(r, depth, cam['K'], T) for r in regions], frame
