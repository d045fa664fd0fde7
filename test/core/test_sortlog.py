"""The sort log: plan + per-object outcomes survive restarts and crashes."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sorting_cell.sortlog import LoggedObject, SortLog, SortLogError


def _plan(n=5, boxes=2):
    return [LoggedObject(f'obj{i}', i % boxes, info={'bbox': [i, i, i + 10, i + 10]})
            for i in range(n)]


def test_plan_and_outcomes_round_trip(tmp_path):
    log = SortLog(tmp_path)
    sid = log.begin(2, _plan(), options={'dry_run': False})
    log.mark_started(sid, 'obj0')
    log.mark_outcome(sid, 'obj0', True, 'placed')
    log.mark_started(sid, 'obj1')
    log.mark_outcome(sid, 'obj1', False, 'unreachable: out of workspace')
    log.close()

    rec = SortLog(tmp_path).get(sid)
    assert rec.state == 'running' and not rec.finished
    assert [o.state for o in rec.objects] == ['done', 'failed', 'pending', 'pending', 'pending']
    assert rec.objects[1].reason.startswith('unreachable')
    assert rec.placements() == {'obj0': 0}
    assert [o.object_id for o in rec.remaining] == ['obj2', 'obj3', 'obj4']
    assert rec.objects[0].info == {'bbox': [0, 0, 10, 10]}
    assert rec.options == {'dry_run': False}


def test_interrupted_pick_stays_started_and_counts_attempts(tmp_path):
    log = SortLog(tmp_path)
    sid = log.begin(2, _plan(3))
    log.mark_started(sid, 'obj0')
    rec = SortLog(tmp_path).get(sid)
    assert rec.objects[0].state == 'started' and rec.objects[0].attempts == 1
    assert rec.objects[0] in rec.remaining
    log.mark_pending(sid, 'obj0', 'canceled')
    log.mark_started(sid, 'obj0')
    assert log.get(sid).objects[0].attempts == 2


def test_latest_unfinished_and_states(tmp_path):
    log = SortLog(tmp_path)
    a = log.begin(2, _plan(2), sort_id='a')
    b = log.begin(3, _plan(3, 3), sort_id='b')
    assert log.latest_unfinished().sort_id == b
    assert log.latest_unfinished(num_boxes=2).sort_id == a
    log.set_state(b, 'succeeded')
    assert log.latest_unfinished().sort_id == a
    log.set_state(a, 'canceled', 'goal canceled')
    assert log.latest_unfinished().sort_id == a   # canceled sorts can be resumed
    log.set_state(a, 'failed', '1 object unreachable')
    assert log.latest_unfinished() is None
    assert [e[2] for e in log.events(a)] == ['begin', 'canceled', 'failed']


def test_snapshot_saved_atomically(tmp_path):
    log = SortLog(tmp_path)
    frame = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    sid = log.begin(1, _plan(2, 1), snapshot={'frame': frame, 'mask_obj0': frame[..., 0] > 9})
    snap = log.load_snapshot(sid)
    np.testing.assert_array_equal(snap['frame'], frame)
    assert snap['mask_obj0'].dtype == bool
    assert not list(tmp_path.glob('*.tmp'))
    assert log.load_snapshot('nope') is None


@pytest.mark.parametrize('kwargs, match', [
    ({'num_boxes': 0}, 'num_boxes'),
    ({'sort_id': 'has space'}, 'sort id'),
    ({'objects': [LoggedObject('x', 0), LoggedObject('x', 1)]}, 'unique'),
    ({'objects': [LoggedObject('x', 5)]}, 'outside'),
])
def test_bad_plans_rejected(tmp_path, kwargs, match):
    args = {'num_boxes': 2, 'objects': _plan(2)} | kwargs
    with pytest.raises(SortLogError, match=match):
        SortLog(tmp_path).begin(**args)


def test_duplicate_sort_and_unknown_object(tmp_path):
    log = SortLog(tmp_path)
    log.begin(2, _plan(2), sort_id='s')
    with pytest.raises(SortLogError, match='already exists'):
        log.begin(2, _plan(2), sort_id='s')
    with pytest.raises(SortLogError, match='no object'):
        log.mark_started('s', 'ghost')
    with pytest.raises(SortLogError, match='no sort'):
        log.set_state('ghost', 'succeeded')
    assert log.get('ghost') is None


def test_corrupt_file_gives_clear_error(tmp_path):
    (tmp_path / 'sortlog.sqlite3').write_bytes(b'this is not a database' * 100)
    with pytest.raises(SortLogError, match='cannot open the sort log'):
        SortLog(tmp_path)


def test_records_survive_sigkill(tmp_path):
    """A process killed right after recording outcomes loses none of them."""
    script = textwrap.dedent(f'''
        import os, signal
        from sorting_cell.sortlog import LoggedObject, SortLog
        log = SortLog({str(tmp_path)!r})
        sid = log.begin(2, [LoggedObject('o%d' % i, i % 2) for i in range(20)], sort_id='k')
        for i in range(7):
            log.mark_started(sid, 'o%d' % i)
            log.mark_outcome(sid, 'o%d' % i, True, 'placed')
        log.mark_started(sid, 'o7')
        os.kill(os.getpid(), signal.SIGKILL)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    rec = SortLog(tmp_path).get('k')
    assert len(rec.placements()) == 7
    assert rec.objects[7].state == 'started'
    assert len(rec.remaining) == 13


def test_core_module_is_ros_free():
    out = subprocess.run([sys.executable, '-c', 'import sys, sorting_cell.sortlog; '
                          'print("rclpy" in sys.modules)'], capture_output=True, text=True,
                         timeout=60, env={**os.environ})
    assert out.stdout.strip() == 'False'


def test_box_fill_is_written_with_the_pick_outcome_and_survives_reopening(tmp_path):
    log = SortLog(tmp_path)
    sid = log.begin(2, [LoggedObject('a', 0), LoggedObject('b', 1)])
    assert log.box_fill() == {}
    log.mark_started(sid, 'a')
    log.mark_outcome(sid, 'a', True, 'placed', fill={0: [(0.02, 1), (0.0, 0)], 1: [(0.0, 0)] * 2})
    log.close()
    log = SortLog(tmp_path)
    assert log.box_fill() == {0: [(0.02, 1), (0.0, 0)], 1: [(0.0, 0), (0.0, 0)]}
    log.empty_boxes('test', boxes=[0])
    assert list(log.box_fill()) == [1]
    log.set_box_fill({1: [(0.05, 2)]}, 'the camera saw it')
    assert log.box_fill() == {1: [(0.05, 2)]}
    log.empty_boxes('boxes/emptied')
    assert log.box_fill() == {}
    with pytest.raises(SortLogError, match='is not a fill'):
        log.set_box_fill({0: [(-1.0, 0)]}, 'bad')
    # A failed write changes nothing: the outcome and the fill go together.
    log.mark_started(sid, 'b')
    with pytest.raises(SortLogError):
        log.mark_outcome(sid, 'b', True, 'placed', fill={0: [(0.01, -1)]})
    assert log.get(sid).objects[1].state == 'started' and log.box_fill() == {}


def test_box_contents_follow_the_chain_of_continued_sorts(tmp_path):
    log = SortLog(tmp_path)
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    a = log.begin(2, [LoggedObject(f'obj{i}', i % 2) for i in range(4)], snapshot={
        'frame': np.zeros((2, 2, 3), np.uint8), 'features': rows})
    for i in (0, 1, 3):   # obj2 never reached its box: not part of the contents
        log.mark_outcome(a, f'obj{i}', True, 'placed')
    b = log.begin(3, [LoggedObject('obj0', 2), LoggedObject('obj1', -1)],
                  options={'into': a}, snapshot={'frame': np.zeros((2, 2, 3), np.uint8),
                                                 'features': rows[:2] + 100})
    log.mark_outcome(b, 'obj0', True, 'placed')
    log.mark_outcome(b, 'obj1', False, 'new kind: no box')
    boxes = log.box_contents(b)
    assert boxes.labels.tolist() == [2, 0, 1, 1]
    np.testing.assert_array_equal(boxes.rows, np.vstack([rows[0] + 100, rows[[0, 1, 3]]]))
    assert boxes.sizes is None and not boxes.geometry
    assert log.box_contents(a).labels.tolist() == [0, 1, 1]
    with pytest.raises(SortLogError, match='no sort'):
        log.box_contents('ghost')
    c = log.begin(1, _plan(1))
    with pytest.raises(SortLogError, match='no recorded box contents'):
        log.box_contents(c)


def test_a_write_that_does_not_fit_on_disk_is_a_clear_error_and_records_nothing(tmp_path):
    """A file-size limit makes the snapshot write fail as a full disk would (EFBIG)."""
    script = textwrap.dedent(f'''
        import resource, signal
        import numpy as np
        from sorting_cell.sortlog import LoggedObject, SortLog, SortLogError
        log = SortLog({str(tmp_path)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # the write fails, no signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        frame = np.random.default_rng(0).integers(0, 255, (1000, 1000, 3), np.uint8)
        try:
            log.begin(2, [LoggedObject('a', 0)], sort_id='big', snapshot={{'frame': frame}})
        except SortLogError as exc:
            print('ERROR', exc)
        print('RECORDED', log.get('big') is not None)
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"ERROR sort log {tmp_path}: cannot record the plan of sort 'big' (OSError: " \
        in out.stdout, out.stdout
    assert 'File too large' in out.stdout
    assert 'RECORDED False' in out.stdout                   # no plan without its snapshot
    assert not list(tmp_path.glob('*.npz*'))                # no partial snapshot left


def test_a_read_only_disk_is_refused_when_the_log_opens(tmp_path):
    """A real read-only file system (a tmpfs mounted ro; needs root, else skipped)."""
    where = tmp_path / 'ro'
    where.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs',
                              str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
    try:
        with pytest.raises(SortLogError, match='the sort log directory is not writable'):
            SortLog(where)
    finally:
        subprocess.run(['umount', '-l', str(where)], capture_output=True)


def test_box_fill_writes_on_a_full_disk_are_sort_log_errors(tmp_path):
    """A real full file system (a 1 MB tmpfs filled; needs root, else skipped): emptying
    the boxes or recording their fill fails as a SortLogError saying what, never as a raw
    sqlite3 error (the sorter's boxes/emptied callback crashed the node on one)."""
    where = tmp_path / 'full'
    where.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
    try:
        log = SortLog(where)
        log.set_box_fill({0: [(0.02, 1)]}, 'before the disk filled')
        try:
            with open(where / 'filler', 'wb') as fh:
                while True:
                    fh.write(b'\0' * 65536)
                    fh.flush()
        except OSError:
            pass
        with pytest.raises(SortLogError, match='cannot record emptied boxes'):
            for _ in range(200):     # until the WAL needs a page the disk does not have
                log.empty_boxes('a new tray')
        with pytest.raises(SortLogError, match='cannot record the box fill'):
            for _ in range(200):
                log.set_box_fill({0: [(0.02, 1)]}, 'a pick')
        log.close()
    finally:
        subprocess.run(['umount', '-l', str(where)], capture_output=True)
