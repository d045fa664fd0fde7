"""tf over ``tf2_msgs/msg/TFMessage`` without tf2_ros (not installable from PyPI).

Speaks what tf2_ros speaks on the wire: ``/tf`` and ``/tf_static`` topics, their QoS
(``/tf_static`` latched, TRANSIENT_LOCAL, one message holding every static transform of a
broadcaster), ``geometry_msgs/TransformStamped`` parent -> child. The buffer is the ROS-free
:class:`sorting_cell.frame_tree.FrameTree`.
"""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from tf2_msgs.msg import TFMessage

from sorting_cell.frame_tree import FrameLookupError, FrameTree
from sorting_cell.transforms import TransformError, from_translation_quat, to_translation_quat

from .qos import tf_qos, tf_static_qos

__all__ = ['TF_TOPIC', 'TF_STATIC_TOPIC', 'to_msg', 'from_msg', 'StaticTransformBroadcaster',
           'TransformBroadcaster', 'TransformListener', 'FrameLookupError']

TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'


def to_msg(parent: str, child: str, T, stamp) -> TransformStamped:
    """``T_parent_child`` (4x4) as a TransformStamped stamped ``stamp`` (builtin Time)."""
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id, msg.child_frame_id = parent, child
    t, q = to_translation_quat(T)
    tr, rot = msg.transform.translation, msg.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in t)
    rot.x, rot.y, rot.z, rot.w = (float(v) for v in q)
    return msg


def from_msg(msg: TransformStamped) -> tuple[str, str, np.ndarray, float]:
    """(parent, child, T_parent_child, stamp seconds) of a TransformStamped."""
    tr, rot = msg.transform.translation, msg.transform.rotation
    T = from_translation_quat((tr.x, tr.y, tr.z), (rot.x, rot.y, rot.z, rot.w))
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return msg.header.frame_id, msg.child_frame_id, T, stamp


class StaticTransformBroadcaster:
    """Latched ``/tf_static`` publisher. Like tf2_ros's, it keeps every transform it was
    given (a newer one for the same child replaces the older) and republishes them all in
    one message, so a late subscriber gets the whole set."""

    def __init__(self, node: Node):
        self._node = node
        self._pub = node.create_publisher(TFMessage, TF_STATIC_TOPIC, tf_static_qos())
        self._by_child: dict[str, TransformStamped] = {}

    def send(self, transforms) -> None:
        """Add ``(parent, child, T)`` triples (or TransformStamped) and republish all."""
        stamp = self._node.get_clock().now().to_msg()
        for t in transforms:
            msg = t if isinstance(t, TransformStamped) else to_msg(*t, stamp)
            self._by_child[msg.child_frame_id] = msg
        self._pub.publish(TFMessage(transforms=list(self._by_child.values())))


class TransformBroadcaster:
    """``/tf`` publisher for moving frames (the TCP)."""

    def __init__(self, node: Node):
        self._node = node
        self._pub = node.create_publisher(TFMessage, TF_TOPIC, tf_qos())

    def send(self, transforms, stamp=None) -> None:
        """Publish ``(parent, child, T)`` triples (or TransformStamped) stamped ``stamp``
        (default: now on the node's clock, which is sim time under ``use_sim_time``)."""
        stamp = stamp if stamp is not None else self._node.get_clock().now().to_msg()
        self._pub.publish(TFMessage(transforms=[
            t if isinstance(t, TransformStamped) else to_msg(*t, stamp) for t in transforms]))


class TransformListener:
    """Fills a :class:`FrameTree` from ``/tf`` and ``/tf_static``.

    Transforms that are not rigid (NaN, zero quaternion) or would make a loop are dropped
    with a throttled warning; the rest of the message is kept.
    """

    def __init__(self, node: Node, tree: FrameTree | None = None, callback_group=None):
        self.tree = tree if tree is not None else FrameTree()
        self._node = node
        #: newest stamp (s) seen on /tf: lets a caller wait for transforms newer than an event
        self.last_tf_stamp = float('-inf')
        node.create_subscription(TFMessage, TF_TOPIC, lambda m: self._on_tf(m, False),
                                 tf_qos(), callback_group=callback_group)
        node.create_subscription(TFMessage, TF_STATIC_TOPIC, lambda m: self._on_tf(m, True),
                                 tf_static_qos(depth=100), callback_group=callback_group)

    def _on_tf(self, msg: TFMessage, static: bool) -> None:
        for t in msg.transforms:
            try:
                parent, child, T, stamp = from_msg(t)
                self.tree.set(parent, child, T, stamp, static)
                if not static:
                    self.last_tf_stamp = max(self.last_tf_stamp, stamp)
            except (TransformError, FrameLookupError) as exc:
                self._node.get_logger().warning(
                    f'{TF_STATIC_TOPIC if static else TF_TOPIC}: dropped '
                    f'{t.header.frame_id!r} -> {t.child_frame_id!r}: {exc}',
                    throttle_duration_sec=10.0)

    def lookup(self, target: str, source: str) -> np.ndarray:
        """``T_target_source`` (raises :class:`FrameLookupError` saying why not)."""
        return self.tree.lookup(target, source)
