"""End to end on DDS: ``sorting-cell up sim`` (sim node: MuJoCo cell, RGB-D camera, and the
arm and gripper as a ros2_control robot: FollowJointTrajectory and GripperCommand action
servers; sorter node: the real perception pipeline + the ros2_control arm backend) and a
SortObjects goal from the Python client. Nothing is faked; the arm moves only through the
actions (their goal statuses are watched here).

Like a real cell, the sorter finds objects against an empty-table frame: the sim node
latches one on ``camera/background`` (the same cell rendered without objects). Where every
object ended up is read from the sim's ground truth (final physical positions).
"""
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from action_msgs.msg import GoalStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import domain_for, node_logs, ros_env, stop_session  # noqa: E402

from sorting_cell.client import SortingCell  # noqa: E402
from sorting_cell.nodes.sim_probe import SimProbe  # noqa: E402
from sorting_cell.sortlog import SortLog  # noqa: E402

# Two objects of each of four families (screwdriver, pen, wrench, usb_stick), four boxes.
BOXES, OBJECTS, SEED = 4, 8, 3
# benchmarks/results/picks_e2e.md: the same pipeline put 108/108 objects over 9 trays in
# their intended box with purity 1.000 on every tray. One misfiled object of eight (7/8)
# is allowed for this single tray; two would be a regression.
MIN_PURITY = 0.85
FJT = '/joint_trajectory_controller/follow_joint_trajectory'
GRIP = '/gripper_controller/gripper_cmd'


def _purity(truth: dict) -> float:
    """Per box, the share of its majority family, weighted by box size."""
    per_box = collections.defaultdict(collections.Counter)
    for obj in truth['objects'].values():
        if obj['box'] >= 0:
            per_box[obj['box']][obj['family']] += 1
    total = sum(sum(c.values()) for c in per_box.values())
    return sum(max(c.values()) for c in per_box.values()) / max(total, 1)


def _up(tmp_path: Path, domain: int) -> subprocess.Popen:
    params = {'sim.num_boxes': BOXES, 'sim.n_objects': OBJECTS, 'sim.seed': SEED,
              'sim.real_time_factor': 3.0, 'sim.camera_rate': 5.0,
              'sim.publish_ground_truth': 'true', 'sorter.sort_log_dir': tmp_path / 'log',
              'sorter.snapshot_timeout': 20.0}
    cmd = [str(Path(sys.executable).with_name('sorting-cell')), 'up', 'sim',
           '--nodes', 'sim,cell_frames,sorter', '--transport', 'local', '--log-dir',
           str(tmp_path / 'logs'), '--exit-on-failure']
    for key, value in params.items():
        cmd += ['-p', f'{key}:={value}']
    log = open(tmp_path / 'up.log', 'w')
    return subprocess.Popen(cmd, env=ros_env(domain), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_up_sim_sorts_tray_into_boxes_by_family(tmp_path):
    os.environ.setdefault('MUJOCO_GL', 'egl')
    domain = domain_for(__name__)
    up = _up(tmp_path, domain)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    probe = SimProbe(ctx, actions=(FJT, GRIP))
    try:
        truth = probe.wait_truth(None, -1.0, 60.0)
        objects = truth['objects']
        assert len(objects) == OBJECTS, node_logs(tmp_path)
        wall0 = time.monotonic()
        with SortingCell(context=ctx, server_timeout=120.0) as cell:
            out = cell.sort(num_boxes=BOXES, timeout=400)
        wall = time.monotonic() - wall0
        assert out.status == 'succeeded', out.message + node_logs(tmp_path)
        assert len(out.objects) == OBJECTS, [o.bbox for o in out.objects]
        reasons = [(o.object_id, o.reason) for o in out.objects]
        placed = [o for o in out.objects if o.reason.startswith('placed')]
        # One physical pick in a single 8-object tray may fail (the benchmark over 108
        # objects carries the >= 99 % bar); it must then be reported with its reason.
        assert len(placed) >= OBJECTS - 1, reasons
        assert all(o.reason.split(':')[0] for o in out.objects), reasons
        assert out.success == (len(placed) == OBJECTS), reasons
        # The proposer worked against the sim's latched empty-table frame.
        rec = SortLog(tmp_path / 'log').get(out.sort_id)
        assert rec.options['background'] == 'camera/background'
        assert rec.state == 'succeeded' and len(rec.placements()) == len(placed), reasons
        # Every placement went through the actions: per pick at least five trajectory goals
        # (pre-grasp, descent, lift, carry, lowering) and two gripper goals (close, open)
        # ended SUCCEEDED on the controllers' status topics.
        deadline = time.monotonic() + 10.0
        while (probe.goal_count(FJT, GoalStatus.STATUS_SUCCEEDED) < 5 * len(placed)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert probe.goal_count(FJT, GoalStatus.STATUS_SUCCEEDED) >= 5 * len(placed)
        assert probe.goal_count(GRIP, GoalStatus.STATUS_SUCCEEDED) >= 2 * len(placed)
        sim_s = probe.wait_truth(None)['sim_time'] - truth['sim_time']   # +- 1 s (1 Hz truth)
        print(f'attempts {[o.attempts for o in out.objects]}; '
              f'sorted {len(placed)}/{OBJECTS} in {wall:.1f} s wall, ~{sim_s:.0f} s sim time: '
              f'{3600 * len(placed) / sim_s:.0f} picks/h of sim time')

        # Each outcome is a distinct real object (world positions from depth + camera pose).
        names = list(objects)
        start_xy = np.array([objects[n]['position'][:2] for n in names])
        intended, failed = {}, set()
        for o in out.objects:
            d = np.linalg.norm(start_xy - np.asarray(o.position[:2]), axis=1)
            assert d.min() < 0.04, f'{o.object_id} at {o.position} matches no object'
            name = names[int(d.argmin())]
            if o.reason.startswith('placed'):
                intended[name] = o.box
            else:
                failed.add(name)
        assert len(intended) + len(failed) == OBJECTS

        # Final physical positions, after the objects have settled: every placed object
        # lies in the box it was meant for, and the boxes are sorted by family.
        final = probe.wait_truth(None, probe.wait_truth(None)['sim_time'] + 1.5)
        where = {n: v['box'] for n, v in final['objects'].items() if n not in failed}
        assert where == intended, f'final boxes {where}, intended {intended}; {reasons}'
        purity = _purity(final)
        contents = {n: (v['family'], v['box']) for n, v in final['objects'].items()}
        assert purity >= MIN_PURITY, f'purity {purity:.2f}: {contents}'
    finally:
        probe.close()
        rclpy.try_shutdown(context=ctx)
        stop_session(up)
