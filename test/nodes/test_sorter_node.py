"""sorter node in-process: SortObjects goals, feedback, errors, cancel, busy, resume."""
import json

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from sklearn.metrics import normalized_mutual_info_score

from fake_arm import read_journal
from scenes import make_scene
from sorting_cell.nodes.conversions import numpy_to_image
from sorting_cell.nodes.qos import latched_qos, sensor_qos
from sorting_cell.nodes.sorter import SorterNode
from sorting_cell.sortlog import SortLog
from sorting_cell_interfaces.action import SortObjects


class Cell:
    """A sorter node + a 10 Hz test camera + an action client, in one Context."""

    def __init__(self, ros, tmp_path, scene=None, arm=True, pick_seconds=0.02, fail=(),
                 background=True, **params):
        self.ros, self.journal = ros, str(tmp_path / 'arm.jsonl')
        self.log_dir = tmp_path / 'sortlog'
        overrides = {'sort_log_dir': str(self.log_dir), 'snapshot_timeout': 3.0, **params}
        if arm:
            overrides.update({'manipulator': 'fake_arm:make_manipulator',
                              'fake_arm.journal': self.journal,
                              'fake_arm.pick_seconds': pick_seconds,
                              'fake_arm.fail_ids': list(fail) or ['']})
        self.node = ros.add(SorterNode(context=ros.context, parameter_overrides=[
            Parameter(k, value=v) for k, v in overrides.items()]))
        self.image = None if scene is None else numpy_to_image(scene.frame)
        if scene is not None and background:
            bg = ros.probe.create_publisher(Image, 'camera/background', latched_qos())
            bg.publish(numpy_to_image(scene.background))
            ros.wait_for(lambda: self.node.background is not None, 10, 'background')
        self.cam = ros.probe.create_publisher(Image, 'camera/image_raw', sensor_qos())
        ros.probe.create_timer(0.1, self._tick)
        self.client = ActionClient(ros.probe, SortObjects, 'sort_objects')
        assert self.client.wait_for_server(timeout_sec=120.0)

    def _tick(self):
        if self.image is not None:
            self.cam.publish(self.image)

    def send(self, **goal):
        feedback = []
        fut = self.client.send_goal_async(SortObjects.Goal(**goal),
                                          feedback_callback=lambda f: feedback.append(
                                              f.feedback))
        handle = self.ros.wait_future(fut, 10, 'goal response')
        return handle, feedback

    def run(self, timeout=60.0, **goal):
        handle, feedback = self.send(**goal)
        assert handle.accepted
        res = self.ros.wait_future(handle.get_result_async(), timeout, 'result')
        return res.status, res.result, feedback


def _truth(scene, result):
    cents = [(o.bbox.x_offset + o.bbox.width / 2, o.bbox.y_offset + o.bbox.height / 2)
             for o in result.objects]
    return scene.match(cents)


def test_perception_only_goal_runs_to_result_with_feedback(ros, tmp_path):
    scene = make_scene(n_objects=9, n_kinds=3, seed=11)
    cell = Cell(ros, tmp_path, scene, arm=False)
    status, result, fb = cell.run(num_boxes=3)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.success and len(result.objects) == 9 and result.num_boxes == 3
    assert all(o.reason.startswith('not moved: perception only') for o in result.objects)
    assert normalized_mutual_info_score(_truth(scene, result),
                                        [o.box for o in result.objects]) == 1.0
    # Feedback and result travel on different channels, and rclpy drops feedback that
    # arrives after the result: the final 'done' feedback may be missing here.
    # Without an arm the pick phase is a burst of feedback; the action's default feedback
    # QoS (keep last 10) may drop some of it, so only the order of what arrived is checked.
    phases = [f.phase for f in fb]
    assert phases[:2] == ['snapshot', 'detect'] and 'pick' in phases
    order = ['snapshot', 'detect', 'cluster', 'pick', 'done']
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    picks = [f for f in fb if f.phase == 'pick']
    assert [f.objects_done for f in picks] == sorted(f.objects_done for f in picks)
    # (how many of the burst arrive depends on load: only that progress is reported)
    assert max(f.objects_done for f in fb) >= 1 and picks[-1].objects_total == 9
    assert 0 < result.perception_seconds < 30
    rec = SortLog(cell.log_dir).get(result.sort_id)
    assert rec.state == 'succeeded' and len(rec.objects) == 9
    assert rec.options['background'] == 'camera/background'   # the latched empty table


