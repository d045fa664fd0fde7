"""`sorting-cell up replay BAG`: the whole node set as processes, health, clean shutdown."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sorting_cell import bags, bringup
from sorting_cell.cli import main as cli_main
from rosproc import ros_env

DOMAIN = 222 + os.getpid() % 11
SORTING_CELL = str(Path(sys.executable).with_name('sorting-cell'))


@pytest.fixture(scope='module')
def tool_bag(tmp_path_factory, tools_root):
    out = tmp_path_factory.mktemp('up') / 'tools'
    bags.bag_from_tools(out, condition=3, root=tools_root, per_class=2, rate_hz=10.0)
    return out


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = set()
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except OSError:
        return False
    return state != 'Z'  # a zombie has exited; only its parent's bookkeeping is left


class Up:
    """``sorting-cell up ...`` in the background, its stdout lines in a queue."""

    def __init__(self, *args, env_extra=None):
        env = dict(ros_env(DOMAIN), **(env_extra or {}))
        self.proc = subprocess.Popen([SORTING_CELL, 'up', *args], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)

    def wait_status(self, predicate, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith('{"status"'):
                status = json.loads(line)['status']
                if predicate(status):
                    return status
                dead = [n for n, p in status['processes'].items() if not p['alive']]
                if dead:  # the supervisor restarts nothing: no point in waiting longer
                    raise AssertionError(f'{dead} exited:\n' + ''.join(self.log))
        raise AssertionError(f'no matching health report in {timeout} s:\n' + ''.join(self.log))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def test_up_replay_runs_the_cell_reports_health_and_stops_on_sigint(tool_bag, tmp_path):
    up = Up('replay', str(tool_bag), '--loop', '--status-format', 'json', '--status-period',
            '1', '--log-dir', str(tmp_path / 'logs'))
    try:
        def healthy(s):
            procs, topics = s['processes'], s['topics']
            return (set(procs) == {'replay', 'proposals', 'clustering', 'sorter'}
                    and all(p['alive'] for p in procs.values())
                    and topics.get('camera/image_raw', {}).get('hz', 0) > 5
                    and topics.get('detections', {}).get('count', 0) > 0)

        status = up.wait_status(healthy, timeout=120)
        # The bag is 10 Hz; the monitor's 1 s window jitters under CPU load.
        assert 5.0 < status['topics']['camera/image_raw']['hz'] < 20.0, status['topics']
        assert 'clustering/ready' in status['latched']
        children = _children(up.proc.pid)
        assert len(children) == 5  # four nodes and the monitor
        assert {p['pid'] for p in status['processes'].values()} <= children
        up.proc.send_signal(signal.SIGINT)
        assert up.proc.wait(timeout=60) == 0, ''.join(up.log)
    finally:
        up.kill()
    out = ''.join(up.log)
    assert 'shutting down (SIGINT to every node)' in out
    stopped = next(line for line in up.log if line.startswith('stopped: '))
    for name in ('replay', 'proposals', 'clustering', 'sorter', 'monitor'):
        assert f'{name}: SIGINT (code 0)' in stopped
    assert 'EXITED' not in out and 'escalating' not in out
    assert not [pid for pid in children if _running(pid)]  # no orphans
    assert (tmp_path / 'logs' / 'replay.log').read_text().count('replaying') >= 1


def test_killed_supervisor_leaves_no_orphans(tool_bag, tmp_path):
    up = Up('replay', str(tool_bag), '--loop', '--nodes', 'replay', '--status-format', 'json',
            '--status-period', '1', '--log-dir', str(tmp_path / 'logs'))
    try:
        up.wait_status(lambda s: s['processes'].get('replay', {}).get('alive'), timeout=60)
        children = _children(up.proc.pid)
        assert len(children) == 2  # replay + monitor
        up.proc.kill()  # no chance to clean up: the kernel's parent-death signal must
        up.proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_running(p) for p in children):
            time.sleep(0.2)
        assert not [pid for pid in children if _running(pid)]
    finally:
        up.kill()


def test_missing_node_module_is_reported_and_nothing_starts(tool_bag, monkeypatch, capsys):
    monkeypatch.setitem(bringup.NODE_SETS, 'replay', ['replay', 'ghost'])
    before = _children(os.getpid())
    assert cli_main(['up', 'replay', str(tool_bag)]) == 2
    err = capsys.readouterr().err
    assert 'sorting_cell.nodes.ghost not found' in err and 'nothing started' in err
    assert _children(os.getpid()) == before
    with pytest.raises(bringup.MissingNodeError, match='sorting_cell.nodes.ghost'):
        bringup.Supervisor([bringup.NodeSpec('ghost', 'sorting_cell.nodes.ghost')]).start()


def test_up_rejects_bad_invocations(tmp_path, capsys):
    assert cli_main(['up', 'replay']) == 2
    assert 'give the bag to play' in capsys.readouterr().err
    assert cli_main(['up', 'replay', str(tmp_path)]) == 2
    assert 'is not a rosbag2' in capsys.readouterr().err
    assert cli_main(['up', 'sim', '--nodes', 'camera']) == 2
    assert "['camera'] not in the 'sim' node set" in capsys.readouterr().err


def test_transport_env_points_children_at_the_shipped_shm_profile(monkeypatch):
    monkeypatch.delenv('FASTRTPS_DEFAULT_PROFILES_FILE', raising=False)
    env = bringup.transport_env('auto')
    profile = Path(env['FASTRTPS_DEFAULT_PROFILES_FILE'])
    assert profile.name == 'fastdds_shm.xml' and '<type>SHM</type>' in profile.read_text()
    assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in bringup.transport_env('default')
    local = bringup.transport_env('local', {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'})
    assert 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in local   # it would replace the profile
    profile = Path(local['FASTRTPS_DEFAULT_PROFILES_FILE']).read_text().split('-->')[-1]
    assert '<address>127.0.0.1</address>' in profile and '<maxMessageSize>4194304' in profile
    with pytest.raises(ValueError, match='transport must be one of auto, shm, local, default'):
        bringup.transport_env('tcp')
    monkeypatch.setenv('FASTRTPS_DEFAULT_PROFILES_FILE', '/custom.xml')
    assert bringup.transport_env('auto')['FASTRTPS_DEFAULT_PROFILES_FILE'] == '/custom.xml'
    specs = bringup.node_set('sim')
    assert [s.name for s in specs] == ['sim', 'cell_frames', 'proposals', 'clustering', 'sorter']
    assert specs[-1].overrides['manipulator'] == 'sim'
    assert bringup.node_set('camera')[-1].overrides['manipulator'] == 'none'
