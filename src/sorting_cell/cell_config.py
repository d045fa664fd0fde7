"""A real cell's configuration (one YAML file): camera topics, arm and gripper controllers,
joint names, frames, box poses and the calibration file. Read and checked here; the
bring-up (``sorting-cell up robot --config FILE``) and the launch files start the cell
from it.

Every key is checked: unknown keys (typos) and missing or ill-typed values are errors that
name the key, the file and what is expected.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import numpy as np
import yaml

from .transforms import from_translation_quat, make_transform

__all__ = ['CellConfig', 'CellConfigError', 'Frames', 'CameraConfig', 'ArmConfig',
           'GripperConfig', 'BoxConfig', 'CAMERA_DRIVERS']

#: 'external': the robot's own camera driver publishes (realsense2_camera, v4l2_camera...);
#: 'opencv': this package's camera node opens the device itself.
CAMERA_DRIVERS = ('external', 'opencv')


class CellConfigError(ValueError):
    """A cell configuration that cannot be used; the message names the key and the file."""


@dataclass(frozen=True)
class Frames:
    """tf frame names of the cell (REP-103/105)."""

    world: str = 'world'
    base: str = 'base_link'
    tcp: str = 'tool0'
    table: str = 'table'
    camera: str = 'camera_optical_frame'
    #: when the camera driver publishes its own frames (realsense: camera_link ->
    #: camera_color_optical_frame), the root of that chain: the calibration is attached
    #: there, so that the optical frame keeps one parent; '' = attach the optical frame
    camera_root: str = ''


@dataclass(frozen=True)
class CameraConfig:
    """Where images come from. Topics are absolute or relative to the cell's namespace."""

    image: str = 'camera/image_raw'
    camera_info: str = 'camera/camera_info'
    depth: str = ''
    best_effort: bool = True
    driver: str = 'external'
    device: str = '0'
    #: image of the empty table for the background proposer (relative to the config file;
    #: grab it with `sorting-cell calibrate snapshot`); '' = find objects in single frames
    background: str = ''


@dataclass(frozen=True)
class ArmConfig:
    """A ros2_control joint trajectory controller."""

    controller: str
    joints: tuple[str, ...]
    action: str = ''
    #: the arm model the sorter plans on (``sorting_cell.sim.cell.ROBOT_MODELS``: ur5e);
    #: required by the ros2_control backend, '' is enough for perception only
    model: str = ''
    #: the sorter's arm backend ('package.module:factory', or 'none' for perception only);
    #: '' = the ros2_control action-client backend
    manipulator: str = ''

    @property
    def action_name(self) -> str:
        """``/<controller>/follow_joint_trajectory`` unless ``action`` says otherwise."""
        return self.action or f'/{self.controller}/follow_joint_trajectory'


@dataclass(frozen=True)
class GripperConfig:
    """A control_msgs/action/GripperCommand server."""

    action: str
    max_opening: float = 0.08


@dataclass(frozen=True)
class BoxConfig:
    """One box in the base frame: centre of its floor, yaw (rad), inner size and wall
    height (m)."""

    position: tuple[float, float, float]
    yaw: float = 0.0
    size: tuple[float, float, float] = (0.18, 0.18, 0.07)

    def transform(self) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return make_transform([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], self.position)


