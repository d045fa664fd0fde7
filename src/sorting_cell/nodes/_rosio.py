"""Plumbing shared by the camera, replay and recorder nodes (messages, discovery, main)."""
from __future__ import annotations

import array
import importlib
import signal
import sys
import threading
import time
from typing import Callable

import numpy as np
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from .. import bags
from ..bags import Intrinsics
from .qos import sensor_qos

# What a node start-up can fail on because of its configuration (bad or mistyped parameter,
# missing file): reported in one line, exit code 2, no traceback.
CONFIG_ERRORS = (ValueError, OSError, ParameterException)


def config_error_message(exc: BaseException) -> str:
    text = f'{type(exc).__name__}: {exc}'
    if isinstance(exc, ParameterException) and "expecting type 'DOUBLE'" in str(exc):
        text += ' (write a floating-point value, e.g. 30.0 rather than 30)'
    return text


def stamp_from_ns(msg_stamp, ns: int) -> None:
    msg_stamp.sec, msg_stamp.nanosec = int(ns // 10**9), int(ns % 10**9)


def image_msg(rgb: np.ndarray, stamp_ns: int, frame_id: str) -> Image:
    """An rgb8 ``sensor_msgs/Image`` from an HxWx3 uint8 array."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Image()
    stamp_from_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = arr.shape[:2]
    msg.encoding = 'rgb8'
    msg.step = arr.shape[1] * 3
    # array.array filled from the buffer is a single copy; the generated setter checks each
    # element of any other sequence (hundreds of ms per frame).
    data = array.array('B')
    data.frombytes(memoryview(arr).cast('B'))
    msg.data = data
    return msg


def camera_info_msg(intr: Intrinsics, stamp_ns: int, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    stamp_from_ns(msg.header.stamp, stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = intr.width, intr.height
    msg.distortion_model = intr.distortion_model
    msg.d = [float(v) for v in intr.d]
    msg.k = [float(v) for v in intr.k]
    msg.r = [float(v) for v in intr.r]
    msg.p = [float(v) for v in intr.p]
    return msg


def message_class(msgtype: str):
    """The Python class of ``pkg/msg/Name`` (raises ImportError/AttributeError clearly)."""
    pkg, kind, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{pkg}.{kind}'), name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f'message type {msgtype} is not importable ({exc}); is its '
                          'interface package built into this environment?') from exc


# Subscribers that watch a stream but do not consume it: they must not release a replay.
OBSERVERS = ('cell_monitor',)


def consumer_count(node: Node, topic: str, ignore: tuple[str, ...] = OBSERVERS) -> int:
    """Subscriptions on ``topic`` other than observers such as the bring-up monitor."""
    return sum(1 for info in node.get_subscriptions_info_by_topic(topic)
               if info.node_name not in ignore)


def wait_for_subscribers(publishers, count: int, timeout_s: float,
                         stop: Callable[[], bool] = lambda: False, node: Node | None = None
                         ) -> bool:
    """Block until every publisher in ``publishers`` (one or a list) has ``count`` matched
    subscriptions (DDS discovery takes 0.5-3 s; messages sent before that are lost).

    A stream of several topics (image + camera_info) waits for all of them: a subscriber
    matched on one topic may still be discovering the other, and what is sent there in
    between is lost. With ``node``, observers (the monitor) do not count. Returns whether
    they arrived in time."""
    if not isinstance(publishers, (list, tuple)):
        publishers = [publishers]
    deadline = time.monotonic() + timeout_s

    def matched(publisher) -> int:
        if node is None:
            return publisher.get_subscription_count()
        return min(publisher.get_subscription_count(),
                   consumer_count(node, publisher.topic_name))

    while any(matched(pub) < count for pub in publishers):
        if time.monotonic() > deadline or stop():
            return False
        time.sleep(0.05)
    return True


def qos_matching_publishers(node: Node, topic: str, depth: int = 10) -> QoSProfile:
    """A subscription QoS that receives from every current publisher of ``topic``: latched
    if they all are (to get their last value), best effort if any of them is."""
    infos = node.get_publishers_info_by_topic(topic)
    qos = sensor_qos(depth=depth)
    if infos and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                     for i in infos):
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
    if any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos):
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
    return qos


def offered_qos(profile: QoSProfile):
    """A publisher's QoS (as the graph reports it) in the form a bag stores."""
    return bags.offered_qos(
        profile.history, profile.depth, profile.reliability, profile.durability,
        profile.deadline.nanoseconds, profile.lifespan.nanoseconds, profile.liveliness,
        profile.liveliness_lease_duration.nanoseconds,
        profile.avoid_ros_namespace_conventions)


def replay_qos(profiles, default: QoSProfile) -> QoSProfile:
    """The QoS to replay a topic with, from the profiles its publishers offered when it was
    recorded: latched if they all were (keeping at least the last value), else ``default``.
    Reliability stays ``default``'s: a reliable publisher serves best-effort subscribers too."""
    qos = QoSProfile(history=default.history, depth=default.depth,
                     reliability=default.reliability, durability=default.durability)
    if bags.is_latched(profiles):
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        # The graph does not report a publisher's depth (rosbag2 records 0): a latched topic
        # is state, and its last value is what a late subscriber needs.
        qos.depth = max([q.depth for q in profiles] + [1])
    return qos


def run(node_factory: Callable[[], Node], args=None, executor=None,
        threads: int | None = None) -> int:
    """``main()`` body: init, spin until Ctrl-C / external shutdown, always clean up.

    ``threads`` spins on a ``MultiThreadedExecutor`` of that many threads (built here, after
    ``rclpy.init``, so it binds to the initialised context); ``executor`` passes one in.
    A configuration error (:data:`CONFIG_ERRORS`) is printed in one line and returns 2.
    """
    if executor is not None and threads is not None:
        raise TypeError('run() takes executor or threads, not both')
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        if threads is not None:
            executor = MultiThreadedExecutor(num_threads=threads)
        node = node_factory()
        if executor is None:
            rclpy.spin(node)
        else:
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CONFIG_ERRORS as exc:
        print(config_error_message(exc), file=sys.stderr)
        code = 2
    finally:
        # The Ctrl-C that ended spin() can be delivered again after rclpy's own handler
        # already stopped the executor; raised here, it would kill the process mid-cleanup
        # (exit by signal instead of 0). We are shutting down anyway: ignore it.
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
            # a node that ended itself says with which status (e.g. the sorter's deaf check)
            code = code or int(getattr(node, 'exit_code', 0) or 0)
        rclpy.try_shutdown()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return code
