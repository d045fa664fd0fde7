"""Render the overhead RGB-D camera, ground-truth object masks, and map pixels to the world.

Images follow ROS conventions: RGB is HxWx3 ``uint8`` (``rgb8``); depth is HxW ``float32``
metres along the optical axis (``32FC1``), ``inf`` where nothing was hit. Geometry uses the
OpenCV camera frame of :class:`sorting_cell.sim.cell.CameraSpec` (x right, y down, z forward).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import mujoco
import numpy as np

from .cell import CameraSpec


def _ensure_headless_backend() -> None:
    """Use EGL (else OSMesa) when there is no display and ``MUJOCO_GL`` was never set.

    MuJoCo picks its OpenGL backend once, when ``mujoco`` is first imported; left unset it
    picks GLFW, which needs an X display. Any module may import mujoco first, so rather than
    depend on import order this swaps in the headless context class the backend module
    would have chosen with ``MUJOCO_GL=egl``.
    """
    from mujoco.rendering.classic import gl_context
    if os.environ.get('DISPLAY') or getattr(gl_context, '_MUJOCO_GL', None) != '':
        return
    for backend in ('egl', 'osmesa'):
        try:
            gl_context.GLContext = importlib.import_module(f'mujoco.{backend}').GLContext
        except Exception:  # noqa: BLE001 -- missing system library: try the next backend
            continue
        os.environ['MUJOCO_GL'] = backend
        return


__all__ = ['Frame', 'CameraRenderer', 'project', 'backproject', 'body_masks']


@dataclass
class Frame:
    """One camera frame. ``segmentation`` is per-pixel geom id, -1 for background."""

    rgb: np.ndarray
    depth: np.ndarray | None = None
    segmentation: np.ndarray | None = None


class CameraRenderer:
    """Offscreen renderer for one camera of a model (EGL or OSMesa; set ``MUJOCO_GL``).

    One OpenGL context serves all three passes (colour, depth, segmentation); switching
    between them is cheap. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, model: mujoco.MjModel, camera: str | CameraSpec, width: int | None = None,
                 height: int | None = None, shadows: bool = False):
        if isinstance(camera, CameraSpec):
            name, width, height = camera.name, width or camera.width, height or camera.height
        else:
            name = camera
        if width is None or height is None:
            raise ValueError('width and height are needed when the camera is given by name')
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name) < 0:
            raise ValueError(f'no camera named {name!r} in the model')
        self.model = model
        self.camera = name
        self.width, self.height = int(width), int(height)
        _ensure_headless_backend()
        try:
            self._renderer = mujoco.Renderer(model, self.height, self.width)
        except Exception as exc:  # noqa: BLE001 -- GL setup errors come in several types
            raise RuntimeError(
                f'offscreen rendering failed ({exc}); install EGL or OSMesa '
                '(apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libosmesa6) and '
                'set MUJOCO_GL=egl (or osmesa)') from exc
        self._shadows = shadows

    def _update(self, data: mujoco.MjData) -> None:
        self._renderer.update_scene(data, self.camera)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self._shadows

    def rgb(self, data: mujoco.MjData) -> np.ndarray:
        """HxWx3 uint8 colour image."""
        self._update(data)
        return self._renderer.render().copy()

    def depth(self, data: mujoco.MjData) -> np.ndarray:
        """HxW float32 depth (m) along the optical axis."""
        self._renderer.enable_depth_rendering()
        try:
            self._update(data)
            depth = self._renderer.render().astype(np.float32)
        finally:
            self._renderer.disable_depth_rendering()
        # the far clipping plane means "nothing there"
        depth[depth >= self.model.stat.extent * self.model.vis.map.zfar * 0.999] = np.inf
        return depth

    def segmentation(self, data: mujoco.MjData) -> np.ndarray:
        """HxW int32 geom id per pixel, -1 where no geom was hit."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._update(data)
            seg = self._renderer.render()
        finally:
            self._renderer.disable_segmentation_rendering()
        ids = seg[:, :, 0].astype(np.int32)
        ids[seg[:, :, 1] != int(mujoco.mjtObj.mjOBJ_GEOM)] = -1
        return ids

    def render(self, data: mujoco.MjData, depth: bool = True,
               segmentation: bool = False) -> Frame:
        """Colour and, on request, depth and segmentation of the same state."""
        return Frame(self.rgb(data), self.depth(data) if depth else None,
                     self.segmentation(data) if segmentation else None)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def body_masks(model: mujoco.MjModel, segmentation: np.ndarray,
               bodies: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    """Boolean mask of each named body's visible pixels, from a segmentation image."""
    geom_body = np.append(model.geom_bodyid, -1)  # index -1 (background) -> -1
    pixel_body = geom_body[segmentation]
    return {name: pixel_body == model.body(name).id for name in bodies}


def project(points: np.ndarray, camera: CameraSpec) -> np.ndarray:
    """World points (N, 3) to pixel coordinates (N, 2) ``(u, v)``."""
    pts = np.atleast_2d(np.asarray(points, float))
    T_cw = np.linalg.inv(camera.T_world_camera)
    cam = pts @ T_cw[:3, :3].T + T_cw[:3, 3]
    uvw = cam @ camera.K.T
    return uvw[:, :2] / uvw[:, 2:3]


def backproject(uv: np.ndarray, depth: np.ndarray | float, camera: CameraSpec) -> np.ndarray:
    """Pixels (N, 2) with depths along the optical axis to world points (N, 3)."""
    uv = np.atleast_2d(np.asarray(uv, float))
    z = np.broadcast_to(np.asarray(depth, float), (uv.shape[0],))
    rays = np.column_stack([uv, np.ones(len(uv))]) @ np.linalg.inv(camera.K).T
    cam = rays * z[:, None]
    T = camera.T_world_camera
    return cam @ T[:3, :3].T + T[:3, 3]
