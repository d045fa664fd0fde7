"""The simulated sorting cell as one MuJoCo model: arm, gripper, table, tray, boxes, camera,
objects.

Layout of the world frame (metres): the table top is ``z = 0``; the UR5e base stands at the
origin facing ``+x``; the tray (a green cutting mat) lies in front of it; the N open-top boxes
stand on an arc of radius :data:`BOX_RADIUS` around the base, outside the camera's view; the
overhead camera looks straight down on the tray, image up = world ``+x``, image right = world
``-y``.

The robot models come from the ``robosuite`` wheel's asset folder (only the MJCF and mesh files
are used; robosuite itself is never imported): the UR5e arm with the Panda hand attached at its
flange. The arm's torque motors are replaced by position servos with gravity compensation, so a
joint target held in ``data.ctrl`` is tracked without a controller loop in Python.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from .layout import Placement, sample_layout
from .catalog import draw_objects, is_primitives, object_catalog, resolve_categories
from .objects import FAMILY_NAMES, ObjectSpec, make_object

__all__ = ['build_cell', 'CellInfo', 'BoxInfo', 'BoxPlacement', 'CameraSpec', 'ObjectTruth',
           'robot_assets_dir', 'check_robot_model', 'UnsupportedRobotError', 'ROBOT_MODELS',
           'ARM_JOINTS', 'HOME_QPOS', 'TRAY', 'BOX_RADIUS', 'GRIPPER_MAX_WIDTH', 'EE_SITE',
           'CAMERA_NAME', 'OVERVIEW_CAMERA', 'MAX_BOXES']

ARM_JOINTS = ('shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint',
              'wrist_2_joint', 'wrist_3_joint')
#: Arm folded back with the hand pointing down over the base: out of the camera's view.
HOME_QPOS = np.array([0.0, -2.3, 2.4, -1.67, -1.5708, 0.0])
GRIPPER_PREFIX = 'gripper_'
FINGER_JOINTS = (GRIPPER_PREFIX + 'finger_joint1', GRIPPER_PREFIX + 'finger_joint2')
#: Point between the finger pads, z along the approach direction.
EE_SITE = GRIPPER_PREFIX + 'grip_site'
#: The Panda hand opens 0.04 m per finger.
GRIPPER_MAX_WIDTH = 0.08
CAMERA_NAME = 'overhead'
#: A perspective view of the whole cell (arm, tray, boxes) for pictures and animations.
OVERVIEW_CAMERA = 'overview'
#: Tray area (x_min, y_min, x_max, y_max) on the table, in front of the arm.
TRAY = (0.30, -0.25, 0.68, 0.25)
BOX_RADIUS = 0.5
#: Default free gap between objects in a layout (m).
LAYOUT_CLEARANCE = 0.02
BOX_INNER = 0.18
BOX_WALL_HEIGHT = 0.07
MAX_BOXES = 8

# position-servo gains per arm joint (N m / rad): stiff enough to track a trajectory within a
# few millirad under gravity compensation, soft enough for a 2 ms step to stay stable
_KP = (2000.0, 2000.0, 1500.0, 400.0, 400.0, 300.0)
_BOX_COLOURS = ((0.85, 0.25, 0.2), (0.2, 0.45, 0.85), (0.95, 0.75, 0.15), (0.3, 0.7, 0.35),
                (0.6, 0.35, 0.75), (0.95, 0.5, 0.1), (0.2, 0.7, 0.75), (0.55, 0.55, 0.55))
_MAT_RGBA = (0.16, 0.42, 0.36, 1.0)
# (material, specular, shininess), chosen by a part's ``specular`` (plastic ... polished metal)
_FINISHES = (('finish_matte', 0.15, 0.1), ('finish_satin', 0.45, 0.4), ('finish_metal', 0.9, 0.8))


def _finish(specular: float) -> str:
    return _FINISHES[0][0] if specular < 0.35 else (
        _FINISHES[1][0] if specular < 0.75 else _FINISHES[2][0])


@dataclass(frozen=True)
class BoxInfo:
    """One open-top box. ``center`` is the middle of its floor's top face (world, m)."""

    index: int
    body: str
    center: tuple[float, float, float]
    yaw: float
    inner_size: tuple[float, float]
    wall_height: float

    @property
    def drop_point(self) -> tuple[float, float, float]:
        """A point above the box from which a held object can be released."""
        return (self.center[0], self.center[1], self.center[2] + self.wall_height + 0.05)


