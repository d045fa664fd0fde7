"""Grab a few frames and the intrinsics from a live camera (for calibration)."""
from __future__ import annotations

import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from .conversions import MessageError, rgb_from_image
from .qos import sensor_qos

__all__ = ['capture_frames']


def capture_frames(image_topic: str, info_topic: str, n_frames: int, timeout: float,
                   args=None, need_info: bool = True
                   ) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None, str]:
    """``n_frames`` RGB frames, K, distortion and the optical frame id from live topics
    (K and distortion None, frame '' when ``need_info`` is false and none came).

    Subscribes best effort, which also receives from reliable publishers (drivers such as
    v4l2_camera and realsense publish sensor data best effort).

    Raises
    ------
    TimeoutError
        Fewer frames or no camera_info within ``timeout`` seconds (says which).
    """
    if n_frames < 1:
        raise ValueError(f'n_frames must be >= 1, got {n_frames}')
    owns = not rclpy.ok()
    if owns:
        rclpy.init(args=args)
    node = Node('calibration_capture')
    frames: list[np.ndarray] = []
    info: list[CameraInfo] = []
    errors: list[str] = []

    def on_image(msg: Image) -> None:
        if len(frames) < n_frames:
            try:
                frames.append(rgb_from_image(msg))
            except MessageError as exc:
                errors.append(str(exc))

    node.create_subscription(Image, image_topic, on_image, sensor_qos(best_effort=True))
    node.create_subscription(CameraInfo, info_topic, lambda m: info.append(m),
                             sensor_qos(best_effort=True))
    deadline = time.monotonic() + timeout
    try:
        while ((len(frames) < n_frames or (need_info and not info))
               and time.monotonic() < deadline):
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        if owns:
            rclpy.try_shutdown()
    if (need_info and not info) or len(frames) < n_frames:
        why = f'; unusable frames: {errors[-1]}' if errors else ''
        raise TimeoutError(f'within {timeout:g} s got {len(frames)}/{n_frames} frames on '
                           f'{image_topic} and {len(info)} camera_info on {info_topic}{why}')
    if not info:
        return frames, None, None, ''
    K = np.asarray(info[-1].k, float).reshape(3, 3)
    return frames, K, np.asarray(info[-1].d, float), info[-1].header.frame_id
