"""What the overhead camera sees in the boxes (rendered by MuJoCo), against the logged fill."""
import mujoco
import pytest

from sorting_cell.manipulation.box_view import (BoxSight, FillCheck, check_fill,
                                                look_into_boxes)
from sorting_cell.manipulation.robot import arm_spec_from_cell
from sorting_cell.sim.camera import CameraRenderer
from sorting_cell.sim.cell import BoxPlacement, build_cell


@pytest.fixture(scope='module')
def cell():
    # A cell whose box 1 stands in the camera's view (the default sim's boxes do not), the
    # way a real cell may put its boxes beside the tray.
    boxes = [BoxPlacement((0.0, 0.5, 0.0), 0.0), BoxPlacement((0.55, 0.17, 0.0), 0.0)]
    model, data, info = build_cell(boxes=boxes, seed=3, n_objects=1)
    renderer = CameraRenderer(model, info.camera)
    yield model, data, info, arm_spec_from_cell(info), renderer
    renderer.close()


def _look(cell):
    model, data, info, spec, renderer = cell
    mujoco.mj_forward(model, data)
    depth = renderer.render(data, depth=True).depth
    return look_into_boxes(depth, info.camera.K, info.camera.T_world_camera, spec.boxes)


def test_empty_box_in_view_is_seen_empty_and_one_out_of_view_is_not_seen(cell):
    views = _look(cell)
    assert views[0].sight is BoxSight.NOT_SEEN
    assert views[1].sight is BoxSight.EMPTY, views[1]
    assert views[1].seen > 0.9
    assert check_fill({0: 4, 1: 3}, views) == {0: FillCheck.NOT_SEEN,
                                                1: FillCheck.CAMERA_SEES_EMPTY}
    assert check_fill({}, views)[1] is FillCheck.AGREES


def test_an_object_dropped_into_the_box_is_seen(cell):
    model, data, info, spec, _ = cell
    box = spec.boxes[1]
    body = model.body(info.object_bodies[0])
    adr = model.jnt_qposadr[body.jntadr[0]]
    data.qpos[adr:adr + 3] = [box.center[0], box.center[1], box.floor_z + 0.03]
    for _ in range(400):       # let it fall and settle on the box floor
        mujoco.mj_step(model, data)
    views = _look(cell)
    assert views[1].sight is BoxSight.HOLDS_OBJECTS, views[1]
    assert 0.005 < views[1].top < box.wall_top_z - box.floor_z
    assert check_fill({}, views)[1] is FillCheck.CAMERA_SEES_OBJECTS
    assert check_fill({1: 1}, views)[1] is FillCheck.AGREES
