"""Liveness on real processes: a camera hung (SIGSTOP) or killed (SIGKILL) mid-sort.

camera node + sorter node (the test arm stand-in, test/nodes/fake_arm.py) + the monitor, run
by the same Supervisor ``sorting-cell up`` uses; the client over real DDS.
"""
import os
import signal
import sys
import time
from pathlib import Path

import cv2
import rclpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from fake_arm import read_journal  # noqa: E402
from rosproc import domain_for, ros_env, wait_until  # noqa: E402
from scenes import make_scene  # noqa: E402

from sorting_cell import bringup  # noqa: E402
from sorting_cell.client import SortingCell  # noqa: E402
from sorting_cell.liveness import NodeFault  # noqa: E402
from sorting_cell.nodes.liveness import DETECTION_S  # noqa: E402
from sorting_cell.sortlog import SortLog  # noqa: E402

DOMAIN = domain_for(__name__)


def test_hung_then_killed_camera_ends_the_goal_naming_it_and_up_shows_it_dead(tmp_path):
    scene = make_scene(n_objects=8, n_kinds=2, seed=21)
    (tmp_path / 'camera').mkdir()
    cv2.imwrite(str(tmp_path / 'camera' / 'scene.png'), scene.frame[:, :, ::-1])
    cv2.imwrite(str(tmp_path / 'background.png'), scene.background[:, :, ::-1])
    journal, log_dir = tmp_path / 'arm.jsonl', tmp_path / 'sortlog'
    specs = [
        bringup.NodeSpec('camera', 'sorting_cell.nodes.camera', None, {
            'source': 'folder', 'folder': str(tmp_path / 'camera'), 'loop': 'true',
            'rate_hz': '10.0'}),
        bringup.NodeSpec('sorter', 'sorting_cell.nodes.sorter', None, {
            'manipulator': 'fake_arm:make_manipulator', 'fake_arm.journal': str(journal),
            'fake_arm.pick_seconds': '1.0', 'sort_log_dir': str(log_dir),
            'background_path': str(tmp_path / 'background.png'), 'snapshot_timeout': '10.0',
            'watch_nodes': '[camera]'})]
    sup = bringup.Supervisor(specs, env=ros_env(DOMAIN), log_dir=tmp_path / 'logs',
                             out=open(os.devnull, 'w'))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    client = None
    camera_pgid = None
    try:
        sup.start()
        camera_pgid = sup.children['camera'].proc.pid
        client = SortingCell(context=context, server_timeout=60.0)
        wait_until(lambda: sup.status()['processes']['camera']['heartbeat'] == 'alive', 30,
                   'camera heartbeat in the status')
        task = client.sort_async(num_boxes=2, sort_id='hang')
        wait_until(lambda: any(f.phase == 'pick' and f.objects_done >= 1 for f in task.feedback),
                   40, 'a pick done')
        os.killpg(camera_pgid, signal.SIGSTOP)       # hung: the process is there, silent
        t0 = time.monotonic()
        out = task.wait(timeout=DETECTION_S + 10)
        took = time.monotonic() - t0
        print(f'goal ended {took:.2f} s after the camera was stopped')
        assert out.status == 'aborted' and not out.success
        assert out.node_fault is NodeFault.NODE_GONE, out.message
        assert 'the camera node is gone' in out.message
        assert took < DETECTION_S + 2, took
        rec = SortLog(log_dir).get('hang')
        placed = {p['object_id'] for p in read_journal(journal)}
        assert rec.state == 'aborted' and set(rec.placements()) == placed
        assert all(o.state == 'pending' for o in rec.objects if o.object_id not in placed)
        # What `sorting-cell up` prints: the hung node is dead, not 'up'.
        status = wait_until(lambda: (lambda s: s if s['processes']['camera']['heartbeat'] == 'dead'
                                     else None)(sup.status()), DETECTION_S + 3,
                            'camera dead')
        assert not status['processes']['camera']['alive']
        assert 'camera DEAD' in sup.format_status(status)
        # It wakes up: the same goal resumes the sort; every object moved exactly once.
        os.killpg(camera_pgid, signal.SIGCONT)
        wait_until(lambda: sup.status()['processes']['camera']['heartbeat'] == 'alive', 10,
                   'camera alive again')
        out = client.sort(num_boxes=2, timeout=60)
        assert out.status == 'succeeded' and out.success and out.resumed, out.message
        assert sorted(p['object_id'] for p in read_journal(journal)) == sorted(out.boxes())
        # Killed: the next goal is refused before anything moves, naming it.
        moved = len(read_journal(journal))
        os.killpg(camera_pgid, signal.SIGKILL)
        wait_until(lambda: sup.status()['processes']['camera']['heartbeat'] == 'dead',
                   DETECTION_S + 3, 'killed camera seen dead')
        t0 = time.monotonic()
        out = client.sort(num_boxes=2, sort_id='after-kill', timeout=DETECTION_S + 20)
        assert out.status == 'aborted', out.message
        assert NodeFault.of(out.message) is NodeFault.NODE_GONE, out.message
        assert 'camera' in out.message and 'nothing was moved' in out.message
        assert time.monotonic() - t0 < DETECTION_S + 5
        assert len(read_journal(journal)) == moved
    finally:
        if camera_pgid is not None:
            try:
                os.killpg(camera_pgid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if client is not None:
            client.close()
        sup.shutdown()
        rclpy.try_shutdown(context=context)



def _sorter_following_two_nodes(tmp_path, domain_name):
    """proposals, clustering and a sorter that follows both, every heartbeat heard."""
    specs = [bringup.NodeSpec('proposals', 'sorting_cell.nodes.proposals', None, {}),
             bringup.NodeSpec('clustering', 'sorting_cell.nodes.clustering', None, {}),
             bringup.NodeSpec('sorter', 'sorting_cell.nodes.sorter', None, {
                 'manipulator': 'none', 'perception': 'nodes',
                 'sort_log_dir': str(tmp_path / 'sortlog'),
                 'watch_nodes': '[proposals,clustering]'})]
    sup = bringup.Supervisor(specs, env=ros_env(domain_for(domain_name)),
                             log_dir=tmp_path / 'logs', out=open(os.devnull, 'w'))
    try:
        sup.start()
        wait_until(lambda: all(sup.status()['processes'][n]['heartbeat'] == 'alive'
                               for n in ('proposals', 'clustering', 'sorter')), 90,
                   'every heartbeat')
        # the sorter's own view: a node it never heard cannot be lost to it
        wait_until(lambda: all(f'{n} is alive' in sup.log_tail('sorter', 40)
                               for n in ('proposals', 'clustering')), 60,
                   'the sorter to hear both nodes')
    except BaseException:
        sup.shutdown()
        raise
    return sup


def test_a_sorter_that_hears_none_of_its_nodes_exits_loudly(tmp_path):
    """Every followed node silent from the same moment and never heard again: the sorter
    cannot tell that from its own DDS reception failing (seen once: a sorter that accepted
    no goal while its heartbeat still went out), so it exits with DEAF_EXIT_CODE instead of
    staying up deaf. Here the two nodes really are killed together."""
    from sorting_cell.nodes.sorter import DEAF_EXIT_CODE, DEAF_EXIT_S
    sup = None
    try:
        sup = _sorter_following_two_nodes(tmp_path, 'deaf_sorter')
        for name in ('proposals', 'clustering'):
            os.killpg(sup.children[name].proc.pid, signal.SIGKILL)
        sorter = sup.children['sorter'].proc
        wait_until(lambda: sorter.poll() is not None, DETECTION_S + DEAF_EXIT_S + 30,
                   'the sorter to exit')
        assert sorter.returncode == DEAF_EXIT_CODE, sup.log_tail('sorter')
        assert 'went silent at the same moment' in sup.log_tail('sorter', 40)
    finally:
        if sup is not None:
            sup.shutdown()


def test_a_sorter_keeps_running_when_one_of_its_nodes_dies(tmp_path):
    from sorting_cell.nodes.sorter import DEAF_EXIT_S
    sup = None
    try:
        sup = _sorter_following_two_nodes(tmp_path, 'one_node_dies')
        os.killpg(sup.children['proposals'].proc.pid, signal.SIGKILL)
        wait_until(lambda: 'proposals is gone' in sup.log_tail('sorter', 40),
                   DETECTION_S + 10, 'the sorter to see proposals gone')
        # past the deaf check's window: the sorter hears clustering, so it stays
        deadline = time.monotonic() + DEAF_EXIT_S + 3
        while time.monotonic() < deadline:
            assert sup.children['sorter'].proc.poll() is None, sup.log_tail('sorter')
            time.sleep(0.5)
    finally:
        if sup is not None:
            sup.shutdown()
