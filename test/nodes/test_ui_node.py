"""The page node over rclpy: what the page tells the operator is in the node's log too."""
import json
import socket
import urllib.request

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.parameter import Parameter  # noqa: E402

from sorting_cell.nodes.ui import UiNode  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_page_messages_of_both_kinds_reach_the_log(ros, tmp_path, capfd):
    port = _free_port()
    node = ros.add(UiNode(context=ros.context, parameter_overrides=[
        Parameter('port', value=port), Parameter('out_dir', value=str(tmp_path / 'out')),
        Parameter('sort_log_dir', value=str(tmp_path / 'sortlog'))]))
    try:
        # a refusal (error) and a result (info) from one place: rclpy allows one severity
        # per call site, so a single call site for both would raise on the second
        node.view.note('sort: no sorter', error=True)
        node.view.note('sort: sort into 2 boxes accepted')
        node.view.note('cancel: the sorter did not accept', error=True)
        state = json.loads(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/state',
                                                  timeout=10).read())
        assert [m['error'] for m in state['messages']] == [True, False, True]
    finally:
        node.close()
    err = capfd.readouterr().err
    assert '[ERROR]' in err and 'page: sort: no sorter' in err
    assert 'page: sort: sort into 2 boxes accepted' in err
