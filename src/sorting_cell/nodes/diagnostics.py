"""Report a node's health on /diagnostics (bad input, dead camera) instead of crashing."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

__all__ = ['Diagnostics', 'OK', 'WARN', 'ERROR', 'STALE']

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


class Diagnostics:
    """A node's health on ``/diagnostics``, in two styles that share one publisher.

    - Events, :meth:`report`: one DiagnosticStatus named '<node>: <part>' per call, logged
      when the part's level or message changes (a 30 Hz stream of bad frames must not flood
      the log) but always published, so monitors see the condition persist.
    - A running state, with ``name``: :meth:`update` sets the level, message and sticky
      ``values`` of the status '<node>: <name>', which is published on every change of level
      or message and re-sent every ``period_s`` (so ``values`` may be refreshed in between
      without publishing). Not logged: these nodes log their own state changes.

    Parameters
    ----------
    node : Node
        The reporting node.
    name : str, optional
        Enables the running state under this name (starts as OK 'starting').
    hardware_id : str, optional
        The statuses' hardware_id; default the node's fully qualified name for events and
        '' for the running state.
    period_s : float
        Re-send period of the running state.
    """

    def __init__(self, node: Node, name: str | None = None, hardware_id: str | None = None,
                 period_s: float = 1.0):
        self._node = node
        self._pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._last: dict[str, tuple[int, str]] = {}
        self.counts = {OK: 0, WARN: 0, ERROR: 0, STALE: 0}
        self._hardware_id = hardware_id
        self.name = None if name is None else f'{node.get_name()}: {name}'
        self.level, self.message, self.values = OK, 'starting', {}
        if name is not None:
            self._timer = node.create_timer(period_s, self.publish)

    def report(self, part: str, level: int, message: str, **values) -> None:
        """Publish one event for ``part`` (log it if it differs from the part's last one)."""
        self.counts[level] += 1
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
        hardware_id = (self._hardware_id if self._hardware_id is not None
                       else self._node.get_fully_qualified_name())
        self._send(DiagnosticStatus(level=level, name=f'{self._node.get_name()}: {part}',
                                    message=message, hardware_id=hardware_id,
                                    values=[KeyValue(key=k, value=str(v))
                                            for k, v in values.items()]))

    def update(self, level: int, message: str, **values) -> None:
        """Set the running state; publish it now if its level or message changed."""
        if self.name is None:
            raise RuntimeError('Diagnostics.update needs a running-state name; '
                               'use report(part, ...) for events')
        changed = (level, message) != (self.level, self.message)
        self.level, self.message = level, message
        self.values.update({k: str(v) for k, v in values.items()})
        if changed:
            self.publish()

    def publish(self) -> None:
        """Send the running state (the periodic re-send)."""
        status = DiagnosticStatus(level=self.level, name=self.name, message=self.message,
                                  hardware_id=self._hardware_id or '',
                                  values=[KeyValue(key=k, value=v)
                                          for k, v in sorted(self.values.items())])
        try:
            self._send(status)
        except Exception:  # noqa: BLE001 -- context already shut down at exit
            pass

    def _send(self, status: DiagnosticStatus) -> None:
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(arr)