@dataclass
class CellConfig:
    """The whole cell (see the module docstring); build with :meth:`load`."""

    arm: ArmConfig
    gripper: GripperConfig
    boxes: list[BoxConfig]
    calibration_file: Path
    name: str = 'cell'
    frames: Frames = field(default_factory=Frames)
    camera: CameraConfig = field(default_factory=CameraConfig)
    world_to_base: np.ndarray = field(default_factory=lambda: np.eye(4))
    use_sim_time: bool = False
    source: str = ''

    @classmethod
    def load(cls, path) -> CellConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise CellConfigError(f'{path}: no such cell configuration file') from None
        except yaml.YAMLError as exc:
            raise CellConfigError(f'{path}: not valid YAML ({exc})') from None
        return cls.from_dict(data, path.resolve().parent, str(path))

    @classmethod
    def from_dict(cls, data, base_dir=Path('.'), source: str = 'cell config') -> CellConfig:
        """Check ``data`` key by key; relative file names are relative to ``base_dir``."""
        def fail(key: str, why: str):
            raise CellConfigError(f'{source}: {key}: {why}')

        if not isinstance(data, dict):
            raise CellConfigError(f'{source}: expected a mapping of sections, got '
                                  f'{type(data).__name__}')
        top = {'name', 'frames', 'camera', 'arm', 'gripper', 'boxes', 'calibration',
               'world_to_base', 'use_sim_time'}
        _no_unknown(data, top, '', fail)
        for key in ('arm', 'gripper', 'boxes', 'calibration'):
            if key not in data:
                fail(key, 'missing (required)')
        frames = Frames(**_section(data, 'frames', Frames, fail))
        camera = CameraConfig(**_section(data, 'camera', CameraConfig, fail))
        if camera.background:
            camera = CameraConfig(**dict(camera.__dict__, background=str(
                (Path(base_dir) / camera.background).resolve())))
        if camera.driver not in CAMERA_DRIVERS:
            fail('camera.driver', f'must be one of {", ".join(CAMERA_DRIVERS)}, got '
                 f'{camera.driver!r}')
        arm = _section(data, 'arm', ArmConfig, fail)
        joints = arm.get('joints')
        if not isinstance(joints, list) or not joints or not all(
                isinstance(j, str) and j for j in joints):
            fail('arm.joints', 'a non-empty list of joint names is required')
        if len(set(joints)) != len(joints):
            fail('arm.joints', f'joint names repeat: {joints}')
        arm = ArmConfig(**dict(arm, joints=tuple(joints)))
        gripper = GripperConfig(**_section(data, 'gripper', GripperConfig, fail))
        if not 0 < gripper.max_opening <= 0.5:
            fail('gripper.max_opening', f'must be in (0, 0.5] m, got {gripper.max_opening}')
        boxes = data['boxes']
        if not isinstance(boxes, list) or not boxes:
            fail('boxes', 'a non-empty list of {position: [x, y, z], yaw, size} is required')
        parsed = []
        for i, box in enumerate(boxes):
            key = f'boxes[{i}]'
            if not isinstance(box, dict):
                fail(key, 'expected {position: [x, y, z], yaw: rad, size: [x, y, wall]}')
            _no_unknown(box, {'position', 'yaw', 'size'}, key + '.', fail)
            pos = _vector(box.get('position'), 3, key + '.position', fail)
            size = _vector(box.get('size', [0.18, 0.18, 0.07]), 3, key + '.size', fail)
            if min(size) <= 0:
                fail(key + '.size', f'sizes must be positive, got {size}')
            yaw = box.get('yaw', 0.0)
            if not isinstance(yaw, (int, float)) or isinstance(yaw, bool):
                fail(key + '.yaw', f'a number (rad) is required, got {yaw!r}')
            parsed.append(BoxConfig(tuple(pos), float(yaw), tuple(size)))
        calib = data['calibration']
        if not isinstance(calib, str) or not calib:
            fail('calibration', 'the calibration file written by `sorting-cell calibrate` '
                 '(a path, relative to this file)')
        world_to_base = np.eye(4)
        if 'world_to_base' in data:
            w = data['world_to_base']
            if not isinstance(w, dict) or set(w) - {'translation', 'rotation_xyzw'}:
                fail('world_to_base', 'expected {translation: [x, y, z], rotation_xyzw: '
                     '[x, y, z, w]}')
            world_to_base = from_translation_quat(
                _vector(w.get('translation', [0, 0, 0]), 3, 'world_to_base.translation', fail),
                _vector(w.get('rotation_xyzw', [0, 0, 0, 1]), 4,
                        'world_to_base.rotation_xyzw', fail))
        use_sim_time = data.get('use_sim_time', False)
        if not isinstance(use_sim_time, bool):
            fail('use_sim_time', f'true or false, got {use_sim_time!r}')
        name = data.get('name', 'cell')
        return cls(arm=arm, gripper=gripper, boxes=parsed,
                   calibration_file=(Path(base_dir) / calib).resolve(), name=str(name),
                   frames=frames, camera=camera, world_to_base=world_to_base,
                   use_sim_time=use_sim_time, source=source)

    def calibration(self):
        """The calibration file, checked to relate this cell's base and camera frames."""
        from .calibration import Calibration, CalibrationError
        try:
            calib = Calibration.load(self.calibration_file)
        except CalibrationError as exc:
            raise CellConfigError(f'{self.source}: calibration: {exc}') from None
        if calib.T_base_table is None:
            raise CellConfigError(
                f'{self.source}: calibration: {self.calibration_file} has the camera on the '
                'table but not the table in the robot base frame: run `sorting-cell calibrate '
                f'touch {self.calibration_file} --points touched.yaml` first')
        return calib


def _no_unknown(d: dict, known: set, prefix: str, fail) -> None:
    unknown = sorted(set(d) - known)
    if unknown:
        fail(prefix + unknown[0], f'unknown key (known: {", ".join(sorted(known))})')


def _section(data: dict, key: str, cls, fail) -> dict:
    """The keys of section ``key`` checked against ``cls``'s fields and their types."""
    d = data.get(key, {})
    if d is None:
        d = {}
    if not isinstance(d, dict):
        fail(key, f'expected a mapping, got {type(d).__name__}')
    known = {f.name: f for f in fields(cls)}
    _no_unknown(d, set(known), key + '.', fail)
    for name, f in known.items():
        if name not in d:
            if f.default is MISSING and f.default_factory is MISSING:   # required
                fail(f'{key}.{name}', 'missing (required)')
            continue
        want = {'str': str, 'bool': bool, 'float': (int, float)}.get(f.type)
        value = d[name]
        if want is str and isinstance(value, int) and not isinstance(value, bool):
            d = dict(d, **{name: str(value)})   # e.g. a device index
        elif want is not None and (not isinstance(value, want) or (
                want != bool and isinstance(value, bool))):
            fail(f'{key}.{name}', f'expected {f.type}, got {value!r}')
        elif want is str and not value and name not in ('depth', 'action', 'manipulator',
                                                        'background', 'camera_root', 'model'):
            fail(f'{key}.{name}', 'must not be empty')
    return d


def _vector(value, n: int, key: str, fail) -> list[float]:
    if (not isinstance(value, (list, tuple)) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        fail(key, f'{n} numbers are required, got {value!r}')
    if not all(math.isfinite(v) for v in value):
        fail(key, f'numbers must be finite, got {value!r}')
    return [float(v) for v in value]

