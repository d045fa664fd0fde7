"""A cell's calibration as configuration: the static transforms between base, table and
camera, written to and read from YAML."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from sorting_cell.transforms import (TransformError, check_transform, from_translation_quat,
                                     invert, make_transform, to_translation_quat)

from .board import BoardError, CharucoBoardSpec

__all__ = ['Calibration', 'CalibrationError', 'board_to_table', 'FORMAT_VERSION']

FORMAT_VERSION = 1


class CalibrationError(ValueError):
    """A calibration file that cannot be used, and why."""


def board_to_table(board_thickness: float = 0.0) -> np.ndarray:
    """``T_board_table``: the table frame seen from the board frame.

    The table frame has its origin on the table surface under the board's origin corner,
    x along the board's x and z up (REP-103: z up, right-handed), so y is the board's -y.
    ``board_thickness`` is how far the printed face stands above the table.
    """
    return make_transform(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, board_thickness])


def _transform_entry(parent: str, child: str, T: np.ndarray) -> dict:
    t, q = to_translation_quat(T)
    return {'parent': parent, 'child': child,
            'translation': [round(float(v), 7) for v in t],
            'rotation_xyzw': [round(float(v), 9) for v in q]}


@dataclass
class Calibration:
    """Camera pose on the table (from a board image) and, when touched, table in the base.

    ``T_table_camera`` is the camera's optical frame (x right, y down, z forward, REP-103
    ``_optical_frame``) in the table frame; ``T_base_table`` the table frame in the robot
    base frame (None until the touch-point step ran).
    """

    T_table_camera: np.ndarray
    T_base_table: np.ndarray | None = None
    base_frame: str = 'base_link'
    table_frame: str = 'table'
    camera_frame: str = 'camera_optical_frame'
    board: CharucoBoardSpec = field(default_factory=CharucoBoardSpec)
    quality: dict = field(default_factory=dict)

    @property
    def T_base_camera(self) -> np.ndarray | None:
        if self.T_base_table is None:
            return None
        return self.T_base_table @ self.T_table_camera

    def transforms(self) -> list[tuple[str, str, np.ndarray]]:
        """(parent, child, T_parent_child) of every static transform it defines."""
        out = [(self.table_frame, self.camera_frame, self.T_table_camera)]
        if self.T_base_table is not None:
            out.insert(0, (self.base_frame, self.table_frame, self.T_base_table))
        return out

    def to_dict(self) -> dict:
        return {'sorting_cell_calibration': FORMAT_VERSION,
                'created': datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec='seconds'),
                'frames': {'base': self.base_frame, 'table': self.table_frame,
                           'camera': self.camera_frame},
                'board': self.board.as_dict(),
                'quality': {k: (round(float(v), 6) if isinstance(v, float) else v)
                            for k, v in self.quality.items()},
                'transforms': [_transform_entry(p, c, T) for p, c, T in self.transforms()]}

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = ('# Written by `sorting-cell calibrate`. Static transforms (tf: parent -> child, '
                'metres, quaternion x y z w).\n' + yaml.safe_dump(self.to_dict(),
                                                                   sort_keys=False))
        path.write_text(text)
        return path

    @classmethod
    def load(cls, path) -> Calibration:
        """Read a calibration file; :class:`CalibrationError` says what is wrong with it."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise CalibrationError(f'{path}: no such calibration file (run `sorting-cell '
                                   'calibrate`)') from None
        except yaml.YAMLError as exc:
            raise CalibrationError(f'{path}: not valid YAML ({exc})') from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data, source: str = 'calibration') -> Calibration:
        if not isinstance(data, dict) or 'sorting_cell_calibration' not in data:
            raise CalibrationError(f'{source}: not a sorting_cell calibration (no '
                                   "'sorting_cell_calibration' version key)")
        if data['sorting_cell_calibration'] != FORMAT_VERSION:
            raise CalibrationError(f'{source}: format version {data["sorting_cell_calibration"]}'
                                   f', this sorting_cell reads version {FORMAT_VERSION}')
        frames = data.get('frames') or {}
        names = {k: frames.get(k, d) for k, d in (('base', 'base_link'), ('table', 'table'),
                                                  ('camera', 'camera_optical_frame'))}
        try:
            board = CharucoBoardSpec.from_dict(data.get('board') or {})
        except (BoardError, TypeError) as exc:
            raise CalibrationError(f'{source}: board: {exc}') from None
        found = {}
        for k, entry in enumerate(data.get('transforms') or []):
            try:
                T = check_transform(from_translation_quat(entry['translation'],
                                                          entry['rotation_xyzw']))
                found[(entry['parent'], entry['child'])] = T
            except (KeyError, TypeError) as exc:
                raise CalibrationError(f'{source}: transforms[{k}] needs parent, child, '
                                       f'translation and rotation_xyzw ({exc})') from None
            except (TransformError, ValueError) as exc:
                raise CalibrationError(f'{source}: transforms[{k}]: {exc}') from None
        key = (names['table'], names['camera'])
        if key not in found:
            raise CalibrationError(f'{source}: no transform {key[0]} -> {key[1]} (the camera '
                                   'on the table)')
        return cls(T_table_camera=found[key],
                   T_base_table=found.get((names['base'], names['table'])),
                   base_frame=names['base'], table_frame=names['table'],
                   camera_frame=names['camera'], board=board,
                   quality=dict(data.get('quality') or {}))

    def with_touch(self, T_base_board: np.ndarray, board_thickness: float,
                   touch_rms: float) -> Calibration:
        """A copy with the table placed in the base frame by touch points."""
        return Calibration(self.T_table_camera, T_base_board @ board_to_table(board_thickness),
                           self.base_frame, self.table_frame, self.camera_frame, self.board,
                           dict(self.quality, touch_rms_m=touch_rms))

    @classmethod
    def from_board_pose(cls, T_camera_board: np.ndarray, board: CharucoBoardSpec,
                        board_thickness: float = 0.0, **kwargs) -> Calibration:
        """The camera on the table from the board's pose in the camera."""
        T_table_camera = invert(T_camera_board @ board_to_table(board_thickness))
        quality = dict(kwargs.pop('quality', {}), board_thickness_m=float(board_thickness))
        return cls(T_table_camera=T_table_camera, board=board, quality=quality, **kwargs)