@dataclass(frozen=True)
class BoxPlacement:
    """Where a box stands: its bottom centre on the table (m), yaw (rad), inner size and wall
    height (m). A cell configuration's boxes, for a planning model of a real cell."""

    position: tuple[float, float, float]
    yaw: float = 0.0
    size: tuple[float, float, float] = (0.18, 0.18, 0.07)


#: Arm models this project can build (robosuite's MJCF), by the name a cell configuration
#: gives in ``arm.model``.
ROBOT_MODELS = ('ur5e',)
# Arms people ask for that the installed assets cannot stand in for, and why.
_NOT_BUILDABLE = {
    'fr3': 'robosuite 1.5.2 ships a Franka Panda, not an FR3: their joint limits differ '
           '(e.g. joint 6: Panda -0.02..3.75 rad, FR3 0.54..4.52 rad), so plans on the Panda '
           'model would not be safe on an FR3',
    'panda': 'the Panda arm model is in robosuite, but its hand, home pose and servo gains '
             'are not set up here',
}


class UnsupportedRobotError(ValueError):
    """The cell names an arm whose model this project cannot build."""


def check_robot_model(name: str) -> str:
    """``name`` if the project can build that arm's model; else UnsupportedRobotError."""
    if name in ROBOT_MODELS:
        return name
    why = _NOT_BUILDABLE.get(name, 'no such model in the installed robot assets')
    raise UnsupportedRobotError(f'no planning model for arm {name!r}: {why}. Models that can '
                                f'be built: {", ".join(ROBOT_MODELS)}')


@dataclass(frozen=True)
class CameraSpec:
    """A calibrated pinhole camera in OpenCV conventions.

    ``K`` maps camera-frame points (x right, y down, z forward) to pixels;
    ``T_world_camera`` is the 4x4 pose of that camera frame in the world.
    """

    name: str
    width: int
    height: int
    fovy: float
    K: np.ndarray
    T_world_camera: np.ndarray

    def as_dict(self) -> dict:
        """The ``camera_info`` dict of :class:`sorting_cell.manipulation.PickRequest`."""
        return {'K': self.K.copy(), 'width': self.width, 'height': self.height,
                'T_world_camera': self.T_world_camera.copy()}


@dataclass(frozen=True)
class ObjectTruth:
    """Ground truth for one object. Tests and benchmarks only: never the pipeline."""

    body: str
    family: str
    spec: ObjectSpec
    placement: Placement


@dataclass
class CellInfo:
    """Names, ids and calibrated geometry of a built cell.

    Everything a controller may know about the cell; object families live apart in
    :attr:`ground_truth`, which only tests and benchmarks may read.
    """

    arm_joint_names: tuple[str, ...]
    arm_qpos_adr: np.ndarray
    arm_dof_adr: np.ndarray
    arm_actuator_ids: np.ndarray
    gripper_joint_names: tuple[str, ...]
    gripper_actuator_ids: np.ndarray
    ee_site: str
    home_qpos: np.ndarray
    boxes: list[BoxInfo]
    tray: tuple[float, float, float, float]
    table_z: float
    camera: CameraSpec
    object_bodies: tuple[str, ...]
    seed: int | None
    ground_truth: list[ObjectTruth] = field(default_factory=list, repr=False)

    @property
    def camera_name(self) -> str:
        return self.camera.name

    @property
    def num_boxes(self) -> int:
        return len(self.boxes)


def robot_assets_dir() -> Path:
    """The ``robosuite/models/assets`` folder of the installed robosuite wheel.

    Raises
    ------
    RuntimeError
        robosuite is not installed (``pip install --no-deps robosuite==1.5.2``).
    """
    spec = importlib.util.find_spec('robosuite')
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('the robot models come from the robosuite wheel, which is not '
                           'installed: pip install --no-deps robosuite==1.5.2 (its MJCF and mesh '
                           'files are read; robosuite itself is never imported)')
    path = Path(spec.submodule_search_locations[0]) / 'models' / 'assets'
    if not (path / 'robots' / 'ur5e' / 'robot.xml').is_file():
        raise RuntimeError(f'robosuite is installed but {path}/robots/ur5e/robot.xml is '
                           'missing; reinstall robosuite==1.5.2')
    return path


