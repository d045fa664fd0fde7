"""QoS per stream: sensor images, reliable results, latched state."""
from __future__ import annotations

from rclpy.duration import Duration
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile,
                       ReliabilityPolicy)

__all__ = ['sensor_qos', 'result_qos', 'latched_qos', 'tf_qos', 'tf_static_qos',
           'heartbeat_qos', 'HEARTBEAT_LEASE_S']

#: A server whose heartbeat is silent this long is dead or hung. 3 s was too short for a
#: loaded 2-core machine: at load 10-20 live sim and clustering nodes went 3 s without a
#: beat (their heartbeat thread waiting for the GIL behind rendering and inference) and
#: sorts were aborted as node_gone.
HEARTBEAT_LEASE_S = 5.0


def sensor_qos(best_effort: bool = False, depth: int = 5) -> QoSProfile:
    """Camera streams: keep the last few frames. Reliable by default -- without shared
    memory, best effort drops most 640x480 frames on loopback (see ROS2_FROM_PYPI.md)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=(ReliabilityPolicy.BEST_EFFORT if best_effort
                                   else ReliabilityPolicy.RELIABLE),
                      durability=DurabilityPolicy.VOLATILE)


def result_qos(depth: int = 10) -> QoSProfile:
    """Detections and assignments: every message matters, none is replayed to late joiners."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """State ('clustering/ready', background frame, camera pose): the last value reaches
    subscribers that join later."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def tf_qos() -> QoSProfile:
    """``/tf``: what tf2_ros's broadcaster and listener use (reliable, volatile, depth 100)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def tf_static_qos(depth: int = 1) -> QoSProfile:
    """``/tf_static``: latched like tf2_ros (TRANSIENT_LOCAL): each broadcaster republishes
    all its static transforms in one message, so depth 1 keeps them all for late joiners;
    listeners use depth 100 to hear every broadcaster."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def heartbeat_qos(lease_s: float = HEARTBEAT_LEASE_S) -> QoSProfile:
    """A node's heartbeat: DDS liveliness asserted by each message (MANUAL_BY_TOPIC), so a
    subscriber's liveliness event says within ``lease_s`` that the node died or hung (its
    timer stopped), the way Nav2's bond notices a dead server."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE,
                      liveliness=LivelinessPolicy.MANUAL_BY_TOPIC,
                      liveliness_lease_duration=Duration(seconds=lease_s))
