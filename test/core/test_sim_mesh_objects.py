"""Bring-your-own meshes: checks with clear errors, resting pose, convex pieces, textured
objects in the cell (meshes and textures generated here with trimesh)."""
import json
import os

import numpy as np
import pytest

mujoco = pytest.importorskip('mujoco')
trimesh = pytest.importorskip('trimesh')
pytest.importorskip('coacd')
os.environ.setdefault('MUJOCO_GL', 'egl')

from sorting_cell.sim.catalog import folder_catalog  # noqa: E402
from sorting_cell.sim.mesh_objects import MeshCheckError, load_object, prepare_mesh  # noqa: E402


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('SORTING_CELL_CACHE', str(tmp_path / 'cache'))


def _checker_png(path, colour):
    import imageio.v3 as iio
    img = np.zeros((32, 32, 3), np.uint8)
    img[:] = colour
    img[::8] = 255
    iio.imwrite(path, img)


def _textured(mesh, png):
    from PIL import Image
    uv = (mesh.vertices[:, :2] - mesh.vertices[:, :2].min(0)) / np.ptp(mesh.vertices[:, :2], 0)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.open(png))
    return mesh


def _write_obj(folder, mesh, colour):
    folder.mkdir(parents=True)
    _checker_png(folder / 'skin.png', colour)
    _textured(mesh, folder / 'skin.png').export(folder / 'model.obj')
    return folder / 'model.obj'


def _standing_cylinder():
    """A 'bottle' standing on its base, tipped over 90 degrees: any orientation is allowed."""
    m = trimesh.creation.cylinder(radius=0.02, height=0.10, sections=24)
    m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return m


def test_folder_of_meshes_becomes_textured_objects_resting_in_the_tray(tmp_path):
    root = tmp_path / 'mine'
    _write_obj(root / 'bars' / 'a', trimesh.creation.box([0.09, 0.025, 0.02]), (200, 30, 30))
    _write_obj(root / 'bars' / 'b', trimesh.creation.box([0.07, 0.03, 0.015]), (180, 60, 20))
    # an L-shaped bracket: concave, so more than one convex piece
    from shapely.geometry import Polygon
    l_shape = trimesh.creation.extrude_polygon(Polygon([(0, 0), (0.08, 0), (0.08, 0.06),
                                                        (0.06, 0.06), (0.06, 0.02), (0, 0.02)]),
                                               0.015)
    _write_obj(root / 'brackets' / 'a', l_shape, (30, 30, 200))
    _write_obj(root / 'bottles' / 'a', _standing_cylinder(), (30, 160, 30))
    catalog = folder_catalog(root, log=lambda m: None)
    assert sorted(catalog) == ['bars', 'bottles', 'brackets']
    assert len(catalog['bars']) == 2
    bottle = json.loads((catalog['bottles'][0] / 'object.json').read_text())
    # the cylinder comes to rest on its side or its base; either way 4 cm across, 10 cm long
    assert sorted([bottle['length'], bottle['width'], bottle['height']])[-1] == \
        pytest.approx(0.10, abs=0.004)
    assert bottle['mass'] > 0
    bracket = load_object(catalog['brackets'][0])
    assert sum(p.collision for p in bracket.parts) >= 2
    assert bracket.textures and bracket.mesh_files

    from sorting_cell.sim import SimWorld
    with SimWorld(num_boxes=3, seed=1, objects=root, width=320, height=240) as world:
        assert len(world.info.object_bodies) == 6        # two per category by default
        assert set(world.object_families().values()) == {'bars', 'bottles', 'brackets'}
        start = {n: p.copy() for n, (p, _) in world.object_poses().items()}
        world.advance(0.5)
        for name, (pos, _) in world.object_poses().items():
            # nothing falls through the table or rolls away
            assert pos[2] > -0.002 and np.linalg.norm(pos[:2] - start[name][:2]) < 0.02
        model = world.model
        assert model.ntex >= 4 and model.nmeshtexcoord > 0
        frame = world.render(depth=False, segmentation=True)
        masks = world.ground_truth_masks(frame.segmentation)
        assert all(m.sum() > 30 for m in masks.values())


