"""Calibration in the simulator, against the true poses: the board is rendered on the table,
seen by the cell's camera, and its corners are touched by the simulated arm."""
from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from sorting_cell.transforms import invert, make_transform, rotation_error_deg, translation_error

from .board import CharucoBoardSpec
from .camera_pose import BoardPoseEstimator
from .result import Calibration, board_to_table
from .sim_board import BOARD_THICKNESS, board_on_table
from .touch import TouchCalibration, TouchPoint, default_touch_corners

__all__ = ['SimCalibrationReport', 'board_pose_on_tray', 'board_scene', 'calibrate_in_sim',
           'touch_corners']

#: The tray mat's top face (m): the board lies on it.
_MAT_TOP = 0.001
#: Jogging the fingertips onto a corner stops within this distance (m), or after so many moves.
_JOG_TOLERANCE = 1e-4
_JOG_STEPS = 6


@dataclass
class SimCalibrationReport:
    """Estimated calibration next to the simulator's truth (errors in m and degrees)."""

    calibration: Calibration
    T_table_camera_true: np.ndarray
    T_base_camera_true: np.ndarray
    camera_translation_error: float
    camera_rotation_error_deg: float
    base_translation_error: float | None
    base_rotation_error_deg: float | None


def board_pose_on_tray(board: CharucoBoardSpec, yaw_deg: float = 8.0,
                       centre=(0.49, 0.0)) -> np.ndarray:
    """``T_world_board`` of a board lying face up on the tray, centred at ``centre``.

    At ``yaw_deg = 0`` the board reads upright in the overhead image (its x along image
    right = world -y, its y along image down = world -x).
    """
    yaw = math.radians(yaw_deg)
    upright = np.column_stack([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    Rz = np.array([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0],
                   [0.0, 0.0, 1.0]])
    R = Rz @ upright
    w, h = board.size
    face = np.array([centre[0], centre[1], _MAT_TOP + BOARD_THICKNESS])
    return make_transform(R, face - R @ np.array([w / 2, h / 2, 0.0]))


def _tip_distance(model: mujoco.MjModel, data: mujoco.MjData, site: str) -> float:
    """How far the closed fingers reach past the TCP site along its approach axis (m)."""
    s = data.site(site)
    axis = s.xmat.reshape(3, 3)[:, 2]
    reach = 0.0
    for g in range(model.ngeom):
        body = model.body(model.geom_bodyid[g]).name
        if 'finger' not in body or not (model.geom_contype[g] or model.geom_conaffinity[g]):
            continue
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            m = model.geom_dataid[g]
            local = model.mesh_vert[model.mesh_vertadr[m]:
                                    model.mesh_vertadr[m] + model.mesh_vertnum[m]]
        else:   # the corners of the geom's bounding box
            local = (np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).T.reshape(-1, 3)
                     * model.geom_size[g])
        points = data.geom_xpos[g] + local @ data.geom_xmat[g].reshape(3, 3).T
        reach = max(reach, float(((points - s.xpos) @ axis).max()))
    return reach


def touch_corners(model: mujoco.MjModel, data: mujoco.MjData, info, board: CharucoBoardSpec,
                  T_world_board: np.ndarray, corner_ids) -> tuple[list[TouchPoint], float]:
    """Drive the simulated arm's fingertips onto board corners; read the TCP at each.

    The arm's position servos track a straight joint-space ramp to a point above the corner,
    then down to the touch, and settle; the TCP is then read from the joints as a robot
    reports it (forward kinematics of the measured joint positions). Returns the touch
    points and the TCP-to-fingertip distance (the ``tcp_offset``).
    """
    from sorting_cell.manipulation.ik import IKSolver, top_down_rotation
    from sorting_cell.manipulation.robot import arm_spec_from_cell

    spec = arm_spec_from_cell(info)
    ik = IKSolver(model, spec)
    act, qadr = info.arm_actuator_ids, info.arm_qpos_adr
    # close the fingers: the closed tips are the pointer
    data.ctrl[info.gripper_actuator_ids] = 0.0
    _settle(model, data, act, data.ctrl[act].copy(), 0.5)
    tip = _tip_distance(model, data, info.ee_site)
    corners = board.corners()
    down = top_down_rotation(0.0)
    out, q = [], np.asarray(info.home_qpos, float)
    for cid in corner_ids:
        target = T_world_board[:3, :3] @ corners[cid] + T_world_board[:3, 3]
        goal = target + [0.0, 0.0, tip]
        aim = goal + [0.0, 0.0, 0.05]
        for step in range(1 + _JOG_STEPS):
            res = ik.solve_any(aim, down, q)
            if not res.success:
                raise RuntimeError(f'corner {cid}: no IK solution at {target.round(3)}')
            _settle(model, data, act, res.q, 1.0 if step < 2 else 0.3)
            q = res.q
            if step == 0:   # above the corner; now down onto it
                aim = goal.copy()
                continue
            # like an operator jogging the tip onto the corner: correct what the servos'
            # steady-state error left (the robot then reports where the tip really is)
            miss = goal - data.site(info.ee_site).xpos
            if np.linalg.norm(miss) < _JOG_TOLERANCE:
                break
            aim = aim + miss
        out.append(TouchPoint(int(cid), tuple(float(v) for v in data.site(info.ee_site).xpos)))
    return out, tip


