"""What the manipulation stack needs to know about a cell: arm, gripper, boxes.

This is configuration (the cell's calibration), not perception: joint names, the tool
site, where the boxes stand. Object positions never come from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

__all__ = ['BoxSpec', 'ArmSpec', 'planning_model', 'arm_spec_from_cell']


@dataclass(frozen=True)
class BoxSpec:
    """One open box on the table.

    Attributes
    ----------
    center : (x, y)
        Centre of the box floor in the world frame, m.
    inner_half_size : (hx, hy)
        Half extents of the inside of the box along its own x and y axes, m.
    floor_z : float
        Height of the inside of the floor, m.
    wall_top_z : float
        Height of the top of the walls, m.
    yaw : float
        Rotation of the box's x axis about world z, rad.
    """

    center: tuple[float, float]
    inner_half_size: tuple[float, float]
    floor_z: float
    wall_top_z: float
    yaw: float = 0.0

    def to_local(self, point) -> np.ndarray:
        """World (x, y) -> box frame (x, y)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        dx, dy = float(point[0]) - self.center[0], float(point[1]) - self.center[1]
        return np.array([c * dx + s * dy, -s * dx + c * dy])

    def to_world(self, local) -> np.ndarray:
        """Box frame (x, y) -> world (x, y)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([self.center[0] + c * local[0] - s * local[1],
                         self.center[1] + s * local[0] + c * local[1]])

    def contains(self, point, margin: float = 0.0) -> bool:
        """Whether ``point`` (x, y, z) lies inside the box volume (shrunk by ``margin``)."""
        lx, ly = self.to_local(point)
        hx, hy = self.inner_half_size
        z = float(point[2])
        return (abs(lx) <= hx - margin and abs(ly) <= hy - margin
                and self.floor_z - 0.01 <= z <= self.wall_top_z + 0.05)


@dataclass
class ArmSpec:
    """Names and limits of an arm + parallel gripper inside a MuJoCo model.

    Attributes
    ----------
    arm_joints : list of str
        The arm's hinge joints in command order.
    tcp_site : str
        Site between the finger pads; its z axis points out of the hand.
    finger_joints : list of str
        Slide joints of the fingers; the opening width is the sum of their travel.
    max_opening : float
        Widest opening of the gripper, m.
    home : array of float
        Joint configuration that leaves the camera's view of the table clear.
    max_velocity, max_acceleration : array of float
        Per-joint limits used to time trajectories, rad/s and rad/s^2.
    boxes : list of BoxSpec
    table_z : float
        Height of the table top (a fallback when the depth image cannot tell).
    """

    arm_joints: list[str]
    tcp_site: str
    finger_joints: list[str]
    max_opening: float
    home: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray
    boxes: list[BoxSpec] = field(default_factory=list)
    table_z: float = 0.0

    def __post_init__(self):
        self.home = np.asarray(self.home, dtype=float)
        n = len(self.arm_joints)
        self.max_velocity = np.broadcast_to(np.asarray(self.max_velocity, float), (n,)).copy()
        self.max_acceleration = np.broadcast_to(
            np.asarray(self.max_acceleration, float), (n,)).copy()
        if self.home.shape != (n,):
            raise ValueError(f'home has shape {self.home.shape}, expected ({n},)')

    def qpos_indices(self, model: mujoco.MjModel) -> np.ndarray:
        """Addresses of the arm joints in ``qpos`` of ``model``."""
        return np.array([model.jnt_qposadr[_joint_id(model, j)] for j in self.arm_joints])

    def dof_indices(self, model: mujoco.MjModel) -> np.ndarray:
        """Addresses of the arm joints in ``qvel`` of ``model``."""
        return np.array([model.jnt_dofadr[_joint_id(model, j)] for j in self.arm_joints])

    def joint_ranges(self, model: mujoco.MjModel) -> np.ndarray:
        """(n, 2) joint limits from ``model``."""
        return np.array([model.jnt_range[_joint_id(model, j)] for j in self.arm_joints])


def _joint_id(model: mujoco.MjModel, name: str) -> int:
    jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if jid < 0:
        raise KeyError(f'joint {name!r} not in the model')
    return jid


def planning_model(model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of ``model`` in which free-floating bodies (the objects) do not collide.

    Objects are not planning obstacles: the planner only knows the robot and the static
    cell, and the pick sequence approaches objects vertically from above.
    """
    out = model.__copy__()
    free_bodies = {int(model.jnt_bodyid[j]) for j in range(model.njnt)
                   if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE}
    for g in range(model.ngeom):
        if int(model.geom_bodyid[g]) in free_bodies:
            out.geom_contype[g] = 0
            out.geom_conaffinity[g] = 0
    return out


def arm_spec_from_cell(info, max_velocity: float = 2.6,
                       max_acceleration: float = 7.0, max_opening: float = 0.08) -> ArmSpec:
    """An :class:`ArmSpec` from :class:`sorting_cell.sim.cell.CellInfo` (duck-typed).

    The UR5e's joints are rated at 180 deg/s; 2.6 rad/s keeps a margin for the servos.
    """
    boxes = [BoxSpec((float(b.center[0]), float(b.center[1])),
                     (b.inner_size[0] / 2, b.inner_size[1] / 2), float(b.center[2]),
                     float(b.center[2] + b.wall_height), float(b.yaw)) for b in info.boxes]
    return ArmSpec(arm_joints=list(info.arm_joint_names), tcp_site=info.ee_site,
                   finger_joints=list(info.gripper_joint_names), max_opening=max_opening,
                   home=np.asarray(info.home_qpos, float), max_velocity=max_velocity,
                   max_acceleration=max_acceleration, boxes=boxes, table_z=float(info.table_z))