def test_meshes_are_checked_with_clear_errors(tmp_path):
    mm = _write_obj(tmp_path / 'mm', trimesh.creation.box([60.0, 20.0, 15.0]), (9, 9, 9))
    with pytest.raises(MeshCheckError, match='millimetres'):
        prepare_mesh(mm, tmp_path / 'out1', 'x', 'x/mm')
    wide = _write_obj(tmp_path / 'wide', trimesh.creation.box([0.2, 0.15, 0.12]), (9, 9, 9))
    with pytest.raises(MeshCheckError, match='fit the gripper'):
        prepare_mesh(wide, tmp_path / 'out2', 'x', 'x/wide')
    # 6.5 cm every way: the hand could hold it, but it stands taller than a box takes
    cube = _write_obj(tmp_path / 'cube', trimesh.creation.box([0.065, 0.065, 0.065]), (9, 9, 9))
    with pytest.raises(MeshCheckError, match='the boxes.*6 cm tall'):
        prepare_mesh(cube, tmp_path / 'out5', 'x', 'x/cube')
    tiny = _write_obj(tmp_path / 'tiny', trimesh.creation.box([0.004, 0.003, 0.003]), (9, 9, 9))
    with pytest.raises(MeshCheckError, match='smaller than'):
        prepare_mesh(tiny, tmp_path / 'out3', 'x', 'x/tiny')
    (tmp_path / 'junk.obj').write_text('this is not a mesh\n')
    with pytest.raises(MeshCheckError, match='no triangle|cannot read'):
        prepare_mesh(tmp_path / 'junk.obj', tmp_path / 'out4', 'x', 'x/junk')


def test_a_can_rests_lying_when_standing_it_is_taller_than_a_box_takes(tmp_path):
    can = trimesh.creation.cylinder(radius=0.025, height=0.08, sections=24)
    folder, _ = prepare_mesh(_write_obj(tmp_path / 'can', can, (200, 20, 20)), tmp_path / 'out',
                             'can', 'can/a', drops=8)
    meta = json.loads((folder / 'object.json').read_text())
    assert meta['height'] == pytest.approx(0.05, abs=0.003)
    assert meta['length'] == pytest.approx(0.08, abs=0.003)


def test_folder_layout_errors_name_the_problem(tmp_path):
    with pytest.raises(MeshCheckError, match='not a folder'):
        folder_catalog(tmp_path / 'missing')
    (tmp_path / 'flat').mkdir()
    with pytest.raises(MeshCheckError, match='no category folders'):
        folder_catalog(tmp_path / 'flat')
    inst = tmp_path / 'two' / 'cat' / 'inst'
    _write_obj(inst, trimesh.creation.box([0.05, 0.02, 0.02]), (9, 9, 9))
    trimesh.creation.box([0.05, 0.02, 0.02]).export(inst / 'other.ply')
    with pytest.raises(MeshCheckError, match='2 mesh files'):
        folder_catalog(tmp_path / 'two', log=lambda m: None)


def test_glb_and_ply_are_converted(tmp_path):
    root = tmp_path / 'mixed'
    (root / 'a' / 'glb').mkdir(parents=True)
    (root / 'a' / 'ply').mkdir(parents=True)
    box = trimesh.creation.box([0.06, 0.03, 0.02])
    _checker_png(tmp_path / 'skin.png', (120, 20, 200))
    _textured(box.copy(), tmp_path / 'skin.png').export(root / 'a' / 'glb' / 'm.glb')
    box.export(root / 'a' / 'ply' / 'm.ply')
    catalog = folder_catalog(root, log=lambda m: None)
    metas = [json.loads((f / 'object.json').read_text()) for f in catalog['a']]
    assert [m['texture'] is not None for m in metas] == [True, False]
    for m in metas:
        assert m['length'] == pytest.approx(0.06, abs=0.002)


def test_a_plate_comes_to_rest_flat_with_its_long_side_along_x(tmp_path):
    plate = trimesh.creation.box([0.04, 0.012, 0.06])      # standing on edge as given
    path = _write_obj(tmp_path / 'plate', plate, (10, 200, 10))
    folder, _ = prepare_mesh(path, tmp_path / 'out', 'plates', 'plates/a')
    meta = json.loads((folder / 'object.json').read_text())
    # dropped from random orientations it lies on its broad face most often
    assert meta['height'] == pytest.approx(0.012, abs=0.001)
    assert meta['length'] == pytest.approx(0.06, abs=0.001)
    assert meta['width'] == pytest.approx(0.04, abs=0.001)
    assert meta['resting_pose_share'] >= 0.5
    spec = load_object(folder)
    verts = np.concatenate([v for v in spec.meshes.values()])
    # the object's frame: footprint centred on the origin, resting on z = 0
    assert verts[:, 2].min() == pytest.approx(0.0, abs=1e-6)
    assert np.abs(verts[:, :2].max(0) + verts[:, :2].min(0)).max() < 1e-3
