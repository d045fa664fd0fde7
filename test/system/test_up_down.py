"""``sorting-cell up sim`` stopped by Ctrl-C and by SIGTERM leaves nothing behind: every node
ends on the supervisor's SIGINT, no process is left, no Fast DDS shared memory is left stale
(the cheap form of ``benchmarks/up_down.py``, which runs 50 cycles)."""
import random
import signal
import sys
from pathlib import Path

import pytest

pytest.importorskip('psutil')
pytest.importorskip('rclpy')
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))

import up_down  # noqa: E402


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['ctrl-c', 'sigterm'])
def test_up_sim_stops_clean(sig, tmp_path):
    row = up_down.cycle(sig, random.randint(181, 230), tmp_path / 'logs',
                        nodes='sim,cell_frames', ready='graph', start_timeout=90.0)
    assert row['ready'], f"the cell never came up: {row['tail']}"
    assert row['left_running'] == [] and row['on_domain'] == [], row
    assert row['escalated'] == [], f"nodes needed more than SIGINT: {row['how']}"
    assert row['up_exit_code'] == 0, row
    assert row['slowest_child_s'] <= 15.0, row
    assert row['shm_used'] > 0, 'the check saw no shared memory in use: it would prove nothing'
    assert row['stale_shm'] == [] and row['unexplained_shm'] == [], row
