"""Live inputs of the calibration: frames and intrinsics from a camera, touched TCP positions
from tf."""
from __future__ import annotations

import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from .conversions import MessageError, rgb_from_image
from .qos import sensor_qos

__all__ = ['capture_frames', 'record_touches']


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


def record_touches(corner_ids, base_frame: str, tcp_frame: str, timeout: float = 10.0,
                   ask=None, args=None) -> list[tuple[int, list[float]]]:
    """For each corner id: ask the operator to put the tool tip on it, then read the TCP
    position in ``base_frame`` from tf (the robot's robot_state_publisher).

    ``ask(prompt)`` waits for the operator (default ``input``: Enter on the terminal). Raises
    :class:`TimeoutError` when tf has no ``base_frame -> tcp_frame`` within ``timeout`` s.
    """
    import threading

    from rclpy.executors import SingleThreadedExecutor

    from .tf import FrameLookupError, TransformListener
    ask = ask or input
    owns = not rclpy.ok()
    if owns:
        rclpy.init(args=args)
    node = Node('calibration_touch')
    listener = TransformListener(node)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    out = []
    try:
        for cid in corner_ids:
            ask(f'put the tool tip on board corner {cid}, then press Enter ')
            # only a TCP published after Enter counts: an older one may be from the way there
            pressed = node.get_clock().now().nanoseconds * 1e-9
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if listener.last_tf_stamp >= pressed:
                        T = listener.lookup(base_frame, tcp_frame)
                        break
                    why = 'nothing newer than the key press on /tf'
                except FrameLookupError as exc:
                    why = str(exc)
                if time.monotonic() > deadline:
                    raise TimeoutError(f'no {base_frame} -> {tcp_frame} on tf within '
                                       f'{timeout:g} s: {why}')
                time.sleep(0.05)
            out.append((int(cid), [float(v) for v in T[:3, 3]]))
            print(f'corner {cid}: TCP at {[round(v, 4) for v in out[-1][1]]} m in {base_frame}')
    finally:
        executor.shutdown()
        node.destroy_node()
        if owns:
            rclpy.try_shutdown()
    return out
