"""In-process rclpy tests: own Context per test, a private DDS domain per test process."""
from __future__ import annotations

import collections
import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))   # scenes.py, fake_arm.py, rosproc.py
from rosproc import domain_for  # noqa: E402

# Before rclpy creates any context: a domain of our own, and no traffic off this machine.
os.environ.setdefault('ROS_DOMAIN_ID', str(domain_for('in-process node tests')))

import rclpy  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402


#: Domains the last tests of this process used (see Harness).
_RECENT_DOMAINS: collections.deque = collections.deque(maxlen=32)


class Harness:
    """Spins nodes of one Context in a background executor; a 'probe' node for the test.

    Each test gets a DDS domain of its own, none of the last 32 tests' and none with a
    participant on this machine: whatever an earlier test left in its domain (a participant
    still going away, a node process still stopping) can neither answer nor confuse this
    one. Node processes a test starts join it through ``domain`` (and ROS_DOMAIN_ID).
    """

    def __init__(self):
        self.domain = domain_for('in-process node tests', avoid=_RECENT_DOMAINS)
        _RECENT_DOMAINS.append(self.domain)
        os.environ['ROS_DOMAIN_ID'] = str(self.domain)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.probe = Node('probe', context=self.context)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self.nodes = [self.probe]
        self.error = None

    def _spin(self):
        try:
            self.executor.spin()
        except Exception as exc:  # noqa: BLE001 - a callback raised: keep it for the test
            self.error = exc
            if self.context.ok():
                import traceback
                traceback.print_exc()

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def wait_for(self, predicate, timeout: float = 10.0, what: str = 'condition'):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise AssertionError(f'executor stopped: {self.error!r}') from self.error
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f'timed out after {timeout} s waiting for {what}')

    def wait_future(self, future, timeout: float = 20.0, what: str = 'future'):
        self.wait_for(future.done, timeout, what)
        return future.result()

    def close(self):
        for n in self.nodes:
            self.executor.remove_node(n)
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)
        for n in self.nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def ros():
    h = Harness()
    try:
        yield h
    finally:
        h.close()
