"""QoS per stream: sensor images, reliable results, latched state."""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

__all__ = ['sensor_qos', 'result_qos', 'latched_qos']


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
