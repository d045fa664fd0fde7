"""Replay node: publish a rosbag2's camera stream with its original timing (or scaled).

The pipeline behind it cannot tell a replay from a live camera: images go out on the same
relative topics (``/camera/image_raw`` in the bag -> ``camera/image_raw``, so a namespace can be
pushed) with the same QoS. Frames are checked before they are sent: supported encodings other
than rgb8 are converted to rgb8 (the topic contract); frames in an unsupported encoding or with
a wrong data size are skipped with a clear error, counted on ``/diagnostics``, and the replay
goes on. Messages of other types are forwarded unchanged (raw CDR). A topic recorded from
TRANSIENT_LOCAL publishers only (the bag's offered QoS profiles) is published latched, so a
subscriber that joins after it was sent still gets its last value.

Run: ``python -m sorting_cell.nodes.replay --ros-args -p bag:=BAG [-p rate:=2.0]`` or
``sorting-cell replay BAG``.
"""
from __future__ import annotations

import sys
import threading
import time

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from rclpy.task import Future

from .. import bags
from . import _rosio
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .liveness import Heartbeat
from .qos import sensor_qos

DEFAULT_TOPICS = ['camera/image_raw', 'camera/camera_info']


def _desc(text: str, read_only: bool = True, type_: int | None = None) -> ParameterDescriptor:
    d = ParameterDescriptor(description=text, read_only=read_only)
    if type_ is not None:
        d.type = type_
    return d