def _yaw_quat(yaw: float) -> list[float]:
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def _add_arm(spec: mujoco.MjSpec, assets: Path) -> None:
    hand = mujoco.MjSpec.from_file(str(assets / 'grippers' / 'panda_gripper.xml'))
    flange = spec.body('right_hand')
    flange.add_frame().attach_body(hand.body('right_gripper'), GRIPPER_PREFIX, '')
    for actuator, kp in zip(list(spec.actuators)[:len(ARM_JOINTS)], _KP):
        torque = tuple(actuator.ctrlrange)
        joint = spec.joint(actuator.target)
        actuator.set_to_position(kp=kp, dampratio=1.0)
        actuator.ctrlrange = tuple(joint.range)
        actuator.forcelimited = True
        actuator.forcerange = (-abs(torque[1]) * 2, abs(torque[1]) * 2)
        actuator.name = actuator.target + '_servo'
        # rotor inertia stabilises the stiff servos of the light wrist links
        joint.armature = 0.1
        joint.damping = [1.0, 0.0, 0.0]
    for body in spec.bodies:
        if body.name != 'world':
            body.gravcomp = 1.0
    # the arm is always driven; only resting objects may sleep
    spec.body('shoulder_link').sleep = mujoco.mjtSleepPolicy.mjSLEEP_NEVER
    # collision meshes duplicate the visual ones; hide them (group 3) so renders stay clean
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.group = 3
    for site in list(spec.sites):
        if site.name.endswith('grip_site_cylinder'):
            spec.delete(site)
        else:
            site.group = 4
    for camera in list(spec.cameras):
        spec.delete(camera)


def _add_environment(spec: mujoco.MjSpec) -> None:
    spec.option.timestep = 0.002
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    # objects at rest sleep (skip collision and solver work) and wake when touched: a tray
    # of resting objects then costs nearly nothing, which keeps physics well above real time
    spec.option.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
    spec.visual.headlight.specular = [0.1, 0.1, 0.1]
    spec.visual.global_.offwidth = 1920
    spec.visual.global_.offheight = 1080
    spec.visual.quality.shadowsize = 2048
    world = spec.worldbody
    world.add_light(name='sun', pos=[0.6, 0.3, 2.0], dir=[-0.1, -0.1, -1.0],
                    diffuse=[0.5, 0.5, 0.5], specular=[0.2, 0.2, 0.2], castshadow=False)
    spec.add_texture(name='floor_tex', type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.32, 0.33, 0.36], rgb2=[0.27, 0.28, 0.31],
                     width=256, height=256)
    # material texture slots are indexed by mjtTextureRole; slot 1 is RGB
    spec.add_material(name='floor_mat', textures=['', 'floor_tex'], texrepeat=[6, 6])
    # surface finishes of object parts (colour comes from each geom's rgba)
    for name, specular, shininess in _FINISHES:
        spec.add_material(name=name, specular=specular, shininess=shininess)
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                   pos=[0, 0, -0.75], material='floor_mat', contype=0, conaffinity=0)
    world.add_geom(name='table', type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.85, 0.8, 0.02],
                   pos=[0.1, 0, -0.02], rgba=[0.78, 0.72, 0.62, 1], friction=[1.0, 0.005, 0.0001])
    for i, (lx, ly) in enumerate([(-0.7, -0.75), (-0.7, 0.75), (0.9, -0.75), (0.9, 0.75)]):
        world.add_geom(name=f'table_leg{i}', type=mujoco.mjtGeom.mjGEOM_BOX,
                       size=[0.03, 0.03, 0.365], pos=[lx, ly, -0.405],
                       rgba=[0.35, 0.35, 0.37, 1], contype=0, conaffinity=0)
    x0, y0, x1, y1 = TRAY
    world.add_geom(name='tray_mat', type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[(x1 - x0) / 2 + 0.02, (y1 - y0) / 2 + 0.02, 0.0005],
                   pos=[(x0 + x1) / 2, (y0 + y1) / 2, 0.0005], rgba=_MAT_RGBA,
                   contype=0, conaffinity=0)


def box_poses(num_boxes: int) -> list[tuple[float, float, float]]:
    """(x, y, yaw) of each box: evenly spread on an arc around the base, clear of the tray."""
    if not 1 <= num_boxes <= MAX_BOXES:
        raise ValueError(f'num_boxes must be between 1 and {MAX_BOXES}, got {num_boxes}')
    # the arc excludes +-60 degrees in front of the arm, where the tray is
    out = []
    for i in range(num_boxes):
        angle = math.radians(60.0 + 240.0 * (i + 0.5) / num_boxes)
        out.append((BOX_RADIUS * math.cos(angle), BOX_RADIUS * math.sin(angle), angle))
    return out


