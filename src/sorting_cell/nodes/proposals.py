"""proposals node: camera image -> Detections (boxes, masks, crops, scores, 3-D points).

Subscribes ``camera/image_raw`` (sensor QoS), and optionally ``camera/depth`` and
``camera/camera_info`` with the camera pose from tf (``world_frame`` -> the images' optical
frame) to attach 3-D positions, and the latched ``camera/background`` (an empty-table frame)
to fit the background model. Publishes ``detections``, the same as
``detections/markers`` (visualization_msgs/MarkerArray), and serves ``proposals/detect``
(DetectObjects) for one-off requests.
Bad frames (unsupported encoding, empty, corrupt) and a silent camera are reported on
/diagnostics; the node keeps running.

Run: ``python -m sorting_cell.nodes.proposals --ros-args --params-file config/proposals.yaml``
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from sorting_cell.images import ImageLoadError, load_image, to_rgb8
from sorting_cell.perception import CROPS, Describer
from sorting_cell.regions import PROPOSERS, make_proposer
from sorting_cell_interfaces.msg import Detections
from sorting_cell_interfaces.srv import DetectObjects

from . import _rosio
from .camera_geometry import Perception3D
from .conversions import MessageError, regions_to_detections, rgb_from_image
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .markers import detection_markers
from .params import check_choices, declare
from .liveness import Heartbeat
from .qos import latched_qos, result_qos, sensor_qos

__all__ = ['ProposalsNode', 'main']


class ProposalsNode(Node):
    """Thin node around a :class:`~sorting_cell.regions.Proposer`."""

    def __init__(self, **kwargs):
        super().__init__('proposals', **kwargs)
        self.proposer_name = declare(
            self, 'proposer', 'background', 'Region proposer (sorting_cell.regions)',
            read_only=True, choices=PROPOSERS)
        self.background_path = declare(
            self, 'background_path', '', 'Empty-table image file for the background model; '
            "'' = use the camera/background topic or work on single frames", read_only=True)
        best_effort = declare(self, 'best_effort', False,
                              'Subscribe to camera topics best effort instead of reliable',
                              read_only=True)
        self.max_detections = declare(self, 'max_detections', 0,
                                      'Publish at most this many detections (best first); '
                                      '0 = all', min_value=0, max_value=10000)
        self.include_crops = declare(self, 'include_crops', True,
                                     'Carry each crop inline in the Detection message')
        crop = declare(self, 'crop', 'upright', "What the detection's crop shows the feature "
                       "extractor: 'upright' (the object turned horizontal in a tight strip, "
                       "as offline) or 'box'", read_only=True, choices=CROPS)
        # The same describer the offline pipeline uses makes the views, so the clustering
        # node describes exactly what `sorting-cell cluster` describes.
        self.describer = Describer(crop=crop)
        self.background_frames = declare(
            self, 'background_frames', 0, 'Learn the empty table from the first N frames of '
            'the stream (fixed camera, objects that differ between frames, e.g. a photo '
            'series); those frames are held and processed once it is learnt. 0 = off',
            read_only=True, min_value=0, max_value=1000)
        queue_depth = declare(self, 'queue_depth', 5, 'History depth of the image '
                              'subscription and the detections publisher (raise it to '
                              'process every frame of a fast replay)', read_only=True,
                              min_value=1, max_value=10000)
        self.camera_timeout = declare(self, 'camera_timeout', 5.0,
                                      'Report the camera as silent after this many seconds '
                                      'without an image', min_value=0.1, max_value=3600.0)
        self.add_on_set_parameters_callback(
            lambda ps: check_choices(ps, {'proposer': PROPOSERS}))

        self.diag = Diagnostics(self)
        self._lock = threading.Lock()
        self._propose_lock = threading.Lock()
        self.proposer = make_proposer(self.proposer_name)
        self.proposer.fit(None)
        self.has_background = False
        if self.background_path:
            # A configured background that cannot be read is a setup error: fail loudly now.
            self._fit_background(load_image(self.background_path), self.background_path)
        self.geometry = Perception3D(self, best_effort)
        self.pub = self.create_publisher(Detections, 'detections',
                                         result_qos(max(10, queue_depth)))
        self.pub_markers = self.create_publisher(MarkerArray, 'detections/markers',
                                                 result_qos())
        self._held: list[Image] = []
        self.create_subscription(Image, 'camera/image_raw', self._on_image,
                                 sensor_qos(best_effort, queue_depth))
        self.create_subscription(Image, 'camera/background', self._on_background,
                                 latched_qos())
        # Own group: not starved by a busy image stream (see the clustering node).
        self.create_service(DetectObjects, 'proposals/detect', self._on_detect,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.last_image_time = time.monotonic()
        self.frames_in = 0
        self.create_timer(min(1.0, self.camera_timeout / 2), self._watchdog)
        # last: beats only once the node is built (see nodes/liveness.py)
        self.heartbeat = Heartbeat(self)

    # -- inputs ----------------------------------------------------------------------
    def _fit_background(self, frame: np.ndarray, source: str) -> None:
        proposer = make_proposer(self.proposer_name).fit([to_rgb8(frame)])
        with self._lock:
            self.proposer, self.has_background = proposer, True
        self.diag.report('background', OK, f'background model fitted from {source}',
                         width=frame.shape[1], height=frame.shape[0])

    def _on_background(self, msg: Image) -> None:
        try:
            self._fit_background(rgb_from_image(msg), 'camera/background')
        except (MessageError, ImageLoadError) as exc:
            self.diag.report('background', ERROR, f'unusable background frame: {exc}')

    def _on_image(self, msg: Image) -> None:
        self.last_image_time = time.monotonic()
        self.frames_in += 1
        if self.background_frames and not self.has_background:
            self._hold(msg)
            return
        self._process(msg)

    def _hold(self, msg: Image) -> None:
        """Collect frames for the background model; fit and flush when there are enough."""
        self._held.append(msg)
        if len(self._held) < self.background_frames:
            return
        frames = []
        for m in self._held:
            try:
                frames.append(rgb_from_image(m))
            except MessageError:
                pass   # reported when the frame itself is processed below
        shapes = {f.shape for f in frames}
        if frames and len(shapes) == 1:
            proposer = make_proposer(self.proposer_name).fit(frames)
            with self._lock:
                self.proposer, self.has_background = proposer, True
            self.diag.report('background', OK, f'background model learnt from the first '
                             f'{len(frames)} frames of the stream')
        else:
            self.background_frames = 0   # cannot learn one: go on frame by frame
            self.diag.report('background', WARN, 'cannot learn a background from the '
                             f'stream (frame sizes {sorted(shapes)}); single-frame proposals')
        held, self._held = self._held, []
        for m in held:
            self._process(m)

    def _process(self, msg: Image) -> None:
        try:
            out = self.detect(msg)
        except (MessageError, ImageLoadError) as exc:
            self.diag.report('image', ERROR, f'frame skipped: {exc}', encoding=msg.encoding,
                             width=msg.width, height=msg.height)
            return
        self.pub.publish(out)
        self.pub_markers.publish(detection_markers(out))
        self.diag.report('image', OK, f'{len(out.detections)} object(s) in last frame')

    def _on_detect(self, request: DetectObjects.Request, response: DetectObjects.Response):
        try:
            response.detections = self.detect(request.image)
            response.success = True
        except (MessageError, ImageLoadError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _watchdog(self) -> None:
        silent = time.monotonic() - self.last_image_time
        if silent > self.camera_timeout:
            # A stable message (seconds go in the values) so the log says it once.
            self.diag.report('camera', WARN if self.frames_in else ERROR,
                             f'no image on {self.resolve_topic_name("camera/image_raw")} for '
                             f'over {self.camera_timeout:g} s (camera dead or disconnected?)',
                             silent_seconds=f'{silent:.1f}', frames_received=self.frames_in)
        elif self.frames_in:
            self.diag.report('camera', OK, 'receiving images', frames_received=self.frames_in)

    # -- the work --------------------------------------------------------------------
    def detect(self, msg: Image) -> Detections:
        """Image message -> Detections message (raises MessageError for unusable images)."""
        frame = rgb_from_image(msg)
        with self._lock:
            proposer = self.proposer
        # The message promises best first, whatever order a proposer uses.
        with self._propose_lock:   # stream and service may run at once; one at a time
            regions = sorted(proposer.propose(frame), key=lambda r: -r.score)
        if self.max_detections:
            regions = regions[:self.max_detections]
        for r in regions:
            r.crop = self.describer.view(frame, r)
        depth, cam = self.geometry.snapshot(frame.shape)
        positions, pframe = self.geometry.positions(regions, depth, cam, msg.header.frame_id)
        return regions_to_detections(regions, msg.header, frame.shape, positions, pframe,
                                     self.include_crops)


def main(args=None) -> int:
    return _rosio.run(ProposalsNode, args, threads=3)   # one for the heartbeat


if __name__ == '__main__':
    sys.exit(main())
