"""Simulated objects made from textured meshes: checking, resting poses, collision, cache.

An *object folder* is what the cell loads for one mesh object: the mesh in its resting pose
and the object's frame (see :mod:`sorting_cell.sim.objects`: ``x`` along the long axis,
origin at the footprint centre, table at ``z = 0``), its texture and convex collision pieces:

- ``visual.obj`` with texture coordinates, ``texture.png`` (or no texture and an ``rgba``);
- ``collision.npz``: one vertex array per convex piece (``hull0``, ``hull1``, ...);
- ``object.json``: family, instance, extents, mass, grasp width, where it came from.

:func:`prepare_mesh` turns any mesh (OBJ + MTL + texture, GLB, PLY; metres; any orientation)
into such a folder: it checks the mesh (:class:`MeshCheckError` says what is wrong), splits it
into convex pieces with CoACD, drops it on a table in MuJoCo from several orientations to
find the pose it comes to rest in most often, and writes the folder. :func:`load_object`
reads a folder back as an :class:`~sorting_cell.sim.objects.ObjectSpec`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .objects import MAX_GRASP_WIDTH, ObjectSpec, Part

__all__ = ['MeshCheckError', 'RestingPose', 'prepare_mesh', 'load_object', 'write_object',
           'convex_pieces', 'resting_poses', 'check_mesh', 'MESH_SUFFIXES', 'MIN_EXTENT',
           'MAX_EXTENT', 'MIN_HEIGHT', 'MAX_HEIGHT', 'FORMAT_VERSION']

#: Mesh files :func:`prepare_mesh` reads (trimesh converts all to one textured mesh).
MESH_SUFFIXES = ('.obj', '.glb', '.gltf', '.ply', '.stl', '.off')
#: Bumped whenever the folder layout or how it is derived changes (cache keys use it).
FORMAT_VERSION = 1
#: Smallest and largest extent a graspable object may have (m): under 1 cm it is lost
#: between the fingers; over 30 cm it does not fit the tray's grid or a box.
MIN_EXTENT = 0.01
MAX_EXTENT = 0.30
#: The Panda hand's pads stop this far above the table (m): a lower object cannot be held.
MIN_HEIGHT = 0.008
#: Tallest an object may rest (m): the cell's boxes have 7 cm walls and the arm keeps what it
#: places 1 cm below their top, so a taller pose (a can standing) could never be put away.
MAX_HEIGHT = 0.06
#: Plastic-and-metal average used for mass when none is given (kg/m^3).
DEFAULT_DENSITY = 700.0


class MeshCheckError(ValueError):
    """A mesh cannot become a simulated object; the message says why and what to do."""


@dataclass(frozen=True)
class RestingPose:
    """A rotation (w, x, y, z) that brings the mesh to rest, and how often drops ended in it."""

    quat: tuple[float, float, float, float]
    share: float


def _load_trimesh(path: Path):
    import trimesh
    try:
        loaded = trimesh.load(str(path), process=True)
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise MeshCheckError(f'{path}: trimesh cannot read it ({type(exc).__name__}: {exc})')
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)]
        if not geoms:
            raise MeshCheckError(f'{path}: the file holds no triangle mesh')
        loaded = geoms[0] if len(geoms) == 1 else trimesh.util.concatenate(geoms)
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshCheckError(f'{path}: the file holds no triangles (a point cloud?)')
    return loaded


def check_mesh(mesh, source: str = 'mesh') -> list[str]:
    """Check scale and geometry; return warnings, raise :class:`MeshCheckError` on errors.

    Errors: non-finite vertices, an extent outside [:data:`MIN_EXTENT`, :data:`MAX_EXTENT`]
    (a mesh in millimetres is 1000x too large), no volume. A mesh that is not watertight
    and cannot be repaired only warns: its mass and collision come from the convex pieces.
    """
    import trimesh
    warnings = []
    if not np.all(np.isfinite(mesh.vertices)):
        raise MeshCheckError(f'{source}: vertices contain NaN or infinite values')
    extent = float(np.max(mesh.extents))
    if extent > MAX_EXTENT:
        hint = (' (it looks like millimetres: export in metres, or scale by 0.001)'
                if 10 < extent < 1000 else '')
        raise MeshCheckError(f'{source}: {extent:.3g} m across, larger than {MAX_EXTENT} m '
                             f'(the size of a box){hint}')
    if extent < MIN_EXTENT:
        hint = ' (it looks like it was scaled down twice)' if extent < 1e-3 else ''
        raise MeshCheckError(f'{source}: {extent:.3g} m across, smaller than {MIN_EXTENT} m '
                             f'(the gripper cannot hold it){hint}')
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
        trimesh.repair.fix_normals(mesh)
    if not mesh.is_watertight:
        open_edges = int(len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)))
        warnings.append(f'{source}: not watertight ({open_edges} open edges after repair); '
                        'mass and collision come from its convex pieces')
    if mesh.convex_hull.volume < 1e-9:
        raise MeshCheckError(f'{source}: the mesh is flat (no volume); a solid is needed')
    return warnings


def convex_pieces(mesh, threshold: float = 0.05, max_pieces: int = 16,
                  timeout: float = 120.0) -> list[np.ndarray]:
    """Convex pieces of ``mesh`` (vertex arrays) by CoACD; its convex hull if CoACD fails.

    ``threshold`` is CoACD's concavity bound (smaller: more, tighter pieces). MuJoCo takes
    the convex hull of each piece, so the vertices are all it needs. CoACD runs in a child
    process (see :mod:`._coacd_worker`): it can crash on some inputs.
    """
    import subprocess
    import sys
    import tempfile

    import trimesh
    # one vertex per position: texture seams split vertices, which CoACD reads as holes
    solid = trimesh.Trimesh(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, int),
                            process=True)
    opts = dict(threshold=threshold, max_convex_hull=max_pieces, seed=0,
                # a third of CoACD's default search: as good for grasp contacts, 3x faster
                mcts_iterations=50, mcts_nodes=12,
                # its 'auto' mode aborted on a watertight tool outline; remeshing is only
                # needed for meshes that are not watertight
                preprocess_mode='off' if solid.is_watertight else 'on')
    with tempfile.TemporaryDirectory(prefix='coacd-') as tmp:
        src, dst = Path(tmp) / 'in.npz', Path(tmp) / 'out.npz'
        np.savez(src, vertices=solid.vertices, faces=solid.faces, **opts)
        try:
            subprocess.run([sys.executable, '-m', 'sorting_cell.sim._coacd_worker', str(src),
                            str(dst)], check=True, timeout=timeout, capture_output=True)
            with np.load(dst) as z:
                pieces = [z[k] for k in sorted(z.files, key=lambda s: int(s[4:]))]
        except (subprocess.SubprocessError, OSError, ValueError):
            pieces = []
    pieces = [v for v in pieces if len(v) >= 4 and _hull_volume(v) > 0]
    return pieces or [np.asarray(solid.convex_hull.vertices, float)]


def _quat_to_matrix(q) -> np.ndarray:
    import mujoco
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, float))
    return m.reshape(3, 3)


def resting_poses(pieces: list[np.ndarray], drops: int = 12, seed: int = 0,
                  settle_s: float = 2.0) -> list[RestingPose]:
    """Drop the object (its convex pieces) on a table in MuJoCo from ``drops`` random
    orientations; the distinct orientations it comes to rest in, most frequent first.

    Two rests are the same pose when the same side faces down (the world's up direction in
    the object's frame agrees within 15 degrees); the yaw about the vertical is free.
    """
    import mujoco
    rng = np.random.default_rng(seed)
    spec = mujoco.MjSpec()
    spec.option.timestep = 0.002
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1, 1, 0.1],
                            friction=[0.8, 0.005, 0.0001])
    for k, verts in enumerate(pieces):
        spec.add_mesh(name=f'hull{k}', uservert=np.asarray(verts).ravel().tolist())
    body = spec.worldbody.add_body(name='obj', pos=[0, 0, 0.3])
    body.add_freejoint()
    for k in range(len(pieces)):
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f'hull{k}', density=500.0,
                      condim=4, friction=[0.8, 0.01, 0.0002])
    model = spec.compile()
    data = mujoco.MjData(model)
    radius = max(float(np.max(np.linalg.norm(v, axis=1))) for v in pieces)
    ups: list[np.ndarray] = []
    quats: list[np.ndarray] = []
    for _ in range(drops):
        mujoco.mj_resetData(model, data)
        q = rng.normal(size=4)
        data.qpos[3:7] = q / np.linalg.norm(q)
        data.qpos[2] = radius + 0.02
        mujoco.mj_step(model, data, nstep=int(settle_s / model.opt.timestep))
        quat = data.qpos[3:7].copy()
        # world up seen in the object's frame identifies which side faces down
        ups.append(_quat_to_matrix(quat).T @ np.array([0.0, 0.0, 1.0]))
        quats.append(quat)
    groups: list[list[int]] = []
    for i, up in enumerate(ups):
        for g in groups:
            if float(np.dot(ups[g[0]], up)) > math.cos(math.radians(15)):
                g.append(i)
                break
        else:
            groups.append([i])
    groups.sort(key=len, reverse=True)
    return [RestingPose(tuple(float(v) for v in quats[g[0]]), len(g) / drops) for g in groups]


def _canonical_transform(mesh, quat) -> np.ndarray:
    """4x4 that rotates by ``quat``, turns the footprint's long side onto ``x`` and puts the
    footprint centre at the origin with the lowest point at ``z = 0``."""
    import cv2
    R = np.eye(4)
    R[:3, :3] = _quat_to_matrix(quat)
    verts = mesh.vertices @ R[:3, :3].T
    (cx, cy), (w, h), angle = cv2.minAreaRect(verts[:, :2].astype(np.float32))
    yaw = -math.radians(angle if w >= h else angle + 90.0)
    c, s = math.cos(yaw), math.sin(yaw)
    Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = Rz @ R[:3, :3]
    moved = verts @ Rz.T
    centre = Rz @ np.array([cx, cy, 0.0])
    T[:3, 3] = [-centre[0], -centre[1], -moved[:, 2].min()]
    return T


def _grasp_section(mesh, n: int = 24) -> tuple[float, float]:
    """(width across y, x offset) of the narrowest-but-solid cross-section near the middle:
    where the fingers close. Sampled from points on the surface in slabs along x."""
    # vertices alone miss long flat faces (an extruded outline has none mid-length)
    v = np.asarray(mesh.sample(6000, seed=0) if hasattr(mesh, 'sample') else mesh.vertices)
    x0, x1 = float(v[:, 0].min()), float(v[:, 0].max())
    edges = np.linspace(x0, x1, n + 1)
    best = (float(np.ptp(v[:, 1])), 0.0)
    score_best = np.inf
    for a, b in zip(edges[:-1], edges[1:]):
        sel = v[(v[:, 0] >= a) & (v[:, 0] <= b)]
        if len(sel) < 3:
            continue
        width = float(np.ptp(sel[:, 1]))
        centre = (a + b) / 2
        # prefer narrow enough sections near the centre of the length (balance)
        score = abs(centre) / max(x1 - x0, 1e-6) + (0 if width <= MAX_GRASP_WIDTH else 10)
        if score < score_best:
            score_best, best = score, (width, centre)
    return best


def write_object(folder: Path, mesh, pieces: list[np.ndarray], family: str, instance: str,
                 mass: float, source: str, texture=None, rgba=(0.6, 0.6, 0.6, 1.0),
                 friction: float = 0.9, extra: dict | None = None) -> Path:
    """Write an object folder from a mesh already in the object's frame (see module doc).

    ``texture`` is an RGB uint8 image the mesh's UVs index, or ``None`` (plain ``rgba``).
    """
    import imageio.v3 as iio
    import trimesh
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    uv = getattr(mesh.visual, 'uv', None)
    has_uv = texture is not None and uv is not None and len(uv) == len(mesh.vertices)
    if has_uv:
        iio.imwrite(folder / 'texture.png', np.asarray(texture, np.uint8))
        plain = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        plain.visual = trimesh.visual.TextureVisuals(uv=np.asarray(uv, float))
        text = trimesh.exchange.obj.export_obj(plain, include_texture=True, include_normals=False,
                                               mtl_name='visual.mtl')
        if isinstance(text, tuple):
            text = text[0]
    else:
        text = trimesh.exchange.obj.export_obj(
            trimesh.Trimesh(mesh.vertices, mesh.faces, process=False), include_texture=False,
            include_normals=False)
    # MuJoCo reads vertices, faces and texture coordinates; the material lines are trimesh's
    (folder / 'visual.obj').write_text('\n'.join(line for line in text.splitlines()
                                                 if not line.startswith(('mtllib', 'usemtl'))))
    np.savez(folder / 'collision.npz', **{f'hull{k}': v for k, v in enumerate(pieces)})
    v = np.asarray(mesh.vertices)
    width, offset = _grasp_section(mesh)
    meta = {
        'format': FORMAT_VERSION, 'family': family, 'instance': instance,
        'length': float(np.ptp(v[:, 0])), 'width': float(np.ptp(v[:, 1])),
        'height': float(v[:, 2].max()), 'grasp_width': width, 'grasp_offset': offset,
        'mass': float(mass), 'friction': float(friction), 'rgba': list(map(float, rgba)),
        'texture': 'texture.png' if has_uv else None, 'source': source, **(extra or {}),
    }
    (folder / 'object.json').write_text(json.dumps(meta, indent=1))
    return folder


def load_object(folder: str | Path) -> ObjectSpec:
    """An object folder as an :class:`ObjectSpec` (visual mesh + convex collision pieces).

    Raises
    ------
    FileNotFoundError
        The folder lacks ``object.json``, ``visual.obj`` or ``collision.npz``.
    """
    folder = Path(folder)
    for name in ('object.json', 'visual.obj', 'collision.npz'):
        if not (folder / name).is_file():
            raise FileNotFoundError(f'{folder} is not an object folder: {name} missing')
    meta = json.loads((folder / 'object.json').read_text())
    with np.load(folder / 'collision.npz') as z:
        hulls = {k: z[k] for k in sorted(z.files, key=lambda s: int(s[4:]))}
    volumes = np.array([_hull_volume(v) for v in hulls.values()])
    shares = volumes / volumes.sum() if volumes.sum() > 0 else np.full(len(hulls), 1 / len(hulls))
    texture = folder / meta['texture'] if meta.get('texture') else None
    parts = [Part('mesh', (), (0.0, 0.0, 0.0), rgba=tuple(meta['rgba']) if texture is None
                  else (1.0, 1.0, 1.0, 1.0), mesh='visual', specular=0.3,
                  texture=None if texture is None else 'top')]
    parts += [Part('mesh', (), (0.0, 0.0, 0.0), collision=True, mass=float(meta['mass'] * s),
                   mesh=name) for name, s in zip(hulls, shares)]
    return ObjectSpec(meta['family'], meta['length'], meta['width'], meta['height'],
                      min(meta['grasp_width'], MAX_GRASP_WIDTH), meta['grasp_offset'], parts,
                      meshes=hulls, friction=meta['friction'], instance=meta['instance'],
                      mesh_files={'visual': str(folder / 'visual.obj')},
                      textures={} if texture is None else {'top': str(texture)})


def _hull_volume(verts: np.ndarray) -> float:
    from scipy.spatial import ConvexHull
    try:
        return float(ConvexHull(verts).volume)
    except Exception:  # degenerate (flat) piece: no volume
        return 0.0


def prepare_mesh(path: str | Path, folder: str | Path, family: str, instance: str,
                 density: float = DEFAULT_DENSITY, drops: int = 12) -> tuple[Path, list[str]]:
    """Turn one mesh file into an object folder; return the folder and any warnings.

    Raises
    ------
    MeshCheckError
        Unreadable, wrong scale, no volume, or too wide for the gripper or too tall for the
        boxes in every resting pose.
    """
    path = Path(path)
    mesh = _load_trimesh(path)
    warnings = check_mesh(mesh, str(path))
    texture = None
    material = getattr(mesh.visual, 'material', None)
    image = getattr(material, 'image', None) if material is not None else None
    if image is None and material is not None and hasattr(material, 'baseColorTexture'):
        image = material.baseColorTexture
    rgba = (0.6, 0.6, 0.6, 1.0)
    if image is not None and getattr(mesh.visual, 'uv', None) is not None:
        texture = np.asarray(image.convert('RGB'))
    else:
        colours = getattr(mesh.visual, 'vertex_colors', None)
        if colours is not None and len(colours):
            rgba = tuple(float(c) / 255 for c in np.median(np.asarray(colours), axis=0)[:4])
        warnings.append(f'{path}: no texture image; rendered in one colour')
    pieces = convex_pieces(mesh)
    poses = resting_poses(pieces, drops=drops)
    chosen = None
    for pose in poses:
        T = _canonical_transform(mesh, pose.quat)
        moved = mesh.copy()
        moved.apply_transform(T)
        ext = moved.extents
        # a concave object (an L, a mug's handle) is held across its narrow part; the most
        # frequent pose that the hand can hold and a box can take (a can lying, not standing)
        if (_grasp_section(moved)[0] <= MAX_GRASP_WIDTH
                and MIN_HEIGHT <= ext[2] <= MAX_HEIGHT):
            chosen = (pose, T, moved)
            break
    if chosen is None:
        dims = ', '.join(f'{e * 100:.1f}' for e in mesh.extents)
        raise MeshCheckError(
            f'{path}: in none of its {len(poses)} resting poses does it fit the gripper and '
            f'the boxes (a cross-section <= {MAX_GRASP_WIDTH * 100:.0f} cm wide, '
            f'{MIN_HEIGHT * 1000:.0f} mm to {MAX_HEIGHT * 100:.0f} cm tall); its extents are '
            f'{dims} cm')
    pose, T, moved = chosen
    pieces = [(np.c_[v, np.ones(len(v))] @ T.T)[:, :3] for v in pieces]
    volume = (moved.volume if moved.is_watertight and moved.volume > 0
              else sum(_hull_volume(v) for v in pieces))
    extra = {'resting_pose_share': pose.share, 'resting_poses': len(poses), 'warnings': warnings}
    folder = write_object(folder, moved, pieces, family, instance, mass=density * volume,
                          source=str(path), texture=texture, rgba=rgba, extra=extra)
    return folder, warnings
