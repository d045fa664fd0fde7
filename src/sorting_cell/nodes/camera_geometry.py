"""Latest depth, intrinsics and camera pose of the cell's camera, to put objects in 3-D."""
from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from sorting_cell.regions import Region

from .conversions import (MessageError, backproject, camera_info_to_dict, depth_from_image,
                          pose_to_matrix)
from .qos import latched_qos, sensor_qos

__all__ = ['Perception3D']


class Perception3D:
    """Latest depth, intrinsics and camera pose, to put detections in 3-D.

    Shared by the proposals and sorter nodes. Positions are in the world frame when the
    camera pose is known, else in the camera's optical frame.
    """

    def __init__(self, node: Node, best_effort: bool = False):
        self._lock = threading.Lock()
        self.depth: np.ndarray | None = None
        self.info: CameraInfo | None = None
        self.t_world_camera: np.ndarray | None = None
        self.pose_frame = ''
        self._node = node
        node.create_subscription(Image, 'camera/depth', self._on_depth, sensor_qos(best_effort))
        node.create_subscription(CameraInfo, 'camera/camera_info', self._on_info,
                                 sensor_qos(best_effort))
        node.create_subscription(PoseStamped, 'camera/pose', self._on_pose, latched_qos())

    def _on_depth(self, msg: Image) -> None:
        try:
            depth = depth_from_image(msg)
        except MessageError as exc:
            self._node.get_logger().warning(f'camera/depth: {exc}', throttle_duration_sec=10.0)
            return
        with self._lock:
            self.depth = depth

    def _on_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self.info = msg

    def _on_pose(self, msg: PoseStamped) -> None:
        try:
            T = pose_to_matrix(msg.pose)
        except MessageError as exc:
            self._node.get_logger().warning(f'camera/pose: {exc}')
            return
        with self._lock:
            first = self.t_world_camera is None
            self.t_world_camera, self.pose_frame = T, msg.header.frame_id or 'world'
        if first:
            self._node.get_logger().info(f'camera pose received (frame {self.pose_frame!r}): '
                                         'detections get world positions')

    def snapshot(self, shape: tuple[int, int]) -> tuple[np.ndarray | None, dict | None]:
        """Depth and camera-info dict matching an image of ``shape`` (or None)."""
        with self._lock:
            depth, info, T = self.depth, self.info, self.t_world_camera
        if info is None:
            return None, None
        try:
            cam = camera_info_to_dict(info, T)
        except MessageError:
            return None, None
        if depth is not None and depth.shape[:2] != tuple(shape[:2]):
            depth = None
        return depth, cam

    def positions(self, regions: list[Region], depth: np.ndarray | None,
                  cam: dict | None, image_frame: str = '') -> tuple[list, str]:
        """3-D point per region and its frame (world if the pose is known, else the
        image's optical frame)."""
        if depth is None or cam is None:
            return [None] * len(regions), ''
        T = cam.get('T_world_camera')
        frame = self.pose_frame if T is not None else (image_frame or cam.get('frame_id', ''))
        return [backproject(r, depth, cam['K'], T) for r in regions], frame
