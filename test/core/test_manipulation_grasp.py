"""Grasp poses from a synthetic mask + depth image (answers worked out from the geometry)."""
import numpy as np
import pytest

from sorting_cell.manipulation.grasp import GraspError, plan_grasp, relocate, split_mask

W, H = 640, 480
F = 625.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1.0]])
# Looking straight down from 0.6 m, image up = world +x (the cell's overhead camera).
T = np.array([[0.0, -1, 0, 0.49], [-1, 0, 0, 0.0], [0, 0, -1, 0.6], [0, 0, 0, 1]])
CAM = {'K': K, 'T_world_camera': T, 'width': W, 'height': H}


def render_box(cx, cy, yaw, length, width, height):
    """Depth image and mask of a box lying on a table at z = 0."""
    v, u = np.mgrid[0:H, 0:W].astype(float)
    rays = np.stack([(u - K[0, 2]) / F, (v - K[1, 2]) / F, np.ones_like(u)], -1) @ T[:3, :3].T
    origin = T[:3, 3]
    c, s = np.cos(yaw), np.sin(yaw)

    def hit(z):
        t = (z - origin[2]) / rays[..., 2]
        p = origin + rays * t[..., None]
        dx, dy = p[..., 0] - cx, p[..., 1] - cy
        inside = (np.abs(c * dx + s * dy) <= length / 2) & (np.abs(-s * dx + c * dy) <= width / 2)
        return t, inside

    t_top, on_top = hit(height)
    t_table, _ = hit(0.0)
    depth = np.where(on_top, t_top, t_table).astype(np.float32)
    return depth, on_top


@pytest.mark.parametrize('yaw', [0.0, 0.4, -1.1, np.pi / 2])
def test_grasp_pose_from_mask_and_depth(yaw):
    depth, mask = render_box(0.52, -0.07, yaw, 0.12, 0.024, 0.02)
    g = plan_grasp(mask, depth, CAM, max_opening=0.08, clearance=0.012, min_tcp_height=0.011,
                   grasp_depth=0.012, approach_height=0.08)
    assert np.hypot(g.position[0] - 0.52, g.position[1] + 0.07) < 0.003
    # Fingers close across the long axis: closing direction = yaw + 90 deg (mod 180).
    closing = yaw + np.pi / 2
    err = (g.yaw - closing + np.pi / 2) % np.pi - np.pi / 2
    assert abs(err) < np.radians(3)
    assert abs(g.object_width - 0.024) < 0.004
    assert abs(g.width - (g.object_width + 0.024)) < 1e-9
    assert abs(g.object_length - 0.12) < 0.006
    assert abs(g.object_height - 0.02) < 0.002
    assert abs(g.table_z) < 0.001
    # 12 mm below the top, but never lower than the fingertips allow.
    assert g.position[2] == pytest.approx(max(0.011, 0.02 - 0.01), abs=0.002)
    assert g.approach_z == pytest.approx(g.position[2] + 0.08)
    lo, hi = g.extent
    assert hi - lo == pytest.approx(0.12, abs=0.006) and abs(lo + hi) < 0.006


def test_grasp_height_for_tall_object():
    depth, mask = render_box(0.45, 0.05, 0.3, 0.06, 0.03, 0.05)
    g = plan_grasp(mask, depth, CAM, min_tcp_height=0.011, grasp_depth=0.012)
    assert g.position[2] == pytest.approx(0.05 - 0.012, abs=0.002)


def test_too_wide_object_is_ungraspable():
    depth, mask = render_box(0.5, 0.0, 0.0, 0.12, 0.10, 0.02)
    with pytest.raises(GraspError, match=r'^ungraspable: object is (9\.[6-9]|10\.[0-4]) cm across'):
        plan_grasp(mask, depth, CAM, max_opening=0.08)


@pytest.mark.parametrize('mask, depth, cam, match', [
    (np.zeros((H, W), bool), np.ones((H, W), np.float32), CAM, 'the mask is empty'),
    (np.ones((10, 10), bool), np.ones((H, W), np.float32), CAM, r'mask \(10, 10\) and depth'),
    (np.ones((H, W), bool), np.ones((H, W), np.float32), None, 'camera_info'),
    (np.ones((H, W), bool), np.ones((H, W), np.float32), {'K': K}, "lacks 'T_world_camera'"),
    (np.ones((H, W), bool), np.full((H, W), np.nan, np.float32), CAM, 'valid depth'),
    (np.ones((H, W), bool), np.ones((H, W), np.float32),
     {**CAM, 'width': 320}, 'camera_info says 320x480'),
])
def test_bad_input_gives_specific_reason(mask, depth, cam, match):
    with pytest.raises(GraspError, match=match) as info:
        plan_grasp(mask, depth, cam)
    assert info.value.reason.startswith('no_perception: ')