class ReplayNode(Node):
    """Publish the messages of one bag, paced by their recorded timestamps."""

    PARAMETERS = {
        'bag': ('', _desc('rosbag2 directory (or its .mcap/.db3 file), or a bare .mcap file, '
                          'to replay')),
        'rate': (1.0, _desc('time scale: 2.0 plays twice as fast', read_only=False)),
        'loop': (False, _desc('start again at the end', read_only=False)),
        'topics': (DEFAULT_TOPICS, _desc('bag topics to publish (empty = all)',
                                         type_=ParameterType.PARAMETER_STRING_ARRAY)),
        'restamp': (False, _desc('set header stamps to the publish time instead of the '
                                 'recorded ones')),
        'reliable': (True, _desc('RELIABLE image QoS (best effort only with the SHM '
                                 'profile)')),
        'queue_depth': (5, _desc('publisher history depth')),
        'wait_for_subscribers': (0, _desc('hold the first frame until this many '
                                          'subscribers matched the image and camera_info '
                                          'topics')),
        'wait_timeout_s': (10.0, _desc('longest wait for those subscribers')),
        'exit_at_end': (False, _desc('stop the node after the last message (unless loop)')),
    }

    def __init__(self, **kwargs):
        super().__init__('replay', **kwargs)
        for name, (default, descriptor) in self.PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        p = {name: self.get_parameter(name).value for name in self.PARAMETERS}
        if not p['bag']:
            raise ValueError('parameter bag is required (a rosbag2 directory)')
        if p['rate'] <= 0:
            raise ValueError(f"parameter rate must be positive, got {p['rate']}")
        self.summary = bags.summarize(p['bag'])
        wanted = {'/' + t.lstrip('/') for t in p['topics']}
        missing = sorted(wanted - set(self.summary.types)) if wanted else []
        if missing and len(missing) == len(wanted):
            raise ValueError(f"{p['bag']}: none of the topics {sorted(wanted)} is in the bag "
                             f'(it has {sorted(self.summary.types)})')
        for topic in missing:
            self.get_logger().warning(f'{topic} is not in the bag; not published')
        self.store = bags.typestore()
        qos = sensor_qos(best_effort=not p['reliable'], depth=p['queue_depth'])
        self.publishers_: dict[str, object] = {}
        for topic, msgtype in self.summary.types.items():
            if wanted and topic not in wanted:
                continue
            try:
                cls = _rosio.message_class(msgtype)
            except ImportError as exc:
                self.get_logger().error(f'{topic}: {exc}; not published')
                continue
            # As recorded: a topic whose publishers were all latched is replayed latched.
            topic_qos = _rosio.replay_qos(self.summary.qos.get(topic, []), qos)
            self.publishers_[topic] = (
                self.create_publisher(cls, topic.lstrip('/'), topic_qos), cls)
        if not self.publishers_:
            raise ValueError(f"{p['bag']}: no publishable topic among "
                             f'{sorted(self.summary.types)}')
        self.diagnostics = Diagnostics(self, 'replay', hardware_id=str(p['bag']))
        self.published = 0
        self.skipped = 0
        self.errors: dict[str, int] = {}
        self.done = Future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._replay_loop, name='replay', daemon=True)
        self._thread.start()
        # last: beats only once the node is built (see nodes/liveness.py)
        self.heartbeat = Heartbeat(self)

    def _replay_loop(self) -> None:
        try:
            self._replay()
        except Exception as exc:  # noqa: BLE001 -- a corrupt bag must not kill silently
            self.get_logger().error(f'replay failed: {type(exc).__name__}: {exc}')
            self.diagnostics.update(ERROR, f'replay failed: {exc}')
        finally:
            if not self.done.done():
                self.done.set_result(self.published)

    def _replay(self) -> None:
        p = self.get_parameter
        # The camera stream (images and their camera_info): every one of its topics must be
        # matched before the first frame, or what goes out on a late one is lost.
        stream = [pub for topic, (pub, cls) in self.publishers_.items()
                  if self.summary.types[topic] in (bags.IMAGE_TYPE, bags.INFO_TYPE)]
        need = p('wait_for_subscribers').value
        if need and stream and not _rosio.wait_for_subscribers(
                stream, need, p('wait_timeout_s').value, self._stop.is_set, node=self):
            self.get_logger().warning(f'fewer than {need} camera stream subscribers after '
                                      f"{p('wait_timeout_s').value} s; starting anyway")
        self.diagnostics.update(OK, 'playing', published=0, skipped=0)
        self.get_logger().info(
            f"replaying {self.summary.path} ({', '.join(sorted(self.publishers_))}; "
            f'{self.summary.duration_s:.1f} s at rate {p("rate").value})')
        first = bool(need)
        while not self._stop.is_set():
            t_bag0 = None
            t_wall0 = 0.0
            for m in bags.read_messages(self.summary.path, list(self.publishers_)):
                if t_bag0 is None:
                    # The clock starts at the first message, not before opening the bag.
                    t_bag0, t_wall0 = m.timestamp_ns, time.monotonic()
                due = t_wall0 + (m.timestamp_ns - t_bag0) / 1e9 / p('rate').value
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                # Stamp at the scheduled instant, before decoding, so a restamped stream keeps
                # the recorded spacing however long a frame takes to check.
                self._publish(m, self.get_clock().now().nanoseconds)
                if first:
                    first = False
                    self._await_first_delivery(m.topic)
                    t_wall0 = time.monotonic()
            level = WARN if self.skipped else OK
            message = f'end of bag: {self.published} published, {self.skipped} skipped'
            self.diagnostics.update(level, message, published=self.published,
                                    skipped=self.skipped)
            self.get_logger().info(message)
            if not p('loop').value:
                break

    def _await_first_delivery(self, topic: str) -> None:
        """Hold the schedule until the subscribers waited for acknowledged the first message.

        A subscriber counted as matched by this side may still be discovering this publisher;
        it receives the first message only when discovery completes, and the following ones,
        already due, would then arrive in a burst."""
        timeout = self.get_parameter('wait_timeout_s').value
        if not self.publishers_[topic][0].wait_for_all_acked(Duration(seconds=timeout)):
            self.get_logger().warning(f'{topic}: first message not acknowledged by every '
                                      f'subscriber within {timeout} s; playing on')

    def _publish(self, m: bags.BagMessage, now_ns: int) -> None:
        pub, cls = self.publishers_[m.topic]
        restamp = self.get_parameter('restamp').value
        data = m.data
        if m.msgtype == bags.IMAGE_TYPE:
            msg = self.store.deserialize_cdr(m.data, m.msgtype)
            try:
                rgb = bags.image_to_rgb8(msg.encoding, msg.height, msg.width, msg.step,
                                         msg.data, msg.is_bigendian,
                                         source=f'{m.topic} at t={m.timestamp_ns}')
            except bags.ImageEncodingError as exc:
                self._skip(m.topic, str(exc))
                return
            if msg.encoding != 'rgb8' or msg.step != msg.width * 3 or restamp:
                stamp = (now_ns if restamp else
                         msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
                data = _rosio.image_msg(rgb, stamp, msg.header.frame_id)
        elif restamp:
            data = deserialize_message(m.data, cls)
            if hasattr(data, 'header'):
                _rosio.stamp_from_ns(data.header.stamp, now_ns)
        pub.publish(data)
        self.published += 1
        self.diagnostics.values.update(published=str(self.published))

    def _skip(self, topic: str, reason: str) -> None:
        self.skipped += 1
        kind = reason.split(':', 1)[-1].split('(')[0].strip()
        first = kind not in self.errors
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if first:
            self.get_logger().error(f'skipping frame: {reason} (further frames with this '
                                    'problem are only counted, see /diagnostics)')
        self.diagnostics.update(WARN, f'{self.skipped} frames skipped: {kind}',
                                skipped=self.skipped, published=self.published)

    def close(self) -> None:
        """Stop publishing (the bag reader is closed by its generator)."""
        self._stop.set()
        self._thread.join(timeout=5.0)


def main(args=None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = ReplayNode()
        if node.get_parameter('exit_at_end').value and not node.get_parameter('loop').value:
            rclpy.spin_until_future_complete(node, node.done)
            # Let reliable readers fetch the last samples before the writer disappears.
            time.sleep(0.3)
            code = 0 if node.published or not node.skipped else 1
        else:
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rosio.CONFIG_ERRORS as exc:
        print(f'replay: {_rosio.config_error_message(exc)}', file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    raise SystemExit(main())
