"""What a bench or a test reads of a running sim node, from outside the cell.

:class:`SimProbe` is one node of its own, spun by its own executor in a daemon thread, on a
context the caller owns. It keeps the latest ``sim/ground_truth`` (the sim's latched JSON:
``seed``, ``sim_time`` and each object's family, pose and box; never read by the cell itself)
and publishes ``sim/reset`` (``Int64``: the seed of the next tray). On request it also keeps
every ground truth heard (``history``), the sim time of ``/clock`` (``clock``), the latest
overhead camera image (``image``) and the final status of each goal of some actions, as
their ``_action/status`` topics report it (``actions``). It can set a node's parameters
(:meth:`set_parameters`: the sim's arm controller switched off and on).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Iterable

import numpy as np
from action_msgs.msg import GoalStatus, GoalStatusArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Int64, String

from .conversions import image_to_numpy
from .qos import latched_qos, sensor_qos

__all__ = ['SimProbe']

_POLL_S = 0.05


class SimProbe:
    """Ground truth of a running sim and its ``sim/reset``, read in a thread of its own.

    ``ctx``: an initialised rclpy context (the caller shuts it down after :meth:`close`).
    Keyword-only switches: ``history`` keeps every ground truth (:meth:`take_history`),
    ``clock`` follows ``/clock`` (:attr:`sim_time`), ``image`` keeps the latest
    ``camera/image_raw`` (:meth:`wait_image`, :meth:`record`), ``actions`` (action names,
    e.g. ``/arm_controller/follow_joint_trajectory``) counts their goals' final statuses
    (:meth:`goal_count`) and the goals seen executing (:meth:`started_count`).
    """

    def __init__(self, ctx: Context, *, name: str = 'sim_probe', history: bool = False,
                 clock: bool = False, image: bool = False, actions: Iterable[str] = ()):
        self.node = Node(name, context=ctx)
        self._lock = threading.Lock()
        self._truth: dict | None = None
        self._history: list[dict] | None = [] if history else None
        self._image: tuple[float, np.ndarray] | None = None
        self._recording: list | None = None
        self._final: dict[tuple[str, bytes], int] = {}
        self._actions = tuple(actions)
        self._param_clients: dict[str, AsyncParameterClient] = {}
        self._started: dict[str, set[bytes]] = {}   # goals ever seen executing
        #: sim seconds of the last ``/clock`` (0 until one is heard, or without ``clock``)
        self.sim_time = 0.0
        self.node.create_subscription(String, 'sim/ground_truth', self._on_truth,
                                      latched_qos())
        if clock:
            self.node.create_subscription(Clock, '/clock', self._on_clock, 10)
        if image:
            self.node.create_subscription(Image, 'camera/image_raw', self._on_image,
                                          sensor_qos())
        for action in self._actions:
            self.node.create_subscription(GoalStatusArray, f'{action}/_action/status',
                                          self._on_status(action), 10)
        self._reset_pub = self.node.create_publisher(Int64, 'sim/reset', 10)
        self._executor = SingleThreadedExecutor(context=ctx)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    # -- callbacks (the spin thread) ---------------------------------------------------
    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - the spin ends when the context is shut down
            pass

    def _on_truth(self, msg: String) -> None:
        t = json.loads(msg.data)
        with self._lock:
            self._truth = t
            if self._history is not None:
                self._history.append(t)

    def _on_clock(self, msg: Clock) -> None:
        self.sim_time = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _on_image(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        img = image_to_numpy(msg)
        with self._lock:
            self._image = (stamp, img)
            rec = self._recording
            if rec is not None and stamp >= rec[2]:
                rec[0].append(img[::2, ::2].copy())
                rec[2] = stamp + rec[1]

    def _on_status(self, action: str):
        def cb(msg: GoalStatusArray) -> None:
            with self._lock:
                for st in msg.status_list:
                    if st.status == GoalStatus.STATUS_EXECUTING:
                        self._started.setdefault(action, set()).add(
                            bytes(st.goal_info.goal_id.uuid))
                for st in msg.status_list:
                    if st.status >= GoalStatus.STATUS_SUCCEEDED:
                        self._final[action, bytes(st.goal_info.goal_id.uuid)] = st.status
        return cb

    # -- ground truth ------------------------------------------------------------------
    def latest(self) -> dict | None:
        """The last ground truth heard (``None`` before the first, or since :meth:`reset`)."""
        with self._lock:
            return self._truth

    def truth_after(self, seed: int | None, after: float) -> dict | None:
        """The latest ground truth if it is of ``seed`` (``None``: any) and stamped later
        than ``after`` sim seconds, else ``None``."""
        t = self.latest()
        if t is not None and (seed is None or t['seed'] == seed) and t['sim_time'] > after:
            return t
        return None

    def wait_truth(self, seed: int | None, after: float = -1.0,
                   timeout: float = 60.0) -> dict:
        """The first ground truth of ``seed`` (``None``: any) later than ``after`` sim
        seconds; :class:`TimeoutError` if none comes within ``timeout`` wall seconds."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.truth_after(seed, after)
            if t is not None:
                return t
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        last = self.latest()
        heard = (f'last heard: seed {last["seed"]} at sim time {last["sim_time"]:.1f}'
                 if last is not None else 'none heard')
        what = 'any seed' if seed is None else f'seed {seed}'
        raise TimeoutError(f'no sim/ground_truth of {what} after sim time {after:.1f} '
                           f'within {timeout:.0f} s ({heard})')

    def take_history(self) -> list[dict]:
        """Every ground truth heard since the last call (needs ``history=True``)."""
        if self._history is None:
            raise RuntimeError('SimProbe was made without history=True')
        with self._lock:
            out, self._history = self._history, []
        return out

    def reset(self, seed: int) -> None:
        """Ask the sim for the tray of ``seed`` and return at once. The last tray's ground
        truth and image are forgotten (the sim's clock runs on, so this tray's come stamped
        later); the history is kept."""
        with self._lock:
            self._truth, self._image = None, None
        self._reset_pub.publish(Int64(data=int(seed)))

    def sim_listening(self) -> bool:
        """Whether a sim subscribes to ``sim/reset`` (a reset published before is lost)."""
        return self._reset_pub.get_subscription_count() > 0

    # -- camera ------------------------------------------------------------------------
    def wait_image(self, after: float, timeout: float, before: float = np.inf) -> np.ndarray:
        """The first ``camera/image_raw`` stamped in (``after``, ``before``) sim seconds
        (needs ``image=True``); :class:`TimeoutError` after ``timeout`` wall seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                img = self._image
            if img is not None and after < img[0] < before:
                return img[1]
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        raise TimeoutError(f'no camera image after sim time {after:.1f} within {timeout:.0f} s')

    def record(self, frames: list | None, period: float = 1.0) -> None:
        """Append a half-size camera image to ``frames`` every ``period`` sim seconds
        (``None`` stops; needs ``image=True``)."""
        with self._lock:
            self._recording = None if frames is None else [frames, period, 0.0]

    # -- controllers -------------------------------------------------------------------
    def goal_count(self, action: str, status: int = GoalStatus.STATUS_SUCCEEDED) -> int:
        """How many goals of ``action`` (one of ``actions``) ended with ``status``."""
        if action not in self._actions:
            raise ValueError(f'{action!r} is not watched (actions: {self._actions})')
        with self._lock:
            return sum(1 for (a, _), s in self._final.items() if a == action and s == status)

    def started_count(self, action: str) -> int:
        """How many goals of ``action`` (one of ``actions``) were seen executing: it grows
        the moment the next one starts."""
        if action not in self._actions:
            raise ValueError(f'{action!r} is not watched (actions: {self._actions})')
        with self._lock:
            return len(self._started.get(action, ()))

    def set_parameters(self, node: str, timeout: float = 30.0, **values) -> None:
        """Set parameters of a running node over its parameter service, as ``ros2 param set``
        does (e.g. the sim's ``arm_controller_active``); RuntimeError when refused or not
        answered within ``timeout`` s."""
        # one client per node: rclpy's parameter client cannot be destroyed
        if node not in self._param_clients:
            self._param_clients[node] = AsyncParameterClient(self.node, node)
        client = self._param_clients[node]
        if not client.wait_for_services(timeout_sec=timeout):
            raise RuntimeError(f'no parameter service of {node!r} within {timeout:.0f} s')
        params = [Parameter(k, value=v) for k, v in values.items()]
        # made on the spin thread: a response handled before the future is stored is lost
        call = self._executor.create_task(lambda: client.set_parameters(params))
        deadline = time.monotonic() + timeout
        while not (call.done() and call.result().done()):
            if time.monotonic() > deadline:
                raise RuntimeError(f'{node!r} did not answer set_parameters within '
                                   f'{timeout:.0f} s')
            time.sleep(_POLL_S)
        refused = [(p.name, r.reason) for p, r in zip(params, call.result().result().results)
                   if not r.successful]
        if refused:
            raise RuntimeError(f'{node!r} refused {refused}')

    def close(self) -> None:
        """Stop the executor, destroy the node and join the spin thread (a thread still
        spinning at interpreter exit aborts it)."""
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._thread.join(timeout=5.0)
