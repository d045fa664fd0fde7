"""``sorting-cell sim bench`` stopped mid-run (Ctrl-C, or killed outright) leaves no cell
running: the ``up`` it started and every node of it end (issue 10: a Ctrl-C left the whole
cell running, orphaned)."""
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
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and bench.poll() is None:
            cell = _tree(bench.pid)
            if any('sorting_cell.nodes.sim' in ' '.join(p.cmdline()) for p in _alive(cell)):
                break
            time.sleep(0.2)
        assert cell, 'the bench never started its cell'
        cell = _tree(bench.pid)   # every node of it by now, and `up` itself
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
