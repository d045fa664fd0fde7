"""IK, collision-checked planning and trajectory timing on the cell model (no rendering)."""
import mujoco
import numpy as np
import pytest

from sorting_cell.manipulation.ik import IKSolver, top_down_rotation
from sorting_cell.manipulation.planning import CollisionChecker, JointPlanner
from sorting_cell.manipulation.robot import arm_spec_from_cell
from sorting_cell.manipulation.trajectory import time_parametrize
from sorting_cell.sim.cell import build_cell


@pytest.fixture(scope='module')
def cell():
    model, _, info = build_cell(num_boxes=4, seed=None, n_objects=0)
    return model, arm_spec_from_cell(info)


def fk(model, spec, q):
    data = mujoco.MjData(model)
    data.qpos[spec.qpos_indices(model)] = q
    mujoco.mj_kinematics(model, data)
    site = data.site(spec.tcp_site)
    return site.xpos.copy(), site.xmat.reshape(3, 3).copy()


@pytest.mark.parametrize('target, yaw', [((0.5, 0.0, 0.05), 0.0), ((0.62, -0.2, 0.02), 1.2),
                                         ((0.35, 0.22, 0.15), -0.7), ((0.0, 0.5, 0.09), 1.57)])
def test_ik_reaches_pose_within_1mm(cell, target, yaw):
    model, spec = cell
    res = IKSolver(model, spec).solve_any(target, top_down_rotation(yaw), spec.home)
    assert res.success
    pos, rot = fk(model, spec, res.q)
    assert np.linalg.norm(pos - target) < 1e-3
    # Tool axis points down and the closing axis is at the asked yaw.
    assert rot[:, 2] @ np.array([0, 0, -1.0]) > np.cos(np.radians(0.5))
    assert rot[:, 0] @ np.array([np.cos(yaw), np.sin(yaw), 0]) > np.cos(np.radians(0.5))
    lo, hi = spec.joint_ranges(model).T
    assert np.all(res.q >= lo) and np.all(res.q <= hi)


def test_ik_reports_unreachable(cell):
    model, spec = cell
    res = IKSolver(model, spec).solve_any((1.6, 0.0, 0.05), top_down_rotation(0.0), spec.home)
    assert not res.success and res.position_error > 0.5


def test_planner_goes_around_an_obstacle(cell):
    model, spec = cell
    model = model.__copy__()
    ik = IKSolver(model, spec)
    q_a = ik.solve_any((0.45, 0.25, 0.08), top_down_rotation(0.0), spec.home).q
    q_b = ik.solve_any((0.45, -0.25, 0.08), top_down_rotation(0.0), q_a).q
    # Turn box 0's first wall into a 6 cm x 6 cm x 50 cm pillar between the two poses.
    wall = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, 'box0_wall0')
    body = model.geom_bodyid[wall]
    model.body_pos[body] = [0.45, 0.0, 0.0]
    model.body_quat[body] = [1, 0, 0, 0]
    model.geom_pos[wall] = [0, 0, 0.25]
    model.geom_size[wall] = [0.03, 0.03, 0.25]
    model.geom_rbound[wall] = np.linalg.norm(model.geom_size[wall])
    checker = CollisionChecker(model, spec)
    assert checker.is_valid(q_a) and checker.is_valid(q_b)
    assert not checker.segment_valid(q_a, q_b, 0.02), 'the straight move must hit the pillar'
    res = JointPlanner(checker, timeout=5.0, random_state=1).plan(q_a, q_b)
    assert res.success, res.reason
    assert np.allclose(res.path[0], q_a) and np.allclose(res.path[-1], q_b)
    assert len(res.path) >= 3
    for q0, q1 in zip(res.path[:-1], res.path[1:]):
        assert checker.segment_valid(q0, q1, 0.005)


def test_planner_reports_goal_in_collision(cell):
    model, spec = cell
    ik = IKSolver(model, spec)
    # Tool 5 cm below the table top: the fingers are inside the table.
    q_bad = ik.solve_any((0.5, 0.0, -0.05), top_down_rotation(0.0), spec.home).q
    res = JointPlanner(CollisionChecker(model, spec)).plan(spec.home, q_bad)
    assert not res.success and res.reason.startswith('goal_in_collision: ')
    assert 'table' in res.reason


def test_trajectory_respects_limits_and_ends_at_rest():
    path = np.array([[0, 0, 0, 0, 0, 0], [1.0, -0.5, 0.2, 0, 0, 3.0],
                     [1.2, -0.5, 0.2, 0.1, 0, 3.0]])
    vmax, amax = np.full(6, 2.0), np.full(6, 5.0)
    traj = time_parametrize(path, vmax, amax)
    t, q, v, a = traj.sample(0.001)
    assert np.allclose(q[0], path[0]) and np.allclose(q[-1], path[-1])
    assert np.all(np.abs(v) <= vmax + 1e-9) and np.all(np.abs(a) <= amax + 1e-9)
    assert np.allclose(v[-1], 0) and np.allclose(v[0], 0)
    # Joint 6 moves 3 rad at 2 rad/s and 5 rad/s^2: 1.5 s cruise + 0.4 s ramps at best.
    assert traj.duration >= 3.0 / 2.0 + 2.0 / 5.0 - 1e-9
    assert traj.duration < 3.0 / 2.0 + 2.0 / 5.0 + 0.6
    # Positions move smoothly (no jumps between 1 ms samples beyond vmax * dt).
    assert np.abs(np.diff(q, axis=0)).max() <= 2.0 * 0.001 + 1e-9


def test_trajectory_rejects_bad_limits():
    with pytest.raises(ValueError, match='must be positive'):
        time_parametrize(np.zeros((2, 6)), np.zeros(6), np.ones(6))
    with pytest.raises(ValueError, match='speed_scale'):
        time_parametrize(np.zeros((2, 6)), np.ones(6), np.ones(6), speed_scale=2.0)


def test_blended_trajectory_keeps_moving_through_corners_within_limits():
    from sorting_cell.manipulation.trajectory import max_deviation
    path = np.array([[0, 0, 0, 0, 0, 0], [1.0, 0.5, 0, 0, 0, 0], [1.0, 1.5, 0.5, 0, 0, 0]])
    vmax, amax = np.full(6, 2.0), np.full(6, 5.0)
    blended = time_parametrize(path, vmax, amax)
    stops = time_parametrize(path, vmax, amax, blend=False)
    t, q, v, a = blended.sample(0.002)
    assert np.allclose(q[-1], path[-1]) and np.allclose(v[-1], 0) and np.allclose(v[0], 0)
    assert np.all(np.abs(v) <= vmax * (1 + 1e-6)) and np.all(np.abs(a) <= amax * (1 + 1e-6))
    # Nearest sample to the corner: the blended arm is still moving there, the other is not.
    k = np.argmin(np.abs(q - path[1]).max(axis=1))
    assert np.abs(v[k]).max() > 0.3
    ts, qs, vs, _ = stops.sample(0.002)
    assert np.abs(vs[np.argmin(np.abs(qs - path[1]).max(axis=1))]).max() < 0.05
    assert blended.duration < stops.duration
    assert max_deviation(blended, path) < 0.05
    assert max_deviation(stops, path) < 1e-9