def test_without_background_sorts_single_frames_and_says_so(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=4)
    cell = Cell(ros, tmp_path, scene, arm=False, background=False)
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert cell.node.background is None
    rec = SortLog(cell.log_dir).get(result.sort_id)
    assert rec.options['background'] == ''
    # The topic's frame is used as soon as it arrives.
    bg = ros.probe.create_publisher(Image, 'camera/background', latched_qos())
    bg.publish(numpy_to_image(scene.background))
    ros.wait_for(lambda: cell.node.background is not None, 10, 'background')
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert SortLog(cell.log_dir).get(result.sort_id).options['background'] == \
        'camera/background'
    assert normalized_mutual_info_score(_truth(scene, result),
                                        [o.box for o in result.objects]) == 1.0


def test_arm_places_each_object_once_and_finished_sort_is_not_redone(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=12)
    cell = Cell(ros, tmp_path, scene)
    status, result, fb = cell.run(num_boxes=2, sort_id='tray-1')
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    placed = read_journal(cell.journal)
    assert sorted(p['object_id'] for p in placed) == sorted(
        o.object_id for o in result.objects)
    assert {p['object_id']: p['box'] for p in placed} == {o.object_id: o.box
                                                          for o in result.objects}
    assert all(o.reason == 'placed' and o.attempts == 1 for o in result.objects)
    req = cell.node.manipulator.requests[0]
    assert req.mask.shape == scene.frame.shape[:2] and req.mask.any()
    # The same sort id again: nothing moves, the logged result comes back.
    status, again, _ = cell.run(num_boxes=2, sort_id='tray-1')
    assert status == GoalStatus.STATUS_SUCCEEDED and again.resumed
    assert all(o.from_previous_run for o in again.objects)
    assert len(read_journal(cell.journal)) == len(placed)


def test_boxes_emptied_resets_the_arms_count(ros, tmp_path):
    from std_msgs.msg import Empty
    cell = Cell(ros, tmp_path, make_scene(n_objects=4, n_kinds=2, seed=3))
    pub = ros.probe.create_publisher(Empty, 'boxes/emptied', 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'sorter subscribed')
    pub.publish(Empty())
    ros.wait_for(lambda: cell.node.manipulator.emptied == 1, 10, 'reset_boxes called')


def test_snapshot_takes_the_depth_of_its_image_never_another_one(ros, tmp_path):
    """The last depth received can be of another scene than the image (its own topic; a
    pause, a reset that restarted the clock, a late delivery): only the depth stamped like
    the image counts, even when others came in after it."""
    from sensor_msgs.msg import CameraInfo
    cell = Cell(ros, tmp_path, arm=False)
    geo = cell.node.geometry
    info = CameraInfo(width=64, height=48, k=[50.0, 0, 32, 0, 50.0, 24, 0, 0, 1])
    info.header.frame_id = 'cam'
    pub_info = ros.probe.create_publisher(CameraInfo, 'camera/camera_info', sensor_qos())
    pub_depth = ros.probe.create_publisher(Image, 'camera/depth', sensor_qos())
    ros.wait_for(lambda: pub_depth.get_subscription_count() > 0
                 and pub_info.get_subscription_count() > 0, 10, 'subscribers')

    def depth(value, sec):
        msg = numpy_to_image(np.full((48, 64), value, np.float32), '32FC1')
        msg.header.stamp.sec = sec
        pub_depth.publish(msg)
        pub_info.publish(info)
        ros.wait_for(lambda: geo.depth is not None and geo.depth[0, 0] == value
                     and geo.info is not None, 10, f'depth {value}')

    depth(0.5, 50)                       # the old scene (a later stamp: the clock restarted)
    assert geo.snapshot((48, 64), 3.0)[0] is None          # the image of stamp 3 has none yet
    assert geo.snapshot((48, 64))[0] is not None           # without an image: the latest
    depth(0.6, 3)                        # the depth of that image's frame
    depth(0.5, 51)                       # a late one of the old scene after it
    d, cam = geo.snapshot((48, 64), 3.0)
    assert d is not None and d[0, 0] == pytest.approx(0.6) and cam is not None


