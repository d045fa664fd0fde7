"""SimWorld: trajectory tracking, gripper, and a scripted top-down pick of every family."""
import os

import numpy as np
import pytest

mujoco = pytest.importorskip('mujoco')
mink = pytest.importorskip('mink')
os.environ.setdefault('MUJOCO_GL', 'egl')

from sorting_cell.sim import JointTrajectory, SimWorld, TrajectoryError  # noqa: E402
from sorting_cell.sim.objects import FAMILY_NAMES  # noqa: E402


@pytest.fixture(scope='module')
def world():
    w = SimWorld(num_boxes=2, seed=2, families=list(FAMILY_NAMES), n_objects=6, width=320,
                 height=240)
    yield w
    w.close()


def test_linear_trajectory_is_tracked(world):
    q0 = world.arm_target()
    goal = q0 + np.array([0.4, 0.2, -0.2, 0.3, 0.2, 0.8])
    end = world.follow(JointTrajectory(world.info.arm_joint_names, [1.0], [goal]))
    assert end == pytest.approx(world.time + 1.0)
    errors = []
    while world.time < end:
        world.step(10)
        errors.append(np.abs(world.arm_positions() - world.arm_target()).max())
    world.advance(0.5)
    assert not world.trajectory_active
    np.testing.assert_allclose(world.arm_positions(), goal, atol=2e-3)
    assert max(errors) < 0.08
    world.follow(JointTrajectory(world.info.arm_joint_names, [1.0], [q0]))
    world.advance(1.5)


def test_hermite_trajectory_passes_through_waypoints_and_partial_joint_sets(world):
    q0 = world.arm_target()
    names = ('wrist_3_joint', 'shoulder_pan_joint')     # any order, a subset
    pos = np.array([[q0[5] + 0.5, q0[0] + 0.3], [q0[5], q0[0]]])
    vel = np.array([[0.0, 0.0], [0.0, 0.0]])
    world.follow(JointTrajectory(names, [0.8, 1.6], pos, vel))
    world.advance(0.8)
    assert world.arm_target()[5] == pytest.approx(q0[5] + 0.5, abs=1e-3)
    assert world.arm_target()[1:5] == pytest.approx(q0[1:5])
    world.advance(1.2)
    np.testing.assert_allclose(world.arm_positions(), q0, atol=3e-3)


def test_bad_trajectories_raise_specific_errors(world):
    names = world.info.arm_joint_names
    with pytest.raises(TrajectoryError, match='strictly increasing'):
        JointTrajectory(names, [1.0, 1.0], np.zeros((2, 6)))
    with pytest.raises(TrajectoryError, match='shape'):
        JointTrajectory(names, [1.0], np.zeros((1, 5)))
    with pytest.raises(TrajectoryError, match='NaN'):
        JointTrajectory(names, [1.0], np.full((1, 6), np.nan))
    with pytest.raises(TrajectoryError, match='unknown joints'):
        world.follow(JointTrajectory(('elbow',), [1.0], [[0.0]]))
    with pytest.raises(TrajectoryError, match='outside'):
        world.follow(JointTrajectory(('elbow_joint',), [1.0], [[4.0]]))


def test_gripper_opens_and_closes(world):
    world.set_gripper(0.02)
    world.advance(0.6)
    assert world.gripper_width() == pytest.approx(0.02, abs=0.003)
    world.set_gripper(1.0)          # clipped to the hand's 8 cm
    world.advance(0.6)
    assert world.gripper_width() == pytest.approx(0.08, abs=0.003)


def _ik(world, pos, yaw, seed):
    """Joint positions putting the grip site at pos, pointing down, fingers across yaw."""
    m = world.model
    conf = mink.Configuration(m)
    q = m.qpos0.copy()
    q[world.info.arm_qpos_adr] = seed
    conf.update(q)
    c, s = np.cos(yaw), np.sin(yaw)
    x, z = np.array([c, s, 0.0]), np.array([0.0, 0.0, -1.0])
    task = mink.FrameTask(world.info.ee_site, 'site', position_cost=1.0, orientation_cost=1.0)
    task.set_target(mink.SE3.from_rotation_and_translation(
        mink.SO3.from_matrix(np.column_stack([x, np.cross(z, x), z])), pos))
    posture = mink.PostureTask(m, cost=1e-3)
    posture.set_target(q)
    frozen = [i for i in range(m.nv) if i not in world.info.arm_dof_adr]
    constraints = [mink.DofFreezingTask(m, dof_indices=frozen)]
    for _ in range(300):
        v = mink.solve_ik(conf, [task, posture], 0.05, 'daqp', damping=1e-3,
                          limits=[mink.ConfigurationLimit(m)], constraints=constraints)
        conf.integrate_inplace(v, 0.05)
        if np.linalg.norm(task.compute_error(conf)) < 1e-4:
            break
    assert np.linalg.norm(task.compute_error(conf)) < 1e-3
    return conf.q[world.info.arm_qpos_adr].copy()


def test_every_family_can_be_picked_top_down():
    """Objects are graspable: a scripted top-down pick lifts one member of each family."""
    world = SimWorld(num_boxes=2, seed=4, families=list(FAMILY_NAMES), n_objects=6,
                     width=64, height=48)
    try:
        home = world.arm_target()
        lifted = {}
        for truth in world.info.ground_truth:
            pos, quat = world.object_poses()[truth.body]
            R = np.zeros(9)
            mujoco.mju_quat2Mat(R, quat)
            R = R.reshape(3, 3)
            grasp = pos + R @ np.array([truth.spec.grasp_offset, 0.0, 0.0])
            # the fingertips touch the table when the grip site is 9 mm above it
            grasp[2] = max(truth.spec.height / 2, 0.0095)
            yaw = np.arctan2(R[1, 0], R[0, 0]) + np.pi / 2   # fingers close across the object
            seed = home.copy()
            seed[0] = np.arctan2(grasp[1], grasp[0])
            above = _ik(world, grasp + [0, 0, 0.12], yaw, seed)
            down = _ik(world, grasp, yaw, above)
            for q, width, duration in [(above, 0.08, 1.5), (down, 0.08, 1.0), (down, 0.0, 0.8),
                                       (above, 0.0, 1.0)]:
                world.set_gripper(width)
                world.follow(JointTrajectory(world.info.arm_joint_names, [duration], [q]))
                world.advance(duration + 0.3)
            lifted[truth.family] = float(world.object_poses()[truth.body][0][2])
            # put it down again and go home
            world.follow(JointTrajectory(world.info.arm_joint_names, [1.0], [down]))
            world.advance(1.2)
            world.set_gripper(0.08)
            world.advance(0.4)
            world.follow(JointTrajectory(world.info.arm_joint_names, [1.5], [home]))
            world.advance(1.7)
        assert all(z > 0.09 for z in lifted.values()), lifted
    finally:
        world.close()