def _add_boxes(spec: mujoco.MjSpec, placements: list[BoxPlacement]) -> list[BoxInfo]:
    wall, floor = 0.008, 0.006
    boxes = []
    for i, box in enumerate(placements):
        (x, y, z), yaw = box.position, box.yaw
        half_x, half_y, wall_height = box.size[0] / 2, box.size[1] / 2, box.size[2]
        name = f'box{i}'
        body = spec.worldbody.add_body(name=name, pos=[x, y, z], quat=_yaw_quat(yaw))
        colour = [*_BOX_COLOURS[i % len(_BOX_COLOURS)], 1.0]
        body.add_geom(name=f'{name}_floor', type=mujoco.mjtGeom.mjGEOM_BOX,
                      size=[half_x + wall, half_y + wall, floor / 2], pos=[0, 0, floor / 2],
                      rgba=[0.75, 0.62, 0.45, 1])
        zc = floor + wall_height / 2
        for k, (px, py, sx, sy) in enumerate([
                (half_x + wall / 2, 0, wall / 2, half_y + wall),
                (-half_x - wall / 2, 0, wall / 2, half_y + wall),
                (0, half_y + wall / 2, half_x, wall / 2),
                (0, -half_y - wall / 2, half_x, wall / 2)]):
            body.add_geom(name=f'{name}_wall{k}', type=mujoco.mjtGeom.mjGEOM_BOX,
                          size=[sx, sy, wall_height / 2], pos=[px, py, zc], rgba=colour)
        boxes.append(BoxInfo(i, name, (x, y, z + floor), yaw, (2 * half_x, 2 * half_y),
                             wall_height))
    return boxes


_GEOM_TYPES = {'box': mujoco.mjtGeom.mjGEOM_BOX, 'cylinder': mujoco.mjtGeom.mjGEOM_CYLINDER,
               'sphere': mujoco.mjtGeom.mjGEOM_SPHERE,
               'ellipsoid': mujoco.mjtGeom.mjGEOM_ELLIPSOID, 'mesh': mujoco.mjtGeom.mjGEOM_MESH}


def _add_object(spec: mujoco.MjSpec, name: str, obj: ObjectSpec, place: Placement,
                z: float) -> None:
    for mesh_name, verts in obj.meshes.items():
        spec.add_mesh(name=f'{name}_{mesh_name}', uservert=np.asarray(verts).ravel().tolist())
    for mesh_name, path in obj.mesh_files.items():
        spec.add_mesh(name=f'{name}_{mesh_name}', file=str(path))
    for tex_name, path in obj.textures.items():
        spec.add_texture(name=f'{name}_{tex_name}', type=mujoco.mjtTexture.mjTEXTURE_2D,
                         file=str(path))
        # material texture slot 1 is RGB (mjtTextureRole)
        spec.add_material(name=f'{name}_{tex_name}', textures=['', f'{name}_{tex_name}'],
                          specular=0.3, shininess=0.3)
    body = spec.worldbody.add_body(name=name, pos=[place.x, place.y, z],
                                   quat=_yaw_quat(place.yaw))
    body.add_freejoint(name=f'{name}_joint')
    for k, part in enumerate(obj.parts):
        size = list(part.size) + [0.0] * (3 - len(part.size))
        kwargs = dict(name=f'{name}_{"col" if part.collision else "vis"}{k}',
                      type=_GEOM_TYPES[part.kind], size=size, pos=list(part.pos),
                      quat=list(part.quat))
        if part.mesh is not None:
            kwargs['meshname'] = f'{name}_{part.mesh}'
        if part.collision:
            body.add_geom(**kwargs, mass=part.mass, group=3, rgba=[0.5, 0.5, 0.5, 0],
                          friction=[obj.friction, 0.01, 0.0002], condim=4,
                          solref=[0.005, 1.0], priority=1)
        else:
            material = (f'{name}_{part.texture}' if part.texture is not None
                        else _finish(part.specular))
            body.add_geom(**kwargs, rgba=list(part.rgba), contype=0, conaffinity=0, group=1,
                          density=0.0, material=material)


