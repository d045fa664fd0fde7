"""Monitor node: message rates of key topics and latched states, as JSON lines on stdout.

``sorting-cell up`` runs it as a child process and shows what it prints; it is also usable on
its own (``python -m sorting_cell.nodes.monitor --ros-args -p topics:='[camera/image_raw]'``).
Streams are subscribed raw (no deserialisation); latched topics (TRANSIENT_LOCAL) are
deserialised to show their value (``data`` of std_msgs types).

Each line: ``{"t": unix_s, "nodes": [...], "alive": {node: "alive" | "dead" | "unknown"},
"topics": {name: {"hz", "count", "age_s", "publishers"}}, "latched": {name: value or null}}``.

``alive`` follows the heartbeat of every node that publishes one (``<node>/heartbeat``, found
in the graph; :mod:`.liveness`): a killed or hung node shows ``"dead"`` within
:data:`~.liveness.DETECTION_S`. A latched value published under a dead node's name
(``clustering/ready`` of the ``clustering`` node) shows ``"dead"``, not its last value: the
node that said it is no longer there to stand by it.
"""
from __future__ import annotations

import collections
import json
import sys
import time

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

from . import _rosio
from sorting_cell.liveness import NodeState

from .liveness import LivenessWatch
from .qos import latched_qos

WINDOW_S = 3.0


class MonitorNode(Node):
    """Count messages per topic; print a health line every ``period_s``."""

    def __init__(self, out=sys.stdout, **kwargs):
        super().__init__('cell_monitor', **kwargs)
        arr = ParameterType.PARAMETER_STRING_ARRAY
        self.declare_parameter('topics', ['camera/image_raw'], ParameterDescriptor(
            description='streams whose rate is measured', type=arr, read_only=True))
        self.declare_parameter('latched', ['clustering/ready'], ParameterDescriptor(
            description='latched state topics whose last value is shown', type=arr,
            read_only=True))
        self.declare_parameter('period_s', 1.0, ParameterDescriptor(
            description='report period', read_only=True))
        self.out = out
        self.streams = {self.resolve_topic_name(t): t for t in self.get_parameter('topics').value}
        self.latched = {self.resolve_topic_name(t): t
                        for t in self.get_parameter('latched').value}
        self.stamps: dict[str, collections.deque] = {t: collections.deque()
                                                     for t in self.streams}
        self.counts = dict.fromkeys(self.streams, 0)
        self.values: dict[str, object] = dict.fromkeys(self.latched)
        self.subs: dict[str, object] = {}
        self.watch = LivenessWatch(self, [])
        self._prefix = self.resolve_topic_name('x')[:-1]   # '/<namespace>/'
        self.create_timer(self.get_parameter('period_s').value, self._report)
        self.create_timer(0.5, self._discover)

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            rest = topic[len(self._prefix):] if topic.startswith(self._prefix) else ''
            if rest.endswith('/heartbeat') and rest.count('/') == 1 \
                    and types == ['std_msgs/msg/Header']:
                self.watch.follow(rest.split('/')[0])
            if topic in self.subs or (topic not in self.streams and topic not in self.latched):
                continue
            try:
                cls = _rosio.message_class(types[0])
            except ImportError:
                continue
            if topic in self.streams:
                self.subs[topic] = self.create_subscription(
                    cls, topic, lambda _raw, t=topic: self._on_stream(t),
                    _rosio.qos_matching_publishers(self, topic, depth=5), raw=True)
            else:
                self.subs[topic] = self.create_subscription(
                    cls, topic, lambda msg, t=topic: self._on_latched(t, msg),
                    latched_qos())

    def _on_stream(self, topic: str) -> None:
        self.counts[topic] += 1
        self.stamps[topic].append(time.monotonic())

    def _on_latched(self, topic: str, msg) -> None:
        self.values[topic] = getattr(msg, 'data', 'received')

    def _report(self) -> None:
        now = time.monotonic()
        topics = {}
        for topic, name in self.streams.items():
            stamps = self.stamps[topic]
            while stamps and now - stamps[0] > WINDOW_S:
                stamps.popleft()
            hz = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and \
                stamps[-1] > stamps[0] else 0.0
            topics[name] = {'hz': round(hz, 2), 'count': self.counts[topic],
                            'age_s': round(now - stamps[-1], 2) if stamps else None,
                            'publishers': self.count_publishers(topic)}
        alive = {n: s.value for n, s in sorted(self.watch.states().items())}
        latched = {}
        for topic, value in self.values.items():
            name = self.latched[topic]
            rel = topic[len(self._prefix):] if topic.startswith(self._prefix) else ''
            owner = rel.split('/')[0] if '/' in rel else None
            dead = alive.get(owner) == NodeState.DEAD.value
            latched[name] = NodeState.DEAD.value if dead else value
        nodes = sorted(n for n in self.get_node_names() if n != self.get_name())
        self.out.write(json.dumps({'t': round(time.time(), 3), 'nodes': nodes,
                                   'alive': alive, 'topics': topics,
                                   'latched': latched}) + '\n')
        self.out.flush()


def main(args=None) -> int:
    return _rosio.run(MonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