def test_failed_pick_is_reported_and_sort_fails(ros, tmp_path):
    scene = make_scene(n_objects=4, n_kinds=2, seed=13)
    cell = Cell(ros, tmp_path, scene, fail=('obj1',))
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED and not result.success
    bad = [o for o in result.objects if not o.success]
    assert [o.object_id for o in bad] == ['obj1'] and bad[0].reason.startswith('unreachable')
    assert '1 of 4 object(s) not placed; first: obj1: unreachable' in result.message
    assert len(read_journal(cell.journal)) == 3


def test_more_boxes_than_the_cell_has_is_refused_before_anything_moves(ros, tmp_path):
    scene = make_scene(n_objects=8, n_kinds=2, seed=13)
    cell = Cell(ros, tmp_path, scene, **{'fake_arm.num_boxes': 4})
    status, result, feedback = cell.run(num_boxes=6)
    assert status == GoalStatus.STATUS_ABORTED
    assert '6 boxes asked for, but the cell has 4 (boxes 0..3); nothing was moved' in \
        result.message
    assert read_journal(cell.journal) == [] and not feedback   # refused before perception
    status, result, _ = cell.run(num_boxes=2)                   # and the node still serves
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success


@pytest.mark.parametrize('case, match', [
    ('too_many_boxes', 'found 4 usable object(s) but 7 boxes'),
    ('no_camera', 'no image on /camera/image_raw within 0.5 s'),
    ('bad_encoding', "unusable camera image: unsupported image encoding 'yuv422'"),
    ('empty_frame', 'unusable camera image: empty image'),
    ('zero_boxes', 'num_boxes must be >= 1'),
])
def test_bad_input_aborts_with_reason_and_node_keeps_serving(ros, tmp_path, case, match):
    scene = make_scene(n_objects=4, n_kinds=2, seed=14)
    cell = Cell(ros, tmp_path, scene, arm=False)
    goal = {'num_boxes': 2}
    if case == 'too_many_boxes':
        goal['num_boxes'] = 7
    elif case == 'no_camera':
        cell.image = None
        goal['snapshot_timeout'] = 0.5
    elif case == 'bad_encoding':
        cell.image = Image(height=4, width=4, encoding='yuv422', step=8,
                           data=bytes(32))
    elif case == 'empty_frame':
        cell.image = Image(height=0, width=0, encoding='rgb8')
    elif case == 'zero_boxes':
        goal['num_boxes'] = 0
    status, result, _ = cell.run(**goal)
    assert status == GoalStatus.STATUS_ABORTED
    assert match in result.message
    cell.image = numpy_to_image(scene.frame)
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message


