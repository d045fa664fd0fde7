"""One liveness mechanism for every node of the cell: a heartbeat each node publishes, and a
watch that says which of the nodes it follows are alive.

- :class:`Heartbeat`: ``<node name>/heartbeat`` (std_msgs/Header, ``frame_id`` = the node's
  name), sent every third of :data:`~.qos.HEARTBEAT_LEASE_S` from a thread of its own. Not
  from the executor: when every worker thread of a busy node is in a long callback, a
  timer waits in the executor's queue, and on a loaded machine that silenced healthy nodes
  for longer than the lease. A killed or stopped process (SIGKILL, SIGSTOP) stops beating;
  so does one whose interpreter is stuck holding the GIL. Its QoS asserts DDS liveliness by
  each message (MANUAL_BY_TOPIC, :func:`~.qos.heartbeat_qos`).
- :class:`LivenessWatch`: subscribes to those heartbeats; DDS reports, on the subscription's
  liveliness-changed event, a publisher whose lease ran out (SIGKILL, SIGSTOP, a hung
  executor) or that left the graph. A node is then :attr:`~sorting_cell.liveness.NodeState.DEAD`
  within the lease (plus the event's delivery), until it beats again (a restart).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from std_msgs.msg import Header

from sorting_cell.liveness import NodeState

from .qos import HEARTBEAT_LEASE_S, heartbeat_qos

__all__ = ['Heartbeat', 'LivenessWatch', 'heartbeat_topic', 'DETECTION_S']

#: Seconds within which a watch sees a dead or hung node: the lease, plus a second for the
#: liveliness event to be delivered and handled on a loaded machine.
DETECTION_S = HEARTBEAT_LEASE_S + 1.0


def heartbeat_topic(node_name: str) -> str:
    """The heartbeat topic of the node named ``node_name`` (relative: in the namespace)."""
    return f'{node_name}/heartbeat'


class Heartbeat:
    """Publish ``node``'s heartbeat until the node is destroyed.

    Parameters
    ----------
    node : Node
    lease_s : float
        The liveliness lease; beats go out three times per lease.
    """

    def __init__(self, node: Node, lease_s: float = HEARTBEAT_LEASE_S):
        self._node = node
        self.topic = heartbeat_topic(node.get_name())
        self._pub = node.create_publisher(Header, self.topic, heartbeat_qos(lease_s))
        self._period = lease_s / 3
        self._stop = threading.Event()
        self.beat()   # alive from the start, not a third of a lease later
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f'{node.get_name()}-heartbeat')
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            if not self._node.context.ok() or not self.beat():
                return

    def beat(self) -> bool:
        """Publish one beat; False once the node or its context is gone."""
        try:
            self._pub.publish(Header(stamp=self._node.get_clock().now().to_msg(),
                                     frame_id=self._node.get_name()))
        except Exception:  # noqa: BLE001 -- the node was destroyed or the context shut down
            return False
        return True

    def stop(self) -> None:
        """Stop beating (the node is going away)."""
        self._stop.set()


class _Followed:
    def __init__(self):
        self.state = NodeState.UNKNOWN
        self.changed = time.monotonic()
        self.last_beat: float | None = None
        self.beats_since_loss = 0


#: Beats heard after a loss that bring a node back without a liveliness event. The heartbeat
#: reader keeps one message (depth 1), so a second beat is a new one.
BEATS_TO_COME_BACK = 2


class LivenessWatch:
    """Follow the heartbeats of the nodes named ``names`` (in ``node``'s namespace).

    Parameters
    ----------
    node : Node
    names : iterable of str
        Node names (their heartbeat topics are ``<name>/heartbeat``).
    on_lost : callable or None
        ``on_lost(name)``, called (on an executor thread) when a followed node goes from
        alive to dead.
    lease_s : float
        The lease the heartbeats are published with.
    """

    def __init__(self, node: Node, names: Iterable[str],
                 on_lost: Callable[[str], None] | None = None,
                 lease_s: float = HEARTBEAT_LEASE_S):
        self._node = node
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}
        self._group = MutuallyExclusiveCallbackGroup()
        self._subs = []
        self.lease_s = lease_s
        for name in names:
            self.follow(name)

    def follow(self, name: str) -> None:
        """Also follow ``name`` (no-op when already followed)."""
        with self._lock:
            if name in self._followed:
                return
            self._followed[name] = _Followed()
        self._subs.append(self._node.create_subscription(
            Header, heartbeat_topic(name), lambda _m, n=name: self._beat(n),
            heartbeat_qos(self.lease_s), callback_group=self._group,
            event_callbacks=SubscriptionEventCallbacks(
                liveliness=lambda ev, n=name: self._liveliness(n, ev))))

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._followed)

    def topic(self, name: str) -> str:
        return self._node.resolve_topic_name(heartbeat_topic(name))

    def _set(self, name: str, state: NodeState) -> bool:
        """Set; True when a node went from alive to dead."""
        with self._lock:
            f = self._followed[name]
            lost = f.state is NodeState.ALIVE and state is NodeState.DEAD
            heard = f.state is not NodeState.ALIVE and state is NodeState.ALIVE
            back = heard and f.state is NodeState.DEAD
            if f.state is not state:
                f.state, f.changed = state, time.monotonic()
                f.beats_since_loss = 0
        if heard:   # said like the loss: an operator reading the log sees every change
            self._node.get_logger().info(
                f'{name} is alive again: its heartbeat on {self.topic(name)} is back' if back
                else f'{name} is alive: its heartbeat on {self.topic(name)} is heard')
        return lost

    def _beat(self, name: str) -> None:
        with self._lock:
            f = self._followed[name]
            f.last_beat = time.monotonic()
            if f.state is NodeState.DEAD:
                f.beats_since_loss += 1
            alive = (f.state is NodeState.UNKNOWN
                     or f.beats_since_loss >= BEATS_TO_COME_BACK)
        # After a loss one beat is not enough: the one still queued when the lease ran out
        # would bring a dead node back for good. Beats do have to count, though: Fast DDS
        # also reports a loss (no alive writer) when a dead predecessor's participant is
        # dropped, while the restarted node's writer beats on without a new liveliness event.
        if alive:
            self._set(name, NodeState.ALIVE)

    def _liveliness(self, name: str, event) -> None:
        # alive_count: publishers on the topic whose lease holds (a restarted node's new
        # publisher counts even while the dead one's endpoint lingers).
        lost = self._set(name, NodeState.ALIVE if event.alive_count > 0 else NodeState.DEAD)
        if lost:
            self._node.get_logger().error(
                f'{name} is gone: no heartbeat on {self.topic(name)} for {self.lease_s:g} s '
                '(died or hung)')
            if self._on_lost is not None:
                self._on_lost(name)

    def state(self, name: str) -> NodeState:
        with self._lock:
            return self._followed[name].state

    def states(self) -> dict[str, NodeState]:
        with self._lock:
            return {n: f.state for n, f in self._followed.items()}

    def dead(self) -> list[str]:
        """The followed nodes whose heartbeat lapsed."""
        return [n for n, s in self.states().items() if s is NodeState.DEAD]

    def since(self, name: str) -> float:
        """Seconds since ``name`` last changed state (or since the watch began)."""
        with self._lock:
            return time.monotonic() - self._followed[name].changed

    def wait_heard(self, names: Iterable[str], timeout: float) -> list[str]:
        """Wait up to ``timeout`` s until each of ``names`` was heard; those never heard."""
        names = list(names)
        deadline = time.monotonic() + timeout
        while True:
            unknown = [n for n in names if self.state(n) is NodeState.UNKNOWN]
            if not unknown or time.monotonic() >= deadline or not self._node.context.ok():
                return unknown
            time.sleep(0.02)

    def close(self) -> None:
        """Stop following (nodes stopped on purpose afterwards are not reported lost)."""
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._subs.clear()

    def describe(self, name: str) -> str:
        """Why ``name`` is not usable, in words (for a goal's result)."""
        state = self.state(name)
        if state is NodeState.DEAD:
            return (f'the {name} node is gone: its heartbeat on {self.topic(name)} stopped '
                    f'{self.since(name) + self.lease_s:.1f} s ago (died or hung)')
        if state is NodeState.UNKNOWN:
            return f'the {name} node is not running: no heartbeat on {self.topic(name)}'
        return f'the {name} node is alive'
