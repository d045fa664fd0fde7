"""Camera node: ``camera/image_raw`` (rgb8) + ``camera/camera_info`` from a real or recorded
source.

Sources (parameter ``source``):

- ``opencv``: ``cv2.VideoCapture(device)`` -- a device index (``'0'``), a device path
  (``/dev/video0``), a stream URL (``rtsp://``, ``http://...mjpg``) or a video file.
- ``folder``: every image under ``folder`` (sorted, loaded with
  :func:`sorting_cell.images.load_image`) at ``rate_hz``, optionally looping.

The simulator publishes its own ``camera/*`` topics, so ``sorting-cell up sim`` runs no camera
node. A source that cannot be opened or stops delivering frames is retried with exponential
backoff (``reconnect_initial_s`` doubling up to ``reconnect_max_s``); the node keeps running
and reports the state on ``/diagnostics`` and in its log.

Run: ``python -m sorting_cell.nodes.camera --ros-args --params-file config/camera.yaml``.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from ..bags import Intrinsics, list_images
from ..images import ImageLoadError, load_image
from . import _rosio
from .diagnostics import ERROR, OK, Diagnostics
from .params import descriptor
from .qos import sensor_qos
from .liveness import Heartbeat

SOURCES = ('opencv', 'folder')


class SourceUnavailable(RuntimeError):
    """The source cannot deliver frames right now (retry later)."""


class EndOfStream(Exception):
    """A finite source (folder without loop) has delivered everything."""


class Backoff:
    """Exponential retry delays: ``initial``, ``2*initial``, ... capped at ``maximum``."""

    def __init__(self, initial: float, maximum: float, factor: float = 2.0):
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * self.factor ** self.attempts)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


class FolderSource:
    """Images of a folder in sorted order; ``read`` paces nothing (the node does)."""

    live = False  # frames wait for their turn; none is dropped

    def __init__(self, folder: str, loop: bool, recursive: bool = True):
        self.folder, self.loop, self.recursive = folder, loop, recursive
        self.files: list[Path] = []
        self.index = 0
        self.unreadable: list[str] = []
        self.describe = f'folder {folder}'

    def open(self) -> None:
        try:
            self.files = list_images(self.folder, self.recursive)
        except FileNotFoundError as exc:
            raise SourceUnavailable(str(exc)) from exc
        if not self.files:
            raise SourceUnavailable(f'{self.folder}: folder holds no image files')

    def read(self) -> tuple[np.ndarray, str]:
        for _ in range(len(self.files)):
            if self.index >= len(self.files):
                if not self.loop:
                    raise EndOfStream
                self.index = 0
            path = self.files[self.index]
            self.index += 1
            try:
                return load_image(path), str(path)
            except ImageLoadError as exc:
                self.unreadable.append(str(exc))
        if self.index >= len(self.files) and not self.loop:
            raise EndOfStream
        raise SourceUnavailable(f'{self.folder}: no readable image among {len(self.files)} '
                                f'files (last error: {self.unreadable[-1]})')

    def close(self) -> None:
        pass


class OpenCVSource:
    """``cv2.VideoCapture`` on an index, device path, URL or video file (BGR -> RGB)."""

    live = True  # the device sets the pace: frames above rate_hz are dropped, not queued

    def __init__(self, device: str, width: int = 0, height: int = 0,
                 open_timeout_s: float = 5.0):
        self.device = int(device) if device.strip().isdigit() else device
        self.width, self.height, self.open_timeout_s = width, height, open_timeout_s
        self.cap = None
        self.describe = f'opencv {device}'

    def open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.open_timeout_s * 1000)]
        cap = cv2.VideoCapture(self.device, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(f'cannot open camera {self.device!r} (no such device, '
                                    'unreachable URL, or unsupported stream)')
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.cap = cap

    def read(self) -> tuple[np.ndarray, str]:
        ok, frame = self.cap.read() if self.cap is not None else (False, None)
        if not ok or frame is None:
            raise SourceUnavailable(f'camera {self.device!r} stopped delivering frames')
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB), str(self.device)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), str(self.device)

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class CameraNode(Node):
    """Publish frames from one source; never dies on a camera fault."""

    PARAMETERS = {
        'source': ('folder', descriptor(f'frame source: one of {SOURCES}', read_only=True)),
        'device': ('0', descriptor('opencv source: device index, /dev/videoN, stream URL or '
                                   'video file', read_only=True)),
        'folder': ('', descriptor('folder source: directory of images (searched recursively)',
                                  read_only=True)),
        'recursive': (True, descriptor('folder source: include sub-folders', read_only=True)),
        'loop': (True, descriptor('folder source: start again after the last image')),
        'rate_hz': (10.0, descriptor('publish rate for folders; upper limit for cameras '
                                     '(0 = as fast as the camera delivers)',
                                     float_range=(0.0, 1000.0))),
        'frame_id': ('camera', descriptor('header.frame_id of published messages')),
        'width': (0, descriptor('requested capture width (0 = driver default)',
                                read_only=True, int_range=(0, 16384))),
        'height': (0, descriptor('requested capture height (0 = driver default)',
                                 read_only=True, int_range=(0, 16384))),
        'hfov_deg': (60.0, descriptor('horizontal field of view for the ideal pinhole '
                                      'CameraInfo when no calibration file is given',
                                      float_range=(1.0, 179.0))),
        'calibration_file': ('', descriptor('ROS camera calibration YAML (camera_info)',
                                            read_only=True)),
        'reconnect_initial_s': (0.5, descriptor('first retry delay after a failure',
                                                float_range=(0.01, 60.0))),
        'reconnect_max_s': (10.0, descriptor('longest retry delay (backoff doubles up to '
                                             'this)', float_range=(0.01, 600.0))),
        'open_timeout_s': (5.0, descriptor('opencv: open/read timeout for streams',
                                           read_only=True, float_range=(0.1, 120.0))),
        'reliable': (True, descriptor('RELIABLE image QoS (best effort loses frames '
                                      'without shared memory)', read_only=True)),
        'queue_depth': (5, descriptor('image publisher history depth', read_only=True,
                                      int_range=(1, 100))),
        'wait_for_subscribers': (0, descriptor('hold the first frame until this many '
                                               'subscribers matched both image and '
                                               'camera_info', read_only=True,
                                               int_range=(0, 100))),
        'wait_timeout_s': (10.0, descriptor('longest wait for those subscribers',
                                            read_only=True, float_range=(0.0, 600.0))),
    }

    def __init__(self, **kwargs):
        super().__init__('camera', **kwargs)
        for name, (default, desc) in self.PARAMETERS.items():
            self.declare_parameter(name, default, desc)
        self.add_on_set_parameters_callback(self._validate)
        p = {name: self.get_parameter(name).value for name in self.PARAMETERS}
        if p['source'] not in SOURCES:
            raise ValueError(f"parameter source must be one of {SOURCES}, got {p['source']!r} "
                             "(the simulator publishes its own camera topics)")
        if p['source'] == 'folder' and not p['folder']:
            raise ValueError('source folder needs parameter folder (a directory of images)')
        self.intrinsics: Intrinsics | None = (
            Intrinsics.from_yaml(p['calibration_file']) if p['calibration_file'] else None)
        if p['source'] == 'folder':
            self.source = FolderSource(p['folder'], p['loop'], p['recursive'])
        else:
            self.source = OpenCVSource(p['device'], p['width'], p['height'],
                                       p['open_timeout_s'])
        qos = sensor_qos(best_effort=not p['reliable'], depth=p['queue_depth'])
        self.image_pub = self.create_publisher(Image, 'camera/image_raw', qos)
        self.info_pub = self.create_publisher(CameraInfo, 'camera/camera_info', qos)
        self.diagnostics = Diagnostics(self, 'camera', hardware_id=self.source.describe)
        self.backoff = Backoff(p['reconnect_initial_s'], p['reconnect_max_s'])
        self.published = 0
        self.skipped = 0
        self.dropped = 0  # live frames above rate_hz
        self.failures: list[float] = []  # monotonic times of failed open/read attempts
        self.state = 'starting'
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture_loop, name='camera-capture',
                                        daemon=True)
        self._thread.start()
        # last: beats only once the node is built (see nodes/liveness.py)
        self.heartbeat = Heartbeat(self)

    # -- parameters
    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == 'reconnect_max_s' and param.value < self.backoff.initial:
                return SetParametersResult(successful=False,
                                           reason='reconnect_max_s < reconnect_initial_s')
            if param.name == 'loop' and isinstance(self.source, FolderSource):
                self.source.loop = bool(param.value)
            if param.name == 'reconnect_initial_s':
                self.backoff.initial = float(param.value)
            if param.name == 'reconnect_max_s':
                self.backoff.maximum = float(param.value)
        return SetParametersResult(successful=True)

    # -- capture thread
    def _capture_loop(self) -> None:
        p = self.get_parameter
        if p('wait_for_subscribers').value:
            # Both topics: a frame whose camera_info is lost cannot be used in 3-D.
            if not _rosio.wait_for_subscribers([self.image_pub, self.info_pub],
                                               p('wait_for_subscribers').value,
                                               p('wait_timeout_s').value, self._stop.is_set,
                                               node=self):
                self.get_logger().warning('subscribers did not all appear in time; starting')
        opened = False
        next_due = 0.0
        while not self._stop.is_set():
            try:
                if not opened:
                    self.source.open()
                    opened = True
                    self._set_state(OK, f'streaming from {self.source.describe}')
                    self.get_logger().info(f'opened {self.source.describe}')
                rgb, _origin = self.source.read()
                stamp = self.get_clock().now().nanoseconds
            except EndOfStream:
                self._report_unreadable()
                self._set_state(OK, f'finished: {self.published} frames published, '
                                'loop is off')
                self.get_logger().info(f'{self.source.describe}: all {self.published} frames '
                                       'published (loop off); idle')
                return
            except SourceUnavailable as exc:
                self._report_unreadable()
                opened = False
                self.source.close()
                self.failures.append(time.monotonic())
                delay = self.backoff.next_delay()
                self._set_state(ERROR, f'{exc}; retry {self.backoff.attempts} in {delay:.2f} s')
                self.get_logger().error(f'{exc}; retry {self.backoff.attempts} in '
                                        f'{delay:.2f} s')
                if self._stop.wait(delay):
                    break
                continue
            self._report_unreadable()
            self.backoff.reset()
            rate = p('rate_hz').value
            if rate > 0:
                period, now = 1.0 / rate, time.monotonic()
                if next_due < now - period:
                    # First frame, or after a stall: restart the schedule, never burst.
                    next_due = now
                if next_due > now:
                    if self.source.live:
                        self.dropped += 1  # a newer frame will come; a stale one adds latency
                        continue
                    if self._stop.wait(next_due - now):
                        break
                    stamp = self.get_clock().now().nanoseconds
                next_due += period
            self._publish(rgb, stamp)
        self.source.close()

    def _report_unreadable(self) -> None:
        bad = getattr(self.source, 'unreadable', None)
        while bad:
            self.skipped += 1
            self.get_logger().warning(f'skipped unreadable image: {bad.pop(0)}')

    def _publish(self, rgb: np.ndarray, stamp: int) -> None:
        """Publish a frame captured (or, from a folder, due) at ``stamp`` ns."""
        frame_id = self.get_parameter('frame_id').value
        height, width = rgb.shape[:2]
        intr = self.intrinsics
        if intr is None or (intr.width, intr.height) != (width, height):
            if self.intrinsics is not None:
                self.get_logger().warning(
                    f'calibration is for {intr.width}x{intr.height}, frames are '
                    f'{width}x{height}; publishing an ideal pinhole instead', once=True)
            intr = Intrinsics.from_fov(width, height, self.get_parameter('hfov_deg').value)
        self.image_pub.publish(_rosio.image_msg(rgb, stamp, frame_id))
        self.info_pub.publish(_rosio.camera_info_msg(intr, stamp, frame_id))
        self.published += 1
        self.diagnostics.values.update(frames_published=str(self.published),
                                       frames_skipped=str(self.skipped),
                                       frames_dropped=str(self.dropped),
                                       failed_attempts=str(len(self.failures)))

    def _set_state(self, level: int, message: str) -> None:
        self.state = message
        self.diagnostics.update(level, message, source=self.source.describe,
                                frames_published=self.published,
                                failed_attempts=len(self.failures))

    def close(self) -> None:
        """Stop the capture thread and release the device."""
        self._stop.set()
        self._thread.join(timeout=5.0)


def main(args=None) -> int:
    return _rosio.run(CameraNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