def test_one_goal_at_a_time_cancel_and_resume(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=15)
    cell = Cell(ros, tmp_path, scene, pick_seconds=0.3)
    handle, fb = cell.send(num_boxes=2)
    assert handle.accepted
    ros.wait_for(lambda: any(f.phase == 'pick' and f.objects_done >= 1 for f in fb), 30,
                 'first pick done')
    second, _ = cell.send(num_boxes=2)
    assert not second.accepted                         # busy: one goal at a time
    ros.wait_future(handle.cancel_goal_async(), 10, 'cancel response')
    res = ros.wait_future(handle.get_result_async(), 30, 'canceled result')
    assert res.status == GoalStatus.STATUS_CANCELED
    sid = res.result.sort_id
    done_before = {p['object_id'] for p in read_journal(cell.journal)}
    assert 1 <= len(done_before) < 6
    rec = SortLog(cell.log_dir).get(sid)
    assert rec.state == 'canceled' and not any(o.state == 'started' for o in rec.objects)
    # Resume: same plan, only the rest is moved, nothing twice.
    status, result, _ = cell.run(num_boxes=2, resume=True)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success and result.resumed
    assert result.sort_id == sid
    placed = [p['object_id'] for p in read_journal(cell.journal)]
    assert sorted(placed) == sorted(o.object_id for o in rec.objects)   # each exactly once
    assert {o.object_id for o in result.objects if o.from_previous_run} == done_before
    assert {o.object_id: o.box for o in result.objects} == {o.object_id: o.box
                                                            for o in rec.objects}


def _cancel_after_first_pick(cell, **goal):
    handle, fb = cell.send(**goal)
    assert handle.accepted
    cell.ros.wait_for(lambda: any(f.phase == 'pick' and f.objects_done >= 1 for f in fb), 30,
                      'first pick done')
    cell.ros.wait_future(handle.cancel_goal_async(), 10, 'cancel response')
    res = cell.ros.wait_future(handle.get_result_async(), 30, 'canceled result')
    assert res.status == GoalStatus.STATUS_CANCELED
    return res.result.sort_id


def test_the_same_goal_again_resumes_the_unfinished_sort_on_the_same_tray(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=15)
    cell = Cell(ros, tmp_path, scene, pick_seconds=0.3)
    sid = _cancel_after_first_pick(cell, num_boxes=2)
    done_before = {p['object_id'] for p in read_journal(cell.journal)}
    status, result, _ = cell.run(num_boxes=2)          # the plain goal again, no resume flag
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success
    assert result.resumed and result.sort_id == sid    # not re-clustered
    placed = [p['object_id'] for p in read_journal(cell.journal)]
    assert len(placed) == 6 and len(set(placed)) == 6  # nothing lost, nothing twice
    assert {o.object_id for o in result.objects if o.from_previous_run} == done_before


def test_an_unfinished_sort_is_never_applied_to_a_new_tray(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=15)
    cell = Cell(ros, tmp_path, scene, pick_seconds=0.3)
    old = _cancel_after_first_pick(cell, num_boxes=2)
    cell.image = numpy_to_image(make_scene(n_objects=6, n_kinds=2, seed=99).frame)
    status, result, _ = cell.run(num_boxes=2, resume=True)   # resume asked: refused
    assert status == GoalStatus.STATUS_ABORTED
    assert f'the unfinished sort {old!r} is for another tray' in result.message
    assert 'nothing was moved' in result.message
    moved = len(read_journal(cell.journal))
    status, result, _ = cell.run(num_boxes=2)                # plain goal: a new sort
    assert status == GoalStatus.STATUS_SUCCEEDED and not result.resumed
    assert result.sort_id != old
    rec = SortLog(cell.log_dir).get(old)
    assert rec.state == 'abandoned' and rec.message.startswith('the tray changed')
    assert len(read_journal(cell.journal)) == moved + 6
    # resume asked after the newer sort finished: the old one is stale, nothing to resume
    newer = result.sort_id
    status, result, _ = cell.run(num_boxes=2, resume=True)
    assert status == GoalStatus.STATUS_ABORTED
    assert 'no unfinished sort to resume' in result.message, result.message
    assert f'the latest, {newer!r}, is succeeded' in result.message
    assert 'nothing was moved' in result.message
    assert len(read_journal(cell.journal)) == moved + 6
    assert SortLog(cell.log_dir).get(old).state == 'abandoned'


