"""Inverse kinematics for the tool site with mink (differential IK on a QP)."""
from __future__ import annotations

from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from .robot import ArmSpec

__all__ = ['IKResult', 'IKSolver', 'top_down_rotation']


def top_down_rotation(yaw: float) -> np.ndarray:
    """Rotation of a tool pointing straight down (z = -world z), its x axis at ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    x = np.array([c, s, 0.0])
    z = np.array([0.0, 0.0, -1.0])
    y = np.cross(z, x)
    return np.column_stack([x, y, z])


@dataclass
class IKResult:
    """Outcome of one IK solve: the arm joints and how far the tool ended from the target."""

    q: np.ndarray
    success: bool
    position_error: float
    rotation_error: float
    iterations: int


class IKSolver:
    """Solve for arm joints that put ``spec.tcp_site`` at a pose.

    Every joint that is not an arm joint (fingers, free objects) is frozen with a
    :class:`mink.DofFreezingTask`, so the model may be the whole cell.

    Parameters
    ----------
    model : mujoco.MjModel
    spec : ArmSpec
    position_tolerance, rotation_tolerance : float
        Convergence thresholds, m and rad.
    max_iterations : int
    dt : float
        Integration step of the differential IK.
    posture_cost : float
        Weight pulling the solution toward the seed (keeps it on the seed's branch).
    """

    def __init__(self, model: mujoco.MjModel, spec: ArmSpec, position_tolerance: float = 2e-4,
                 rotation_tolerance: float = 2e-3, max_iterations: int = 100, dt: float = 0.05,
                 posture_cost: float = 1e-3):
        self.model = model
        self.spec = spec
        self.position_tolerance = position_tolerance
        self.rotation_tolerance = rotation_tolerance
        self.max_iterations = max_iterations
        self.dt = dt
        self._qadr = spec.qpos_indices(model)
        self._conf = mink.Configuration(model)
        self._task = mink.FrameTask(spec.tcp_site, 'site', position_cost=1.0,
                                    orientation_cost=1.0, lm_damping=1e-6)
        self._posture = mink.PostureTask(model, cost=posture_cost)
        arm_dofs = set(spec.dof_indices(model).tolist())
        frozen = [d for d in range(model.nv) if d not in arm_dofs]
        self._constraints = [mink.DofFreezingTask(model, dof_indices=frozen)] if frozen else []
        self._limits = [mink.ConfigurationLimit(model)]
        self._ranges = spec.joint_ranges(model)

    def solve(self, position, rotation: np.ndarray, q_seed: np.ndarray,
              q_full: np.ndarray | None = None) -> IKResult:
        """Joints putting the tool at ``position`` with ``rotation`` (3x3), from ``q_seed``.

        Parameters
        ----------
        position : (3,) array
        rotation : (3, 3) array
        q_seed : (n_arm,) array
            Start of the iteration; the posture task keeps the answer close to it.
        q_full : (nq,) array or None
            Configuration of the rest of the model (fingers, objects); defaults to qpos0.
        """
        q = np.array(self.model.qpos0 if q_full is None else q_full, dtype=float)
        q[self._qadr] = np.clip(q_seed, self._ranges[:, 0], self._ranges[:, 1])
        self._conf.update(q)
        self._posture.set_target(q)
        target = mink.SE3.from_rotation_and_translation(
            mink.SO3.from_matrix(np.asarray(rotation, float)), np.asarray(position, float))
        self._task.set_target(target)
        pos_err = rot_err = np.inf
        it = 0
        for it in range(1, self.max_iterations + 1):
            err = self._task.compute_error(self._conf)
            pos_err, rot_err = float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))
            if pos_err < self.position_tolerance and rot_err < self.rotation_tolerance:
                break
            vel = mink.solve_ik(self._conf, [self._task, self._posture], self.dt, 'daqp',
                                damping=1e-3, limits=self._limits,
                                constraints=self._constraints)
            self._conf.integrate_inplace(vel, self.dt)
        else:
            err = self._task.compute_error(self._conf)
            pos_err, rot_err = float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))
        ok = pos_err < self.position_tolerance and rot_err < self.rotation_tolerance
        return IKResult(self._conf.q[self._qadr].copy(), bool(ok), pos_err, rot_err, it)

    def solve_any(self, position, rotation: np.ndarray, q_seed: np.ndarray,
                  q_full: np.ndarray | None = None) -> IKResult:
        """Like :meth:`solve`, from several seeds; the solution nearest ``q_seed`` wins.

        Differential IK only finds the solution its seed leads to, and large base or tool
        rotations trap it or land it on an odd branch (elbow down, shoulder flipped). The
        seeds turn the first joint toward the target and the last (tool-roll) joint by
        quarter turns, from ``q_seed`` and from home. Returns the success nearest to
        ``q_seed`` (the home posture breaks ties), or the attempt with the smallest error.
        """
        q_seed = np.asarray(q_seed, float)
        pan = np.arctan2(position[1], position[0]) - self._home_bearing()
        seeds = [q_seed]
        for base in (q_seed, self.spec.home):
            for roll in (0.0, np.pi / 2, -np.pi / 2, np.pi):
                s = np.array(base, dtype=float)
                s[0] = pan
                s[-1] = base[-1] + roll
                seeds.append(s)
        best, best_cost, closest = None, np.inf, None
        for k, seed in enumerate(seeds):
            res = self.solve(position, rotation, seed, q_full)
            if res.success and k == 0 and np.abs(res.q[:-1] - q_seed[:-1]).max() < 0.6:
                return res  # a small move from the seed: the branch cannot be better
            if res.success:
                # The posture joints (all but the tool roll) decide the branch.
                cost = (np.abs(res.q - q_seed).sum()
                        + np.abs(res.q[:-1] - self.spec.home[:-1]).sum())
                if cost < best_cost:
                    best, best_cost = res, cost
            elif closest is None or res.position_error < closest.position_error:
                closest = res
        return best if best is not None else closest

    def _home_bearing(self) -> float:
        """Angle of the tool's horizontal position about the base at the home pose."""
        if not hasattr(self, '_bearing'):
            data = mujoco.MjData(self.model)
            data.qpos[self._qadr] = self.spec.home
            mujoco.mj_kinematics(self.model, data)
            p = data.site(self.spec.tcp_site).xpos
            self._bearing = float(np.arctan2(p[1], p[0]) - self.spec.home[0])
        return self._bearing
