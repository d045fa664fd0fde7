"""Pick-and-place on any arm: plan in-process, execute through an :class:`ArmBackend`.

One pick is: perceive the grasp (mask + depth) -> IK for pre-grasp and grasp -> plan a
collision-free transit (OMPL; every motion timed by TOPP-RA) -> descend -> close -> verify by
the finger gap -> lift -> verify again -> carry above a free lane of the box -> lower until
the object is just above what is already there -> open -> retreat -> verify. 'placed' is
claimed only when seen: the object is between the fingers down in the box, the fingers then
open as commanded (it left the hand) and, with a camera, the object no longer lies where it was
seen (else ``not_placed``, and the pick is retried). When a motion fails while the hand holds
something, the hand is emptied where the arm stopped and the reason says where; a hand that
will not empty fails the next pick (``hand_not_empty``) instead of carrying the old object
as the new one. Failures are retried after re-perceiving the
object (when a camera snapshot is available) and otherwise reported in
:class:`~sorting_cell.manipulation.base.PickOutcome` with a ``'word: detail'`` reason:

``invalid_request``, ``no_perception``, ``ungraspable`` (wider than the gripper opens),
``too_large`` (longer than the box's diagonal), ``box_full``, ``not_placed``,
``hand_not_empty``, ``unreachable`` (no IK
solution, or the grasp pose collides), ``planning_failed``, ``grasp_failed`` (nothing
between the fingers after all attempts), ``knocked_over`` / ``lost`` (the object moved
away or vanished), ``dropped`` (slipped out on the way; where it fell is re-perceived
when possible), ``stopped``, and from backends the
:class:`~sorting_cell.manipulation.failures.ExecutionFailure` words (``no_robot``,
``rejected``, ``aborted``, ``timed_out``, ``server_gone``).

Placement: each box has ``lanes`` side by side. The object goes where all of it -- its
outline as seen around the grasp point, turned with the hand -- lies inside the walls,
its middle on the lowest lane's centre when it fits there, released with the hand's body
just above the walls (only the fingers enter) or, when the pile is higher, 12 mm above
the pile -- a short fall that does not bounce out. Objects longer than the box go in
diagonally. When a spot cannot be reached or lowering into it would collide, the other
lanes and hand orientations are tried (see :mod:`.placement`). A box is full when no
lane has room below the wall top for the object's perceived height.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import cv2
import mujoco
import numpy as np

from .base import Manipulator, PickOutcome, PickRequest
from .grasp import GraspError, GraspPose, plan_grasp, relocate_all, split_mask
from .ik import IKSolver, top_down_rotation
from .placement import placement_spots
from .planning import CollisionChecker, JointPlanner
from .robot import ArmSpec, planning_model
from .trajectory import Trajectory, time_parametrize

__all__ = ['ArmBackend', 'PickPlaceManipulator', 'PickConfig', 'Snapshot', 'MotionError']


class MotionError(RuntimeError):
    """A motion could not be planned or executed; ``reason`` is ``'word: detail'``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class Snapshot:
    """One depth frame with its camera model (a fresh look at the table)."""

    depth: np.ndarray
    camera_info: dict


class ArmBackend(ABC):
    """Where trajectories run: the in-process simulation, the sim node over ROS, a robot."""

    @abstractmethod
    def joint_positions(self) -> np.ndarray:
        """Measured arm joints."""

    @abstractmethod
    def execute(self, trajectory: Trajectory) -> np.ndarray:
        """Run ``trajectory`` to its end (blocking); return the measured joints."""

    @abstractmethod
    def set_gripper(self, width: float, settle: float) -> float:
        """Command an opening width (m), wait ``settle`` s, return the measured width."""

    @abstractmethod
    def gripper_width(self) -> float:
        """Measured opening width, m."""

    @abstractmethod
    def now(self) -> float:
        """Clock of the arm (simulated time in simulation), s."""

    def snapshot(self) -> Snapshot | None:
        """A fresh depth frame, if this backend has a camera (for re-perception)."""
        return None

    def stop(self) -> None:
        """Stop motion as soon as possible."""


@dataclass
class PickConfig:
    """Tunables of the pick sequence (defaults fit the Panda hand on a UR5e)."""

    max_attempts: int = 3
    #: Gap between the fingertips and the table at the grasp, m (thin objects need it
    #: small: the pads end a few mm above the fingertips).
    fingertip_clearance: float = 0.001
    #: Finger gap below which the hand holds nothing, m.
    empty_width: float = 0.003
    approach_height: float = 0.05
    #: Lowest tool height while crossing the cell (fingertips above anything in the
    #: tray), m.
    transit_min_z: float = 0.065
    #: Clearance over box walls for the bottom of a carried object, m.
    wall_clearance: float = 0.03
    #: Gap between a carried object's bottom and the box contents at release, m.
    release_gap: float = 0.012
    #: Lanes per box (objects are laid side by side along the box's x axis).
    lanes: int = 3
    speed_scale: float = 1.0
    #: Slower, straight moves near the object and in the box.
    fine_speed_scale: float = 0.6
    close_settle: float = 0.35
    open_settle: float = 0.25
    #: After a release, look at where the object lay: when at least this fraction of
    #: what the camera can still see of it is unchanged, it was not picked (the hand held
    #: something else) and the place is not counted. 0 turns the check off.
    still_there_fraction: float = 0.5
    #: Finger gap short of the commanded opening that means something is still between
    #: the fingers, m.
    stuck_gap: float = 0.006
    grip_force_width: float = 0.0
    planning_timeout: float = 2.0
    random_state: int | None = 0