def _settle(model, data, act, q_target, seconds: float) -> None:
    """Ramp the servo targets to ``q_target`` over ``seconds``, then hold half as long."""
    start = data.ctrl[act].copy()
    steps = max(1, int(seconds / model.opt.timestep))
    for k in range(steps + steps // 2):
        a = min(1.0, (k + 1) / steps)
        data.ctrl[act] = start + a * (np.asarray(q_target) - start)
        mujoco.mj_step(model, data)


def board_scene(board: CharucoBoardSpec, yaw_deg: float = 8.0, width: int = 640,
                height: int = 480):
    """The empty cell with the board on the tray and the overhead camera's view of it:
    ``(model, data, info, T_world_board, rgb)``."""
    from sorting_cell.sim.camera import CameraRenderer
    from sorting_cell.sim.cell import build_cell

    T_world_board = board_pose_on_tray(board, yaw_deg)
    model, data, info = build_cell(n_objects=0, width=width, height=height,
                                   extras=board_on_table(board, T_world_board))
    with CameraRenderer(model, info.camera) as renderer:
        image = renderer.rgb(data)
    return model, data, info, T_world_board, image


def calibrate_in_sim(board: CharucoBoardSpec | None = None, yaw_deg: float = 8.0,
                     width: int = 640, height: int = 480, touch: bool = True,
                     corner_ids=None) -> SimCalibrationReport:
    """Run the whole calibration in the simulated cell and compare it with the truth.

    The board texture is generated from ``board`` at run time; the image comes from the
    cell's overhead camera at ``width`` x ``height``; the touch step uses the four outermost
    inner corners unless ``corner_ids`` are given.
    """
    board = board or CharucoBoardSpec()
    model, data, info, T_world_board, image = board_scene(board, yaw_deg, width, height)
    est = BoardPoseEstimator(board).fit([image], info.camera.K)
    calib = Calibration.from_board_pose(
        est.T_camera_board_, board, BOARD_THICKNESS,
        quality={'reprojection_rms_px': est.reprojection_rms_px_, 'corners': est.n_corners_,
                 'views': 1})
    T_world_camera = info.camera.T_world_camera
    T_world_table = T_world_board @ board_to_table(BOARD_THICKNESS)
    T_table_camera_true = invert(T_world_table) @ T_world_camera
    report = SimCalibrationReport(
        calib, T_table_camera_true, T_world_camera,
        translation_error(calib.T_table_camera, T_table_camera_true),
        rotation_error_deg(calib.T_table_camera, T_table_camera_true), None, None)
    if touch:
        ids = tuple(corner_ids) if corner_ids is not None else default_touch_corners(board)
        points, tip = touch_corners(model, data, info, board, T_world_board, ids)
        fit = TouchCalibration(board, tcp_offset=tip).fit(points)
        calib = calib.with_touch(fit.T_base_board_, BOARD_THICKNESS, fit.rms_)
        report.calibration = calib
        report.base_translation_error = translation_error(calib.T_base_camera, T_world_camera)
        report.base_rotation_error_deg = rotation_error_deg(calib.T_base_camera,
                                                            T_world_camera)
    return report
