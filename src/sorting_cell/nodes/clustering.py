"""clustering node: Detections -> CNN features -> box assignments for N boxes.

Two ways to feed it:

- a scene per message (``window: 0``): every Detections message is clustered on its own
  into ``num_boxes`` groups (the overhead camera sees all objects at once);
- a stream of objects (``window: K``): objects are accumulated over the last K detections
  (with ``main_only``, one per frame -- a folder or bag of one-object photos) and the whole
  window is re-clustered on each message. Each crop is described once.

Publishes ``assignments`` and the latched ``clustering/ready`` (True once the feature
model is loaded and has run once). ``clustering/cluster`` (ClusterDetections) clusters
one request's detections, stateless. Too few objects for the boxes, or detections without
crops, are reported on /diagnostics; the node keeps running.

Run: ``python -m sorting_cell.nodes.clustering --ros-args --params-file config/clustering.yaml``
"""
from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Bool

from sorting_cell.features import DEFAULT_FEATURES
from sorting_cell.images import ImageLoadError
from sorting_cell.perception import (AUTO_SHAPE_WEIGHT, AUTO_SIZE_WEIGHT, METHODS, Describer,
                                     Input, assign)
from sorting_cell_interfaces.msg import ClusterAssignments, Detections
from sorting_cell_interfaces.srv import ClusterDetections

from . import _rosio
from .conversions import MessageError, detection_to_region, make_assignments
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .params import check_choices, declare
from .liveness import Heartbeat
from .qos import latched_qos, result_qos

__all__ = ['ClusteringNode', 'main']


#: Methods that take one feature matrix: the ones a stream of detections can feed.
MATRIX_METHODS = tuple(name for name, m in METHODS.items() if m.input is Input.MATRIX)
#: How size and outline enter: decided from the evidence, always, or never.
GEOMETRY = ('auto', 'on', 'off')
AUTO_WEIGHTS = (AUTO_SIZE_WEIGHT, AUTO_SHAPE_WEIGHT)


