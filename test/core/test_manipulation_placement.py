"""Placement from where the object is in the hand: the whole footprint lands in the box.

The held object is open pliers grasped on one arm (synthetic mask + depth, as in the grasp
tests): its middle is off the grasp point across the closing axis as well as along it.
"""
import numpy as np
import pytest

from sorting_cell.manipulation.grasp import plan_grasp
from sorting_cell.manipulation.placement import placement_spots, turned_footprint
from sorting_cell.manipulation.robot import BoxSpec

from test_manipulation_grasp import CAM, render_box  # the same synthetic camera

BOX = BoxSpec(center=(0.2, 0.45), inner_half_size=(0.075, 0.1),
              floor_z=0.005, wall_top_z=0.07, yaw=0.3)


def open_pliers():
    """Two 14 cm arms from a pivot, 50 degrees apart (the grasp goes on one arm)."""
    pivot = np.array([0.42, 0.0])
    depth, mask = None, None
    for angle in (np.radians(25), np.radians(-25)):
        d = np.array([np.cos(angle), np.sin(angle)])
        c = pivot + d * 0.07
        dd, mm = render_box(c[0], c[1], angle, 0.14, 0.02, 0.015)
        depth = dd if depth is None else np.minimum(depth, dd)
        mask = mm if mask is None else mask | mm
    return plan_grasp(mask, depth, CAM, max_opening=0.08, clearance=0.012)


def inside(points, box, margin):
    local = np.array([box.to_local(p) for p in points])
    hx, hy = box.inner_half_size
    return bool(np.all(np.abs(local[:, 0]) <= hx - margin + 1e-9)
                and np.all(np.abs(local[:, 1]) <= hy - margin + 1e-9))


def test_footprint_is_the_object_around_the_grasp_point():
    g = open_pliers()
    world = g.footprint + g.position[:2]
    # the hull spans the pliers: pivot to both arm ends (14 cm arms, 50 degrees apart)
    assert np.ptp(world[:, 0]) == pytest.approx(0.14 * np.cos(np.radians(25)) + 0.01, abs=0.01)
    assert np.ptp(world[:, 1]) == pytest.approx(2 * 0.14 * np.sin(np.radians(25)) + 0.02,
                                                abs=0.01)
    # the object's middle is off the grasp point across the closing direction too
    closing = np.array([np.cos(g.yaw), np.sin(g.yaw)])
    middle = (world.min(axis=0) + world.max(axis=0)) / 2 - g.position[:2]
    assert abs(middle @ closing) > 0.02


def _old_rule_target(g, box, lane, lanes=3, finger_thickness=0.02):
    """Where the placement before the footprint put the tool: the lane centre minus the
    along-axis middle only (kept here to show that the case discriminates)."""
    hx, _ = box.inner_half_size
    opening = min(0.08, g.width + 0.01)
    reach = max(0.0, hx - opening / 2 - finger_thickness - 0.006)
    target = box.to_world([np.linspace(-reach, reach, lanes)[lane], 0.0])
    mid = g.axis * (g.extent[0] + g.extent[1]) / 2
    turn = box.yaw - g.yaw
    c, s = np.cos(turn), np.sin(turn)
    return target - np.array([c * mid[0] - s * mid[1], s * mid[0] + c * mid[1]])


@pytest.mark.parametrize('lane', [0, 1, 2])
def test_every_spot_keeps_the_whole_object_and_the_fingers_inside(lane):
    g = open_pliers()
    opening = min(0.08, g.width + 0.01)
    spots = placement_spots(g.footprint, g.yaw, BOX, lanes=3, lane=lane,
                            finger_reach=opening / 2 + 0.02, finger_depth=0.012)
    assert spots and spots[0].lane == lane
    for spot in spots:
        held = turned_footprint(g.footprint, spot.yaw - g.yaw) + spot.xy
        assert inside(held, BOX, margin=0.006), (spot.lane, spot.yaw)
        closing = np.array([np.cos(spot.yaw), np.sin(spot.yaw)])
        assert inside([spot.xy + closing * (opening / 2 + 0.02),
                       spot.xy - closing * (opening / 2 + 0.02)], BOX, margin=0.004)
    # the old rule (the along-axis middle on the lane centre) left part of it outside
    if lane != 1:
        old = turned_footprint(g.footprint, BOX.yaw - g.yaw) + _old_rule_target(g, BOX, lane)
        assert not inside(old, BOX, margin=0.0)


def test_lanes_are_distinct_and_ordered_from_the_requested_one():
    bar = np.array([[-0.04, -0.006], [0.04, -0.006], [0.04, 0.006], [-0.04, 0.006]])
    spots = placement_spots(bar, 0.0, BOX, lanes=3, lane=2, finger_reach=0.045,
                            finger_depth=0.012)
    first = [s for s in spots if s.yaw == pytest.approx(BOX.yaw)]
    assert [s.lane for s in first] == [2, 1, 0]
    xs = [s.local[0] for s in first]
    assert xs[0] > xs[1] > xs[2]


def test_object_that_fits_no_way_gives_no_spot():
    slab = np.array([[-0.1, -0.09], [0.1, -0.09], [0.1, 0.09], [-0.1, 0.09]])
    assert placement_spots(slab, 0.0, BOX, lanes=3, lane=0, finger_reach=0.045,
                           finger_depth=0.012) == []
