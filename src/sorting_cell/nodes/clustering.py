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

from sorting_cell.clustering import METHODS
from sorting_cell.features import make_extractor
from sorting_cell.images import ImageLoadError
from sorting_cell.pipeline import AUTO_SHAPE_WEIGHT, AUTO_SIZE_WEIGHT, SortingPipeline
from sorting_cell.regions.shape import width_profile
from sorting_cell.regions.upright import region_size
from sorting_cell_interfaces.msg import ClusterAssignments, Detections
from sorting_cell_interfaces.srv import ClusterDetections

from . import _rosio
from .conversions import MessageError, detection_to_region, make_assignments
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .params import check_choices, declare
from .qos import latched_qos, result_qos

__all__ = ['ClusteringNode', 'main']


class ClusteringNode(Node):
    """Thin node around a feature extractor and :meth:`SortingPipeline.cluster_features`.

    The detections of one camera share a scale, so each object's size and outline (from
    its mask) join the CNN features as in the offline pipeline.
    """

    def __init__(self, **kwargs):
        super().__init__('clustering', **kwargs)
        self.features = declare(self, 'features', 'mobilenet_v2',
                                'Feature extractor (sorting_cell.features registry name)',
                                read_only=True)
        self.method = declare(self, 'method', 'agglomerative', 'Clustering method',
                              choices=METHODS)
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
        self.size_weight = declare(self, 'size_weight', AUTO_SIZE_WEIGHT, 'Weight of object '
                                   'size (from the mask) next to appearance; 0 = off',
                                   min_value=0.0, max_value=10.0)
        self.shape_weight = declare(self, 'shape_weight', AUTO_SHAPE_WEIGHT, 'Weight of the '
                                    "object's outline (width along its length); 0 = off",
                                    min_value=0.0, max_value=10.0)
        self.add_on_set_parameters_callback(lambda ps: check_choices(ps, {'method': METHODS}))

        self.diag = Diagnostics(self)
        # ValueError for an unknown extractor name: a configuration error, fail at start.
        self.extractor = make_extractor(self.features, cache_dir=self.cache_dir or None)
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()   # one inference at a time (stream vs service)
        # object id -> (feature row, size, outline, source stamp) for the accumulating mode.
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
    def describe(self, msg: Detections):
        """Ids, feature rows, (sizes, outlines) and seconds of a message's detections.

        Raises MessageError when a detection is unusable.
        """
        regions = [detection_to_region(d) for d in msg.detections]
        t0 = time.perf_counter()
        with self._model_lock:
            X = (self.extractor.transform([r.crop for r in regions]) if regions
                 else np.zeros((0, 0)))
        geometry = (np.array([region_size(r) for r in regions]).reshape(-1, 2),
                    np.array([width_profile(r) for r in regions]))
        return [d.id for d in msg.detections], X, geometry, time.perf_counter() - t0

    def cluster(self, X: np.ndarray, num_boxes: int, geometry=(None, None)
                ) -> tuple[np.ndarray, float]:
        if len(X) < num_boxes:
            raise ValueError(f'{len(X)} object(s) but {num_boxes} boxes asked for: need at '
                             'least as many objects as boxes')
        t0 = time.perf_counter()
        pipe = SortingPipeline(n_clusters=num_boxes, features=self.features, method=self.method,
                               size_weight=self.get_parameter('size_weight').value,
                               shape_weight=self.get_parameter('shape_weight').value,
                               random_state=self.random_state)
        labels = pipe.cluster_features(X, *geometry)
        return labels, time.perf_counter() - t0

    def _on_detections(self, msg: Detections) -> None:
        if self.main_only and msg.detections:
            best = max(msg.detections, key=lambda d: d.score)
            msg.detections = [best]
        try:
            ids, X, geometry, tf = self.describe(msg)
        except (MessageError, ImageLoadError, ValueError) as exc:
            self.diag.report('detections', ERROR, f'message skipped: {exc}')
            return
        num_boxes = self.get_parameter('num_boxes').value
        if self.window:
            with self._lock:
                for oid, row, size, shape in zip(ids, X, *geometry):
                    self._window[oid] = (row, size, shape, msg.header.stamp)
                while len(self._window) > self.window:
                    self._window.popitem(last=False)
                ids = list(self._window)
                kept = list(self._window.values())
                if ids:
                    X = np.stack([v[0] for v in kept])
                    geometry = (np.stack([v[1] for v in kept]), np.stack([v[2] for v in kept]))
                stamps = [v[3] for v in kept]
        else:
            stamps = [msg.header.stamp] * len(ids)
        try:
            labels, tc = self.cluster(X, num_boxes, geometry)
        except ValueError as exc:
            self.diag.report('clustering', WARN, f'no assignments: {exc}', objects=len(ids),
                             num_boxes=num_boxes)
            return
        self.pub.publish(make_assignments(msg.header, num_boxes, ids, labels, stamps,
                                          self.features, self.method, tf, tc))
        self.diag.report('clustering', OK, f'{len(ids)} objects into {num_boxes} boxes')

    def _on_cluster(self, request: ClusterDetections.Request,
                    response: ClusterDetections.Response):
        try:
            if request.num_boxes < 1:
                raise ValueError('num_boxes must be >= 1')
            ids, X, geometry, tf = self.describe(request.detections)
            labels, tc = self.cluster(X, request.num_boxes, geometry)
        except (MessageError, ImageLoadError, ValueError) as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.assignments = make_assignments(request.detections.header, request.num_boxes,
                                                ids, labels, None, self.features, self.method,
                                                tf, tc)
        return response


def main(args=None) -> int:
    # Two threads: the clustering/cluster service is answered while the stream runs.
    return _rosio.run(ClusteringNode, args, threads=2)


if __name__ == '__main__':
    sys.exit(main())
