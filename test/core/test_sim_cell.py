"""The simulated cell: scene, object families, layouts, camera calibration, ground truth."""
import math
import os

import numpy as np
import pytest

mujoco = pytest.importorskip('mujoco')
os.environ.setdefault('MUJOCO_GL', 'egl')

from sorting_cell.sim import SimWorld, build_cell  # noqa: E402
from sorting_cell.sim.camera import backproject, project  # noqa: E402
from sorting_cell.sim.cell import BOX_INNER, MAX_BOXES, box_poses  # noqa: E402
from sorting_cell.sim.layout import (LayoutError, footprint_corners, overlaps,  # noqa: E402
                                     sample_layout)
from sorting_cell.sim.objects import (FAMILY_NAMES, MAX_GRASP_WIDTH,  # noqa: E402
                                      make_object)


@pytest.fixture(scope='module')
def world():
    w = SimWorld(num_boxes=4, seed=11, families=list(FAMILY_NAMES), n_objects=12)
    w.advance(0.5)
    yield w
    w.close()


def test_scene_has_arm_gripper_boxes_camera_objects(world):
    m, info = world.model, world.info
    assert len(info.arm_actuator_ids) == 6 and len(info.gripper_actuator_ids) == 2
    assert m.nu == 8
    # arm servos are position actuators (bias -kp * q) with gravity compensation on
    assert np.all(m.actuator_biasprm[info.arm_actuator_ids, 1] < 0)
    assert np.all(m.body_gravcomp[m.body('wrist_3_link').id] == 1.0)
    assert info.num_boxes == 4 and len(info.object_bodies) == 12
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, info.ee_site) >= 0
    assert sorted(world.object_families().values()) == sorted(list(FAMILY_NAMES) * 2)
    for name in info.object_bodies:
        assert m.body(name).jntnum[0] == 1
        assert m.jnt_type[m.body(name).jntadr[0]] == mujoco.mjtJoint.mjJNT_FREE
    # the hand points straight down at home
    _, R = world.ee_pose()
    assert R[:, 2] @ np.array([0, 0, -1.0]) > 0.99


@pytest.mark.parametrize('n', [1, 2, 4, 6, MAX_BOXES])
def test_boxes_are_reachable_and_apart_from_tray_and_each_other(n):
    poses = box_poses(n)
    for x, y, _ in poses:
        assert 0.35 < math.hypot(x, y) < 0.7          # UR5e reach with a downward tool
        assert not (0.30 - 0.12 < x < 0.68 + 0.12 and abs(y) < 0.25 + 0.12)
    for i in range(n):
        for j in range(i + 1, n):
            d = math.dist(poses[i][:2], poses[j][:2])
            assert d > BOX_INNER + 0.03


def test_bad_arguments_are_rejected_with_reasons():
    with pytest.raises(ValueError, match='num_boxes'):
        build_cell(num_boxes=0)
    with pytest.raises(ValueError, match='unknown object families'):
        build_cell(families=['spoon'])
    with pytest.raises(LayoutError, match='fewer objects'):
        build_cell(n_objects=60)
    with pytest.raises(ValueError, match='n_objects'):
        build_cell(n_objects=-3)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_every_member_is_graspable_and_realistic(family):
    rng = np.random.default_rng(0)
    members = [make_object(family, rng) for _ in range(30)]
    for obj in members:
        assert obj.grasp_width < MAX_GRASP_WIDTH
        assert 0.004 < obj.height < 0.035               # lies flat, fingers reach below the top
        assert 0.003 < obj.mass < 0.25
        assert obj.width < obj.length < 0.21            # fits a box diagonally
        assert any(p.collision for p in obj.parts) and any(not p.collision for p in obj.parts)
    # members differ in size and colour
    lengths = [o.length for o in members]
    assert np.std(lengths) / np.mean(lengths) > 0.03
    colours = {tuple(np.round(p.rgba, 2)) for o in members for p in o.parts[:1]}
    assert len(colours) > 10


def test_layout_has_no_overlaps_and_is_seeded():
    rng = np.random.default_rng(1)
    feet = [(rng.uniform(0.04, 0.18), rng.uniform(0.01, 0.035)) for _ in range(14)]
    tray = (0.30, -0.25, 0.68, 0.25)
    a = sample_layout(feet, tray, 7, clearance=0.015)
    assert a == sample_layout(feet, tray, 7, clearance=0.015)
    assert a != sample_layout(feet, tray, 8, clearance=0.015)
    for i, (p, (l, w)) in enumerate(zip(a, feet)):
        c = footprint_corners(p.x, p.y, p.yaw, l, w)
        assert c[:, 0].min() >= tray[0] and c[:, 0].max() <= tray[2]
        assert c[:, 1].min() >= tray[1] and c[:, 1].max() <= tray[3]
        for q, (l2, w2) in zip(a[i + 1:], feet[i + 1:]):
            assert not overlaps((p.x, p.y, p.yaw, l, w), (q.x, q.y, q.yaw, l2, w2))


def test_overlap_check_detects_crossing_rectangles():
    assert overlaps((0, 0, 0, 0.1, 0.02), (0, 0, math.pi / 2, 0.1, 0.02))
    assert not overlaps((0, 0, 0, 0.1, 0.02), (0, 0.05, 0, 0.1, 0.02))


