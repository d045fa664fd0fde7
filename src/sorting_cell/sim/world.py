"""A stepping wrapper around the cell: arm trajectories, gripper, camera, ground truth.

:class:`SimWorld` is what the sim node drives and what ROS-free tests and benchmarks use. The
arm follows joint trajectories through its position servos: every physics step the servo
targets are set from the trajectory sampled at the current simulation time (cubic Hermite
when the points carry velocities, linear otherwise), the way a ros2_control joint trajectory
controller feeds a position interface.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import time

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from .camera import CameraRenderer, Frame, body_masks
from .cell import GRIPPER_MAX_WIDTH, LAYOUT_CLEARANCE, CellInfo, build_cell

__all__ = ['JointTrajectory', 'SimWorld', 'TrajectoryError']


class TrajectoryError(ValueError):
    """A joint trajectory is malformed (names, sizes, times or values)."""


@dataclass
class JointTrajectory:
    """Waypoints for named joints.

    Attributes
    ----------
    joint_names : sequence of str
    times : ndarray, shape (K,)
        Seconds from the trajectory's start, strictly increasing, >= 0.
    positions : ndarray, shape (K, J)
    velocities : ndarray, shape (K, J), or None
    """

    joint_names: tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None

    def __post_init__(self):
        self.joint_names = tuple(self.joint_names)
        self.times = np.asarray(self.times, float).ravel()
        self.positions = np.asarray(self.positions, float)
        if self.positions.ndim == 1:
            self.positions = self.positions[None, :]
        k, j = len(self.times), len(self.joint_names)
        if k == 0:
            raise TrajectoryError('trajectory has no points')
        if len(set(self.joint_names)) != j:
            raise TrajectoryError(f'duplicate joint names in {self.joint_names}')
        if self.positions.shape != (k, j):
            raise TrajectoryError(f'positions have shape {self.positions.shape}, expected '
                                  f'({k} points, {j} joints)')
        if self.velocities is not None:
            self.velocities = np.asarray(self.velocities, float)
            if self.velocities.size == 0:
                self.velocities = None
            elif self.velocities.shape != (k, j):
                raise TrajectoryError(f'velocities have shape {self.velocities.shape}, '
                                      f'expected ({k}, {j}) or none')
        if not np.all(np.isfinite(self.positions)) or not np.all(np.isfinite(self.times)):
            raise TrajectoryError('trajectory contains NaN or infinite values')
        if self.times[0] < 0 or np.any(np.diff(self.times) <= 0):
            raise TrajectoryError(f'time_from_start must be >= 0 and strictly increasing, '
                                  f'got {np.round(self.times, 4).tolist()}')

    @property
    def duration(self) -> float:
        return float(self.times[-1])


class _Sampler:
    """Trajectory positions at time t, held at the ends."""

    def __init__(self, times, positions, velocities):
        self.times, self.positions = times, positions
        self._spline = (CubicHermiteSpline(times, positions, velocities, axis=0)
                        if velocities is not None and len(times) > 1 else None)

    def __call__(self, t: float) -> np.ndarray:
        if t <= self.times[0]:
            return self.positions[0]
        if t >= self.times[-1]:
            return self.positions[-1]
        if self._spline is not None:
            return self._spline(t)
        i = int(np.searchsorted(self.times, t)) - 1
        a = (t - self.times[i]) / (self.times[i + 1] - self.times[i])
        return (1 - a) * self.positions[i] + a * self.positions[i + 1]


class SimWorld:
    """The cell in motion. Parameters are those of :func:`sorting_cell.sim.cell.build_cell`.

    Attributes
    ----------
    model : MjModel
    data : MjData
    info : CellInfo
    """

    def __init__(self, num_boxes: int = 4, seed: int | None = 0, n_objects: int | None = None,
                 families=None, width: int = 640, height: int = 480, shadows: bool = False,
                 clearance: float = LAYOUT_CLEARANCE, objects=None):
        self._build_args = dict(num_boxes=num_boxes, seed=seed, n_objects=n_objects,
                                families=families, width=width, height=height,
                                clearance=clearance, objects=objects)
        self._shadows = shadows
        self._renderer: CameraRenderer | None = None
        self._observers: list[list] = []
        self._build()

    def _build(self) -> None:
        self.model, self.data, self.info = build_cell(**self._build_args)
        #: wall-clock and CPU seconds spent stepping physics (real-time-factor measurements;
        #: CPU time is what an idle core would need, wall time includes waiting for one)
        self.physics_wall_s = 0.0
        self.physics_cpu_s = 0.0
        self._sampler: _Sampler | None = None
        self._traj_start = 0.0
        self._traj_end = 0.0
        self._arm_ids = self.info.arm_actuator_ids
        self._arm_qadr = self.info.arm_qpos_adr
        self._arm_vadr = self.info.arm_dof_adr
        self._finger_qadr = np.array([self.model.joint(n).qposadr[0]
                                      for n in self.info.gripper_joint_names])
        self._finger_vadr = np.array([self.model.joint(n).dofadr[0]
                                      for n in self.info.gripper_joint_names])
        lo, hi = self.model.actuator_ctrlrange[self._arm_ids].T
        self._arm_lo, self._arm_hi = lo, hi

    # ------------------------------------------------------------------ time and stepping
    @property
    def time(self) -> float:
        """Simulation time (s)."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    def add_observer(self, callback, period: float) -> None:
        """Call ``callback(world)`` every ``period`` s of simulation time while stepping
        (e.g. to record animation frames), starting now."""
        if not period > 0:
            raise ValueError(f'observer period must be > 0 s, got {period}')
        self._observers.append([callback, float(period), self.time])

    def clear_observers(self) -> None:
        self._observers.clear()

    def step(self, n: int = 1) -> None:
        """Advance ``n`` physics steps, feeding the servos from the active trajectory."""
        n = int(n)
        if not self._observers:
            self._step(n)
            return
        while True:
            for obs in self._observers:
                if self.time >= obs[2] - 1e-9:
                    obs[0](self)
                    obs[2] += obs[1] * max(1, np.floor((self.time - obs[2]) / obs[1]) + 1)
            if n <= 0:
                return
            due = min(obs[2] for obs in self._observers)
            k = max(1, min(n, int(np.ceil((due - self.time) / self.timestep - 1e-9))))
            self._step(k)
            n -= k

    def _step(self, n: int) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        if self._sampler is None or self.data.time > self._traj_end + self.timestep:
            self._sampler = None
            mujoco.mj_step(self.model, self.data, nstep=int(n))
        else:
            for _ in range(int(n)):
                target = self._sampler(self.data.time - self._traj_start)
                self.data.ctrl[self._arm_ids] = np.clip(target, self._arm_lo, self._arm_hi)
                mujoco.mj_step(self.model, self.data)
        self.physics_wall_s += time.perf_counter() - t0
        self.physics_cpu_s += time.thread_time() - c0

    def advance(self, seconds: float) -> None:
        """Advance by ``seconds`` of simulation time (rounded to whole steps)."""
        self.step(max(0, int(round(seconds / self.timestep))))

    # ------------------------------------------------------------------ arm and gripper
    def arm_positions(self) -> np.ndarray:
        return self.data.qpos[self._arm_qadr].copy()

    def arm_target(self) -> np.ndarray:
        return self.data.ctrl[self._arm_ids].copy()

    def set_arm_target(self, q) -> None:
        """Hold the arm at joint positions ``q`` (6,), cancelling any trajectory."""
        q = np.asarray(q, float).ravel()
        if q.shape != (len(self._arm_ids),) or not np.all(np.isfinite(q)):
            raise TrajectoryError(f'arm target must be {len(self._arm_ids)} finite joint '
                                  f'positions, got {q.tolist()}')
        self._sampler = None
        self.data.ctrl[self._arm_ids] = np.clip(q, self._arm_lo, self._arm_hi)

    def follow(self, trajectory: JointTrajectory) -> float:
        """Start following ``trajectory`` now; returns its end time (simulation seconds).

        Arm joints it does not name hold their current target. A first point later than
        ``t = 0`` is reached from the current target, as ROS trajectory controllers do.

        Raises
        ------
        TrajectoryError
            It names a joint the arm does not have, or a position is outside joint limits.
        """
        names = self.info.arm_joint_names
        unknown = [n for n in trajectory.joint_names if n not in names]
        if unknown:
            raise TrajectoryError(f'unknown joints {unknown}; the arm has {list(names)}')
        cols = [trajectory.joint_names.index(n) if n in trajectory.joint_names else None
                for n in names]
        current = self.arm_target()
        k = len(trajectory.times)
        pos = np.tile(current, (k, 1))
        vel = np.zeros((k, len(names))) if trajectory.velocities is not None else None
        for j, c in enumerate(cols):
            if c is not None:
                pos[:, j] = trajectory.positions[:, c]
                if vel is not None:
                    vel[:, j] = trajectory.velocities[:, c]
        bad = np.nonzero((pos < self._arm_lo - 1e-6) | (pos > self._arm_hi + 1e-6))
        if bad[0].size:
            i, j = int(bad[0][0]), int(bad[1][0])
            raise TrajectoryError(f'point {i}: {names[j]} = {pos[i, j]:.3f} rad is outside '
                                  f'[{self._arm_lo[j]:.3f}, {self._arm_hi[j]:.3f}]')
        times = trajectory.times
        if times[0] > 0:
            times = np.concatenate([[0.0], times])
            pos = np.vstack([current, pos])
            if vel is not None:
                vel = np.vstack([np.zeros(len(names)), vel])
        self._sampler = _Sampler(times, pos, vel)
        self._traj_start = self.time
        self._traj_end = self.time + float(times[-1])
        return self._traj_end

    @property
    def trajectory_active(self) -> bool:
        return self._sampler is not None and self.data.time <= self._traj_end

    def stop(self) -> None:
        """Cancel the trajectory and hold the arm where it is."""
        self._sampler = None
        self.data.ctrl[self._arm_ids] = np.clip(self.arm_positions(), self._arm_lo,
                                                self._arm_hi)

    def set_gripper(self, width: float) -> None:
        """Command the fingers to an opening ``width`` (m), clipped to [0, 0.08]."""
        width = float(width)
        if not np.isfinite(width):
            raise ValueError(f'gripper width must be finite, got {width}')
        half = min(max(width, 0.0), GRIPPER_MAX_WIDTH) / 2
        self.data.ctrl[self.info.gripper_actuator_ids] = [half, -half]

    def gripper_width(self) -> float:
        """Current opening between the fingers (m)."""
        q = self.data.qpos[self._finger_qadr]
        return float(q[0] - q[1])

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names, positions and velocities of the arm joints then the two finger joints."""
        names = list(self.info.arm_joint_names) + list(self.info.gripper_joint_names)
        pos = np.concatenate([self.data.qpos[self._arm_qadr], self.data.qpos[self._finger_qadr]])
        vel = np.concatenate([self.data.qvel[self._arm_vadr], self.data.qvel[self._finger_vadr]])
        return names, pos, vel

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """End-effector site position (3,) and rotation matrix (3, 3) in the world."""
        site = self.model.site(self.info.ee_site)
        return self.data.site_xpos[site.id].copy(), self.data.site_xmat[site.id].reshape(3, 3)

    # ------------------------------------------------------------------ camera
    @property
    def renderer(self) -> CameraRenderer:
        if self._renderer is None:
            self._renderer = CameraRenderer(self.model, self.info.camera, shadows=self._shadows)
        return self._renderer

    def render(self, depth: bool = True, segmentation: bool = False) -> Frame:
        """The overhead camera's view of the current state."""
        return self.renderer.render(self.data, depth=depth, segmentation=segmentation)

    # ------------------------------------------------------------------ ground truth (tests)
    def ground_truth_masks(self, segmentation: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Visible-pixel mask of each object. Ground truth: tests and benchmarks only."""
        if segmentation is None:
            segmentation = self.renderer.segmentation(self.data)
        return body_masks(self.model, segmentation, self.info.object_bodies)

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """World position (3,) and quaternion (w, x, y, z) of each object. Ground truth."""
        return {n: (self.data.body(n).xpos.copy(), self.data.body(n).xquat.copy())
                for n in self.info.object_bodies}

    def object_families(self) -> dict[str, str]:
        """Family of each object body. Ground truth: tests and benchmarks only."""
        return {t.body: t.family for t in self.info.ground_truth}

    def objects_in_box(self, box_index: int) -> list[str]:
        """Objects whose centre lies inside box ``box_index``'s walls (ground truth)."""
        box = self.info.boxes[box_index]
        c, s = np.cos(box.yaw), np.sin(box.yaw)
        out = []
        for name, (pos, _) in self.object_poses().items():
            dx, dy = pos[0] - box.center[0], pos[1] - box.center[1]
            lx, ly = c * dx + s * dy, -s * dx + c * dy
            if (abs(lx) <= box.inner_size[0] / 2 and abs(ly) <= box.inner_size[1] / 2
                    and pos[2] < box.center[2] + box.wall_height):
                out.append(name)
        return out

    # ------------------------------------------------------------------ lifecycle
    def reset(self, **changes) -> None:
        """Rebuild the cell, optionally with new ``seed``, ``n_objects``, ``families``, ..."""
        unknown = set(changes) - set(self._build_args)
        if unknown:
            raise TypeError(f'unknown reset arguments {sorted(unknown)}; allowed: '
                            f'{sorted(self._build_args)}')
        self.close()
        self._build_args.update(changes)
        self._build()
        for obs in self._observers:
            obs[2] = self.time

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def cell(self) -> CellInfo:
        return self.info
