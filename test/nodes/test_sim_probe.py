"""SimProbe against a real sim node on DDS: ground truth, /clock, camera image, sim/reset."""
import os
import threading

import pytest

rclpy = pytest.importorskip('rclpy')
os.environ.setdefault('MUJOCO_GL', 'egl')

from rclpy.parameter import Parameter  # noqa: E402

from sorting_cell.nodes.sim import SimNode  # noqa: E402
from sorting_cell.nodes.sim_probe import SimProbe  # noqa: E402

GRIP = '/gripper_controller/gripper_cmd'


def test_probe_follows_the_sim_and_lays_out_a_new_tray(ros):
    sim = ros.add(SimNode(context=ros.context, parameter_overrides=[
        Parameter('seed', value=5), Parameter('num_boxes', value=2),
        Parameter('n_objects', value=3), Parameter('width', value=160),
        Parameter('height', value=120), Parameter('camera_rate', value=5.0),
        Parameter('real_time_factor', value=2.0),
        Parameter('publish_ground_truth', value=True)]))
    probe = SimProbe(ros.context, name='probe_under_test', history=True, clock=True,
                     image=True, actions=(GRIP,))
    try:
        first = probe.wait_truth(5, -1.0, 60.0)
        assert first['seed'] == 5 and len(first['objects']) == 3
        assert probe.wait_image(-1.0, 60.0).shape == (120, 160, 3)
        ros.wait_for(lambda: probe.sim_time > 0.5, 60.0, '/clock past 0.5 s')
        frames = []
        probe.record(frames, period=0.2)
        ros.wait_for(lambda: len(frames) >= 2, 60.0, 'two recorded frames')
        probe.record(None)
        assert frames[0].shape == (60, 80, 3)   # half size
        # no tray of another seed: a clear timeout naming what was asked and what was heard
        with pytest.raises(TimeoutError, match=r'seed 99 .*last heard: seed 5'):
            probe.wait_truth(99, -1.0, 0.2)
        # an unwatched action is a mistake, not a count of zero
        assert probe.goal_count(GRIP) == 0
        with pytest.raises(ValueError, match='not watched'):
            probe.goal_count('/arm/follow_joint_trajectory')

        ros.wait_for(probe.sim_listening, 30.0, 'the sim on sim/reset')
        probe.reset(6)
        assert probe.latest() is None or probe.latest()['seed'] == 6   # the old tray forgotten
        second = probe.wait_truth(6, 0.5, 60.0)
        assert second['objects'].keys() == first['objects'].keys()
        assert second['objects'] != first['objects']   # other places
        seeds = [t['seed'] for t in probe.take_history()]
        assert seeds[0] == 5 and seeds[-1] == 6 and seeds == sorted(seeds), seeds
    finally:
        probe.close()
        sim.close()
    assert not [t for t in threading.enumerate() if t.name == 'probe_under_test']
