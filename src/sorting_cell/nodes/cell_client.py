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
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from std_msgs.msg import Header

from sorting_cell.liveness import NodeFault
from sorting_cell_interfaces.action import SortObjects

from ..perception.boxes import Match
from .qos import HEARTBEAT_LEASE_S, heartbeat_qos

__all__ = ['SortingCell', 'SortOutcome', 'ObjectResult', 'SortTask', 'SortRejected',
           'SorterGone', 'Match']

_COUNTER = itertools.count()
_STATUS = {GoalStatus.STATUS_SUCCEEDED: 'succeeded', GoalStatus.STATUS_CANCELED: 'canceled',
           GoalStatus.STATUS_ABORTED: 'aborted'}


class SortRejected(RuntimeError):
    """The sorter refused the goal (it is already running a sort)."""


class SorterGone(ConnectionError):
    """The sorter died or hung while a goal was in flight (its heartbeat stopped).

    What it had sorted is in its durable sort log: a restarted sorter resumes the sort.
    """


#: Largest number of boxes a goal may ask for (the goal field is a uint8).
MAX_BOXES = 255
#: What ``sort()`` waits at most by default (s); a dead sorter is noticed much sooner.
DEFAULT_SORT_TIMEOUT = 3600.0


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
    #: How the box was chosen (a continued sort: the box's contents, a free box, or none).
    match: Match = Match.CLUSTERED


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

    @property
    def node_fault(self) -> NodeFault | None:
        """Why another node ended or refused the goal (``NodeFault.NODE_GONE`` when a node
        it depends on died or hung, ``NODE_ABSENT`` when one never ran), else None."""
        return NodeFault.of(self.message)

    @classmethod
    def from_result(cls, status: int, r: SortObjects.Result, feedback: list) -> 'SortOutcome':
        objs = [ObjectResult(o.object_id, o.box, o.success, o.reason, o.attempts,
                             (o.bbox.x_offset, o.bbox.y_offset, o.bbox.x_offset + o.bbox.width,
                              o.bbox.y_offset + o.bbox.height),
                             (o.position.x, o.position.y, o.position.z) if o.has_position
                             else None, o.from_previous_run, Match(o.match))
                for o in r.objects]
        return cls(_STATUS.get(status, f'status {status}'), r.sort_id, r.success, r.message,
                   r.num_boxes, r.resumed, objs, r.perception_seconds, feedback)


