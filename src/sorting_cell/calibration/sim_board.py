"""A ChArUco board lying on the simulated table, for calibration in the simulator."""
from __future__ import annotations

from typing import Callable

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from .board import CharucoBoardSpec

__all__ = ['board_on_table', 'BOARD_THICKNESS']

#: A printed board glued on a stiff plate (m).
BOARD_THICKNESS = 0.002


def board_on_table(spec: CharucoBoardSpec, T_world_board: np.ndarray,
                   pixels_per_square: int = 120) -> Callable[[mujoco.MjSpec], None]:
    """``extras`` for :func:`sorting_cell.sim.cell.build_cell`: the board as a textured plate.

    ``T_world_board`` is the pose of the board frame (OpenCV's: z into the board); its
    printed face is the plate's top. The texture is generated here from the board, never
    read from a file. The plate has no collision: it is a picture on the table.
    """
    T = np.asarray(T_world_board, float)
    image = spec.image(pixels_per_square)
    w, h = spec.size

    def add(mjspec: mujoco.MjSpec) -> None:
        rgb = np.repeat(image[::-1, :, None], 3, axis=2)
        tex = mjspec.add_texture(name='charuco_tex', type=mujoco.mjtTexture.mjTEXTURE_2D,
                                 width=rgb.shape[1], height=rgb.shape[0], nchannel=3)
        tex.data = rgb.tobytes()
        mjspec.add_material(name='charuco_mat', textures=['', 'charuco_tex'],
                            texrepeat=[1, 1], specular=0.0, shininess=0.0)
        # The plate's centre sits half its thickness behind the printed face (board +z).
        centre = T[:3, :3] @ np.array([w / 2, h / 2, BOARD_THICKNESS / 2]) + T[:3, 3]
        quat = Rotation.from_matrix(T[:3, :3]).as_quat(scalar_first=True)
        mjspec.worldbody.add_geom(
            name='charuco_board', type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[w / 2, h / 2, BOARD_THICKNESS / 2], pos=centre.tolist(), quat=quat.tolist(),
            material='charuco_mat', contype=0, conaffinity=0)
    return add
