"""The client API against a SortObjects server that answers at once: every goal is sent
once and answered once (a goal response processed before the client stored the request's
future used to be dropped, and the resent copy started a second sort)."""
import threading

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.action import ActionServer  # noqa: E402
from rclpy.node import Node  # noqa: E402

from sorting_cell.nodes.cell_client import SortingCell  # noqa: E402
from sorting_cell_interfaces.action import SortObjects  # noqa: E402


class QuickSorter(Node):
    """Accepts every goal and ends it at once: the race window is as wide as it gets."""

    def __init__(self, context):
        super().__init__('quick_sorter', context=context)
        self.goals = 0
        self._lock = threading.Lock()
        self._server = ActionServer(self, SortObjects, 'sort_objects', self._execute)

    def _execute(self, handle):
        with self._lock:
            self.goals += 1
            n = self.goals
        handle.succeed()
        return SortObjects.Result(sort_id=f'sort{n}', success=True)


def test_each_goal_is_sent_and_answered_once(ros):
    server = ros.add(QuickSorter(ros.context))
    with SortingCell(context=ros.context, server_timeout=30.0, retry_period=3.0) as cell:
        ids = []
        for _ in range(60):
            task = cell.sort_async(2)
            ids.append(task.wait(timeout=20.0).sort_id)
            cancel = task.cancel(timeout=10.0)   # answered (the goal has ended: refused)
            assert cancel is False
    assert server.goals == 60, f'{server.goals} goals reached the server for 60 sorts'
    assert ids == [f'sort{i}' for i in range(1, 61)]


def test_a_closed_client_says_so(ros):
    ros.add(QuickSorter(ros.context))
    cell = SortingCell(context=ros.context, server_timeout=30.0, retry_period=3.0)
    cell.sort(2, timeout=20.0)
    cell.close()
    with pytest.raises(RuntimeError, match='closed'):
        cell.sort_async(2)