def test_relocate_finds_moved_object():
    depth, mask = render_box(0.50, 0.04, 0.2, 0.10, 0.02, 0.015)
    found = relocate(depth, CAM, (0.47, 0.02), radius=0.08)
    assert found is not None
    assert (found & mask).sum() / mask.sum() > 0.9
    assert relocate(depth, CAM, (0.35, -0.2), radius=0.05) is None


def test_split_mask_separates_merged_objects():
    d1, m1 = render_box(0.50, 0.00, 0.0, 0.08, 0.02, 0.015)
    d2, m2 = render_box(0.50, 0.05, 0.3, 0.04, 0.02, 0.010)
    depth = np.minimum(d1, d2)
    merged = m1 | m2 | (np.roll(m1, 20, axis=1) & ~m2)   # a region bridging the gap
    parts = split_mask(merged, depth, CAM)
    assert len(parts) == 2
    assert (parts[0] & m1).sum() / m1.sum() > 0.9 and not (parts[0] & m2).any()
    assert (parts[1] & m2).sum() / m2.sum() > 0.9
    assert len(split_mask(m1, d1, CAM)) == 1


def test_open_v_shape_is_grasped_across_one_arm_not_across_the_gap():
    """Open pliers: two 14 cm arms from a pivot, 50 degrees apart. Across the principal axis
    at the centre of mass the jaws would have to span both arms (> 8 cm); the grasp moves to
    a part the gripper fits around."""
    pivot = np.array([0.42, 0.0])
    depth, mask = None, None
    for angle in (np.radians(25), np.radians(-25)):
        d = np.array([np.cos(angle), np.sin(angle)])
        c = pivot + d * 0.07
        dd, mm = render_box(c[0], c[1], angle, 0.14, 0.02, 0.015)
        depth = dd if depth is None else np.minimum(depth, dd)
        mask = mm if mask is None else mask | mm
    g = plan_grasp(mask, depth, CAM, max_opening=0.08, clearance=0.012)
    assert g.object_width < 0.05
    assert g.width <= 0.08
    # the pads close on the object: the grasp point is on it (seen from the camera)
    p = np.linalg.inv(T) @ np.array([g.position[0], g.position[1], 0.015, 1.0])
    u, v = K[0, 0] * p[0] / p[2] + K[0, 2], K[1, 1] * p[1] / p[2] + K[1, 2]
    assert mask[int(round(v)), int(round(u))]


def test_object_too_wide_everywhere_is_ungraspable():
    depth, mask = render_box(0.48, 0.0, 0.2, 0.12, 0.11, 0.03)
    with pytest.raises(GraspError, match='ungraspable.*no narrower part'):
        plan_grasp(mask, depth, CAM, max_opening=0.08)


def test_failed_grasp_is_not_chosen_again():
    """After a grasp failed on an object that did not move, the next look gives another
    grasp: elsewhere on it or turned, never within 12 mm and 20 degrees of the failed one."""
    depth, mask = render_box(0.5, 0.02, 0.3, 0.12, 0.024, 0.02)
    first = plan_grasp(mask, depth, CAM, max_opening=0.08)
    second = plan_grasp(mask, depth, CAM, max_opening=0.08,
                        avoid=[(first.position[:2], first.yaw)])
    turn = abs((second.yaw - first.yaw + np.pi / 2) % np.pi - np.pi / 2)
    assert (np.linalg.norm(second.position[:2] - first.position[:2]) >= 0.012
            or turn >= np.radians(20))
    assert second.width <= 0.08
    # still on the bar
    p = np.linalg.inv(T) @ np.array([second.position[0], second.position[1], 0.02, 1.0])
    u, v = K[0, 0] * p[0] / p[2] + K[0, 2], K[1, 1] * p[1] / p[2] + K[1, 2]
    assert mask[int(round(v)), int(round(u))]
    # a third look avoids both
    third = plan_grasp(mask, depth, CAM, max_opening=0.08,
                       avoid=[(first.position[:2], first.yaw), (second.position[:2], second.yaw)])
    for g in (first, second):
        turn = abs((third.yaw - g.yaw + np.pi / 2) % np.pi - np.pi / 2)
        assert np.linalg.norm(third.position[:2] - g.position[:2]) >= 0.012 or turn >= 0.34


def test_no_other_grasp_left_is_reported():
    depth, mask = render_box(0.5, 0.0, 0.0, 0.02, 0.02, 0.02)   # a small cube
    first = plan_grasp(mask, depth, CAM, max_opening=0.08)
    avoid = [(first.position[:2], first.yaw + k * np.pi / 6) for k in range(6)]
    with pytest.raises(GraspError, match='grasp_failed: no other grasp'):
        plan_grasp(mask, depth, CAM, max_opening=0.08, avoid=avoid)