def test_same_seed_same_tray_different_seed_different_tray():
    _, _, a = build_cell(seed=3, n_objects=6)
    _, _, b = build_cell(seed=3, n_objects=6)
    _, _, c = build_cell(seed=4, n_objects=6)
    pa = [(t.family, t.placement, round(t.spec.length, 6)) for t in a.ground_truth]
    assert pa == [(t.family, t.placement, round(t.spec.length, 6)) for t in b.ground_truth]
    assert pa != [(t.family, t.placement, round(t.spec.length, 6)) for t in c.ground_truth]


def test_objects_at_rest_stay_on_the_table_without_contact_between_them(world):
    before = world.object_poses()
    world.advance(2.0)
    after = world.object_poses()
    for name in world.info.object_bodies:
        assert np.linalg.norm(after[name][0] - before[name][0]) < 0.002, name
        assert -0.006 < after[name][0][2] < 0.01      # bolts tip onto the shaft end
        # still flat: body z axis vertical
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, after[name][1])
        assert R[8] > 0.98, name
    m, d = world.model, world.data
    obj_ids = {m.body(n).id for n in world.info.object_bodies}
    for c in d.contact[:d.ncon]:
        b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
        assert not (b1 in obj_ids and b2 in obj_ids), 'objects touch each other'


def test_intrinsics_backproject_a_known_point_within_millimetres(world):
    cam = world.info.camera
    f = cam.K[0, 0]
    assert f == pytest.approx((cam.height / 2) / math.tan(math.radians(cam.fovy) / 2))
    frame = world.render(depth=True)
    errors = []
    for t in world.info.ground_truth:
        pos, quat = world.object_poses()[t.body]
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, quat)
        R = R.reshape(3, 3)
        # the top face centre of the object's main collision box: a point the camera sees
        part = max((p for p in t.spec.parts if p.collision), key=lambda p: p.size[0] * p.size[1])
        top = pos + R @ (np.array(part.pos) + [0, 0, part.size[2]])
        u, v = project(top, cam)[0]
        if not (0 <= u < cam.width - 1 and 0 <= v < cam.height - 1):
            continue
        z = frame.depth[int(round(v)), int(round(u))]
        back = backproject([[u, v]], z, cam)[0]
        errors.append(np.linalg.norm(back - top))
    assert len(errors) >= 10
    assert np.median(errors) < 0.002 and max(errors) < 0.006


def test_project_backproject_round_trip(world):
    cam = world.info.camera
    pts = np.array([[0.4, 0.1, 0.0], [0.6, -0.2, 0.03], [0.49, 0.0, 0.0]])
    uv = project(pts, cam)
    depth = (np.linalg.inv(cam.T_world_camera) @ np.c_[pts, np.ones(3)].T)[2]
    np.testing.assert_allclose(backproject(uv, depth, cam), pts, atol=1e-9)
    # image up is world +x, image right is world -y
    assert project([[0.6, 0, 0]], cam)[0, 1] < project([[0.4, 0, 0]], cam)[0, 1]
    assert project([[0.5, -0.1, 0]], cam)[0, 0] > project([[0.5, 0.1, 0]], cam)[0, 0]


def test_ground_truth_masks_cover_each_object_and_are_disjoint(world):
    frame = world.render(depth=False, segmentation=True)
    masks = world.ground_truth_masks(frame.segmentation)
    px_per_m = world.info.camera.K[0, 0] / 0.6
    total = np.zeros(frame.rgb.shape[:2], int)
    for t in world.info.ground_truth:
        mask = masks[t.body]
        total += mask
        footprint_px = t.spec.length * t.spec.width * px_per_m ** 2
        # rings, jaws and tapered ends make the visible area smaller than the bounding box
        assert 0.2 * footprint_px < mask.sum() < 1.3 * footprint_px, t.body
        # mask pixels differ in colour from the mat around them
        assert frame.rgb[mask].std(axis=0).max() >= 0 and mask.sum() > 50
    assert total.max() == 1


def test_render_is_rgb8_and_depth_metres(world):
    frame = world.render(depth=True)
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (480, 640, 3)
    assert frame.depth.dtype == np.float32 and frame.depth.shape == (480, 640)
    # the mat is 0.60 m below the camera, the objects a few cm higher
    assert 0.595 < np.median(frame.depth) < 0.601
    assert frame.depth.min() > 0.55


def test_background_proposer_segments_the_tray_against_ground_truth():
    """The project's proposer, fitted on the empty tray, recovers the simulator's masks."""
    from scipy.optimize import linear_sum_assignment

    from sorting_cell.regions import make_proposer
    with SimWorld(num_boxes=6, seed=21, n_objects=0) as empty:
        background = empty.render(depth=False).rgb
    with SimWorld(num_boxes=6, seed=21, n_objects=12) as w:
        w.advance(0.3)
        frame = w.render(depth=False, segmentation=True)
        truth = [m for m in w.ground_truth_masks(frame.segmentation).values() if m.sum() >= 20]
    regions = make_proposer('background').fit([background]).propose(frame.rgb)
    pred = [r.full_mask(frame.rgb.shape[:2]) for r in regions]
    iou = np.array([[(t & p).sum() / (t | p).sum() for p in pred] for t in truth])
    rows, cols = linear_sum_assignment(-iou)
    best = np.zeros(len(truth))
    best[rows] = iou[rows, cols]
    assert len(truth) == 12
    assert best.mean() > 0.8 and (best >= 0.5).mean() >= 0.9