def test_a_robot_that_stops_answering_ends_the_goal_resumable(ros, tmp_path):
    scene = make_scene(n_objects=4, n_kinds=2, seed=13)
    cell = Cell(ros, tmp_path, scene, fail=('obj1',), **{
        'fake_arm.fail_reason': 'no_robot: no joint states on /joint_states within 5 s'})
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_ABORTED
    assert result.message.startswith('robot not responding (no_robot: no joint states'), \
        result.message
    assert '1/4 objects done' in result.message and 'send the same goal again' in \
        result.message
    assert [p['object_id'] for p in read_journal(cell.journal)] == ['obj0']  # no more tries
    rec = SortLog(cell.log_dir).get(result.sort_id)
    assert rec.state == 'aborted' and not rec.finished                      # resumable
    assert {o.object_id: o.state for o in rec.objects}['obj1'] == 'started'  # look first
    cell.node.manipulator.fail_ids.clear()             # the robot is back
    status, again, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED and again.success and again.resumed
    assert again.sort_id == result.sort_id
    placed = [p['object_id'] for p in read_journal(cell.journal)]
    assert sorted(placed) == ['obj0', 'obj1', 'obj2', 'obj3']               # each once


def test_resume_rejects_mismatched_boxes(ros, tmp_path):
    scene = make_scene(n_objects=4, n_kinds=2, seed=16)
    log = SortLog(tmp_path / 'sortlog')
    from sorting_cell.sortlog import LoggedObject
    log.begin(2, [LoggedObject('obj0', 0, info={'bbox': [0, 0, 5, 5]})], sort_id='old')
    cell = Cell(ros, tmp_path, scene, arm=False)
    status, result, _ = cell.run(num_boxes=3, sort_id='old')
    assert status == GoalStatus.STATUS_ABORTED
    assert 'planned for 2 boxes, the goal asks for 3' in result.message
    json.dumps(result.message)
    assert np.isfinite(result.perception_seconds)


def test_perception_through_the_proposals_and_clustering_nodes(ros, tmp_path):
    """perception: 'nodes' -- the sorter asks proposals/detect and clustering/cluster."""
    from sorting_cell.nodes.clustering import ClusteringNode
    from sorting_cell.nodes.proposals import ProposalsNode
    scene = make_scene(n_objects=6, n_kinds=2, seed=17)
    proposals = ros.add(ProposalsNode(context=ros.context))
    ros.add(ClusteringNode(context=ros.context))
    bg = ros.probe.create_publisher(Image, 'camera/background', latched_qos())
    bg.publish(numpy_to_image(scene.background))
    ros.wait_for(lambda: proposals.has_background, 10, 'proposals background')
    cell = Cell(ros, tmp_path, scene, perception='nodes')
    assert cell.node.extractor is None          # no model in the sorter itself
    status, result, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    assert normalized_mutual_info_score(_truth(scene, result),
                                        [o.box for o in result.objects]) == 1.0
    assert len(read_journal(cell.journal)) == 6
    status, result, _ = cell.run(num_boxes=9)
    assert status == GoalStatus.STATUS_ABORTED
    assert 'clustering node: found 6 usable object(s) but 9 boxes' in result.message


