"""Implementation of :mod:`sorting_cell.client`: a small synchronous SortObjects client."""
from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import rclpy
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from sorting_cell_interfaces.action import SortObjects

__all__ = ['SortingCell', 'SortOutcome', 'ObjectResult', 'SortTask', 'SortRejected']

_COUNTER = itertools.count()
_STATUS = {GoalStatus.STATUS_SUCCEEDED: 'succeeded', GoalStatus.STATUS_CANCELED: 'canceled',
           GoalStatus.STATUS_ABORTED: 'aborted'}


class SortRejected(RuntimeError):
    """The sorter refused the goal (it is already running a sort)."""


@dataclass
class ObjectResult:
    object_id: str
    box: int
    success: bool
    reason: str
    attempts: int
    bbox: tuple[int, int, int, int]        # x0, y0, x1, y1 in the snapshot
    position: tuple[float, float, float] | None
    from_previous_run: bool


@dataclass
class SortOutcome:
    """A finished goal. ``status`` is 'succeeded', 'canceled' or 'aborted'; ``success``
    is True only when every object reached its box."""

    status: str
    sort_id: str
    success: bool
    message: str
    num_boxes: int
    resumed: bool
    objects: list[ObjectResult]
    perception_seconds: float
    feedback: list = field(default_factory=list)

    def boxes(self) -> dict[str, int]:
        return {o.object_id: o.box for o in self.objects}

    @classmethod
    def from_result(cls, status: int, r: SortObjects.Result, feedback: list) -> 'SortOutcome':
        objs = [ObjectResult(o.object_id, o.box, o.success, o.reason, o.attempts,
                             (o.bbox.x_offset, o.bbox.y_offset, o.bbox.x_offset + o.bbox.width,
                              o.bbox.y_offset + o.bbox.height),
                             (o.position.x, o.position.y, o.position.z) if o.has_position
                             else None, o.from_previous_run) for o in r.objects]
        return cls(_STATUS.get(status, f'status {status}'), r.sort_id, r.success, r.message,
                   r.num_boxes, r.resumed, objs, r.perception_seconds, feedback)


class SortTask:
    """A goal in flight: ``feedback`` grows, ``cancel()`` asks to stop, ``wait()`` ends it."""

    def __init__(self, cell: 'SortingCell', handle, feedback: list):
        self._cell, self._handle, self.feedback = cell, handle, feedback
        self._result = handle.get_result_async()

    def done(self) -> bool:
        return self._result.done()

    def cancel(self, timeout: float = 10.0) -> bool:
        """Ask the sorter to stop after the pick in progress; True if it accepted."""
        fut = self._handle.cancel_goal_async()
        resp = self._cell._wait(fut, timeout, 'cancel response')
        return bool(resp.goals_canceling)

    def wait(self, timeout: float | None = None) -> SortOutcome:
        res = self._cell._wait(self._result, timeout, 'sort result')
        return SortOutcome.from_result(res.status, res.result, self.feedback)


class SortingCell:
    """Connects to the sorter's ``sort_objects`` action (under ``namespace``).

    Parameters
    ----------
    namespace : str
        Namespace the cell's nodes run in ('' = root).
    server_timeout : float
        Seconds to wait for the sorter to appear (DDS discovery takes 0.5-3 s).
    goal_timeout : float
        Seconds to wait for the sorter to accept or reject a goal.
    retry_period : float
        Resend a goal that got no answer after this many seconds (see :meth:`_send`).
    context : rclpy.Context or None
        Use this context; None = the default one (initialised here if needed, and shut
        down by :meth:`close` only in that case).
    """

    def __init__(self, namespace: str = '', server_timeout: float = 10.0,
                 goal_timeout: float = 30.0, retry_period: float = 3.0,
                 context=None, node_name: str | None = None):
        self.goal_timeout, self.retry_period = goal_timeout, retry_period
        self._own_context = context is None and not rclpy.ok()
        if self._own_context:
            rclpy.init()
        self._context = context or rclpy.get_default_context()
        # Unique by default: several clients (or a reconnect) must not share a node name.
        name = node_name or f'sorting_cell_client_{os.getpid()}_{next(_COUNTER)}'
        self._node = Node(name, namespace=namespace or None, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._client = ActionClient(self._node, SortObjects, 'sort_objects')
        if not self._client.wait_for_server(timeout_sec=server_timeout):
            name = self._node.resolve_topic_name('sort_objects')
            self.close()
            raise ConnectionError(f'no SortObjects action server on {name} within '
                                  f'{server_timeout:.1f} s; is the sorter node running?')

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - ends with the context at close()
            pass

    def _wait(self, future, timeout: float | None, what: str):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not future.done():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f'no {what} within {timeout:.1f} s')
            time.sleep(0.01)
        return future.result()

    def sort_async(self, num_boxes: int, *, sort_id: str = '', resume: bool = False,
                   dry_run: bool = False, max_objects: int = 0, snapshot_timeout: float = 0.0,
                   on_feedback: Callable | None = None) -> SortTask:
        """Send a goal and return at once (see ``SortObjects.action`` for the options)."""
        feedback: list = []

        def _fb(msg):
            feedback.append(msg.feedback)
            if on_feedback is not None:
                on_feedback(msg.feedback)

        goal = SortObjects.Goal(num_boxes=int(num_boxes), sort_id=sort_id, resume=resume,
                                dry_run=dry_run, max_objects=int(max_objects),
                                snapshot_timeout=float(snapshot_timeout))
        return SortTask(self, self._send(goal, _fb), feedback)

    def _send(self, goal: SortObjects.Goal, feedback_callback):
        """Send ``goal``; resend when no answer comes within ``retry_period``.

        A request can be lost without error: right after discovery the server may not yet
        have matched this client, and after a sorter restart DDS still lists the dead
        server's endpoints (until their lease expires), so ``wait_for_server`` succeeds
        against it. Resending is safe: the sorter runs one goal at a time, so if a late
        copy is accepted the others are rejected, and the accepted one is used.
        """
        deadline = time.monotonic() + self.goal_timeout
        sent = []
        while time.monotonic() < deadline:
            sent.append(self._client.send_goal_async(goal, feedback_callback=feedback_callback))
            retry_at = min(deadline, time.monotonic() + self.retry_period)
            while time.monotonic() < retry_at:
                answered = [f.result() for f in sent if f.done()]
                accepted = [h for h in answered if h.accepted]
                if accepted:
                    return accepted[0]
                if answered and len(answered) == len(sent):
                    raise SortRejected('the sorter rejected the goal: a sort is already '
                                       'running')
                time.sleep(0.01)
        raise TimeoutError(f'no answer to the goal within {self.goal_timeout:.1f} s')

    def sort(self, num_boxes: int, *, timeout: float | None = None, **options) -> SortOutcome:
        """Sort the table into ``num_boxes`` boxes and wait for the outcome.

        ``options``: sort_id, resume, dry_run, max_objects, snapshot_timeout, on_feedback.
        Errors of the cell (no camera, too few objects...) come back as an outcome with
        status 'aborted' and the reason in ``message``.
        """
        return self.sort_async(num_boxes, **options).wait(timeout)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        if self._own_context:
            rclpy.try_shutdown()
        self._thread.join(timeout=2.0)

    def __enter__(self) -> 'SortingCell':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
