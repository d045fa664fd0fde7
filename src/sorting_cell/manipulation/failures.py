"""Why a motion on the arm failed: the first word of a pick outcome's reason."""
from __future__ import annotations

import enum

__all__ = ['ExecutionFailure']


class ExecutionFailure(enum.Enum):
    """Failures of executing a motion on an arm (as opposed to planning it)."""

    #: No joint states, or the controller's action server is not there.
    NO_ROBOT = 'no_robot'
    #: The controller refused the goal.
    REJECTED = 'rejected'
    #: The controller accepted, then gave up (its error code says why).
    ABORTED = 'aborted'
    #: No result within the deadline; the goal was cancelled.
    TIMED_OUT = 'timed_out'
    #: The action server vanished while the goal ran.
    SERVER_GONE = 'server_gone'
    #: Stopped on request (the sort was cancelled).
    STOPPED = 'stopped'

    def reason(self, detail: str) -> str:
        """``'word: detail'``, the form of :attr:`PickOutcome.reason`."""
        return f'{self.value}: {detail}'
