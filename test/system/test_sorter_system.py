"""The cell as separate processes on real DDS: camera node + sorter node + the client.

The arm is the test-only hardware stand-in (test/nodes/fake_arm.py: ~0.3-0.4 s per pick,
placements journalled like objects physically in boxes). Everything else is real:
processes, Fast DDS, the action protocol, the sort log on disk, SIGKILL.
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from fake_arm import read_journal  # noqa: E402
from rosproc import NodeProcess, domain_for  # noqa: E402
from scenes import make_scene  # noqa: E402

from sorting_cell.client import SortingCell, SorterGone, SortRejected  # noqa: E402
from sorting_cell.nodes.qos import HEARTBEAT_LEASE_S  # noqa: E402
from sorting_cell.sortlog import SortLog  # noqa: E402

DOMAIN = domain_for(__name__)
N_OBJECTS, N_KINDS = 8, 2


class CellProcesses:
    def __init__(self, root: Path, pick_seconds: float = 0.35):
        self.root = root
        self.scene = make_scene(n_objects=N_OBJECTS, n_kinds=N_KINDS, seed=21)
        (root / 'camera').mkdir()
        cv2.imwrite(str(root / 'camera' / 'scene.png'), self.scene.frame[:, :, ::-1])
        cv2.imwrite(str(root / 'background.png'), self.scene.background[:, :, ::-1])
        self.journal = root / 'arm.jsonl'
        self.log_dir = root / 'sortlog'
        self.camera = NodeProcess('sorting_cell.nodes.camera', {
            'source': 'folder', 'folder': str(root / 'camera'), 'loop': True,
            'rate_hz': 10.0}, root, DOMAIN)
        self.sorter = NodeProcess('sorting_cell.nodes.sorter', {
            'manipulator': 'fake_arm:make_manipulator', 'fake_arm.journal': str(self.journal),
            'fake_arm.pick_seconds': pick_seconds, 'sort_log_dir': str(self.log_dir),
            'background_path': str(root / 'background.png'), 'snapshot_timeout': 10.0},
            root, DOMAIN)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=DOMAIN)
        self.client = None

    def connect(self) -> SortingCell:
        self.client = SortingCell(context=self.context, server_timeout=60.0)
        return self.client

    def close(self):
        if self.client is not None:
            self.client.close()
        for p in (self.sorter, self.camera):
            p.stop()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope='module')
def cell(tmp_path_factory):
    c = CellProcesses(tmp_path_factory.mktemp('cell'))
    try:
        c.camera.start()
        c.sorter.start()
        c.connect()
        yield c
    finally:
        c.close()


def _wait_feedback(task, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(predicate(f) for f in list(task.feedback)):
            return
        if task.done():
            raise AssertionError(f'goal ended before {what}')
        time.sleep(0.02)
    raise AssertionError(f'no feedback {what} within {timeout} s')


def test_goal_runs_to_result_with_feedback(cell):
    out = cell.client.sort(num_boxes=N_KINDS, sort_id='first', timeout=90)
    assert out.status == 'succeeded' and out.success, out.message
    assert len(out.objects) == N_OBJECTS and not out.resumed
    phases = [f.phase for f in out.feedback]
    assert phases[0] == 'snapshot' and 'pick' in phases
    assert max(f.objects_done for f in out.feedback) >= N_OBJECTS - 1
    placed = read_journal(cell.journal)
    assert sorted(p['object_id'] for p in placed) == sorted(out.boxes())
    assert {p['object_id']: p['box'] for p in placed} == out.boxes()
    cents = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (o.bbox for o in out.objects)]
    truth = cell.scene.match(cents)
    assert normalized_mutual_info_score(truth, [o.box for o in out.objects]) == 1.0
    assert 0 < out.perception_seconds < 30


def test_second_goal_while_busy_is_rejected_and_cancel_ends_cleanly(cell):
    before = len(read_journal(cell.journal))
    task = cell.client.sort_async(num_boxes=N_KINDS, sort_id='to-cancel')
    _wait_feedback(task, lambda f: f.phase == 'pick' and f.objects_done >= 2, 60,
                   'two objects done')
    with pytest.raises(SortRejected):
        cell.client.sort_async(num_boxes=N_KINDS)
    assert task.cancel()
    out = task.wait(timeout=30)
    assert out.status == 'canceled' and out.sort_id == 'to-cancel'
    moved = len(read_journal(cell.journal)) - before
    assert 2 <= moved < N_OBJECTS
    assert cell.sorter.alive()
    rec = SortLog(cell.log_dir).get('to-cancel')
    assert rec.state == 'canceled' and len(rec.placements()) == moved
    # Cancelled sorts resume: only the rest is moved.
    out = cell.client.sort(num_boxes=N_KINDS, sort_id='to-cancel', timeout=90)
    assert out.status == 'succeeded' and out.resumed and out.success, out.message
    ids = [p['object_id'] for p in read_journal(cell.journal)[before:]]
    assert sorted(ids) == sorted(out.boxes())       # every object exactly once


def test_killed_sorter_resumes_from_sort_log_nothing_lost_or_repeated(cell):
    before = len(read_journal(cell.journal))
    task = cell.client.sort_async(num_boxes=N_KINDS, sort_id='crash')
    _wait_feedback(task, lambda f: f.phase == 'pick' and f.objects_done >= 3, 60,
                   'three objects done')
    time.sleep(0.15)                  # mid-way through the next pick
    assert cell.sorter.kill() == -9
    killed = time.monotonic()
    # The waiting client does not wait forever: the heartbeat's liveliness lease runs out.
    with pytest.raises(SorterGone, match='died or hung'):
        task.wait(timeout=60)
    assert time.monotonic() - killed < HEARTBEAT_LEASE_S + 10
    moved_before = {p['object_id'] for p in read_journal(cell.journal)[before:]}
    rec = SortLog(cell.log_dir).get('crash')
    assert rec.state == 'running'                         # it never got to finish
    assert set(rec.placements()) == moved_before          # the log knows what moved
    interrupted = [o.object_id for o in rec.objects if o.state == 'started']
    assert len(interrupted) == 1

    cell.sorter.start()
    # The same client carries on: its DDS participant still lists the killed sorter's
    # endpoints for a while, and the client resends goals that get no answer.
    cell.sorter.wait_log('sort_objects action server ready', 90)
    out = cell.client.sort(num_boxes=N_KINDS, resume=True, timeout=90)
    assert out.status == 'succeeded' and out.success, out.message
    assert out.sort_id == 'crash' and out.resumed
    ids = [p['object_id'] for p in read_journal(cell.journal)[before:]]
    assert sorted(ids) == sorted(o.object_id for o in rec.objects)   # none lost, none twice
    assert {o.object_id for o in out.objects if o.from_previous_run} == moved_before
    assert out.boxes() == {o.object_id: o.box for o in rec.objects}  # same plan
    again = {o.object_id: o.attempts for o in out.objects}
    assert again[interrupted[0]] == 2


def test_bad_requests_end_with_clear_errors_and_sorter_keeps_running(cell):
    for bad in (-1, 0, 256, 2.5, True):
        with pytest.raises(ValueError, match='num_boxes must be an integer from 1 to 255'):
            cell.client.sort_async(num_boxes=bad)
    out = cell.client.sort(num_boxes=N_OBJECTS + 3, timeout=60)
    assert out.status == 'aborted'
    assert f'found {N_OBJECTS} usable object(s) but {N_OBJECTS + 3} boxes' in out.message
    cell.camera.stop()                                   # the camera dies
    out = cell.client.sort(num_boxes=N_KINDS, snapshot_timeout=1.0, timeout=60)
    assert out.status == 'aborted'
    assert 'no image on /camera/image_raw within 1.0 s' in out.message
    assert cell.sorter.alive()
    cell.camera.start()
    # The restarted camera process may take many seconds to publish on a loaded machine:
    # the goal itself waits for its first image (up to 60 s).
    out = cell.client.sort(num_boxes=N_KINDS, dry_run=True, snapshot_timeout=60.0, timeout=120)
    assert out.status == 'succeeded', out.message
    assert all(o.reason == 'not moved: dry run' for o in out.objects)
    assert np.isfinite(out.perception_seconds)


def test_sigint_mid_goal_stops_the_arm_and_the_sort_resumes(cell):
    before = len(read_journal(cell.journal))
    task = cell.client.sort_async(num_boxes=N_KINDS, sort_id='sigint')
    _wait_feedback(task, lambda f: f.phase == 'pick' and f.objects_done >= 2, 60,
                   'two objects done')
    time.sleep(0.1)
    t0 = time.monotonic()
    assert cell.sorter.stop(timeout=10) == 0            # clean exit, not killed
    assert time.monotonic() - t0 < 10
    rec = SortLog(cell.log_dir).get('sigint')
    assert rec.state == 'running' and not any(o.state == 'started' for o in rec.objects)
    moved = {p['object_id'] for p in read_journal(cell.journal)[before:]}
    assert set(rec.placements()) == moved
    cell.sorter.start()
    cell.sorter.wait_log('sort_objects action server ready', 90)
    out = cell.client.sort(num_boxes=N_KINDS, sort_id='sigint', timeout=90)
    assert out.status == 'succeeded' and out.success and out.resumed, out.message
    ids = [p['object_id'] for p in read_journal(cell.journal)[before:]]
    assert sorted(ids) == sorted(out.boxes())
