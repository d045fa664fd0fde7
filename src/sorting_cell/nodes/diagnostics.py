"""Report a node's health on /diagnostics (bad input, dead camera) instead of crashing."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

__all__ = ['Diagnostics', 'OK', 'WARN', 'ERROR', 'STALE']

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


class Diagnostics:
    """Publishes one DiagnosticStatus named '<node>: <part>' per report, and logs it.

    Repeated identical reports are logged once (a 30 Hz stream of bad frames must not flood
    the log) but still published, so monitors see the condition persist.
    """

    def __init__(self, node: Node):
        self._node = node
        self._pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._last: dict[str, tuple[int, str]] = {}
        self.counts = {OK: 0, WARN: 0, ERROR: 0, STALE: 0}

    def report(self, part: str, level: int, message: str, **values) -> None:
        self.counts[level] += 1
        name = f'{self._node.get_name()}: {part}'
        if self._last.get(part) != (level, message):
            # One call site per severity: rclpy refuses to change a call site's severity.
            logger, text = self._node.get_logger(), f'{part}: {message}'
            if level == OK:
                logger.info(text)
            elif level == ERROR:
                logger.error(text)
            else:
                logger.warning(text)
            self._last[part] = (level, message)
        arr = DiagnosticArray()
        arr.header.stamp = self._node.get_clock().now().to_msg()
        arr.status = [DiagnosticStatus(level=level, name=name, message=message,
                                       hardware_id=self._node.get_fully_qualified_name(),
                                       values=[KeyValue(key=k, value=str(v))
                                               for k, v in values.items()])]
        self._pub.publish(arr)