class SortTask:
    """A goal in flight: ``feedback`` grows, ``cancel()`` asks to stop, ``wait()`` ends it."""

    def __init__(self, cell: 'SortingCell', handle, feedback: list):
        self._cell, self._handle, self.feedback = cell, handle, feedback
        self._result = cell._on_spin_thread(handle.get_result_async)
        self._accepted_at = time.monotonic()

    def done(self) -> bool:
        return self._result.done()

    def cancel(self, timeout: float = 10.0) -> bool:
        """Ask the sorter to stop after the pick in progress; True if it accepted. Asked
        again every ``retry_period`` s until an answer comes (a cancel is idempotent)."""
        # Why again: a request can be lost (see SortingCell._send).
        deadline = time.monotonic() + timeout
        sent = []
        while True:
            sent.append(self._cell._on_spin_thread(self._handle.cancel_goal_async))
            retry_at = min(deadline, time.monotonic() + self._cell.retry_period)
            while time.monotonic() < retry_at:
                answered = [f.result() for f in sent if f.done()]
                if answered:
                    # a repeated cancel of a goal already canceling lists no goal
                    return (any(r.goals_canceling for r in answered)
                            or self._handle.status == GoalStatus.STATUS_CANCELING)
                time.sleep(0.01)
            if time.monotonic() >= deadline:
                raise TimeoutError(f'no cancel response within {timeout:.1f} s')

    def wait(self, timeout: float | None = DEFAULT_SORT_TIMEOUT) -> SortOutcome:
        """The outcome; raises :class:`SorterGone` when the sorter's heartbeat stops
        (dead or hung) and ``TimeoutError`` after ``timeout`` s (None: no limit)."""
        res = self._cell._wait(self._result, timeout, 'sort result',
                               sorter_since=self._accepted_at)
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
        # The sorter's heartbeat: DDS reports when its liveliness lease runs out.
        self._alive = None   # None: never heard (an older sorter); then True / False
        self._lost_at = 0.0
        self._node.create_subscription(
            Header, 'sorter/heartbeat', self._on_beat, heartbeat_qos(),
            event_callbacks=SubscriptionEventCallbacks(liveliness=self._on_liveliness))
        if not self._client.wait_for_server(timeout_sec=server_timeout):
            name = self._node.resolve_topic_name('sort_objects')
            self.close()
            raise ConnectionError(f'no SortObjects action server on {name} within '
                                  f'{server_timeout:.1f} s; is the sorter node running?')

    def _on_beat(self, msg: Header) -> None:
        self._alive = True

    def _on_liveliness(self, event) -> None:
        # A heartbeat writer that stops being alive is a sorter that died, hung or left, even
        # when a restarted sorter's new writer keeps the count above zero: the goal sent to
        # the old one is lost with it (the new one never heard of it).
        # A writer that lost its lease moves to the not-alive count; one that left while alive
        # (a clean exit) just leaves the alive count; a dead one's endpoint removed later
        # (the participant lease) leaves the not-alive count, which is no new loss.
        if event.not_alive_count_change > 0 or (event.alive_count_change < 0
                                                 and event.not_alive_count_change == 0):
            self._lost_at = time.monotonic()
        self._alive = event.alive_count > 0

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - ends with the context at close()
            pass

    def _on_spin_thread(self, fn, timeout: float = 10.0):
        """``fn()`` (an action client ``*_async`` call) run on the spin thread; its future.

        rclpy's ActionClient stores a request's future only after sending it: a response
        the spin thread processes in between is dropped ("Ignoring unexpected goal
        response") and the call never completes. A dropped goal response made the client
        resend, and the copy started a second sort once the first had ended. Sending from
        the spin thread itself serialises the two.
        """
        if not self._thread.is_alive():
            raise RuntimeError('this SortingCell is closed: make a new one to talk to the '
                               'sorter')
        task = self._executor.create_task(fn)
        deadline = time.monotonic() + timeout
        while not task.done():
            if not self._thread.is_alive():
                raise RuntimeError('this SortingCell was closed while sending a request')
            if time.monotonic() > deadline:
                raise TimeoutError(f'the client did not get to send the request within '
                                   f'{timeout:.1f} s')
            time.sleep(0.005)
        return task.result()

    def _wait(self, future, timeout: float | None, what: str,
              sorter_since: float | None = None):
        """``future``'s result; with ``sorter_since``, :class:`SorterGone` when the sorter's
        heartbeat was lost after that time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not future.done():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f'no {what} within {timeout:.1f} s')
            # Only a loss during this goal counts: a sorter lost earlier and restarted
            # since may not have been heard again yet.
            if sorter_since is not None and self._lost_at >= sorter_since:
                name = self._node.resolve_topic_name('sort_objects')
                raise SorterGone(f'the sorter ({name}) stopped its heartbeat '
                                 f'{time.monotonic() - self._lost_at + HEARTBEAT_LEASE_S:.1f} s '
                                 'ago: it died or hung while sorting. What it sorted is in '
                                 'its sort log; restart it and send the goal again to resume')
            time.sleep(0.01)
        return future.result()

    def sort_async(self, num_boxes: int, *, sort_id: str = '', resume: bool = False,
                   dry_run: bool = False, max_objects: int = 0, snapshot_timeout: float = 0.0,
                   into: str = '', on_feedback: Callable | None = None) -> SortTask:
        """Send a goal and return at once (see ``SortObjects.action`` for the options).

        ``into``: the sort_id of an earlier sort whose boxes this one continues (each new
        object goes to the box whose contents it matches; :class:`Match` says how).
        """
        if not isinstance(into, str):
            raise ValueError(f'into must be a sort_id (str), got {into!r}')
        lowest = 0 if (sort_id or resume or into) else 1   # 0: the logged sort's own boxes
        if isinstance(num_boxes, bool) or not isinstance(num_boxes, int) \
                or not lowest <= num_boxes <= MAX_BOXES:
            raise ValueError(f'num_boxes must be an integer from {lowest} to {MAX_BOXES}, '
                             f'got {num_boxes!r}')
        if not isinstance(max_objects, int) or max_objects < 0:
            raise ValueError(f'max_objects must be an integer >= 0, got {max_objects!r}')
        feedback: list = []

        def _fb(msg):
            feedback.append(msg.feedback)
            if on_feedback is not None:
                on_feedback(msg.feedback)

        goal = SortObjects.Goal(num_boxes=int(num_boxes), sort_id=sort_id, resume=resume,
                                dry_run=dry_run, max_objects=int(max_objects),
                                snapshot_timeout=float(snapshot_timeout), into_sort_id=into)
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
            sent.append(self._on_spin_thread(lambda: self._client.send_goal_async(
                goal, feedback_callback=feedback_callback)))
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

    def sort(self, num_boxes: int, *, timeout: float | None = DEFAULT_SORT_TIMEOUT,
             **options) -> SortOutcome:
        """Sort the table into ``num_boxes`` boxes and wait for the outcome.

        ``options``: sort_id, resume, dry_run, max_objects, snapshot_timeout, into,
        on_feedback.
        Errors of the cell (no camera, too few objects...) come back as an outcome with
        status 'aborted' and the reason in ``message``. A sorter that dies or hangs
        mid-goal raises :class:`SorterGone` within a few seconds (its heartbeat lease);
        ``timeout`` bounds the whole wait.
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
