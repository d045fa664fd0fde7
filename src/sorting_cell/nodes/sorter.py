"""sorter node: the SortObjects action server.

snapshot (a fresh ``camera/image_raw`` frame, with depth/intrinsics when published and the
camera pose from tf)
-> detect (region proposer) -> cluster (CNN features + ImageClusterer) -> record the plan in
the durable sort log -> pick each object into its box through a
:class:`~sorting_cell.manipulation.Manipulator` -> result. One goal at a time; feedback after
every phase and object; cancel stops after the pick in progress. A sorter killed mid-goal
and restarted continues the logged sort (see ``SortObjects.action`` for the semantics).

The manipulator is chosen by the ``manipulator`` parameter: ``'none'`` (perception only,
nothing moves, results say so), ``'ros2_control'`` (an arm driven by ros2_control's
FollowJointTrajectory and GripperCommand actions: the sim node or a real robot's driver,
``sorting_cell.nodes.ros2_control_arm:make_manipulator``; ``'sim'`` is the same) or
``'package.module:factory'`` with ``factory(node) -> Manipulator``. A message on
``boxes/emptied`` (std_msgs/Empty; the sim sends one with every new tray) tells the arm
that the boxes are empty again.

Box fill is durable: what each box holds (per lane: pile height and object count) is written
to the sort log with every pick's outcome (one transaction), restored into the arm by a
restarted sorter, reset by ``boxes/emptied``, and published latched on ``boxes/fill``
(std_msgs/Float32MultiArray, shape boxes x lanes x 2: [objects, pile height m]; the layout's
dims are labelled ``box``, ``lane``, ``objects_height_m``).

Liveness: the sorter publishes its own heartbeat (``sorter/heartbeat``, see
:mod:`.liveness`) and follows those of the nodes it depends on (``watch_nodes``). A goal
sent while one of them is dead or not running is refused before anything moves; one that
dies or hangs mid-goal ends the goal within :data:`~.liveness.DETECTION_S` seconds, aborted
with ``'node_gone: the <name> node is gone...'`` (:class:`~sorting_cell.liveness.NodeFault`);
the arm is stopped, the object in hand stays pending, and the sort stays resumable.

Run: ``python -m sorting_cell.nodes.sorter --ros-args --params-file config/sorter.yaml``
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Empty, Float32MultiArray, MultiArrayDimension

from sorting_cell.clustering import METHODS
from sorting_cell.features import make_extractor
from sorting_cell.images import ImageLoadError, load_image
from sorting_cell.liveness import NodeFault
from sorting_cell.manipulation import Manipulator, PickOutcome, PickRequest
from sorting_cell.manipulation.box_view import FillCheck, check_fill, look_into_boxes
from sorting_cell.perception.boxes import Match, continue_boxes
from sorting_cell.manipulation.failures import ExecutionFailure
from sorting_cell.pipeline import DEFAULT_FEATURES, SortingPipeline
from sorting_cell.regions import PROPOSERS
from sorting_cell.sortlog import (LoggedObject, SortLog, SortLogError, SortRecord,
                                  default_directory)
from sorting_cell_interfaces.action import SortObjects
from sorting_cell_interfaces.msg import ObjectOutcome
from sorting_cell_interfaces.srv import ClusterDetections, DetectObjects

from . import _rosio
from .conversions import MessageError, detections_to_regions, rgb_from_image
from .diagnostics import ERROR, OK, WARN, Diagnostics
from .params import check_choices, declare
from .camera_geometry import Perception3D
from .liveness import DETECTION_S, Heartbeat, LivenessWatch
from .qos import latched_qos, sensor_qos

__all__ = ['SorterNode', 'GoalError', 'load_manipulator', 'default_log_dir', 'main']

#: Built-in manipulators; the simulator is a ros2_control robot like any other.
FACTORIES = {'ros2_control': 'sorting_cell.nodes.ros2_control_arm:make_manipulator',
             'sim': 'sorting_cell.nodes.ros2_control_arm:make_manipulator'}
PERCEPTION = ('local', 'nodes')
#: Pick failures that say the robot is down, not that this object is hard to move. A
#: rejected goal is one of them: the sorter only sends goals a working controller takes (the
#: right joints, within limits), so a refusal says the controller is not running (switched
#: off, an emergency stop) and every further pick would be refused too.
ROBOT_DOWN = frozenset(f.value for f in (ExecutionFailure.NO_ROBOT,
                                         ExecutionFailure.SERVER_GONE,
                                         ExecutionFailure.TIMED_OUT,
                                         ExecutionFailure.REJECTED))


#: Every followed node (two or more) fell silent within this many seconds of each other ...
DEAF_SPREAD_S = 2.0
#: ... and none was heard again for this long: the sorter concludes that it is the one that
#: no longer receives, and exits (status :data:`DEAF_EXIT_CODE`) instead of answering nothing.
#: A sorter that was itself stopped or starved hears them again within a second of running.
DEAF_EXIT_S = 3.0 * DETECTION_S
DEAF_EXIT_CODE = 3


class GoalError(RuntimeError):
    """The goal cannot be carried out; the message goes to the result."""


class _NodeGone(GoalError):
    """A node the goal depends on died or hung mid-goal (the message names it)."""


class _ShuttingDown(Exception):
    """The process is stopping mid-goal: leave the sort resumable and say nothing more."""


def default_log_dir() -> str:
    """``$SORTING_CELL_SORT_LOG`` or ``~/.local/state/sorting_cell/sortlog``."""
    return str(default_directory())


def load_manipulator(node: Node, spec: str) -> Manipulator | None:
    """The arm named by ``spec`` ('none', 'ros2_control', 'sim' or 'package.module:factory')."""
    if spec == 'none':
        return None
    target = FACTORIES.get(spec, spec)
    module, _, attr = target.partition(':')
    if not module or not attr:
        raise ValueError(f"manipulator must be 'none', 'ros2_control', 'sim' or "
                         f"'package.module:factory', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f'manipulator {spec!r}: cannot import {target} ({exc})') from exc
    arm = factory(node)
    if not isinstance(arm, Manipulator):
        raise TypeError(f'manipulator factory {target} returned {type(arm).__name__}, '
                        'not a sorting_cell.manipulation.Manipulator')
    return arm


class SorterNode(Node):
    """SortObjects action server (thin: messages <-> core pipeline, log and arm)."""

    def __init__(self, **kwargs):
        super().__init__('sorter', **kwargs)
        self.features = declare(self, 'features', DEFAULT_FEATURES, 'Feature extractor '
                                '(sorting_cell.features registry name)', read_only=True)
        self.method = declare(self, 'method', 'agglomerative', 'Clustering method',
                              choices=METHODS)
        self.proposer_name = declare(self, 'proposer', 'background', 'Region proposer',
                                     choices=PROPOSERS)
        self.background_path = declare(self, 'background_path', '', 'Empty-table image '
                                       "file; '' = camera/background topic or none",
                                       read_only=True)
        self.perception = declare(self, 'perception', 'local', "'local': the core pipeline "
                                  "in this process; 'nodes': the proposals/detect and "
                                  'clustering/cluster services', read_only=True,
                                  choices=PERCEPTION)
        self.service_timeout = declare(self, 'service_timeout', 30.0, "Seconds to wait for "
                                       "the perception services ('nodes')", min_value=0.1,
                                       max_value=600.0)
        manipulator = declare(self, 'manipulator', 'none', "'none', 'ros2_control', 'sim' "
                              "(= ros2_control) or 'package.module:factory'", read_only=True)
        log_dir = declare(self, 'sort_log_dir', '', "Sort log directory; '' = "
                          '$SORTING_CELL_SORT_LOG or ~/.local/state/sorting_cell/sortlog',
                          read_only=True)
        self.snapshot_timeout = declare(self, 'snapshot_timeout', 5.0, 'Seconds to wait for '
                                        'a fresh camera image', min_value=0.1,
                                        max_value=600.0)
        self.gone_threshold = declare(self, 'gone_threshold', 30.0, 'On resume, an object '
                                      'whose interrupted pick may have finished counts as '
                                      'gone when the mean colour change over its mask '
                                      'exceeds this (0-255)', min_value=0.0, max_value=255.0)
        self.same_tray_threshold = declare(
            self, 'same_tray_threshold', 12.0, 'A goal without sort_id resumes the unfinished '
            'sort when most of its objects not yet sorted are still in place: mean colour '
            'change over their masks at most this (0-255); else the tray changed',
            min_value=0.0, max_value=255.0)
        self.random_state = declare(self, 'random_state', 0, 'Seed of stochastic methods',
                                    min_value=0, max_value=2**31 - 1)
        best_effort = declare(self, 'best_effort', False, 'Camera topics best effort',
                              read_only=True)
        watch = declare(self, 'watch_nodes', ['auto'], 'Nodes a goal depends on, followed '
                        "by their heartbeats; 'auto' = the perception nodes (perception "
                        "'nodes') and 'sim' (manipulator 'sim'); '' entries are ignored",
                        read_only=True)
        self.add_on_set_parameters_callback(lambda ps: check_choices(
            ps, {'method': METHODS, 'proposer': PROPOSERS}))
        if self.perception not in PERCEPTION:
            raise ValueError(f'perception must be one of {PERCEPTION}, got {self.perception!r}')

        self.diag = Diagnostics(self)
        try:
            self.sort_log = SortLog(log_dir or default_log_dir())
        except SortLogError as exc:   # a configuration error: one line, exit status 2
            raise OSError(f'sort_log_dir: {exc}') from exc
        # 'nodes' perception runs the model in the clustering node, not here.
        self.extractor = make_extractor(self.features) if self.perception == 'local' else None
        self.manipulator = load_manipulator(self, manipulator)
        self.manipulator_name = manipulator
        # The empty-table frame for the background proposer: a file, else the latched
        # camera/background topic (the sim publishes one; a real cell grabs it at start-up).
        self.background: np.ndarray | None = None
        self.background_source = ''
        self._used_background = ''   # what the current plan's proposer used (sort log)
        if self.background_path:
            self.background = load_image(self.background_path)
            self.background_source = self.background_path

        self._image_cv = threading.Condition()
        self._image: tuple[Image, float] | None = None   # (msg, monotonic arrival)
        self._busy = threading.Lock()
        self._stopping = False
        sensors = MutuallyExclusiveCallbackGroup()
        self.geometry = Perception3D(self, best_effort)
        self.create_subscription(Image, 'camera/image_raw', self._on_image,
                                 sensor_qos(best_effort, depth=1), callback_group=sensors)
        self.create_subscription(Image, 'camera/background', self._on_background,
                                 latched_qos(), callback_group=sensors)
        self.create_subscription(Empty, 'boxes/emptied', self._on_boxes_emptied, 10,
                                 callback_group=sensors)
        self._fill_pub = self.create_publisher(Float32MultiArray, 'boxes/fill', latched_qos())
        self._restore_fill()
        services = ReentrantCallbackGroup()
        self._detect_client = self.create_client(DetectObjects, 'proposals/detect',
                                                 callback_group=services)
        self._cluster_client = self.create_client(ClusterDetections, 'clustering/cluster',
                                                  callback_group=services)
        self.action_server = ActionServer(
            self, SortObjects, 'sort_objects', execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup())
        # Clients watch this to tell a dead or hung sorter from a long sort (its own group:
        # a busy goal does not silence it; a hung executor does).
        self.heartbeat = Heartbeat(self)
        self._goal_running = False
        self._deaf_check_running = False
        self.exit_code = 0   # the process's exit status when it ends itself (see _deaf_check)
        self.watch = LivenessWatch(self, self._watched(watch, manipulator),
                                   on_lost=self._on_node_lost)
        if self.extractor is not None:
            threading.Thread(target=self._warm_up, daemon=True).start()
        self.get_logger().info(f'sort_objects action server ready (manipulator '
                               f'{manipulator!r}, sort log {self.sort_log.path})')
        pending = self.sort_log.latest_unfinished()
        if pending is not None:
            done = sum(o.finished for o in pending.objects)
            self.get_logger().info(
                f'sort log {self.sort_log.path}: unfinished sort {pending.sort_id!r} '
                f'({done}/{len(pending.objects)} objects done, {pending.num_boxes} boxes); '
                'send a goal with that sort_id or resume=true to continue it')

    def _watched(self, names: list[str], manipulator: str) -> list[str]:
        out = []
        for name in names:
            if name == 'auto':
                out += ['proposals', 'clustering'] if self.perception == 'nodes' else []
                out += ['sim'] if manipulator == 'sim' else []
            elif name:
                out.append(name)
        return list(dict.fromkeys(out))

    # -- liveness --------------------------------------------------------------------
    def _on_node_lost(self, name: str) -> None:
        """A followed node died or hung: a running goal stops now (the arm too: its
        server or its eyes may be the one gone) and ends with the node named."""
        names = self.watch.names
        if (len(names) >= 2 and len(self.watch.dead()) == len(names)
                and not self._deaf_check_running):
            spread = max(map(self.watch.since, names)) - min(map(self.watch.since, names))
            if spread <= DEAF_SPREAD_S:
                self._deaf_check_running = True
                threading.Thread(target=self._deaf_check, name='sorter-deaf-check',
                                 daemon=True).start()
        if self._goal_running and self.manipulator is not None:
            try:
                self.manipulator.stop()
            except Exception as exc:  # noqa: BLE001 - the goal ends anyway
                self.get_logger().error(f'manipulator stop failed: {exc}')

    def _deaf_check(self) -> None:
        """Every followed node fell silent at once: if none is heard again within
        :data:`DEAF_EXIT_S`, this process no longer receives anything over DDS (seen once in a
        fault-matrix run: the sorter then accepted no goal and answered none, while its own
        heartbeat still went out). A node that hears nothing ends itself, loudly, so that the
        supervisor and the monitor see it gone; the sort log keeps every sort."""
        try:
            deadline = time.monotonic() + DEAF_EXIT_S
            while time.monotonic() < deadline:
                if len(self.watch.dead()) < len(self.watch.names) or self._stopping:
                    return
                time.sleep(0.2)
            self.get_logger().error(
                f'every node this sorter follows ({", ".join(self.watch.names)}) went silent '
                f'at the same moment and none was heard again in {DEAF_EXIT_S:.0f} s: they '
                'all stopped, or this process no longer receives over DDS. Exiting (status '
                f'{DEAF_EXIT_CODE}) so that it can be restarted with them; the sort log keeps '
                'every sort')
            self.exit_code = DEAF_EXIT_CODE
            self.context.try_shutdown()
            time.sleep(30.0)    # the orderly shutdown did not end the process
            os._exit(DEAF_EXIT_CODE)
        finally:
            self._deaf_check_running = False

    def _check_nodes(self) -> None:
        """Raise :class:`_NodeGone` when a followed node is dead."""
        dead = self.watch.dead()
        if dead:
            raise _NodeGone(NodeFault.NODE_GONE.reason(
                '; '.join(self.watch.describe(n) for n in dead)))

    def _require_nodes(self, timeout: float) -> None:
        """Before anything moves: every followed node alive (a node just started gets
        ``timeout`` s to be heard), else refuse the goal naming the nodes."""
        try:
            self._check_nodes()
        except _NodeGone as exc:
            raise GoalError(f'{exc}; nothing was moved') from None
        absent = self.watch.wait_heard(self.watch.names, timeout)
        try:
            self._check_nodes()
        except _NodeGone as exc:
            raise GoalError(f'{exc}; nothing was moved') from None
        if absent:
            raise GoalError(NodeFault.NODE_ABSENT.reason(
                '; '.join(self.watch.describe(n) for n in absent)
                + f' within {timeout:.1f} s; nothing was moved'))

    def _warm_up(self) -> None:
        """Load the feature weights before the first goal, off the executor threads."""
        try:
            # load() reads the weights; one tiny transform also builds the runtime's kernels.
            self.extractor.load().transform([np.full((64, 64, 3), 128, np.uint8)])
            level, message = OK, f'{self.features} ready'
        except Exception as exc:  # noqa: BLE001 - reported; goals will fail with the reason
            level, message = ERROR, (f'feature model {self.features!r} failed to load: '
                                     f'{type(exc).__name__}: {exc}')
        if self.context.ok():   # the node may have been shut down while loading
            self.diag.report('model', level, message)

    # -- camera ----------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        with self._image_cv:
            self._image = (msg, time.monotonic())
            self._image_cv.notify_all()

    def _on_boxes_emptied(self, _msg: Empty) -> None:
        # Someone emptied the boxes (an operator, or the sim's new tray): the arm's count of
        # what lies in them would otherwise drop the next objects from too high, or call
        # the boxes full.
        reset = getattr(self.manipulator, 'reset_boxes', None)
        if reset is not None:
            reset()
            try:
                self.sort_log.empty_boxes('boxes/emptied')
            except SortLogError as exc:
                # Raised here it would end the process; the next goal is refused anyway
                # while the log cannot be written.
                self.get_logger().error(f'boxes emptied, but {exc}: a restarted sorter would '
                                        'count their old contents')
            self.get_logger().info('boxes emptied: the arm starts counting their contents '
                                   'from zero')
            self._publish_fill()

    # -- box fill --------------------------------------------------------------------
    def _arm_fill(self) -> dict | None:
        """What the arm counts in its boxes, or None for an arm that does not count."""
        fill = getattr(self.manipulator, 'box_fill', None)
        return None if fill is None else fill()

    def _restore_fill(self) -> None:
        """At start-up: the fill recorded in the sort log goes back into the arm."""
        logged = self.sort_log.box_fill()
        setter = getattr(self.manipulator, 'set_box_fill', None)
        if setter is not None and logged:
            for box, lanes in logged.items():
                try:
                    setter(box, [h for h, _ in lanes], [c for _, c in lanes])
                except (ValueError, IndexError) as exc:
                    self.diag.report('box_fill', ERROR, f'logged fill of box {box} does not '
                                     f'fit this arm ({exc}); send boxes/emptied after '
                                     'emptying the boxes')
            counts = {b: sum(c for _, c in lanes) for b, lanes in logged.items()}
            self.get_logger().info(f'box fill restored from the sort log: {counts} objects')
        self._publish_fill()

    def _check_boxes(self, depth, cam) -> dict[str, str]:
        """The logged fill against what the camera sees in the boxes it can see.

        A box the log counts objects in but the camera sees empty was emptied without
        ``boxes/emptied``: its fill is reset (not refused blindly as full). A box the log
        counts empty but the camera sees something in is reported (the arm places on top
        of what it counts only). Boxes out of view are 'not_seen'. ``{box: FillCheck}``.
        """
        boxes = getattr(getattr(self.manipulator, 'spec', None), 'boxes', None)
        fill = self._arm_fill()
        if not boxes or fill is None or depth is None or cam is None \
                or cam.get('T_world_camera') is None:
            return {}
        views = look_into_boxes(depth, cam['K'], cam['T_world_camera'], boxes)
        counts = {b: sum(c for _, c in lanes) for b, lanes in fill.items()}
        checks = check_fill(counts, views)
        emptied = [b for b, c in checks.items() if c is FillCheck.CAMERA_SEES_EMPTY]
        if emptied:
            for b in emptied:
                self.manipulator.set_box_fill(b, [0.0] * len(fill[b]), [0] * len(fill[b]))
            self.sort_log.empty_boxes('the camera sees them empty although the log counted '
                                      f'{[counts[b] for b in emptied]} object(s)', emptied)
            self._publish_fill()
        for b, check in checks.items():
            if check in (FillCheck.CAMERA_SEES_EMPTY, FillCheck.CAMERA_SEES_OBJECTS):
                self.diag.report(f'box {b}', WARN, 'box fill mismatch: the log counts '
                                 f'{counts.get(b, 0)} object(s), the camera sees '
                                 f'{views[b].sight.value} ({views[b].occupied:.0%} of its '
                                 'floor covered)'
                                 + (': fill reset' if b in emptied else ''))
        return {str(b): c.value for b, c in checks.items()}

    def _publish_fill(self) -> None:
        fill = self._arm_fill()
        if fill is None:
            return
        boxes = sorted(fill)
        lanes = max((len(fill[b]) for b in boxes), default=0)
        data = np.zeros((len(boxes), lanes, 2), np.float32)
        for i, b in enumerate(boxes):
            for k, (height, count) in enumerate(fill[b]):
                data[i, k] = count, height
        msg = Float32MultiArray(data=data.ravel().tolist())
        msg.layout.dim = [MultiArrayDimension(label='box', size=len(boxes),
                                              stride=int(data.size)),
                          MultiArrayDimension(label='lane', size=lanes, stride=lanes * 2),
                          MultiArrayDimension(label='objects_height_m', size=2, stride=2)]
        self._fill_pub.publish(msg)

    def _on_background(self, msg: Image) -> None:
        if self.background_path:   # a configured file wins over the topic
            return
        try:
            self.background = rgb_from_image(msg)
        except MessageError as exc:
            self.diag.report('background', ERROR, f'unusable background frame: {exc}')
            return
        self.background_source = 'camera/background'
        self.diag.report('background', OK, 'empty-table frame from camera/background '
                         f'({msg.width}x{msg.height})')

    def wait_for_image(self, after: float, timeout: float) -> tuple[Image, float]:
        """The first image that arrived after monotonic time ``after``."""
        deadline = time.monotonic() + timeout
        with self._image_cv:
            while self._image is None or self._image[1] < after:
                self._check_nodes()
                left = deadline - time.monotonic()
                if left <= 0 or not self.context.ok():
                    raise GoalError(
                        f'no image on {self.resolve_topic_name("camera/image_raw")} within '
                        f'{timeout:.1f} s (camera dead or not started?)')
                self._image_cv.wait(min(left, 0.2))
            return self._image

    # -- action callbacks ------------------------------------------------------------
    def _on_goal(self, goal: SortObjects.Goal) -> GoalResponse:
        # One goal at a time: taken here (not in execute) so two racing goals cannot both
        # be accepted. Released when execute returns.
        if not self._busy.acquire(blocking=False):
            self.get_logger().warning('goal rejected: a sort is already running')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle) -> CancelResponse:
        self.get_logger().info('cancel requested: stopping after the pick in progress')
        if self.manipulator is not None:
            try:
                self.manipulator.stop()
            except Exception as exc:  # noqa: BLE001 - a failing stop must not kill the node
                self.get_logger().error(f'manipulator stop failed: {exc}')
        return CancelResponse.ACCEPT

    def close(self) -> None:
        """Before destroy_node: stop the arm and let a running goal record where it is."""
        self._stopping = True
        if self.manipulator is not None:
            try:
                self.manipulator.stop()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                self.get_logger().error(f'manipulator stop failed: {exc}')
        if self._busy.acquire(timeout=10.0):   # the goal thread has finished writing
            try:
                # Closed here, not left to garbage collection at exit (which need not
                # happen): SQLite removes its -wal/-shm files only on a clean close.
                self.sort_log.close()
            finally:
                self._busy.release()

    def _execute(self, goal_handle) -> SortObjects.Result:
        self._goal_running = True
        try:
            return self._run(goal_handle)
        except _ShuttingDown:
            return SortObjects.Result(sort_id=getattr(self, '_current', ''), success=False,
                                      message='sorter shut down mid-sort; resume it later')
        except _NodeGone as exc:
            if getattr(self, '_current', ''):   # mid-sort: resumable, and the log says why
                self.sort_log.set_state(self._current, 'aborted', str(exc))
            return self._abort(goal_handle, str(exc))
        except GoalError as exc:
            return self._abort(goal_handle, str(exc))
        except SortLogError as exc:   # a write of the log failed mid-sort (disk full, read-only)
            return self._abort(goal_handle, f'{exc}; the sort stopped before the next pick '
                               'and resumes once the log can be written')
        except Exception as exc:  # noqa: BLE001 - the node must survive any one goal
            if self._stopping or not self.context.ok():
                return SortObjects.Result(message='sorter shut down mid-sort')
            self.get_logger().error(f'sort failed: {type(exc).__name__}: {exc}')
            return self._abort(goal_handle, f'internal error: {type(exc).__name__}: {exc}')
        finally:
            self._goal_running = False
            self._busy.release()

    def _abort(self, goal_handle, message: str, sort_id: str = '') -> SortObjects.Result:
        self.diag.report('goal', ERROR, message)
        goal_handle.abort()
        return SortObjects.Result(sort_id=sort_id or getattr(self, '_current', ''),
                                  success=False, message=message)

    # -- the sort --------------------------------------------------------------------
    def _run(self, goal_handle) -> SortObjects.Result:
        goal: SortObjects.Goal = goal_handle.request
        self._current = ''
        # A request the cell cannot meet is refused before anything is seen or moved.
        cell_boxes = getattr(self.manipulator, 'num_boxes', None)
        if cell_boxes is not None and not goal.dry_run and goal.num_boxes > cell_boxes:
            raise GoalError(f'{goal.num_boxes} boxes asked for, but the cell has '
                            f'{cell_boxes} (boxes 0..{cell_boxes - 1}); nothing was moved')
        self._require_nodes(max(DETECTION_S, float(goal.snapshot_timeout
                                                   or self.snapshot_timeout)))
        record = self._resumable(goal)
        if record is not None and record.finished:
            self.get_logger().info(f'sort {record.sort_id!r} already finished; returning '
                                   'its logged result')
            goal_handle.succeed()
            return self._result(record, set(), resumed=True, perception=0.0)
        perception = 0.0
        resumed = record is not None
        if record is None:
            record, perception = self._plan(goal_handle, goal)
        else:
            self.sort_log.set_state(record.sort_id, 'running', 'resumed')
            self.get_logger().info(f'resuming sort {record.sort_id!r}: '
                                   f'{len(record.remaining)} of {len(record.objects)} objects '
                                   'left')
            self._current = record.sort_id
            if any(o.state == 'started' for o in record.objects):
                record = self._check_interrupted(goal_handle, goal, record)
        self._current = record.sort_id
        return self._pick_all(goal_handle, goal, record, resumed, perception)

    def _check_interrupted(self, goal_handle, goal, record: SortRecord) -> SortRecord:
        """Objects whose pick was cut short by a crash: look before picking them again.

        The arm may have put the object in its box just before the crash, after the log's
        'started' and before its outcome. Compare a fresh camera image with the logged
        snapshot inside the object's mask: if the object is no longer where it was, it is
        recorded as done ('not at its place on resume'); if it is still there, or no image
        comes, it is picked again.
        """
        move = self.manipulator is not None and not goal.dry_run \
            and not record.options.get('dry_run', False)
        snap = self.sort_log.load_snapshot(record.sort_id)
        if not move or snap is None:
            return record
        self._feedback(goal_handle, record.sort_id, 'snapshot')
        self._home()
        try:
            msg, _ = self.wait_for_image(time.monotonic(),
                                         goal.snapshot_timeout or self.snapshot_timeout)
            frame = rgb_from_image(msg)
        except (GoalError, MessageError) as exc:
            self.get_logger().warning(f'cannot check interrupted picks ({exc}); they will be '
                                      'tried again')
            return record
        if frame.shape != snap['frame'].shape:
            return record
        for obj in record.objects:
            if obj.state != 'started':
                continue
            change = _mask_change(snap, frame, obj)
            if change > self.gone_threshold:
                self.sort_log.mark_outcome(
                    record.sort_id, obj.object_id, True,
                    f'not at its place on resume: presumed placed by the interrupted pick '
                    f'(mean change {change:.0f} over its mask)')
                self.get_logger().info(f'{obj.object_id}: gone from its place since the '
                                       'interrupted pick; not picked again')
        return self.sort_log.get(record.sort_id)

    def _home(self) -> None:
        """The arm out of the camera's view before looking; a failure ends the goal."""
        try:
            self.manipulator.home()
        except Exception as exc:  # noqa: BLE001 - any arm failure: the goal cannot go on
            raise GoalError(f'cannot move the arm home ({type(exc).__name__}: {exc}); '
                            'nothing was moved') from exc

    def _resumable(self, goal: SortObjects.Goal) -> SortRecord | None:
        """The logged sort this goal continues, or None for a new sort.

        With a ``sort_id``: that sort. Without: the most recent sort, if it is unfinished
        and the tray is still the one it was planned for (its objects not yet sorted are
        where the snapshot saw them) -- resumed by default, so a goal sent again after a
        crash never re-clusters what is left. On another tray it is abandoned (recorded
        why) and a new sort starts; with ``resume`` the goal is refused instead. A stale
        sort is never applied to a new tray.
        """
        if goal.sort_id:
            record = self.sort_log.get(goal.sort_id)
            if record is not None and goal.num_boxes not in (0, record.num_boxes):
                raise GoalError(f'sort {goal.sort_id!r} was planned for {record.num_boxes} '
                                f'boxes, the goal asks for {goal.num_boxes}; send 0 or '
                                f'{record.num_boxes} to resume it, or another sort_id')
            return record
        ids = self.sort_log.sort_ids()
        latest = self.sort_log.get(ids[-1]) if ids else None
        if latest is None or latest.finished:
            if goal.resume:
                # An older unfinished sort behind a newer, finished one is stale: never
                # applied to what is on the table now.
                raise GoalError('resume asked, but there is no unfinished sort to resume ('
                                + (f'the latest, {latest.sort_id!r}, is {latest.state}'
                                   if latest else 'the sort log is empty')
                                + '); nothing was moved. Send the goal without resume to '
                                'sort this tray')
            return None
        if goal.into_sort_id and goal.into_sort_id != latest.options.get('into', ''):
            # Another goal than the one that made the unfinished sort: never resume it.
            if goal.resume:
                raise GoalError(f'the unfinished sort {latest.sort_id!r} does not continue '
                                f'{goal.into_sort_id!r}; send its own goal to resume it')
            return self._abandon(latest, f'a sort continuing {goal.into_sort_id!r} was '
                                 'asked for')
        if goal.num_boxes not in (0, latest.num_boxes):
            if goal.resume:
                raise GoalError(f'the unfinished sort {latest.sort_id!r} was planned for '
                                f'{latest.num_boxes} boxes, the goal asks for '
                                f'{goal.num_boxes}; send 0 or {latest.num_boxes} to resume it')
            return self._abandon(latest, f'a new sort into {goal.num_boxes} boxes was asked for')
        same, detail = self._same_tray(latest, goal)
        if same:
            return latest
        if goal.resume:
            raise GoalError(f'the unfinished sort {latest.sort_id!r} is for another tray '
                            f'({detail}); nothing was moved. Send the goal without resume '
                            'to sort this tray')
        return self._abandon(latest, f'the tray changed ({detail})')

    def _abandon(self, record: SortRecord, why: str) -> None:
        self.sort_log.set_state(record.sort_id, 'abandoned', why)
        self.get_logger().warning(f'unfinished sort {record.sort_id!r} abandoned: {why}')
        return None

    def _same_tray(self, record: SortRecord, goal: SortObjects.Goal) -> tuple[bool, str]:
        """Whether the objects ``record`` has yet to sort are where its snapshot saw them."""
        waiting = [o for o in record.objects if not o.finished and o.state != 'started']
        snap = self.sort_log.load_snapshot(record.sort_id)
        if not waiting or snap is None:
            return True, 'nothing left to compare'
        if self.manipulator is not None and not goal.dry_run:
            self._home()   # the arm must not hide the tray
        msg, _ = self.wait_for_image(time.monotonic(),
                                     goal.snapshot_timeout or self.snapshot_timeout)
        try:
            frame = rgb_from_image(msg)
        except MessageError as exc:
            raise GoalError(f'unusable camera image: {exc}') from exc
        if frame.shape != snap['frame'].shape:
            return False, f'the camera image is {frame.shape[1]}x{frame.shape[0]}, the ' \
                f'logged snapshot {snap["frame"].shape[1]}x{snap["frame"].shape[0]}'
        still = sum(_mask_change(snap, frame, o) <= self.same_tray_threshold for o in waiting)
        detail = (f'{still} of {len(waiting)} object(s) not yet sorted are where the sort '
                  'left them')
        return 2 * still >= len(waiting), detail

    def _feedback(self, goal_handle, sort_id: str, phase: str, done: int = 0, total: int = 0,
                  object_id: str = '', box: int = -1) -> None:
        goal_handle.publish_feedback(SortObjects.Feedback(
            sort_id=sort_id, phase=phase, objects_done=done, objects_total=total,
            current_object_id=object_id, current_box=box))

    def _plan(self, goal_handle, goal: SortObjects.Goal) -> tuple[SortRecord, float]:
        """snapshot -> detect -> cluster (or match the boxes' contents) -> durable plan;
        returns it and its time."""
        boxes, num_boxes = None, goal.num_boxes
        if goal.into_sort_id:
            boxes, num_boxes = self._contents(goal)
        elif goal.num_boxes < 1:
            raise GoalError(f'num_boxes must be >= 1 for a new sort, got {goal.num_boxes}')
        self._feedback(goal_handle, goal.sort_id, 'snapshot')
        if self.manipulator is not None and not goal.dry_run:
            self._home()   # clear the camera's view of the table first
        msg, t_snap = self.wait_for_image(time.monotonic(),
                                          goal.snapshot_timeout or self.snapshot_timeout)
        try:
            frame = rgb_from_image(msg)
        except MessageError as exc:
            raise GoalError(f'unusable camera image: {exc}') from exc
        depth, cam = self._geometry_for(frame.shape, goal.snapshot_timeout
                                        or self.snapshot_timeout, msg)
        box_check = self._check_boxes(depth, cam)

        self._feedback(goal_handle, goal.sort_id, 'detect')
        self._used_background = ''
        described = None
        if self.perception == 'nodes':
            regions, labels = self._perceive_with_nodes(goal, msg)
        else:
            regions, labels, described = self._perceive_locally(goal, frame, boxes, num_boxes)
        matches = (described.pop('match') if described and 'match' in described
                   else np.full(len(regions), Match.CLUSTERED))
        perception = time.monotonic() - t_snap
        # Pick order: most object-like first (also what max_objects keeps; the boxes were
        # clustered from the whole scene).
        order = sorted(range(len(regions)), key=lambda i: -regions[i].score)
        if goal.max_objects:
            order = order[:goal.max_objects]
        regions, labels = [regions[i] for i in order], [int(labels[i]) for i in order]
        matches = [int(matches[i]) for i in order]
        self._feedback(goal_handle, goal.sort_id, 'cluster', total=len(regions))
        positions, pframe = self.geometry.positions(regions, depth, cam, msg.header.frame_id)

        objects, snapshot = [], {'frame': frame}
        # What each box will hold, for a later goal that continues this sort.
        for key, rows in (described or {}).items():
            if rows is not None and key != 'geometry':
                snapshot[key] = np.asarray(rows)[order]
        if depth is not None:
            snapshot['depth'] = depth
        if cam is not None:
            snapshot['K'] = cam['K']
            snapshot['size'] = np.array([cam['width'], cam['height']])
            if cam.get('T_world_camera') is not None:
                snapshot['T_world_camera'] = cam['T_world_camera']
        for j, (region, label, pos, match) in enumerate(zip(regions, labels, positions,
                                                            matches)):
            oid = f'obj{j}'
            snapshot[f'mask_{oid}'] = np.asarray(region.mask, bool)
            objects.append(LoggedObject(oid, int(label), info={
                'bbox': [int(v) for v in region.box], 'score': float(region.score),
                'centroid': [float(v) for v in region.centroid],
                'position': None if pos is None else [float(v) for v in pos],
                'position_frame': pframe, 'match': match}))
        try:
            sort_id = self.sort_log.begin(num_boxes, objects, goal.sort_id or None,
                                          {'dry_run': bool(goal.dry_run),
                                           'manipulator': self.manipulator_name,
                                           'features': self.features, 'method': self.method,
                                           'background': self._used_background,
                                           'box_check': box_check,
                                           'geometry': bool(described
                                                            and described['geometry']),
                                           'into': goal.into_sort_id},
                                          snapshot)
        except SortLogError as exc:
            raise GoalError(f'{exc}; nothing was moved') from exc
        new = sum(m in (Match.FREE_BOX, Match.NEW_KIND_NO_BOX) for m in matches)
        self.get_logger().info(f'sort {sort_id!r}: {len(objects)} objects into '
                               f'{num_boxes} boxes (perception {perception:.2f} s)'
                               + (f'; continues {goal.into_sort_id!r}, {new} of a new kind'
                                  if goal.into_sort_id else ''))
        return self.sort_log.get(sort_id), perception

    def _geometry_for(self, shape: tuple, timeout: float,
                      image: Image | None = None) -> tuple[np.ndarray | None, dict | None]:
        """Depth and intrinsics (+ pose) for a snapshot of ``shape``.

        Right after start-up the colour image can come before the first depth, camera_info
        or the camera's static transform on /tf_static (each arrives on its own topic): when
        someone publishes them, wait for them -- without depth and pose the arm gets no
        object positions.
        """
        deadline = time.monotonic() + timeout
        while True:
            # the depth of this very frame, never another one
            depth, cam = self.geometry.snapshot(
                shape, None if image is None else
                image.header.stamp.sec + image.header.stamp.nanosec * 1e-9)
            # An arm needs the camera pose: wait for it even before the tf broadcaster is
            # discovered (at start-up the snapshot can come first).
            need_pose = self.manipulator is not None
            missing = [topic for topic, absent in (
                ('camera/camera_info', cam is None), ('camera/depth', depth is None),
                ('/tf_static', cam is not None and depth is not None
                 and 'T_world_camera' not in cam)) if absent and (
                     self.count_publishers(topic) or (topic == '/tf_static' and need_pose))]
            if not missing:
                return depth, cam
            if time.monotonic() > deadline or not self.context.ok():
                self.get_logger().warning(f'no {", ".join(missing)} within {timeout:.1f} s of '
                                          'the snapshot although published: objects get no '
                                          '3-D positions')
                return depth, cam
            time.sleep(0.05)

    def _wait_for_background(self, timeout: float) -> None:
        """When camera/background is published but not here yet, wait for it (start-up).

        The latched empty-table frame can arrive after the first colour image; planning
        without it finds objects in the single frame, which is worse.
        """
        if self.background is not None or self.proposer_name != 'background':
            return
        deadline = time.monotonic() + timeout
        while (self.background is None and self.count_publishers('camera/background')
               and time.monotonic() < deadline and self.context.ok()):
            time.sleep(0.05)

    def _contents(self, goal: SortObjects.Goal):
        """What the boxes of the sort ``goal`` continues hold, and the boxes available."""
        if self.perception != 'local':
            raise GoalError("continuing a sort (into_sort_id) needs perception 'local': the "
                            'sorter keeps the features of what it sorted')
        previous = self.sort_log.get(goal.into_sort_id)
        if previous is None:
            raise GoalError(f'into_sort_id {goal.into_sort_id!r}: no such sort in '
                            f'{self.sort_log.path}')
        num_boxes = goal.num_boxes or previous.num_boxes
        if num_boxes < previous.num_boxes:
            raise GoalError(f'sort {previous.sort_id!r} filled {previous.num_boxes} boxes; '
                            f'a goal continuing it needs at least those (num_boxes 0 = the '
                            f'same), got {goal.num_boxes}')
        try:
            boxes = self.sort_log.box_contents(previous.sort_id)
        except SortLogError as exc:
            raise GoalError(str(exc)) from exc
        if not len(boxes.rows):
            raise GoalError(f'the boxes of sort {previous.sort_id!r} hold nothing (no object '
                            'of it reached its box): nothing to continue')
        if boxes.params.get('features') not in ('', self.features):
            raise GoalError(f'sort {previous.sort_id!r} was described with '
                            f'{boxes.params["features"]!r}, this sorter uses '
                            f'{self.features!r}: their features cannot be compared')
        return boxes, num_boxes

    def _perceive_locally(self, goal: SortObjects.Goal, frame: np.ndarray, boxes=None,
                          num_boxes: int = 0) -> tuple[list, list, dict]:
        """Regions and boxes of the snapshot from the core pipeline, in this process, and
        the objects' description (features, sizes, outlines; with ``boxes``, the match).

        With ``boxes`` (a continued sort) each object goes to the box whose contents it
        matches, a free box, or none (:func:`~sorting_cell.perception.boxes.continue_boxes`).
        """
        self._wait_for_background(float(goal.snapshot_timeout or self.snapshot_timeout))
        background = self.background
        if background is not None and background.shape != frame.shape:
            self.get_logger().warning(f'background {background.shape} does not match the '
                                      f'camera image {frame.shape}; ignoring it')
            background = None
        if background is None and self.proposer_name == 'background':
            self.get_logger().info('no empty-table frame (camera/background or '
                                   'background_path): finding objects in the single frame')
        self._used_background = self.background_source if background is not None else ''
        pipeline = SortingPipeline(n_clusters=max(1, num_boxes or goal.num_boxes),
                                   features=self.extractor, method=self.method,
                                   proposer=self.proposer_name, random_state=self.random_state)
        match = None
        try:
            if boxes is None:
                d = pipeline.sort_scene(frame, background=background,
                                        source='snapshot').description
                labels = [d.items[i].label for i in d.usable]
            else:
                d = pipeline.describer().scene(frame, background, 'snapshot')
                if not len(d):
                    raise ValueError('no object found on the table')
                labels, match = continue_boxes(boxes, d, num_boxes,
                                               random_state=self.random_state)
        except (ValueError, ImageLoadError) as exc:   # e.g. fewer objects than boxes
            raise GoalError(f'cannot sort the snapshot: {exc}') from exc
        described = {'features': np.asarray(d.features, np.float32), 'geometry':
                     d.uses_geometry, 'sizes': d.sizes if d.uses_geometry else None,
                     'outlines': d.outlines if d.uses_geometry else None}
        if match is not None:
            described['match'] = match
        return [d.items[i].region for i in d.usable], list(labels), described

    def _perceive_with_nodes(self, goal: SortObjects.Goal, msg: Image) -> tuple[list, list]:
        """Regions and boxes from the proposals and clustering nodes' services (perception
        on other processes or machines)."""
        det = self._call(self._detect_client, DetectObjects.Request(image=msg), 'detect')
        if not det.success:
            raise GoalError(f'proposals node: {det.message}')
        res = self._call(self._cluster_client, ClusterDetections.Request(
            detections=det.detections, num_boxes=goal.num_boxes), 'cluster')
        if not res.success:
            raise GoalError(f'cannot sort the snapshot: clustering node: {res.message}')
        try:
            regions = detections_to_regions(det.detections)
        except MessageError as exc:
            raise GoalError(f'proposals node sent unusable detections: {exc}') from exc
        boxes = dict(zip(res.assignments.object_ids, res.assignments.boxes))
        return regions, [boxes[d.id] for d in det.detections.detections]

    def _call(self, client, request, what: str):
        # Polled rather than wait_for_service: a node that died meanwhile ends the wait.
        deadline = time.monotonic() + self.service_timeout
        while not client.service_is_ready():
            self._check_nodes()
            if time.monotonic() > deadline:
                raise GoalError(f'service {client.srv_name} is not available (is the {what} '
                                'node running?)')
            time.sleep(0.02)
        future = client.call_async(request)
        deadline = time.monotonic() + self.service_timeout
        while not future.done():
            try:
                self._check_nodes()
            except _NodeGone:
                client.remove_pending_request(future)
                raise
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                raise GoalError(f'no answer from {client.srv_name} within '
                                f'{self.service_timeout:.0f} s')
            time.sleep(0.01)
        return future.result()

    def _request(self, record: SortRecord, obj: LoggedObject, snap: dict) -> PickRequest:
        x0, y0, x1, y1 = obj.info['bbox']
        frame = snap['frame']
        full = np.zeros(frame.shape[:2], bool)
        full[y0:y1, x0:x1] = snap[f'mask_{obj.object_id}']
        cam = None
        if 'K' in snap:
            cam = {'K': snap['K'], 'width': int(snap['size'][0]), 'height': int(snap['size'][1])}
            if 'T_world_camera' in snap:
                cam['T_world_camera'] = snap['T_world_camera']
        pos = obj.info.get('position')
        world = pos is not None and obj.info.get('position_frame') == self.geometry.world_frame
        return PickRequest(object_id=obj.object_id, box_index=obj.box, mask=full,
                           depth=snap.get('depth'), camera_info=cam,
                           position=tuple(pos) if world else None,
                           extra={'sort_id': record.sort_id, 'bbox': (x0, y0, x1, y1),
                                  'centroid': tuple(obj.info.get('centroid', ())),
                                  'position_camera': None if world else pos})

    def _pick_all(self, goal_handle, goal, record: SortRecord, resumed: bool,
                  perception: float) -> SortObjects.Result:
        sid, total = record.sort_id, len(record.objects)
        move = self.manipulator is not None and not goal.dry_run \
            and not record.options.get('dry_run', False)
        snap = self.sort_log.load_snapshot(sid) if move else None
        if move and snap is None:
            raise GoalError(f'snapshot of sort {sid!r} is missing from {self.sort_log.directory}')
        done = sum(o.finished for o in record.objects)
        this_run: set[str] = set()
        self._feedback(goal_handle, sid, 'pick', done, total)
        for obj in record.objects:
            if obj.finished:
                continue
            if self._stopping or not self.context.ok():
                raise _ShuttingDown()
            if goal_handle.is_cancel_requested:
                return self._cancel(goal_handle, sid, this_run, resumed, perception)
            self._check_nodes()
            if move:   # without an arm, one feedback per object is enough
                self._feedback(goal_handle, sid, 'pick', done, total, obj.object_id, obj.box)
            if obj.box < 0:
                self.sort_log.mark_outcome(sid, obj.object_id, False,
                                           'new kind: matches no box and no box is free; '
                                           'not moved')
            elif not move:
                why = ('dry run' if goal.dry_run or record.options.get('dry_run')
                       else f'perception only (manipulator {self.manipulator_name})')
                self.sort_log.mark_outcome(sid, obj.object_id, True, f'not moved: {why}')
            else:
                self.sort_log.mark_started(sid, obj.object_id)
                outcome = self._pick(self._request(record, obj, snap))
                if not outcome.success and self._stopping:
                    self.sort_log.mark_pending(sid, obj.object_id, outcome.reason)
                    raise _ShuttingDown()
                if not outcome.success and self.watch.dead():
                    # stopped because a node it needs is gone: try it again on resume
                    self.sort_log.mark_pending(sid, obj.object_id, outcome.reason)
                    self._check_nodes()
                if not outcome.success and outcome.reason.split(':')[0] in ROBOT_DOWN:
                    # The robot itself does not answer (or refuses): every further pick
                    # would wait out its own deadline (or be refused). The object stays
                    # 'started' (it may be in the hand): the resume looks before picking it
                    # again.
                    down = ('the arm refuses motions' if outcome.reason.startswith(
                        ExecutionFailure.REJECTED.value) else 'robot not responding')
                    message = (f'{down} ({outcome.reason}); {done}/{total} '
                               'objects done, the sort is kept: send the same goal again to '
                               'resume it once the robot is back')
                    self.sort_log.set_state(sid, 'aborted', message)
                    raise GoalError(message)
                if (not outcome.success and goal_handle.is_cancel_requested
                        and outcome.reason.startswith('stopped')):
                    self.sort_log.mark_pending(sid, obj.object_id, outcome.reason)
                    return self._cancel(goal_handle, sid, this_run, resumed, perception)
                self.sort_log.mark_outcome(sid, obj.object_id, outcome.success,
                                           outcome.reason or ('placed' if outcome.success
                                                              else 'failed'),
                                           fill=self._arm_fill())
                self._publish_fill()
            this_run.add(obj.object_id)
            done += 1
            self._feedback(goal_handle, sid, 'pick', done, total, obj.object_id, obj.box)
        final = self.sort_log.get(sid)
        failed = [o for o in final.objects if o.state != 'done']
        message = '' if not failed else (f'{len(failed)} of {total} object(s) not placed; '
                                         f'first: {failed[0].object_id}: {failed[0].reason}')
        self.sort_log.set_state(sid, 'failed' if failed else 'succeeded', message)
        if move:
            try:
                self.manipulator.home()
            except Exception as exc:  # noqa: BLE001 - the sort itself is done and logged
                self.get_logger().error(f'homing the arm after sort {sid!r} failed: {exc}')
        self._feedback(goal_handle, sid, 'done', done, total)
        goal_handle.succeed()
        self.diag.report('goal', OK, f'sort {sid!r} finished: {total - len(failed)}/{total} '
                         + ('placed' if move else 'assigned (not moved)'))
        result = self._result(self.sort_log.get(sid), this_run, resumed, perception)
        result.message = message
        return result

    def _pick(self, request: PickRequest) -> PickOutcome:
        try:
            return self.manipulator.pick_and_place(request)
        except Exception as exc:  # noqa: BLE001 - a driver bug fails one object, not the node
            self.get_logger().error(f'pick of {request.object_id} raised {exc!r}')
            return PickOutcome(success=False, reason=f'error: {type(exc).__name__}: {exc}')

    def _cancel(self, goal_handle, sid: str, this_run: set[str], resumed: bool,
                perception: float) -> SortObjects.Result:
        self.sort_log.set_state(sid, 'canceled', 'goal canceled')
        goal_handle.canceled()
        result = self._result(self.sort_log.get(sid), this_run, resumed, perception)
        result.message = 'canceled; resume with this sort_id'
        return result

    def _result(self, record: SortRecord, this_run: set[str], resumed: bool,
                perception: float) -> SortObjects.Result:
        outcomes = []
        for o in record.objects:
            x0, y0, x1, y1 = o.info.get('bbox', (0, 0, 0, 0))
            pos = o.info.get('position')
            out = ObjectOutcome(object_id=o.object_id, box=o.box, success=o.state == 'done',
                                reason=o.reason or o.state, attempts=o.attempts,
                                match=int(o.info.get('match', Match.CLUSTERED)),
                                bbox=RegionOfInterest(x_offset=x0, y_offset=y0,
                                                      width=x1 - x0, height=y1 - y0),
                                has_position=pos is not None,
                                from_previous_run=o.finished and o.object_id not in this_run)
            if pos is not None:
                out.position.x, out.position.y, out.position.z = pos
            outcomes.append(out)
        return SortObjects.Result(sort_id=record.sort_id, success=record.state == 'succeeded',
                                  message=record.message, num_boxes=record.num_boxes,
                                  resumed=resumed, objects=outcomes,
                                  perception_seconds=float(perception))


def _mask_change(snap: dict, frame: np.ndarray, obj) -> float:
    """Mean colour change (0-255) inside ``obj``'s logged mask, snapshot vs ``frame``."""
    x0, y0, x1, y1 = obj.info['bbox']
    mask = snap[f'mask_{obj.object_id}']
    if not mask.any():
        return 0.0
    before = snap['frame'][y0:y1, x0:x1][mask].astype(np.float32)
    now = frame[y0:y1, x0:x1][mask].astype(np.float32)
    return float(np.abs(now - before).mean())


def main(args=None) -> int:
    return _rosio.run(SorterNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())