def _add_camera(spec: mujoco.MjSpec, width: int, height: int) -> float:
    fovy = 42.0
    x0, y0, x1, y1 = TRAY
    # looking straight down; quat turns the camera so image up is world +x (away from the arm)
    spec.worldbody.add_camera(name=CAMERA_NAME, pos=[(x0 + x1) / 2, (y0 + y1) / 2, 0.60],
                              quat=[math.sqrt(0.5), 0.0, 0.0, -math.sqrt(0.5)], fovy=fovy,
                              resolution=[width, height])
    return fovy


def _look_at(eye, target) -> list[float]:
    """Quaternion of a MuJoCo camera at ``eye`` looking at ``target`` with world z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = eye - target
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([x, np.cross(z, x), z]).ravel())
    return quat.tolist()


def _add_overview_camera(spec: mujoco.MjSpec) -> None:
    eye, target = (1.1, -0.8, 0.85), (0.16, 0.0, 0.0)
    spec.worldbody.add_camera(name=OVERVIEW_CAMERA, pos=list(eye), quat=_look_at(eye, target),
                              fovy=45.0)


def camera_spec(model: mujoco.MjModel, data: mujoco.MjData, name: str, width: int,
                height: int) -> CameraSpec:
    """Intrinsics and pose (OpenCV frame) of camera ``name`` at the state in ``data``."""
    cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cam_id < 0:
        raise ValueError(f'no camera named {name!r} in the model')
    fovy = float(model.cam_fovy[cam_id])
    f = (height / 2.0) / math.tan(math.radians(fovy) / 2.0)
    K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    # MuJoCo cameras look along -z with +y up; OpenCV looks along +z with +y down
    T[:3, :3] = data.cam_xmat[cam_id].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = data.cam_xpos[cam_id]
    return CameraSpec(name, width, height, fovy, K, T)


def resolve_families(families, num_boxes: int) -> tuple[str, ...]:
    """Family names to use: ``None`` means the first ``num_boxes`` families (one per box)."""
    if families is None:
        families = FAMILY_NAMES[:max(1, min(num_boxes, len(FAMILY_NAMES)))]
    elif isinstance(families, str):
        families = [f.strip() for f in families.split(',') if f.strip()]
    families = tuple(families)
    unknown = [f for f in families if f not in FAMILY_NAMES]
    if unknown or not families:
        raise ValueError(f'unknown object families {unknown or families!r}; choose from '
                         f'{", ".join(FAMILY_NAMES)}')
    return families


def build_cell(num_boxes: int = 4, seed: int | None = 0, n_objects: int | None = None,
               families=None, width: int = 640, height: int = 480,
               clearance: float = LAYOUT_CLEARANCE, objects=None, extras=None,
               boxes=None, robot: str = 'ur5e'
               ) -> tuple[mujoco.MjModel, mujoco.MjData, CellInfo]:
    """Build the cell and return the compiled model, its data at rest and its description.

    Parameters
    ----------
    num_boxes : int
        Open-top boxes around the arm, 1..:data:`MAX_BOXES`.
    seed : int or None
        Seeds the object draw and layout; the same seed gives the same tray.
    n_objects : int or None
        Objects in the tray; default three per family.
    families : sequence of str, comma-separated str, or None
        Object families (see :data:`sorting_cell.sim.objects.FAMILY_NAMES`); default the
        first ``num_boxes`` families. Objects cycle through them, so counts stay balanced.
        With mesh ``objects``, the world's categories (default all of them).
    objects : str, path or None
        What the objects are (:mod:`sorting_cell.sim.catalog`): ``None`` or
        ``'primitives'`` (drawn families), ``'tools'`` (the tool dataset's 28 tools) or a
        ``<category>/<instance>/`` folder of meshes. For mesh worlds ``n_objects`` defaults
        to two instances per category (a whole world rarely fits the tray at once).
    width, height : int
        Camera image size in pixels.
    clearance : float
        Free gap between objects (m): room for the fingers, and wide enough that a
        segmenter merging fragments closer than ~1.5 cm keeps neighbours apart.
    extras : callable or None
        ``extras(spec)`` adds to the cell's ``mujoco.MjSpec`` before it is compiled (e.g. a
        calibration board lying on the table).
    boxes : sequence of BoxPlacement or None
        Where the boxes stand (a real cell's configuration); ``num_boxes`` is then ignored.
        Default: ``num_boxes`` boxes on the arc of :func:`box_poses`.
    robot : str
        The arm (:data:`ROBOT_MODELS`); others raise :class:`UnsupportedRobotError`.

    Returns
    -------
    model : MjModel
    data : MjData
        Arm at :data:`HOME_QPOS`, gripper open, objects resting in the tray.
    info : CellInfo
    """
    check_robot_model(robot)
    if boxes is None:
        boxes = [BoxPlacement((x, y, 0.0), yaw, (BOX_INNER, BOX_INNER, BOX_WALL_HEIGHT))
                 for x, y, yaw in box_poses(num_boxes)]
    else:
        boxes = list(boxes)
        if not 1 <= len(boxes) <= MAX_BOXES:
            raise ValueError(f'1 to {MAX_BOXES} boxes are needed, got {len(boxes)}')
        num_boxes = len(boxes)
    if n_objects is not None and n_objects < 0:
        raise ValueError(f'n_objects must be >= 0, got {n_objects}')
    if width < 16 or height < 16:
        raise ValueError(f'camera image must be at least 16x16 pixels, got {width}x{height}')
    rng = np.random.default_rng(seed)
    if is_primitives(objects):
        families = resolve_families(families, num_boxes)
        if n_objects is None:
            n_objects = 3 * len(families)
        objects = [make_object(families[i % len(families)], rng) for i in range(n_objects)]
    else:
        catalog = object_catalog(objects)
        if n_objects is None:
            n_cat = len(catalog) if families is None else len(resolve_categories(families))
            n_objects = 2 * n_cat
        objects = draw_objects(catalog, n_objects, families, rng)
    # place the largest first so that small objects fill the gaps
    order = sorted(range(n_objects), key=lambda i: -objects[i].length * objects[i].width)
    placed = sample_layout([(objects[i].length, objects[i].width) for i in order], TRAY, rng,
                           clearance=clearance)
    placements: list[Placement] = [None] * n_objects  # type: ignore[list-item]
    for i, p in zip(order, placed):
        placements[i] = p

    assets = robot_assets_dir()
    spec = mujoco.MjSpec.from_file(str(assets / 'robots' / 'ur5e' / 'robot.xml'))
    spec.modelname = 'sorting_cell'
    _add_arm(spec, assets)
    _add_environment(spec)
    boxes = _add_boxes(spec, boxes)
    _add_camera(spec, width, height)
    _add_overview_camera(spec)
    names = tuple(f'obj{i:02d}' for i in range(n_objects))
    for name, obj, place in zip(names, objects, placements):
        _add_object(spec, name, obj, place, z=0.0015)
    if extras is not None:
        extras(spec)
    model = spec.compile()
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)

    arm_jids = [model.joint(j).id for j in ARM_JOINTS]
    arm_act = np.array([model.actuator(j + '_servo').id for j in ARM_JOINTS])
    grip_act = np.array([model.actuator(GRIPPER_PREFIX + 'gripper_finger_joint1').id,
                         model.actuator(GRIPPER_PREFIX + 'gripper_finger_joint2').id])
    data = mujoco.MjData(model)
    qadr = model.jnt_qposadr[arm_jids]
    data.qpos[qadr] = HOME_QPOS
    data.ctrl[arm_act] = HOME_QPOS
    data.ctrl[grip_act] = [GRIPPER_MAX_WIDTH / 2, -GRIPPER_MAX_WIDTH / 2]
    for j in FINGER_JOINTS:
        jnt = model.joint(j)
        data.qpos[jnt.qposadr[0]] = data.ctrl[grip_act[0 if j.endswith('1') else 1]]
    mujoco.mj_forward(model, data)
    info = CellInfo(
        arm_joint_names=ARM_JOINTS, arm_qpos_adr=np.asarray(qadr),
        arm_dof_adr=np.asarray(model.jnt_dofadr[arm_jids]), arm_actuator_ids=arm_act,
        gripper_joint_names=FINGER_JOINTS, gripper_actuator_ids=grip_act, ee_site=EE_SITE,
        home_qpos=HOME_QPOS.copy(), boxes=boxes, tray=TRAY, table_z=0.0,
        camera=camera_spec(model, data, CAMERA_NAME, width, height), object_bodies=names,
        seed=seed,
        ground_truth=[ObjectTruth(n, o.family, o, p)
                      for n, o, p in zip(names, objects, placements)])
    return model, data, info