class ClusteringNode(Node):
    """Thin node around :class:`~sorting_cell.perception.Describer` and
    :func:`~sorting_cell.perception.assign`.

    Each detection carries the view the proposals node made with the same describer
    (the upright strip), its mask gives size and outline: the same description the
    offline pipeline makes of the same frames.
    """

    def __init__(self, **kwargs):
        super().__init__('clustering', **kwargs)
        self.features = declare(self, 'features', DEFAULT_FEATURES,
                                'Feature extractor (sorting_cell.features registry name)',
                                read_only=True)
        self.method = declare(self, 'method', 'agglomerative', 'Clustering method',
                              choices=MATRIX_METHODS)
        self.num_boxes = declare(self, 'num_boxes', 4, 'Number of boxes (clusters) for '
                                 'the detections stream', min_value=1, max_value=1000)
        self.window = declare(self, 'window', 0, 'Accumulate the last N objects across '
                              'messages and cluster them together; 0 = each message alone',
                              min_value=0, max_value=100000)
        self.main_only = declare(self, 'main_only', False, 'When accumulating, take only '
                                 'the best-scored detection of each message')
        self.cache_dir = declare(self, 'cache_dir', '', 'On-disk feature cache; '
                                 "'' = none", read_only=True)
        queue_depth = declare(self, 'queue_depth', 10, 'History depth of the detections '
                              'subscription and assignments publisher', read_only=True,
                              min_value=1, max_value=10000)
        self.random_state = declare(self, 'random_state', 0, 'Seed of stochastic methods',
                                    min_value=0, max_value=2**31 - 1)
        declare(self, 'geometry', 'auto', "Object size and outline (from the masks) next to "
                "appearance: 'auto' = where look-alike objects share them (the evidence is "
                "in each assignment's diagnostics), 'on', 'off'", choices=GEOMETRY)
        self.add_on_set_parameters_callback(lambda ps: check_choices(
            ps, {'method': MATRIX_METHODS, 'geometry': GEOMETRY}))

        self.diag = Diagnostics(self)
        self.describer = Describer(features=self.features, cache_dir=self.cache_dir or None)
        # ValueError for an unknown extractor name: a configuration error, fail at start.
        self.extractor = self.describer.extractor()
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()   # one inference at a time (stream vs service)
        # object id -> (feature row, region, source stamp) for the accumulating mode.
        self._window: OrderedDict[str, tuple] = OrderedDict()
        self.pub = self.create_publisher(ClusterAssignments, 'assignments',
                                         result_qos(queue_depth))
        self.ready_pub = self.create_publisher(Bool, 'clustering/ready', latched_qos())
        self.ready = False
        self.ready_pub.publish(Bool(data=False))
        self.create_subscription(Detections, 'detections', self._on_detections,
                                 result_qos(queue_depth))
        # Own group: with a busy detections stream, a service sharing the stream's group
        # would be starved by the executor (subscriptions are served first).
        self.create_service(ClusterDetections, 'clustering/cluster', self._on_cluster,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self._warmup_timer = self.create_timer(0.0, self._warm_up)
        # last: beats only once the node is built (see nodes/liveness.py)
        self.heartbeat = Heartbeat(self)

    def _warm_up(self) -> None:
        """Load the weights now (not on the first scene) and announce readiness."""
        self._warmup_timer.cancel()
        t0 = time.perf_counter()
        try:
            with self._model_lock:
                self.extractor.load().transform([np.full((64, 64, 3), 128, np.uint8)])
        except Exception as exc:  # noqa: BLE001 - any load failure must be visible
            self.diag.report('model', ERROR, f'feature model {self.features!r} failed to '
                             f'load: {type(exc).__name__}: {exc}')
            return
        self.ready = True
        self.ready_pub.publish(Bool(data=True))
        self.diag.report('model', OK, f'{self.features} ready in '
                         f'{time.perf_counter() - t0:.2f} s')

    # -- the work --------------------------------------------------------------------
    def rows(self, msg: Detections) -> tuple[list[str], list, np.ndarray, float]:
        """Ids, regions, feature rows and seconds of a message's detections.

        Raises MessageError when a detection is unusable.
        """
        regions = [detection_to_region(d) for d in msg.detections]
        t0 = time.perf_counter()
        with self._model_lock:
            X = (self.extractor.transform([r.crop for r in regions]) if regions
                 else np.zeros((0, 0)))
        return [d.id for d in msg.detections], regions, X, time.perf_counter() - t0

    def cluster(self, ids: list[str], regions: list, X: np.ndarray, num_boxes: int
                ) -> tuple[np.ndarray, float, dict]:
        """Labels, seconds and decisions for the objects ``ids`` (rows ``X``)."""
        t0 = time.perf_counter()
        d = self.describer.regions(regions, ids, features=X)
        weights = {'on': AUTO_WEIGHTS, 'off': (0.0, 0.0)}.get(
            self.get_parameter('geometry').value, ('auto', 'auto'))
        labels = assign(d, num_boxes, method=self.method, size_weight=weights[0],
                        shape_weight=weights[1], random_state=self.random_state)
        return labels, time.perf_counter() - t0, d.decisions

    def _on_detections(self, msg: Detections) -> None:
        if self.main_only and msg.detections:
            best = max(msg.detections, key=lambda d: d.score)
            msg.detections = [best]
        try:
            ids, regions, X, tf = self.rows(msg)
        except (MessageError, ImageLoadError, ValueError) as exc:
            self.diag.report('detections', ERROR, f'message skipped: {exc}')
            return
        num_boxes = self.get_parameter('num_boxes').value
        if self.window:
            with self._lock:
                for oid, region, row in zip(ids, regions, X):
                    region.crop = region.crop[:1, :1]  # the row is kept; the view is not
                    self._window[oid] = (row, region, msg.header.stamp)
                while len(self._window) > self.window:
                    self._window.popitem(last=False)
                ids = list(self._window)
                kept = list(self._window.values())
                if ids:
                    X = np.stack([v[0] for v in kept])
                regions = [v[1] for v in kept]
                stamps = [v[2] for v in kept]
        else:
            stamps = [msg.header.stamp] * len(ids)
        try:
            labels, tc, decisions = self.cluster(ids, regions, X, num_boxes)
        except ValueError as exc:
            self.diag.report('clustering', WARN, f'no assignments: {exc}', objects=len(ids),
                             num_boxes=num_boxes)
            return
        self.pub.publish(make_assignments(msg.header, num_boxes, ids, labels, stamps,
                                          self.features, self.method, tf, tc))
        geo = decisions['geometry']
        self.diag.report('clustering', OK, f'{len(ids)} objects into {num_boxes} boxes',
                         geometry=f'{"yes" if geo.value else "no"}: {geo.reason}')

    def _on_cluster(self, request: ClusterDetections.Request,
                    response: ClusterDetections.Response):
        try:
            if request.num_boxes < 1:
                raise ValueError('num_boxes must be >= 1')
            ids, regions, X, tf = self.rows(request.detections)
            labels, tc, _ = self.cluster(ids, regions, X, request.num_boxes)
        except (MessageError, ImageLoadError, ValueError) as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.assignments = make_assignments(request.detections.header, request.num_boxes,
                                                ids, labels, None, self.features, self.method,
                                                tf, tc)
        return response


def main(args=None) -> int:
    # The clustering/cluster service is answered while the stream runs; one thread is
    # left for the heartbeat.
    return _rosio.run(ClusteringNode, args, threads=3)   # one for the heartbeat


if __name__ == '__main__':
    sys.exit(main())
