"""``sorting-cell sim bench`` and ``sorting-cell bench faults`` stopped mid-run (Ctrl-C, or
killed outright) leave no cell running: every node they started ends (issue 10: a Ctrl-C left
the sim bench's whole cell running, orphaned, and the fault bench ignored it)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip('psutil')
pytest.importorskip('rclpy')
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import domain_for, ros_env  # noqa: E402

CLI = [sys.executable, '-c', 'import sys; from sorting_cell.cli import main; '
       'sys.exit(main(sys.argv[1:]))']


def _tree(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs):
    out = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _wait_for_sim(bench, timeout: float = 90.0) -> list:
    """The bench's process tree once its sim node runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and bench.poll() is None:
        cell = _tree(bench.pid)
        if any('sorting_cell.nodes.sim' in ' '.join(p.cmdline()) for p in _alive(cell)):
            return _tree(bench.pid)
        time.sleep(0.2)
    raise AssertionError(f'the bench never started its cell (exit status {bench.poll()})')


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGKILL], ids=['ctrl-c', 'sigkill'])
def test_stopped_bench_leaves_no_cell(sig, tmp_path):
    env = ros_env(domain_for('sim_bench_stop'))
    env.setdefault('MUJOCO_GL', 'egl')
    bench = subprocess.Popen(
        CLI + ['sim', 'bench', '--objects', 'primitives', '--trays', '1', '--per-tray', '2',
               '--boxes', '2', '--out', str(tmp_path / 'out')],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    cell = []
    try:
        cell = _wait_for_sim(bench)
        os.kill(bench.pid, sig)
        deadline = time.monotonic() + 45
        while _alive(cell) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _alive(cell)
        assert not left, 'left running: ' + ', '.join(' '.join(p.cmdline()[1:4]) for p in left)
    finally:
        for p in _alive(cell + _tree(bench.pid)):   # a failed run leaves nothing either
            p.kill()
        if bench.poll() is None:
            bench.kill()
        bench.wait(timeout=10)


def test_ctrl_c_stops_the_fault_bench_and_its_cell(tmp_path):
    env = ros_env(domain_for('fault_bench_stop'))
    env.setdefault('MUJOCO_GL', 'egl')
    out = tmp_path / 'out'
    bench = subprocess.Popen(
        CLI + ['bench', 'faults', '--cases', 'more_boxes_than_the_cell', '--out', str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    cell = []
    try:
        cell = _wait_for_sim(bench)
        os.kill(bench.pid, signal.SIGINT)
        try:
            _, err = bench.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            raise AssertionError('the fault bench went on after Ctrl-C') from None
        assert bench.returncode == 130, err[-2000:]
        assert 'interrupted' in err, err[-2000:]
        deadline = time.monotonic() + 30
        while _alive(cell) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _alive(cell)
        assert not left, 'left running: ' + ', '.join(' '.join(p.cmdline()[1:4]) for p in left)
        assert json.loads((out / 'summary.json').read_text())['complete'] is False
    finally:
        for p in _alive(cell + _tree(bench.pid)):
            p.kill()
        if bench.poll() is None:
            bench.kill()
        bench.wait(timeout=10)
