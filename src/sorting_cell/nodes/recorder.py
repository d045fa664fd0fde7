"""Recorder node: live topics -> a standard rosbag2 (MCAP), without rosbag2_py.

Subscriptions take raw CDR bytes (``raw=True``), which go straight into the bag through
:class:`sorting_cell.bags.BagWriter` -- no deserialisation on the hot path. Topics are
subscribed as soon as they appear in the graph, with their publishers' QoS (latched state
topics such as ``clustering/ready`` are subscribed TRANSIENT_LOCAL so their last value is
recorded). The bag's metadata holds what rosbag2 records: the publishers' offered QoS
profiles and type hashes, so a replay publishes latched topics latched. Custom interface
types (detections, assignments) are written with their ``.msg`` definitions, so any rosbag2
reader can decode them.

Run: ``python -m sorting_cell.nodes.recorder --ros-args -p output:=BAG`` or
``sorting-cell record BAG``. Ctrl-C closes the bag properly (metadata.yaml is written then).
"""
from __future__ import annotations

import sys

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.task import Future

from .. import bags
from . import _rosio

DEFAULT_TOPICS = ['camera/image_raw', 'camera/camera_info', 'detections', 'assignments',
                  'clustering/ready']
DISCOVERY_PERIOD_S = 0.05


class RecorderNode(Node):
    """Record a set of topics into one bag until stopped (or ``duration_s``)."""

    def __init__(self, **kwargs):
        super().__init__('recorder', **kwargs)
        ro = dict(read_only=True)
        self.declare_parameter('output', '', ParameterDescriptor(
            description='bag directory to create (must not exist)', **ro))
        self.declare_parameter('topics', DEFAULT_TOPICS, ParameterDescriptor(
            description='topics to record (relative names are resolved in the node namespace)',
            type=ParameterType.PARAMETER_STRING_ARRAY, **ro))
        self.declare_parameter('storage', 'mcap', ParameterDescriptor(
            description='rosbag2 storage plugin: mcap or sqlite3', **ro))
        self.declare_parameter('duration_s', 0.0, ParameterDescriptor(
            description='stop after this many seconds (0 = until Ctrl-C)', **ro))
        output = self.get_parameter('output').value
        if not output:
            raise ValueError('parameter output is required (a new bag directory)')
        self.writer = bags.BagWriter(output, storage=self.get_parameter('storage').value)
        self.wanted = {self.resolve_topic_name(t): t
                       for t in self.get_parameter('topics').value}
        self.subscriptions_: dict[str, object] = {}
        self._reported: set[str] = set()
        self.done = Future()
        self._closed = False
        # rclpy has no graph-change callback, so the graph is polled, often: a topic's
        # subscription must exist before its publisher's first messages (rosbag2 polls every
        # 0.1 s). Producers that must lose nothing (camera, replay) also wait until their
        # subscribers matched. Polling stops once every wanted topic is recorded.
        self._discovery = self.create_timer(DISCOVERY_PERIOD_S, self._discover)
        duration = self.get_parameter('duration_s').value
        if duration > 0:
            self._stop_timer = self.create_timer(duration, self._finish)
        self.get_logger().info(f'recording {sorted(self.wanted)} into {output}')
        self._discover()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(True)

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic not in self.wanted or topic in self.subscriptions_:
                continue
            msgtype = types[0]
            publishers = self.get_publishers_info_by_topic(topic)
            try:
                cls = _rosio.message_class(msgtype)
                # What rosbag2 stores: every publisher's offered QoS (a replay latches the
                # topic if they were all latched) and the type hash they announce.
                hashes = {str(i.topic_type_hash) for i in publishers
                          if str(i.topic_type_hash).startswith('RIHS01_')}
                self.writer.add_topic(
                    topic, msgtype, [_rosio.offered_qos(i.qos_profile) for i in publishers],
                    type_hash=hashes.pop() if len(hashes) == 1 else None)
            except (ImportError, KeyError) as exc:
                if topic not in self._reported:
                    self._reported.add(topic)
                    self.get_logger().error(f'cannot record {topic}: {exc}')
                continue
            self.subscriptions_[topic] = self.create_subscription(
                cls, topic, lambda raw, t=topic: self._on_message(t, raw),
                _rosio.qos_matching_publishers(self, topic, depth=100), raw=True)
            self.get_logger().info(f'recording {topic} ({msgtype})')
        if set(self.wanted) <= set(self.subscriptions_):
            self._discovery.cancel()

    def _on_message(self, topic: str, raw: bytes) -> None:
        if not self._closed:
            self.writer.write(topic, self.get_clock().now().nanoseconds, raw)

    def close(self) -> bags.BagSummary:
        """Close the bag (idempotent) and return what it holds."""
        self._closed = True
        summary = self.writer.close()
        return summary


def main(args=None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = RecorderNode()
        rclpy.spin_until_future_complete(node, node.done)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rosio.CONFIG_ERRORS as exc:
        print(f'record: {_rosio.config_error_message(exc)}', file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            summary = node.close()
            counts = ', '.join(f'{t}: {n}' for t, n in sorted(summary.counts.items()))
            print(f'wrote {summary.path} ({counts or "no messages"})', file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    raise SystemExit(main())