@dataclass
class _Lane:
    fill: float = 0.0              # stacked height in this lane, m
    count: int = 0


@dataclass
class PickLog:
    """What one pick did (times in the arm's clock)."""

    events: list = field(default_factory=list)

    def add(self, t: float, what: str) -> None:
        self.events.append((round(t, 3), what))


class PickPlaceManipulator(Manipulator):
    """Plan with a private copy of the cell model, execute on ``backend``.

    Parameters
    ----------
    model : mujoco.MjModel
        The cell (arm, hand, table, boxes); objects in it are ignored for planning.
    spec : ArmSpec
        Joint names, tool site, limits, boxes.
    backend : ArmBackend
    config : PickConfig or None
    perceive : callable or None
        Returns a fresh :class:`Snapshot`; defaults to ``backend.snapshot``.
    """

    def __init__(self, model: mujoco.MjModel, spec: ArmSpec, backend: ArmBackend,
                 config: PickConfig | None = None,
                 perceive: Callable[[], Snapshot | None] | None = None):
        self.spec = spec
        self.backend = backend
        self.config = config or PickConfig()
        self.perceive = perceive or backend.snapshot
        self.model = planning_model(model)
        self.ik = IKSolver(self.model, spec)
        self.checker = CollisionChecker(self.model, spec)
        self.planner = JointPlanner(self.checker, timeout=self.config.planning_timeout,
                                    random_state=self.config.random_state)
        self._fingers = [self.model.jnt_qposadr[mujoco.mj_name2id(
            self.model, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in spec.finger_joints]
        self._lanes = [[_Lane() for _ in range(self.config.lanes)] for _ in spec.boxes]
        self.tool = _tool_geometry(self.model, spec, self.ik)
        self._stop = threading.Event()
        self._last_goal: np.ndarray | None = None
        # Something may be between the fingers (a motion failed while holding): the hand
        # is emptied before the next pick, else the next close would hold it again.
        self._holding = False
        self._request: PickRequest | None = None
        # Joints straight above where the hand works now (pre-grasp, carry pose over the
        # box): the way back up when an object is wedged after a failed motion.
        self._retreat_q: np.ndarray | None = None
        self.last_log = PickLog()

    # ----------------------------------------------------------------- public API
    def pick_and_place(self, request: PickRequest) -> PickOutcome:
        """Pick ``request``'s object into ``request.box_index``; failures are reported."""
        self._stop.clear()
        self.last_log = log = PickLog()
        t0 = self.backend.now()
        nb = len(self.spec.boxes)
        if not isinstance(request.box_index, (int, np.integer)) or not 0 <= request.box_index < nb:
            return PickOutcome(False, f'invalid_request: box {request.box_index!r} does not '
                               f'exist (boxes 0..{nb - 1})', attempts=0)
        try:
            grasp = self._grasp_from_request(request)
        except GraspError as exc:
            return PickOutcome(False, exc.reason, attempts=0)
        self._request = request
        if self._holding:
            try:
                self._empty_hand(log)
            except MotionError as exc:
                return PickOutcome(False, exc.reason, attempts=0)
        hx, hy = self.spec.boxes[request.box_index].inner_half_size
        if grasp.object_length > 2 * np.hypot(hx, hy) - 0.03:
            return PickOutcome(False, f'too_large: object is {grasp.object_length * 100:.1f} cm '
                               f'long, box {request.box_index} fits '
                               f'{(2 * np.hypot(hx, hy) - 0.03) * 100:.1f} cm diagonally',
                               attempts=0)
        lane = self._free_lane(request.box_index, grasp.object_height)
        if lane is None:
            box = self._lanes[request.box_index]
            room = self.spec.boxes[request.box_index].wall_top_z - \
                self.spec.boxes[request.box_index].floor_z
            return PickOutcome(False, f'box_full: box {request.box_index} is filled to '
                               f'{min(ln.fill for ln in box) * 100:.1f} cm of '
                               f'{room * 100:.1f} cm in its emptiest lane '
                               f'({sum(ln.count for ln in box)} placed by this arm), no room '
                               f'for {grasp.object_height * 100:.1f} cm more', attempts=0)
        reason = ''
        attempt = 0
        note = getattr(self, '_split_note', '')
        failed: list[tuple[np.ndarray, float]] = []   # grasps that held nothing, or slipped
        first = grasp.position[:2].copy(), float(grasp.yaw)
        for attempt in range(1, self.config.max_attempts + 1):
            if self._stop.is_set():
                return PickOutcome(False, 'stopped: goal cancelled', attempts=attempt - 1)
            log.add(self.backend.now(), f'attempt {attempt}: grasp at '
                    f'{np.round(grasp.position, 3).tolist()} yaw {grasp.yaw:.2f} '
                    f'width {grasp.width:.3f}')
            try:
                held = self._pick(grasp, log)
            except MotionError as exc:
                return PickOutcome(False, exc.reason + self._let_go(log), attempts=attempt)
            if held:
                try:
                    where = self._place(request.box_index, lane, grasp, log)
                except MotionError as exc:
                    return PickOutcome(False, exc.reason + self._let_go(log), attempts=attempt)
                if where == 'still_there':
                    reason = ('not_placed: the object still lies where it was after the '
                              'release (the hand held something else)')
                elif where is not None:
                    where, used = where
                    log.add(self.backend.now(), f'placed, cycle {self.backend.now() - t0:.2f} s')
                    if attempt > 1:
                        turn = abs((grasp.yaw - first[1] + np.pi / 2) % np.pi - np.pi / 2)
                        note += (f' (attempt {attempt}: grasped '
                                 f'{np.linalg.norm(grasp.position[:2] - first[0]) * 100:.1f} '
                                 f'cm from the first grasp, turned {np.degrees(turn):.0f} deg)')
                    return PickOutcome(True, f'placed: box {request.box_index} lane {used}'
                                       + note, attempts=attempt,
                                       final_position=tuple(where))
                else:
                    reason = 'dropped: object slipped out of the gripper while carried'
            else:
                reason = 'grasp_failed: gripper closed on nothing'
            log.add(self.backend.now(), reason)
            failed.append((grasp.position[:2].copy(), float(grasp.yaw)))
            # Look again: the object may have been pushed, turned or knocked over; where it
            # did not move, another grasp (point or direction) is taken, not the failed one.
            try:
                grasp, moved = self._reperceive(grasp, failed)
            except GraspError as exc:
                return PickOutcome(False, f'{reason}; then {exc.reason}', attempts=attempt)
            except MotionError as exc:
                return PickOutcome(False, f'{reason}; then {exc.reason}', attempts=attempt)
            if moved:
                log.add(self.backend.now(), f'object moved by {moved * 100:.1f} cm')
            # Each retry goes a little deeper (thin objects slip out of a high grasp).
            floor = grasp.table_z + self.tool.finger_below + 0.0003
            grasp.position[2] = max(floor, grasp.position[2] - 0.0007 * attempt)
        return PickOutcome(False, f'{reason} ({attempt} attempts)', attempts=attempt)

    def home(self) -> None:
        """Go to the home pose (out of the camera's view).

        A new command, like :meth:`pick_and_place`: a :meth:`stop` of an earlier goal does
        not carry over to it."""
        self._stop.clear()
        self._move_to(self.spec.home, min_z=None)

    def stop(self) -> None:
        """Abort between motions and halt the backend."""
        self._stop.set()
        self.backend.stop()

    def reset_boxes(self) -> None:
        """Forget what was placed (the boxes were emptied)."""
        self._lanes = [[_Lane() for _ in range(self.config.lanes)] for _ in self.spec.boxes]

    def set_box_fill(self, box_index: int, heights, counts=None) -> None:
        """Declare what a box already holds: the pile height (m) in each of its lanes (and
        how many objects each holds).

        For boxes that were not empty at start-up (or after a restart of the sorter).
        """
        heights = [float(h) for h in heights]
        counts = [0] * len(heights) if counts is None else [int(c) for c in counts]
        if len(heights) != self.config.lanes or any(h < 0 for h in heights) \
                or len(counts) != len(heights) or any(c < 0 for c in counts):
            raise ValueError(f'need {self.config.lanes} non-negative lane heights and counts, '
                             f'got {heights}, {counts}')
        for lane, h, c in zip(self._lanes[box_index], heights, counts):
            lane.fill, lane.count = h, c

    def box_fill(self) -> dict[int, list[tuple[float, int]]]:
        """What each box holds: ``{box: [(pile height m, objects) per lane]}``."""
        return {b: [(ln.fill, ln.count) for ln in lanes] for b, lanes in enumerate(self._lanes)}

    @property
    def num_boxes(self) -> int:
        """Boxes this arm can place into (``0..num_boxes-1``)."""
        return len(self.spec.boxes)

    def box_counts(self) -> list[int]:
        """Objects placed in each box since the last reset."""
        return [sum(ln.count for ln in box) for box in self._lanes]

    # ------------------------------------------------------------------ perception
    def _grasp_from_request(self, request: PickRequest) -> GraspPose:
        cfg = self.config
        self._split_note = ''
        self._mask_used = None
        if request.mask is not None and request.depth is not None:
            mask = request.mask
            if request.camera_info is not None and np.asarray(mask).any():
                try:
                    parts = split_mask(mask, request.depth, request.camera_info)
                except GraspError:
                    parts = [mask]
                if len(parts) > 1:
                    # Merged region: take the biggest thing and say what stays behind.
                    mask = parts[0]
                    self._split_note = (f' (the region held {len(parts)} objects; picked the '
                                        f'largest, {len(parts) - 1} left on the table)')
            self._mask_used = np.asarray(mask, bool)
            return plan_grasp(mask, request.depth, request.camera_info,
                              max_opening=self.spec.max_opening,
                              min_tcp_height=self.tool.finger_below + cfg.fingertip_clearance,
                              approach_height=cfg.approach_height, table_z=self.spec.table_z)
        if request.position is not None:
            # Without a mask: grasp where told, fully open, with the hand's default yaw.
            x, y, z = (float(v) for v in request.position)
            top = max(z, self.spec.table_z + 0.01)
            gz = max(self.spec.table_z + self.tool.finger_below + cfg.fingertip_clearance,
                     top - 0.01)
            return GraspPose(np.array([x, y, gz]), 0.0, self.spec.max_opening,
                             gz + cfg.approach_height, self.spec.max_opening - 0.01, 0.0,
                             top - self.spec.table_z, self.spec.table_z, 0)
        raise GraspError('no_perception: request has neither mask + depth nor a position')

    def _reperceive(self, grasp: GraspPose, failed=()) -> tuple[GraspPose, float]:
        """Move out of view, look again near the last grasp, and grasp what is there
        (other than the ``failed`` grasps, world ``(xy, yaw)``)."""
        snap = None
        if self.perceive is not None:
            self._move_to(self.spec.home, min_z=None)
            snap = self.perceive()
        if snap is None:
            # No camera: retry the same spot a little lower and wider.
            pos = grasp.position.copy()
            pos[2] = max(grasp.table_z + self.tool.finger_below + 0.0005, pos[2] - 0.003)
            return GraspPose(pos, grasp.yaw, min(self.spec.max_opening, grasp.width + 0.01),
                             grasp.approach_z, grasp.object_width, grasp.object_length,
                             grasp.object_height, grasp.table_z, grasp.n_points,
                             grasp.axis, grasp.extent, grasp.footprint), 0.0
        where = f'({grasp.position[0]:.3f}, {grasp.position[1]:.3f})'
        blobs = relocate_all(snap.depth, snap.camera_info, grasp.position[:2], radius=0.08)
        if not blobs:
            raise GraspError(f'lost: nothing stands within 8 cm of {where} any more')
        new, other, exhausted = None, None, None
        for mask in blobs:
            try:
                cand = plan_grasp(mask, snap.depth, snap.camera_info,
                                  max_opening=self.spec.max_opening,
                                  approach_height=self.config.approach_height,
                                  min_tcp_height=(self.tool.finger_below
                                                  + self.config.fingertip_clearance),
                                  table_z=self.spec.table_z, avoid=failed)
            except GraspError as exc:
                exhausted = exhausted or (exc if exc.reason.startswith('grasp_failed') else None)
                continue
            # Only the same object will do: a neighbour must not be taken in its place.
            if _same_object(cand, grasp):
                new = cand
                break
            other = other or cand
        if new is None and exhausted is not None:
            raise exhausted
        if new is None:
            detail = ('' if other is None else
                      f'; what stands there is {other.object_length * 100:.1f} x '
                      f'{other.object_width * 100:.1f} cm, it was '
                      f'{grasp.object_length * 100:.1f} x {grasp.object_width * 100:.1f} cm')
            raise GraspError(f'lost: the object is no longer within 8 cm of {where}{detail}')
        moved = float(np.hypot(*(new.position[:2] - grasp.position[:2])))
        if new.object_height > grasp.object_height + 0.015:
            raise GraspError(f'knocked_over: object now stands {new.object_height * 100:.1f} '
                             f'cm tall (was {grasp.object_height * 100:.1f} cm)')
        return new, moved

    # ------------------------------------------------------------------ motions
    def _solve(self, position, yaw: float, seed: np.ndarray, what: str) -> np.ndarray:
        res = self.ik.solve_any(position, top_down_rotation(yaw), seed)
        if not res.success:
            raise MotionError(f'unreachable: no IK solution for the {what} at '
                              f'({position[0]:.3f}, {position[1]:.3f}, {position[2]:.3f}) '
                              f'(best miss {res.position_error * 1000:.0f} mm)')
        return res.q

    def _start(self) -> np.ndarray:
        q = self.backend.joint_positions()
        if self._last_goal is not None and np.abs(q - self._last_goal).max() < 0.03:
            return self._last_goal.copy()
        return q

    def _set_fingers(self, width: float) -> None:
        """Finger joints of the planning model at ``width`` (sign from each joint's range)."""
        qpos = self.model.qpos0.copy()
        for adr, j in zip(self._fingers, self.spec.finger_joints):
            rng = self.model.jnt_range[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT,
                                                         j)]
            qpos[adr] = np.sign(rng[np.argmax(np.abs(rng))]) * width / 2
        self.checker.set_fixed(qpos)

    def _run(self, path: np.ndarray, scale: float) -> None:
        if self._stop.is_set():
            raise MotionError('stopped: goal cancelled')
        limits = self.spec.max_velocity, self.spec.max_acceleration
        try:
            traj = time_parametrize(path, *limits, speed_scale=scale)
            # The blended corners leave the checked straight segments: check them too (with
            # the caller's bounds still set), else stop at the waypoints instead.
            if len(path) > 2 and not all(
                    self.checker.is_valid(q) for q in traj.sample(0.03)[1]):
                traj = time_parametrize(path, *limits, speed_scale=scale, blend=False)
        except ValueError as exc:
            raise MotionError(f'planning_failed: time parametrisation: {exc}') from exc
        self._execute(traj, path[-1])

    def _move_to(self, q_goal: np.ndarray, min_z: float | None,
                 what: str = 'transit') -> None:
        q0 = self._start()
        self.checker.min_tcp_z = None
        if min_z is not None:
            z0 = self.checker.tcp_position(q0)[2]
            # A start just under the bound (tracking error) must not make planning fail.
            self.checker.min_tcp_z = min(min_z, z0 - 0.005)
        try:
            res = self.planner.plan(q0, q_goal)
            if not res.success:
                raise MotionError(f'planning_failed: {what}: {res.reason}')
            self._run(res.path, self.config.speed_scale)
        finally:
            self.checker.min_tcp_z = None

    def _execute(self, traj: Trajectory, goal: np.ndarray) -> None:
        if self._stop.is_set():
            raise MotionError('stopped: goal cancelled')
        self.backend.execute(traj)
        self._last_goal = np.asarray(goal, float).copy()

    def _straight(self, q_goal: np.ndarray, what: str) -> None:
        """A short joint-space move (descend / lift); checked for collisions."""
        q0 = self._start()
        if not self.checker.segment_valid(q0, q_goal, 0.01):
            raise MotionError(f'unreachable: {what} collides: '
                              + ', '.join(f'{a}<->{b}' for a, b, _ in
                                          self.checker.colliding_pairs(q_goal)[:2]))
        self._run(np.stack([q0, q_goal]), self.config.fine_speed_scale)

    def _pick(self, grasp: GraspPose, log: PickLog) -> bool:
        """Go to the object, close, lift; True when something is held after the lift."""
        cfg = self.config
        approach_z = max(grasp.approach_z, cfg.transit_min_z + 0.005)
        above = np.array([grasp.position[0], grasp.position[1], approach_z])
        seed = self._start()
        # Parallel jaws: yaw and yaw + pi grip alike; keep the one nearer the wrist's roll.
        best = None
        for yaw in (grasp.yaw, grasp.yaw + np.pi):
            try:
                q_above = self._solve(above, yaw, seed, 'pre-grasp')
                q_grasp = self._solve(grasp.position, yaw, q_above, 'grasp')
            except MotionError as exc:
                best = best or exc
                continue
            cost = np.abs(q_above - seed).sum()
            if not isinstance(best, tuple) or cost < best[0]:
                best = (cost, yaw, q_above, q_grasp)
        if not isinstance(best, tuple):
            raise best
        _, yaw, q_above, q_grasp = best
        grasp.yaw = float(yaw)
        self._set_fingers(grasp.width)
        if not self.checker.is_valid(q_grasp):
            pairs = self.checker.colliding_pairs(q_grasp)
            raise MotionError('unreachable: grasp pose collides: '
                              + ', '.join(f'{a}<->{b}' for a, b, _ in pairs[:2]))
        self.backend.set_gripper(grasp.width, 0.0)
        self._move_to(q_above, cfg.transit_min_z, 'to pre-grasp')
        gap = self.backend.gripper_width()
        if gap < grasp.width - cfg.stuck_gap:
            # still opening, or something is between the fingers: wait for the gripper
            gap, stuck = self._open_to(grasp.width)
            if stuck:
                self._holding = True
                raise MotionError(f'hand_not_empty: before the descent the fingers stop at '
                                  f'{gap * 1000:.0f} mm of the {grasp.width * 1000:.0f} mm '
                                  'commanded: something is between them')
        self._retreat_q = q_above
        self._straight(q_grasp, 'descent to grasp')
        width = self.backend.set_gripper(cfg.grip_force_width, cfg.close_settle)
        log.add(self.backend.now(), f'closed: gap {width * 1000:.1f} mm')
        self._holding = width > cfg.empty_width
        self._set_fingers(max(width, 0.0))
        carry_z = max(approach_z, self._carry_z(grasp))
        q_lift = q_above
        if carry_z > approach_z + 1e-3:
            q_lift = self._solve(np.array([above[0], above[1], carry_z]), yaw, q_above, 'lift')
        self._run(np.stack([self._start(), q_lift]), cfg.fine_speed_scale)
        width = self.backend.gripper_width()
        log.add(self.backend.now(), f'lifted: gap {width * 1000:.1f} mm')
        self._holding = width > cfg.empty_width
        return self._holding

    def _carry_z(self, grasp: GraspPose) -> float:
        """Tool height that keeps a held object's bottom above every box wall."""
        hang = grasp.position[2] - grasp.table_z
        walls = max((b.wall_top_z for b in self.spec.boxes), default=0.0)
        return walls + hang + self.config.wall_clearance

    def _free_lane(self, box: int, height: float) -> int | None:
        room = self.spec.boxes[box].wall_top_z - self.spec.boxes[box].floor_z
        lanes = self._lanes[box]
        order = sorted(range(len(lanes)), key=lambda k: (lanes[k].fill, k))
        for k in order:
            # Keep the top of the pile a little below the wall top.
            if lanes[k].fill + height <= room - 0.01:
                return k
        return None

    def _choose_spot(self, box_index: int, lane: int, grasp: GraspPose):
        """Where to release: ``(spot, q_over, q_release, refused reasons)``.

        The spot is chosen from where the object is in the hand (its footprint around the
        grasp point, see :mod:`.placement`): all of it must land inside the walls. When the
        requested lane cannot be reached, has no room, or lowering into it would collide,
        the other lanes and hand orientations are tried before giving up.
        """
        cfg = self.config
        box = self.spec.boxes[box_index]
        hang = grasp.position[2] - grasp.table_z
        carry_z = self._carry_z(grasp)
        hx, hy = box.inner_half_size
        room = box.wall_top_z - box.floor_z
        opening = min(self.spec.max_opening, grasp.width + 0.01)
        footprint = grasp.footprint
        if not len(footprint):
            # No outline (a position-only request): a segment along the principal axis.
            footprint = np.outer(grasp.extent, grasp.axis)
        diagonal = grasp.object_length > 2 * min(hx, hy) - 0.02
        spots = placement_spots(footprint, grasp.yaw, box, cfg.lanes, lane,
                                finger_reach=opening / 2 + self.tool.finger_thickness,
                                finger_depth=self.tool.finger_depth, diagonal=diagonal)
        if not spots:
            raise MotionError(f'too_large: the object ({grasp.object_length * 100:.1f} x '
                              f'{grasp.object_width * 100:.1f} cm, as held) fits no way '
                              f'inside box {box_index}')
        seed = self._start()
        reasons = []
        # Preference: the hand along the lanes (either way round), then across; nearer
        # the requested lane first; of equals, the orientation nearer the current joints.
        groups: dict = {}   # insertion order = preference of each group's first spot
        for spot in spots:
            turn = abs(((spot.yaw - box.yaw) + np.pi / 2) % np.pi - np.pi / 2)
            groups.setdefault((round(turn, 3), abs(spot.lane - lane)), []).append(spot)
        for group in groups.values():
            solved = []
            for spot in group:
                state = self._lanes[box_index][spot.lane]
                if spot.lane != lane and state.fill + grasp.object_height > room - 0.01:
                    reasons.append(f'lane {spot.lane} is full')
                    continue
                release_z = max(box.floor_z + state.fill + hang + cfg.release_gap,
                                box.wall_top_z + 0.008 - self.tool.hand_above)
                try:
                    q_over = self._solve(np.array([*spot.xy, carry_z]), spot.yaw, seed,
                                         f'carry over box {box_index}')
                    q_release = self._solve(np.array([*spot.xy, release_z]), spot.yaw,
                                            q_over, f'release in box {box_index}')
                except MotionError as exc:
                    reasons.append(exc.reason)
                    continue
                solved.append((np.abs(q_over - seed).sum(), spot, q_over, q_release))
            for _, spot, q_over, q_release in sorted(solved, key=lambda c: c[0]):
                if not self.checker.is_valid(q_over):
                    reasons.append(f'carry pose over lane {spot.lane} collides')
                elif not self.checker.segment_valid(q_over, q_release, 0.01):
                    reasons.append(f'lowering into box {box_index} lane {spot.lane} '
                                   'collides: ' + ', '.join(
                                       f'{a}<->{b}' for a, b, _ in
                                       self.checker.colliding_pairs(q_release)[:2]))
                else:
                    return spot, q_over, q_release, reasons
        raise MotionError(f'unreachable: no way into box {box_index} ({len(spots)} spots '
                          f'tried): {"; ".join(dict.fromkeys(reasons))}')

    def _place(self, box_index: int, lane: int, grasp: GraspPose, log: PickLog):
        """Carry the held object into the box; ``(where, lane)``, or None if it was dropped."""
        cfg = self.config
        box = self.spec.boxes[box_index]
        carry_z = self._carry_z(grasp)
        opening = min(self.spec.max_opening, grasp.width + 0.01)
        spot, q_over, q_release, refused = self._choose_spot(box_index, lane, grasp)
        if refused:
            log.add(self.backend.now(), f'placing in lane {spot.lane} yaw {spot.yaw:.2f} '
                    f'after {len(refused)} refused spot(s): {"; ".join(refused[-2:])}')
        self._move_to(q_over, carry_z - 0.01, f'carry to box {box_index}')
        width = self.backend.gripper_width()
        if width <= cfg.empty_width:
            self._holding = False
            log.add(self.backend.now(), f'over box: gap {width * 1000:.1f} mm, object lost')
            return None
        self._retreat_q = q_over
        self._straight(q_release, f'lowering into box {box_index}')
        # A place counts only when it is seen to happen: the object is between the fingers
        # down in the box, the fingers open fully (it left the hand), and the camera no
        # longer sees it where it lay.
        width = self.backend.gripper_width()
        if width <= cfg.empty_width:
            self._holding = False
            log.add(self.backend.now(), f'in box: gap {width * 1000:.1f} mm, object lost')
            return None
        gap, stuck = self._open_to(opening)
        if stuck:
            opening = self.spec.max_opening
            gap, stuck = self._open_to(opening)
            if stuck:
                raise MotionError(f'hand_not_empty: opened in box {box_index}, the fingers '
                                  f'stop at {gap * 1000:.0f} mm: the object is stuck between '
                                  'them')
        self._holding = False
        self._set_fingers(opening)
        self._run(np.stack([self._start(), q_over]), cfg.fine_speed_scale)
        if self._still_there(log):
            return 'still_there'
        state = self._lanes[box_index][spot.lane]
        state.fill += grasp.object_height
        state.count += 1
        mid = box.to_world((spot.bounds[:2] + spot.bounds[2:]) / 2)
        return np.array([mid[0], mid[1], box.floor_z + state.fill / 2]), spot.lane


    def _let_go(self, log: PickLog) -> str:
        """After a failed motion: empty the hand where the arm stopped, if it may hold
        something (the next pick must not close on it again). What was done, for the
        outcome's reason."""
        if not self._holding or self._stop.is_set():
            return ''    # a cancelled sort is a controlled stop: nothing is let go
        try:
            tcp = self.checker.tcp_position(self.backend.joint_positions())
            try:
                self._empty_hand(log)
            except MotionError:
                if self._retreat_q is None:
                    raise
                # Wedged (against a wall and the palm): open, the hand goes back up the
                # way it came, and the object falls free.
                self._run(np.stack([self._start(), self._retreat_q]),
                          self.config.fine_speed_scale)
                self._empty_hand(log)
        except MotionError as exc:
            return f'; the hand may still hold the object ({exc.reason})'
        over = [i for i, b in enumerate(self.spec.boxes) if b.contains(tcp)]
        where = (f'over box {over[0]}' if over else
                 f'at ({tcp[0]:.3f}, {tcp[1]:.3f}, {tcp[2]:.3f}), outside every box')
        return f'; the object was let go where the arm stopped, {where} (not verified)'

    def _empty_hand(self, log: PickLog) -> None:
        """Open fully where the arm is; MotionError when something stays between the
        fingers."""
        gap, stuck = self._open_to(self.spec.max_opening)
        log.add(self.backend.now(), f'emptying the hand: gap {gap * 1000:.1f} mm')
        if stuck:
            self._holding = True
            raise MotionError(f'hand_not_empty: opened fully, the fingers stop at '
                              f'{gap * 1000:.0f} mm: something is stuck between them')
        self._holding = False
        self._set_fingers(self.spec.max_opening)

    def _open_to(self, width: float, tries: int = 6) -> tuple[float, bool]:
        """Open to ``width``; ``(gap, stuck)``. Stuck means the fingers stopped short of
        it (they stop moving while more than ``stuck_gap`` away): something is between
        them. Fingers still on their way (the last millimetres to the stop are slow) are
        waited for."""
        cfg = self.config
        gap = self.backend.set_gripper(width, cfg.open_settle)
        for _ in range(tries):
            if gap >= width - cfg.stuck_gap:
                return gap, False
            before = gap
            gap = self.backend.set_gripper(width, cfg.open_settle)
            if gap - before < 0.001:
                break
        return gap, gap < width - cfg.stuck_gap

    def _still_there(self, log: PickLog) -> bool:
        """Whether the camera still sees the object where the request saw it.

        Compares the depth now with the request's over the object's mask: pixels within
        2.5 mm of their old depth are the object still lying there, pixels farther away
        show the table where it was, nearer ones (the arm passing over) say nothing.
        False when there is no camera or too little of the spot can be seen.
        """
        req, mask = self._request, getattr(self, '_mask_used', None)
        frac_needed = self.config.still_there_fraction
        if (frac_needed <= 0 or req is None or mask is None or req.depth is None
                or self.perceive is None):
            return False
        snap = self.perceive()
        if snap is None or snap.depth.shape != req.depth.shape:
            return False
        core = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if core.sum() < 10:
            core = mask
        d0 = np.asarray(req.depth, float)[core]
        d1 = np.asarray(snap.depth, float)[core]
        ok = np.isfinite(d0) & np.isfinite(d1) & (d0 > 0) & (d1 > 0)
        diff = d1[ok] - d0[ok]
        same, gone = int((np.abs(diff) < 0.0025).sum()), int((diff >= 0.0025).sum())
        if same + gone < 0.3 * core.sum():
            log.add(self.backend.now(), 'after the release: where the object lay is hidden')
            return False
        frac = same / (same + gone)
        log.add(self.backend.now(), f'after the release: {frac * 100:.0f} % of the object\'s '
                'outline unchanged where it lay')
        return frac >= frac_needed


def _same_object(a: GraspPose, b: GraspPose) -> bool:
    """Whether two grasps (perhaps at different places on it) are on the same object:
    about as long, and about as big seen from above (or as wide, without outlines)."""
    if abs(a.object_length - b.object_length) > 0.3 * b.object_length + 0.01:
        return False
    if len(a.footprint) >= 3 and len(b.footprint) >= 3:
        area = [cv2.contourArea(f.astype(np.float32)) for f in (a.footprint, b.footprint)]
        return abs(area[0] - area[1]) <= 0.35 * area[1] + 1e-4
    return abs(a.object_width - b.object_width) <= 0.4 * b.object_width + 0.005


@dataclass
class ToolGeometry:
    """Where the hand's collision geometry lies relative to the tool site (top-down)."""

    finger_below: float      # how far the fingertips reach below the tool site, m
    hand_above: float        # gap from the tool site up to the hand's body, m
    finger_thickness: float  # finger extent outward of its inner face, m
    finger_depth: float = 0.012  # half the fingers' size across the closing axis, m


def _tool_geometry(model: mujoco.MjModel, spec: ArmSpec, ik: IKSolver) -> ToolGeometry:
    """Measure the hand's shape at a top-down pose from its collision geoms."""
    data = mujoco.MjData(model)
    res = ik.solve_any((0.5, 0.0, 0.3), top_down_rotation(0.0), spec.home)
    data.qpos[spec.qpos_indices(model)] = res.q
    mujoco.mj_kinematics(model, data)
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, spec.tcp_site)
    tcp, rot = data.site_xpos[site], data.site_xmat[site].reshape(3, 3)
    hand_body = int(model.site_bodyid[site])
    while model.body_parentid[hand_body] > 0 and not any(
            model.jnt_bodyid[j] == hand_body for j in range(model.njnt)):
        hand_body = int(model.body_parentid[hand_body])
    finger_bodies = {int(model.jnt_bodyid[mujoco.mj_name2id(
        model, mujoco.mjtObj.mjOBJ_JOINT, j)]) for j in spec.finger_joints}
    below, above, thick, depth = 0.0, np.inf, 0.0, 0.0
    for g in range(model.ngeom):
        if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
            continue
        b = int(model.geom_bodyid[g])
        chain = []
        while b > 0:
            chain.append(b)
            b = int(model.body_parentid[b])
        if not any(c in finger_bodies for c in chain) and hand_body not in chain[:3]:
            continue
        local = (_geom_points(model, data, g) - tcp) @ rot  # tool frame, z = approach
        if any(c in finger_bodies for c in chain):
            below = max(below, float(local[:, 2].max()))
            width = abs(float(local[:, 0].max() - local[:, 0].min()))
            thick = max(thick, width)
            depth = max(depth, float(np.abs(local[:, 1]).max()))
        else:
            above = min(above, float(-local[:, 2].max()))
    return ToolGeometry(below, above if np.isfinite(above) else 0.05, thick, depth)


def _geom_points(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> np.ndarray:
    rot, pos = data.geom_xmat[g].reshape(3, 3), data.geom_xpos[g]
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
        mid = model.geom_dataid[g]
        a, n = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
        pts = model.mesh_vert[a:a + n]
    else:
        pts = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)],
                       float) * model.geom_size[g]
    return pts @ rot.T + pos
