"""The operator's live web page, served by a node of the cell (``sorting-cell up ... --ui``).

The page itself is :mod:`sorting_cell.ui` (Starlette app, run here by uvicorn in a thread);
this node fills its model from the cell:

- ``camera/image_raw``: at most ``image_rate`` frames/s, outlined and JPEG-encoded, and only
  while a page is open (the subscription exists only then: a closed page costs nothing);
- ``detections`` + ``assignments``: outlines between sorts (while a page is open);
- ``sort_objects/_action/feedback``: phase, done/total, the object being picked, of any goal;
- the sorter's sort log (read-only use): every object's box, state and reason as they are
  recorded, and the snapshot the thumbnails are cut from; each ended sort gets its offline
  ``report.html`` in ``out_dir/sorts/<sort_id>/``;
- ``/diagnostics`` (last error per node part), the sorter's heartbeat (DDS liveliness), the
  ROS graph and, under ``sorting-cell up``, the supervisor's process table (``status_file``).

Commands go through :class:`sorting_cell.client.SortingCell` (start, continue) and the
goal's cancel, or the standard cancel-all request for a goal this page did not send.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from action_msgs.srv import CancelGoal
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from sorting_cell.sortlog import SortLog, SortLogError, default_directory
from sorting_cell.ui.access import TOKEN_ENV, is_loopback, resolve_token
from sorting_cell.ui.app import CommandError, make_app
from sorting_cell.ui.sort_report import (list_reports, outline, sort_dict, thumbnail_jpeg,
                                         write_sort_report)
from sorting_cell.ui.state import CellView
from sorting_cell_interfaces.action import SortObjects
from sorting_cell_interfaces.msg import ClusterAssignments, Detections

from . import _rosio
from .conversions import MessageError, rgb_from_image
from .params import declare
from .qos import heartbeat_qos, result_qos, sensor_qos

__all__ = ['UiNode', 'CellCommands', 'main']

_LEVELS = {0: 'OK', 1: 'WARN', 2: 'ERROR', 3: 'STALE'}
#: Detections older than this are not outlined (the table changed or perception stopped).
_DETECTIONS_FRESH_S = 10.0


class CellCommands:
    """Start / cancel / continue a sort for the page (called from the web server's threads)."""

    def __init__(self, node: 'UiNode'):
        self._node = node
        self._cell = None
        self._task = None
        self._lock = threading.Lock()
        self._cancel_all = node.create_client(CancelGoal, 'sort_objects/_action/cancel_goal')

    def _client(self):
        from .cell_client import SortingCell
        if self._cell is None:
            try:
                self._cell = SortingCell(context=self._node.context, server_timeout=30.0,
                                         goal_timeout=20.0)
            except ConnectionError as exc:
                raise CommandError(str(exc)) from None
        return self._cell

    def _send(self, num_boxes: int, **options) -> None:
        from .cell_client import SortRejected
        with self._lock:
            if self._task is not None and not self._task.done():
                raise CommandError('a sort started from this page is still running; cancel '
                                   'it first')
            try:
                self._task = self._client().sort_async(num_boxes, **options)
            except SortRejected as exc:
                raise CommandError(str(exc)) from None
            except (TimeoutError, ValueError) as exc:
                raise CommandError(str(exc)) from None
            self._node.goal_sent(self._task)

    def start(self, num_boxes: int) -> str:
        self._send(num_boxes)
        return f'sort into {num_boxes} boxes accepted'

    def resume(self) -> str:
        self._send(0, resume=True)
        return 'continuing the previous sort'

    def cancel(self) -> str:
        with self._lock:
            task = self._task
        if task is not None and not task.done():
            try:
                accepted = task.cancel(timeout=30.0)
            except TimeoutError as exc:
                raise CommandError(str(exc)) from None
            if not accepted:
                raise CommandError('the sorter did not accept the cancel (the goal ended?)')
            return 'cancel accepted: the arm stops after the pick in progress'
        # A goal sent by someone else: the action protocol's cancel-all (zero goal id/stamp).
        if not self._cancel_all.wait_for_service(timeout_sec=5.0):
            raise CommandError('no sorter to cancel (sort_objects cancel service not found)')
        fut = self._cancel_all.call_async(CancelGoal.Request())
        deadline = time.monotonic() + 10.0
        while not fut.done():
            if time.monotonic() > deadline:
                raise CommandError('no answer to the cancel request within 10 s')
            time.sleep(0.02)
        if not fut.result().goals_canceling:
            raise CommandError('no sort is running')
        return 'cancel accepted: the arm stops after the pick in progress'

    def close(self) -> None:
        if self._cell is not None:
            self._cell.close()


class UiNode(Node):
    def __init__(self, **kwargs):
        super().__init__('ui', **kwargs)
        self.host = declare(self, 'host', '127.0.0.1', 'Address the page listens on; any '
                            'other than loopback requires the token')
        self.port = declare(self, 'port', 8080, 'TCP port of the page', min_value=1,
                            max_value=65535)
        token = declare(self, 'token', '', f'Token the page requires (${TOKEN_ENV} wins); '
                        "'' = none on loopback, a new one printed at start otherwise")
        out_dir = declare(self, 'out_dir', '', "The run's output folder (the sorts' "
                          "report.html; the only folder files are served from); '' = "
                          '~/.local/state/sorting_cell/ui')
        log_dir = declare(self, 'sort_log_dir', '', "The sorter's sort log; '' = its "
                          'default ($SORTING_CELL_SORT_LOG or ~/.local/state/sorting_cell/'
                          'sortlog)')
        self.image_rate = declare(self, 'image_rate', 5.0, 'Camera frames per second sent '
                                  'to the page at most', min_value=0.2, max_value=30.0)
        self.max_width = declare(self, 'max_width', 640, 'Camera frames wider than this are '
                                 'scaled down for the page', min_value=64, max_value=4096)
        self.best_effort = declare(self, 'best_effort', False, 'Camera topic best effort')
        status_file = declare(self, 'status_file', '', "The supervisor's process table "
                              "(JSON, written by sorting-cell up); '' = the ROS graph only")
        self.out_dir = Path(out_dir or Path.home() / '.local' / 'state' / 'sorting_cell'
                            / 'ui').resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = Path(log_dir or default_directory())
        self.status_file = Path(status_file) if status_file else None
        self.token = resolve_token(self.host, os.environ.get(TOKEN_ENV) or token or None)

        # What the page tells the operator (command results, refusals) goes to the log
        # too: the record of who started or cancelled what, and why a command failed.
        self.view = CellView(on_note=self._log_note)
        self.commands = CellCommands(self)
        self._log: SortLog | None = None
        self._shown_sort = ''
        self._own_goal_sort = None
        self._task = None
        self._reported: set[str] = set()
        self._frames: dict[str, np.ndarray] = {}
        self._thumbs: dict[tuple[str, str], bytes] = {}
        self._thumb_lock = threading.Lock()
        self._last_frame_t = 0.0
        self._detections: tuple[float, list] = (0.0, [])
        self._det_boxes: dict[str, int] = {}
        self._image_sub = self._det_sub = self._asg_sub = None
        self._no_clients_since = time.monotonic()

        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(SortObjects.Impl.FeedbackMessage,
                                 'sort_objects/_action/feedback', self._on_feedback,
                                 result_qos(), callback_group=group)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50,
                                 callback_group=group)
        self.create_subscription(
            Header, 'sorter/heartbeat', lambda _msg: self.view.set_sorter_alive(True),
            heartbeat_qos(), callback_group=group,
            event_callbacks=SubscriptionEventCallbacks(liveliness=self._on_liveliness))
        # the sort log and the process table change on disk: looked at twice a second
        self.create_timer(0.5, self._poll, callback_group=MutuallyExclusiveCallbackGroup())
        self._image_group = MutuallyExclusiveCallbackGroup()
        self.view.set_reports(list_reports(self.out_dir))

        self._server = self._serve()
        url = f'http://{self.host}:{self.port}/' + (f'?token={self.token}' if self.token
                                                    else '')
        self.get_logger().info(f'page: {url}' + ('' if is_loopback(self.host) else
                                                 ' (token required: bound beyond loopback)'))

    def _log_note(self, text: str, error: bool) -> None:
        # Two call sites: rclpy refuses one call site logging at two severities.
        if error:
            self.get_logger().error(f'page: {text}')
        else:
            self.get_logger().info(f'page: {text}')

    # -- web server ----------------------------------------------------------------------
    def _serve(self):
        import uvicorn
        app = make_app(self.view, self.commands, self.out_dir, token=self.token,
                       loopback=is_loopback(self.host), thumbs=self._thumb)
        server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port,
                                               log_level='warning', access_log=False,
                                               lifespan='off', ws='websockets-sansio'))
        # Not the main thread: uvicorn leaves the signals to rclpy, which stops this node.
        self._server_thread = threading.Thread(target=server.run, name='ui-http', daemon=True)
        self._server_thread.start()
        deadline = time.monotonic() + 15.0
        while not server.started:
            if not self._server_thread.is_alive():
                raise OSError(f'the page cannot listen on {self.host}:{self.port} (address '
                              'in use or not on this machine?); set ui.port / --ui-port')
            if time.monotonic() > deadline:
                raise OSError(f'the page did not start listening on {self.host}:{self.port} '
                              'within 15 s')
            time.sleep(0.02)
        return server

    def close(self) -> None:
        self._server.should_exit = True
        self._server_thread.join(timeout=5.0)
        self.commands.close()
        if self._log is not None:
            self._log.close()

    # -- commands ------------------------------------------------------------------------
    def goal_sent(self, task) -> None:
        self._task = task

    def _check_goal(self) -> None:
        task = self._task
        if task is None or not task.done():
            return
        self._task = None
        try:
            out = task.wait(timeout=1.0)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, not raised
            self.view.note(f'sort: {exc}', error=True)
            return
        self.view.note(f'sort {out.sort_id or "(none)"} {out.status}'
                       + (f': {out.message}' if out.message else ''),
                       error=out.status != 'succeeded')
        if not out.sort_id or out.sort_id != self.view.snapshot()['sort'].get('sort_id'):
            # ended before the sorter logged anything (no camera, too few objects...)
            self.view.set_feedback(out.sort_id, 'done', 0, 0, '', -1)

    # -- cell state ----------------------------------------------------------------------
    def _on_feedback(self, msg) -> None:
        fb = msg.feedback
        try:
            self.view.set_feedback(fb.sort_id, fb.phase, fb.objects_done, fb.objects_total,
                                   fb.current_object_id, fb.current_box)
        except ValueError as exc:
            self.get_logger().warning(f'feedback: {exc}', throttle_duration_sec=10.0)
        # a new sort has no id until it is logged: '' shows the log's latest sort
        self._shown_sort = fb.sort_id

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            level = st.level[0] if isinstance(st.level, (bytes, bytearray)) else int(st.level)
            name = _LEVELS.get(level, str(level))
            self.view.set_health(st.name, name, st.message, error=name == 'ERROR')

    def _on_liveliness(self, event) -> None:
        self.view.set_sorter_alive(event.alive_count > 0)

    def _poll(self) -> None:
        self._check_goal()
        self._watch_clients()
        self._poll_processes()
        try:
            self._poll_sort()
        except (SortLogError, OSError, ValueError) as exc:
            self.get_logger().warning(f'sort log {self.log_dir}: {exc}',
                                      throttle_duration_sec=30.0)

    def _poll_processes(self) -> None:
        graph = set(self.get_node_names())
        procs = {}
        if self.status_file is not None and self.status_file.is_file():
            try:
                procs = json.loads(self.status_file.read_text()).get('processes', {})
            except ValueError:
                procs = {}   # caught mid-write: the next poll reads it whole
        for name in procs:
            procs[name] = dict(procs[name], in_graph=name in graph)
        if not procs:
            procs = {n: {'alive': True, 'in_graph': True} for n in sorted(graph)
                     if not n.startswith(('sorting_cell_client', '_')) and n != self.get_name()}
        self.view.set_processes(procs)

    def _poll_sort(self) -> None:
        if self._log is None:
            if not (self.log_dir / 'sortlog.sqlite3').exists():
                return   # the sorter has not sorted yet: do not create its log
            self._log = SortLog(self.log_dir)
        sid = self._shown_sort
        if not sid:
            ids = self._log.sort_ids()
            if not ids:
                return
            sid = ids[-1]
        record = self._log.get(sid)
        if record is None:
            return
        self.view.set_sort(sort_dict(record))
        if record.state != 'running' and sid not in self._reported:
            report = self.out_dir / 'sorts' / sid / 'report.html'
            if not report.exists() or report.stat().st_mtime < record.created:
                write_sort_report(self._log, sid, self.out_dir)
            self._reported.add(sid)
            self.view.set_reports(list_reports(self.out_dir))
        elif record.state == 'running':
            self._reported.discard(sid)   # continued: its report is written again at the end

    def _thumb(self, sort_id: str, object_id: str) -> bytes | None:
        """An object's thumbnail from its sort's snapshot (web server thread)."""
        key = (sort_id, object_id)
        with self._thumb_lock:
            if key in self._thumbs:
                return self._thumbs[key]
            log = self._log
            if log is None:
                return None
            record = log.get(sort_id)   # parameterised query: any sort_id string is safe
            obj = None if record is None else next(
                (o for o in record.objects if o.object_id == object_id), None)
            if obj is None or not obj.info.get('bbox'):
                return None
            frame = self._frames.get(record.sort_id)
            if frame is None:
                # the id comes from the log, where only [A-Za-z0-9_.:-] ids are stored
                path = log.directory / f'{record.sort_id}.npz'
                if not path.is_file():
                    return None
                with np.load(path, allow_pickle=False) as data:
                    frame = data['frame']
                self._frames = {record.sort_id: frame}   # the sort on screen only
            self._thumbs[key] = thumbnail_jpeg(frame, obj.info['bbox'])
            if len(self._thumbs) > 2000:
                self._thumbs = {key: self._thumbs[key]}
            return self._thumbs[key]

    # -- camera (only while a page is open) ----------------------------------------------
    def _watch_clients(self) -> None:
        now = time.monotonic()
        if self.view.clients > 0:
            self._no_clients_since = now
            if self._image_sub is None:
                group = self._image_group
                self._image_sub = self.create_subscription(
                    Image, 'camera/image_raw', self._on_image, sensor_qos(self.best_effort, 1),
                    callback_group=group)
                self._det_sub = self.create_subscription(
                    Detections, 'detections', self._on_detections, result_qos(2),
                    callback_group=group)
                self._asg_sub = self.create_subscription(
                    ClusterAssignments, 'assignments', self._on_assignments, result_qos(2),
                    callback_group=group)
        elif self._image_sub is not None and now - self._no_clients_since > 5.0:
            for sub in (self._image_sub, self._det_sub, self._asg_sub):
                self.destroy_subscription(sub)
            self._image_sub = self._det_sub = self._asg_sub = None

    def _on_detections(self, msg: Detections) -> None:
        boxes = [(d.id, (d.box.x_offset, d.box.y_offset, d.box.x_offset + d.box.width,
                         d.box.y_offset + d.box.height)) for d in msg.detections]
        self._detections = (time.monotonic(), boxes)

    def _on_assignments(self, msg: ClusterAssignments) -> None:
        self._det_boxes = dict(zip(msg.object_ids, (int(b) for b in msg.boxes)))

    def _outlines(self) -> list:
        sort = self.view.snapshot()['sort']
        if sort.get('state') == 'running':
            # the sort's own plan: what is still on the table, in the colour of its box
            return [(o['bbox'], o['box']) for o in sort['objects']
                    if o.get('bbox') and o['state'] != 'done']
        t, boxes = self._detections
        if time.monotonic() - t > _DETECTIONS_FRESH_S:
            return []
        return [(bbox, self._det_boxes.get(oid, -1)) for oid, bbox in boxes]

    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        if now - self._last_frame_t < 1.0 / self.image_rate:
            return
        self._last_frame_t = now
        try:
            rgb = rgb_from_image(msg)
        except MessageError as exc:
            self.get_logger().warning(f'camera image: {exc}', throttle_duration_sec=10.0)
            return
        objects = self._outlines()
        rgb = outline(rgb, objects)
        h, w = rgb.shape[:2]
        if w > self.max_width:
            scale = self.max_width / w
            rgb = cv2.resize(rgb, (self.max_width, round(h * scale)),
                             interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            self.view.set_frame(buf.tobytes(), w, h, len(objects))


def main(args=None) -> int:
    return _rosio.run(UiNode, args, threads=4)


if __name__ == '__main__':
    raise SystemExit(main())
