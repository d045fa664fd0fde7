"""Collision-free joint-space motion: MuJoCo collision checks + OMPL RRTConnect."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from .robot import ArmSpec

__all__ = ['CollisionChecker', 'PlanResult', 'JointPlanner']


class CollisionChecker:
    """Is an arm configuration free of collisions with itself and the static cell?

    Works on its own :class:`mujoco.MjData` of a planning model (see
    :func:`~sorting_cell.manipulation.robot.planning_model`), so it never disturbs the
    simulation. A contact counts when one of its geoms belongs to the robot (the arm's
    subtree, hand included) and it penetrates deeper than ``tolerance``.

    Parameters
    ----------
    model : mujoco.MjModel
    spec : ArmSpec
    tolerance : float
        Penetration allowed, m (positive values tolerate grazing contacts).
    min_tcp_z : float or None
        When set, configurations with the tool site below this height are invalid
        (keeps a carried object above box walls during transit).
    """

    def __init__(self, model: mujoco.MjModel, spec: ArmSpec, tolerance: float = 0.0,
                 min_tcp_z: float | None = None):
        self.model = model
        self.spec = spec
        self.tolerance = tolerance
        self.min_tcp_z = min_tcp_z
        self.data = mujoco.MjData(model)
        self._qadr = spec.qpos_indices(model)
        self._site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, spec.tcp_site)
        root = int(model.jnt_bodyid[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT,
                                                      spec.arm_joints[0])])
        # Only the moving bodies: the fixed base may rest on a stand or the table.
        robot_bodies = {b for b in range(model.nbody) if _is_descendant(model, b, root)}
        self._robot_geom = np.array([int(model.geom_bodyid[g]) in robot_bodies
                                     for g in range(model.ngeom)])
        self._allowed = self._touching_at_home()
        self.checks = 0

    def _touching_at_home(self) -> set[tuple[int, int]]:
        """Robot-robot geom pairs touching at home, fingers closed or open.

        Like an SRDF's disabled collision pairs: meshes of neighbouring links (fingers
        against each other, hand against flange) overlap by construction.
        """
        allowed = set()
        d, m = self.data, self.model
        fingers = [m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)]
                   for j in self.spec.finger_joints]
        franges = [m.jnt_range[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)]
                   for j in self.spec.finger_joints]
        for pick in (np.argmin, np.argmax):  # fingers closed, then open
            d.qpos[:] = m.qpos0
            for adr, rng in zip(fingers, franges):
                d.qpos[adr] = rng[pick(np.abs(rng))]
            d.qpos[self._qadr] = self.spec.home
            mujoco.mj_kinematics(m, d)
            mujoco.mj_collision(m, d)
            for i in range(d.ncon):
                c = d.contact[i]
                if self._robot_geom[c.geom1] and self._robot_geom[c.geom2]:
                    allowed.add((min(c.geom1, c.geom2), max(c.geom1, c.geom2)))
        d.qpos[:] = m.qpos0
        return allowed

    def _counts(self, c) -> bool:
        if c.dist >= -self.tolerance:
            return False
        r1, r2 = self._robot_geom[c.geom1], self._robot_geom[c.geom2]
        if not (r1 or r2):
            return False
        return not (r1 and r2 and (min(c.geom1, c.geom2), max(c.geom1, c.geom2))
                    in self._allowed)

    def set_fixed(self, qpos: np.ndarray) -> None:
        """Set the non-arm joints (fingers) used for every later check."""
        self.data.qpos[:] = qpos

    def tcp_position(self, q: np.ndarray) -> np.ndarray:
        """Tool-site position for arm joints ``q``."""
        self.data.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy()

    def is_valid(self, q: np.ndarray) -> bool:
        """True when ``q`` is collision free (and above ``min_tcp_z`` if set)."""
        self.checks += 1
        d = self.data
        d.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, d)
        if self.min_tcp_z is not None and d.site_xpos[self._site][2] < self.min_tcp_z:
            return False
        mujoco.mj_collision(self.model, d)
        for i in range(d.ncon):
            c = d.contact[i]
            if self._counts(c):
                return False
        return True

    def colliding_pairs(self, q: np.ndarray) -> list[tuple[str, str, float]]:
        """Names and depths of the robot contacts at ``q`` (for error messages)."""
        self.is_valid(q)
        out = []
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            if self._counts(c):
                out.append((_geom_name(self.model, c.geom1), _geom_name(self.model, c.geom2),
                            float(c.dist)))
        return out

    def segment_valid(self, q0: np.ndarray, q1: np.ndarray, step: float = 0.02) -> bool:
        """Whether the straight joint-space segment q0 -> q1 is valid at ``step`` rad."""
        n = max(2, int(np.ceil(np.abs(np.asarray(q1) - q0).max() / step)) + 1)
        return all(self.is_valid(q) for q in np.linspace(q0, q1, n))


def _is_descendant(model: mujoco.MjModel, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return root == 0


def _geom_name(model: mujoco.MjModel, g: int) -> str:
    name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
    if name:
        return name
    body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[g]))
    return f'{body}/geom{g}'


_OMPL_SEEDED = False


@dataclass
class PlanResult:
    """A joint-space path (waypoints incl. start and goal) or why there is none."""

    success: bool
    path: np.ndarray | None
    reason: str = ''
    planning_time: float = 0.0
    checks: int = 0


class JointPlanner:
    """Plan collision-free joint paths with OMPL's RRTConnect.

    A straight joint-space segment is tried first (most moves in an open cell need
    nothing more); otherwise RRTConnect searches, and the path is shortened with
    OMPL's simplifier plus random shortcutting.

    Parameters
    ----------
    checker : CollisionChecker
    resolution : float
        Edge checking step, rad.
    timeout : float
        Planning time budget, s.
    joint_bounds : (n, 2) array or None
        Search bounds; defaults to the model's joint ranges clipped to +-2 pi.
    random_state : int or None
        Seed for OMPL's sampler (reproducible plans).
    """

    def __init__(self, checker: CollisionChecker, resolution: float = 0.02,
                 timeout: float = 2.0, joint_bounds: np.ndarray | None = None,
                 random_state: int | None = 0):
        self.checker = checker
        self.resolution = resolution
        self.timeout = timeout
        self.random_state = random_state
        if joint_bounds is None:
            joint_bounds = np.clip(checker.spec.joint_ranges(checker.model), -2 * np.pi,
                                   2 * np.pi)
        self.joint_bounds = np.asarray(joint_bounds, float)

    def plan(self, q_start: np.ndarray, q_goal: np.ndarray) -> PlanResult:
        """A valid path from ``q_start`` to ``q_goal``.

        Returns
        -------
        PlanResult
            ``reason`` starts with ``'start_in_collision'``, ``'goal_in_collision'`` or
            ``'no_path'`` on failure.
        """
        import time

        t0 = time.perf_counter()
        chk = self.checker
        n0 = chk.checks
        q_start, q_goal = np.asarray(q_start, float), np.asarray(q_goal, float)
        if not chk.is_valid(q_start):
            return PlanResult(False, None, 'start_in_collision: ' + _pairs(chk, q_start),
                              time.perf_counter() - t0, chk.checks - n0)
        if not chk.is_valid(q_goal):
            return PlanResult(False, None, 'goal_in_collision: ' + _pairs(chk, q_goal),
                              time.perf_counter() - t0, chk.checks - n0)
        if chk.segment_valid(q_start, q_goal, self.resolution):
            return PlanResult(True, np.stack([q_start, q_goal]), '',
                              time.perf_counter() - t0, chk.checks - n0)
        path = self._rrt_connect(q_start, q_goal)
        if path is None:
            return PlanResult(False, None, f'no_path: RRTConnect found none in {self.timeout} s',
                              time.perf_counter() - t0, chk.checks - n0)
        path = self._shortcut(path)
        return PlanResult(True, path, '', time.perf_counter() - t0, chk.checks - n0)

    def _rrt_connect(self, q_start: np.ndarray, q_goal: np.ndarray) -> np.ndarray | None:
        from ompl import base as ob
        from ompl import geometric as og
        from ompl import util as ou

        global _OMPL_SEEDED
        if self.random_state is not None and not _OMPL_SEEDED:
            # OMPL seeds once per process; later calls only print an error.
            ou.RNG.setSeed(int(self.random_state) + 1)
            _OMPL_SEEDED = True
        ou.setLogLevel(ou.LOG_WARN)
        n = len(q_start)
        space = ob.RealVectorStateSpace(n)
        bounds = ob.RealVectorBounds(n)
        for i, (lo, hi) in enumerate(self.joint_bounds):
            bounds.setLow(i, float(min(lo, q_start[i], q_goal[i])))
            bounds.setHigh(i, float(max(hi, q_start[i], q_goal[i])))
        space.setBounds(bounds)
        ss = og.SimpleSetup(space)
        buf = np.empty(n)

        def valid(state) -> bool:
            for i in range(n):
                buf[i] = state[i]
            return self.checker.is_valid(buf)

        ss.setStateValidityChecker(valid)
        si = ss.getSpaceInformation()
        si.setStateValidityCheckingResolution(self.resolution / space.getMaximumExtent())
        ss.setPlanner(og.RRTConnect(si))
        start, goal = space.allocState(), space.allocState()
        for i in range(n):
            start[i] = float(q_start[i])
            goal[i] = float(q_goal[i])
        ss.setStartAndGoalStates(start, goal)
        if not ss.solve(self.timeout) or not ss.haveExactSolutionPath():
            return None
        ss.simplifySolution(min(1.0, self.timeout))
        path = ss.getSolutionPath()
        return np.array([[path.getState(k)[i] for i in range(n)]
                         for k in range(path.getStateCount())])

    def _shortcut(self, path: np.ndarray, tries: int = 30) -> np.ndarray:
        """Drop waypoints whose neighbours see each other (deterministic, greedy)."""
        pts = list(path)
        i = 0
        while i < len(pts) - 2:
            j = len(pts) - 1
            while j > i + 1 and not self.checker.segment_valid(pts[i], pts[j], self.resolution):
                j -= 1
            del pts[i + 1:j]
            i += 1
        return np.array(pts)


def _pairs(chk: CollisionChecker, q: np.ndarray) -> str:
    pairs = chk.colliding_pairs(q)
    if not pairs:
        return f'tool below {chk.min_tcp_z:.3f} m' if chk.min_tcp_z is not None else 'invalid'
    return ', '.join(f'{a}<->{b} ({d * 1000:.1f} mm)' for a, b, d in pairs[:3])