def test_resume_looks_before_repicking_an_interrupted_object(ros, tmp_path):
    """A crash between 'started' and the outcome: an object no longer at its place counts
    as placed; one still there is picked again."""
    scene = make_scene(n_objects=6, n_kinds=2, seed=18)
    cell = Cell(ros, tmp_path, scene, pick_seconds=0.3)
    handle, fb = cell.send(num_boxes=2, sort_id='crashy')
    ros.wait_for(lambda: any(f.objects_done >= 1 for f in fb), 30, 'first pick')
    ros.wait_future(handle.cancel_goal_async(), 10, 'cancel')
    ros.wait_future(handle.get_result_async(), 30, 'canceled result')
    log = SortLog(cell.log_dir)
    pending = [o for o in log.get('crashy').objects if o.state == 'pending']
    gone, there = pending[0], pending[1]
    for o in (gone, there):              # as a crash mid-pick would leave them
        log.mark_started('crashy', o.object_id)
    log.set_state('crashy', 'running')
    frame = scene.frame.copy()           # the arm had put `gone` away before the crash
    x0, y0, x1, y1 = gone.info['bbox']
    frame[y0:y1, x0:x1] = scene.background[y0:y1, x0:x1]
    cell.image = numpy_to_image(frame)
    before = {p['object_id'] for p in read_journal(cell.journal)}
    status, result, _ = cell.run(num_boxes=2, sort_id='crashy')
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    by_id = {o.object_id: o for o in result.objects}
    assert by_id[gone.object_id].reason.startswith('not at its place on resume')
    # Attempts count picks: the interrupted one, no new one for `gone`; one more for `there`.
    assert by_id[gone.object_id].attempts == gone.attempts + 1
    assert by_id[gone.object_id].from_previous_run
    assert by_id[there.object_id].reason == 'placed'
    assert by_id[there.object_id].attempts == there.attempts + 2
    moved_now = [p['object_id'] for p in read_journal(cell.journal)
                 if p['object_id'] not in before]
    assert gone.object_id not in moved_now and moved_now.count(there.object_id) == 1
    assert sorted(moved_now + list(before) + [gone.object_id]) == sorted(by_id)


def test_client_says_clearly_when_no_sorter_runs(ros):
    from sorting_cell.client import SortingCell
    with pytest.raises(ConnectionError, match='no SortObjects action server on '
                                              '/empty_cell/sort_objects'):
        SortingCell(namespace='empty_cell', server_timeout=0.5, context=ros.context)


def test_client_wraps_the_action(ros, tmp_path):
    from sorting_cell.client import SortingCell
    scene = make_scene(n_objects=4, n_kinds=2, seed=19)
    Cell(ros, tmp_path, scene)
    seen = []
    with SortingCell(context=ros.context, server_timeout=30.0) as cell:
        out = cell.sort(num_boxes=2, sort_id='via-client', on_feedback=seen.append,
                        timeout=60)
        again = cell.sort(num_boxes=0, sort_id='via-client', timeout=60)
    assert out.status == 'succeeded' and out.success and out.sort_id == 'via-client'
    assert seen and len(out.objects) == 4 and set(out.boxes().values()) == {0, 1}
    assert all(o.bbox[2] > o.bbox[0] and o.reason == 'placed' for o in out.objects)
    assert again.resumed and again.boxes() == out.boxes()
    assert all(o.from_previous_run for o in again.objects)


def test_continuing_a_sort_matches_its_boxes_and_refuses_what_it_cannot_do(ros, tmp_path):
    from sorting_cell_interfaces.msg import ObjectOutcome
    scene = make_scene(n_objects=4, n_kinds=2, seed=14)
    cell = Cell(ros, tmp_path, scene, arm=False)
    status, first, _ = cell.run(num_boxes=2)
    assert status == GoalStatus.STATUS_SUCCEEDED, first.message
    for goal, match in (({'into_sort_id': 'ghost'}, "into_sort_id 'ghost': no such sort"),
                        ({'into_sort_id': first.sort_id, 'num_boxes': 1},
                         'needs at least those')):
        status, result, _ = cell.run(**goal)
        assert status == GoalStatus.STATUS_ABORTED and match in result.message, result.message
    # The same tray again, continuing the first sort: each object matches its own box.
    status, again, _ = cell.run(num_boxes=0, into_sort_id=first.sort_id)
    assert status == GoalStatus.STATUS_SUCCEEDED and again.success, again.message
    assert again.sort_id != first.sort_id and again.num_boxes == 2
    assert [o.box for o in again.objects] == [o.box for o in first.objects]
    assert {o.match for o in again.objects} == {ObjectOutcome.MATCH_BOX}
    assert {o.match for o in first.objects} == {ObjectOutcome.MATCH_CLUSTERED}
    assert SortLog(cell.log_dir).box_contents(again.sort_id).labels.tolist() == \
        [o.box for o in again.objects] + [o.box for o in first.objects]
