"""The fault matrix: one fault at a time on a running simulated cell, judged from physics.

:class:`FaultCell` starts the sim cell's nodes (``sim``, ``cell_frames``, ``proposals``,
``clustering``, ``sorter`` with perception through the nodes) as separate processes on a
private DDS domain, exactly as ``sorting-cell up sim`` would, but one process per node so that
each can be SIGKILLed, hung (SIGSTOP) and continued or restarted. A probe reads the sim's
ground truth (``sim/ground_truth``: read here, never by the cell) all along.

:data:`CASES` is the registry: each :class:`Case` lays out a fresh tray (``sim/reset``),
sends goals with the Python client, injects its fault, and says what the client was told
(:class:`~sorting_cell.faults.Outcome`) and how long after the fault. Lost and duplicated
objects are then counted by :func:`~sorting_cell.faults.score_case` from the ground truth
and the sort log (the rows written during the case), never from the sorter's result.

``sorting-cell bench faults --out DIR`` runs the registry (``--cases`` picks some) and writes
``DIR/summary.json``; ``test/system/test_faults.py`` runs the quick ones.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import rclpy
from action_msgs.msg import GoalStatus
from rclpy.signals import SignalHandlerOptions

from sorting_cell.bringup import _die_with_parent, local_env, node_set
from sorting_cell.faults import Outcome, score_case

from .cell_client import SortingCell, SorterGone, SortOutcome, SortRejected
from .liveness import LivenessWatch, NodeState
from .qos import HEARTBEAT_LEASE_S
from .sim_probe import SimProbe

__all__ = ['FaultCell', 'Case', 'CaseRun', 'CASES', 'run_cases', 'CellOptions']

NODES = ('sim', 'cell_frames', 'proposals', 'clustering', 'sorter')
ARM_ACTION = '/joint_trajectory_controller/follow_joint_trajectory'   # the sim's
SORTER_READY = 'sort_objects action server ready'


@dataclass
class CellOptions:
    boxes: int = 3
    n_objects: int = 6
    seed: int = 100
    real_time_factor: float = 4.0
    service_timeout: float = 10.0     # sorter: perception services
    snapshot_timeout: float = 20.0
    arm_server_timeout: float = 20.0   # also how long the arm asks the sim for its boxes


class _Proc:
    """One node process (its own session: a kill reaches everything it started)."""

    def __init__(self, spec, env: dict, log_dir: Path):
        self.spec, self.env, self.log_path = spec, env, log_dir / f'{spec.name}.log'
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.extra: dict[str, str] = {}

    def start(self, **extra) -> None:
        self.extra = {k: str(v) for k, v in extra.items()}
        self.starts += 1
        with open(self.log_path, 'a') as log:
            log.write(f'--- start {self.starts} ---\n')
            log.flush()
            cmd = self.spec.command()
            for key, value in self.extra.items():
                cmd += ['-p', f'{key}:={value}']
            # Own session (a node's signals are the case's), but ends with the bench even when
            # the bench is killed: a stopped bench never leaves its cell running.
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGCONT)   # a stopped process must not stay a zombie's parent
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=20)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_since_start(self) -> str:
        text = self.log_path.read_text(errors='replace') if self.log_path.exists() else ''
        return text.rpartition(f'--- start {self.starts} ---')[2]

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_since_start():
                return
            if not self.alive():
                raise RuntimeError(f'{self.spec.name} exited ({self.proc.returncode}): '
                                   f'{self.log_since_start()[-1500:]}')
            time.sleep(0.1)
        raise TimeoutError(f'{self.spec.name} did not log {text!r} within {timeout:.0f} s')


class FaultCell:
    """The sim cell as one process per node, a ground-truth probe and a client."""

    def __init__(self, workdir: Path, options: CellOptions | None = None,
                 domain: int | None = None):
        self.opt = options or CellOptions()
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / 'sortlog'
        (self.workdir / 'nodes').mkdir(parents=True, exist_ok=True)
        self.domain = domain if domain is not None else random.randint(120, 220)
        # this machine only, images unfragmented (config/fastdds_local.xml)
        env = local_env(self.domain, dict(os.environ, PYTHONUNBUFFERED='1'))
        env.setdefault('MUJOCO_GL', 'egl')
        o = self.opt
        overrides = {
            'sim': {'num_boxes': o.boxes, 'n_objects': o.n_objects, 'seed': o.seed,
                    'real_time_factor': o.real_time_factor, 'camera_rate': 5.0,
                    'publish_ground_truth': 'true'},
            'sorter': {'perception': 'nodes', 'service_timeout': o.service_timeout,
                       'snapshot_timeout': o.snapshot_timeout,
                       'arm.server_timeout': o.arm_server_timeout},
        }
        overrides = {n: {k: str(v) for k, v in p.items()} for n, p in overrides.items()}
        self.procs = {s.name: _Proc(s, env, self.workdir / 'nodes')
                      for s in node_set('sim', overrides)}
        self.seed = o.seed
        self.ctx = None
        self.probe: SimProbe | None = None
        self.watch: LivenessWatch | None = None
        self.client: SortingCell | None = None
        self.sorter_log_dir = self.log_dir

    # -- processes -------------------------------------------------------------------
    def start(self, name: str, wait_ready: bool = True, **extra) -> None:
        if name == 'sorter':
            extra.setdefault('sort_log_dir', self.log_dir)
            self.sorter_log_dir = Path(extra['sort_log_dir'])
        self.procs[name].start(**extra)
        if name == 'sorter' and wait_ready:
            self.sorter_ready()

    def sorter_ready(self) -> None:
        self.procs['sorter'].wait_log(SORTER_READY, 180.0)

    def kill(self, name: str) -> None:
        self.procs[name].kill()

    def hang(self, name: str) -> None:
        self.procs[name].signal(signal.SIGSTOP)

    def unhang(self, name: str) -> None:
        self.procs[name].signal(signal.SIGCONT)

    def up(self) -> None:
        self.ctx = rclpy.Context()
        # No rclpy signal handlers: Ctrl-C must reach the bench as KeyboardInterrupt, which
        # stops the cell; rclpy's own handler only shuts the context down and the cases
        # went on.
        rclpy.init(context=self.ctx, domain_id=self.domain,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.probe = SimProbe(self.ctx, name='fault_matrix_probe', history=True,
                              actions=(ARM_ACTION,))
        # The nodes that publish a heartbeat: a case starts only once all of them beat.
        self.watch = LivenessWatch(self.probe.node, [n for n in NODES if n != 'cell_frames'])
        for name in NODES:
            if name != 'sorter':
                self.procs[name].start()
        self.probe.wait_truth(self.seed, -1.0, 240.0)
        self.start('sorter')
        self.client = SortingCell(context=self.ctx, server_timeout=120.0)
        self.wait_alive()

    def ensure_up(self) -> None:
        """Every node running and not stopped (after a case that left one down), and
        heard alive by this probe and by the sorter itself."""
        for name in NODES:
            self.unhang(name)
            if not self.procs[name].alive():
                if name == 'sorter':
                    self.start('sorter')
                else:
                    self.procs[name].start()
        if self.sorter_log_dir != self.log_dir:
            self.procs['sorter'].stop()
            self.start('sorter')
        self.wait_alive()
        self.wait_sorter_hears_all()

    def wait_sorter_hears_all(self, timeout: float = 120.0) -> None:
        """Until the sorter, too, hears every node it said gone (its own view can lag this
        probe's on a loaded machine; a case started before would meet a refusal)."""
        followed = [n for n in NODES if n not in ('sorter', 'cell_frames')]
        deadline = time.monotonic() + timeout
        while True:
            log = self.procs['sorter'].log_since_start()
            deaf = [n for n in followed
                    if log.rfind(f'{n} is gone') > log.rfind(f'{n} is alive again')]
            if not deaf:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f'the sorter did not hear {deaf} again within '
                                   f'{timeout:.0f} s')
            time.sleep(0.1)

    def wait_alive(self, timeout: float = 180.0) -> None:
        """Until every node's heartbeat is heard (a continued or restarted node can take a
        while to beat again under load; the next case must not meet it still dead)."""
        deadline = time.monotonic() + timeout
        while True:
            down = [n for n, s in self.watch.states().items() if s is not NodeState.ALIVE]
            if not down:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f'no heartbeat from {down} within {timeout:.0f} s')
            time.sleep(0.1)

    def log_tails(self, chars: int = 1500) -> str:
        """The end of each node's log (what a failed case shows)."""
        return '\n'.join(f'--- {p.name}\n{p.read_text(errors="replace")[-chars:]}'
                         for p in sorted((self.workdir / 'nodes').glob('*.log')))

    def reconnect(self) -> None:
        """A new client (a case that ended in an error may leave the old one unheard)."""
        if self.client is not None:
            self.client.close()
        self.client = SortingCell(context=self.ctx, server_timeout=120.0)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.watch is not None:
            self.watch.close()
        for name in reversed(NODES):
            self.procs[name].stop()
        if self.probe is not None:
            self.probe.close()
        if self.ctx is not None:
            rclpy.try_shutdown(context=self.ctx)

    # -- trays -----------------------------------------------------------------------
    def new_tray(self) -> dict:
        """Lay out the next tray (a new seed) and return its ground truth."""
        self.seed += 1
        self.probe.reset(self.seed)
        # a second of the new tray (its objects have settled)
        first = self.probe.wait_truth(self.seed, -1.0, 180.0)
        return self.probe.wait_truth(self.seed, first['sim_time'] + 1.0, 180.0)

    def settled_truth(self, timeout: float = 120.0) -> dict:
        """A ground truth at least 1.5 s of sim time after the current one."""
        now = self.probe.latest() or self.probe.wait_truth(self.seed, -1.0, timeout)
        return self.probe.wait_truth(now['seed'], now['sim_time'] + 1.5, timeout)


def _logged_rows(log_dirs: list[Path], since: float) -> list[dict]:
    """Objects of the sorts that planned or moved objects since ``since`` (epoch s): the
    sorts of this tray (abandoning an older tray's sort moves nothing); dry runs left out."""
    rows = []
    for d in log_dirs:
        path = Path(d) / 'sortlog.sqlite3'
        if not path.exists():
            continue
        db = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=10.0)
        try:
            ids = [r[0] for r in db.execute(
                "SELECT DISTINCT sort_id FROM events WHERE t >= ? AND "
                "(object_id IS NOT NULL OR event = 'begin')", (since,))]
            for sid in ids:
                opts = json.loads(db.execute('SELECT options FROM sorts WHERE sort_id=?',
                                             (sid,)).fetchone()[0])
                if opts.get('dry_run'):
                    continue
                for oid, box, state, info in db.execute(
                        'SELECT object_id, box, state, info FROM objects WHERE sort_id=?',
                        (sid,)):
                    rows.append({'sort_id': sid, 'object_id': oid, 'box': box,
                                 'state': state, 'position': json.loads(info).get('position')})
        finally:
            db.close()
    return rows


def sort_state(log_dir: Path, sort_id: str) -> tuple[str, dict]:
    """A sort's state and its objects' states, read-only."""
    db = sqlite3.connect(f'file:{Path(log_dir) / "sortlog.sqlite3"}?mode=ro', uri=True,
                         timeout=10.0)
    try:
        row = db.execute('SELECT state FROM sorts WHERE sort_id=?', (sort_id,)).fetchone()
        objs = dict(db.execute('SELECT object_id, state FROM objects WHERE sort_id=?',
                               (sort_id,)))
    finally:
        db.close()
    return (row[0] if row else ''), objs


class CaseFailed(RuntimeError):
    """The case could not play out as scripted (e.g. the goal ended before the fault)."""


class CaseRun:
    """What a case function uses: trays, goals, faults, the clock of the fault."""

    def __init__(self, cell: FaultCell):
        self.cell = cell
        self.segments: list[dict] = []     # one scored tray each
        self._start: dict | None = None
        self._fault_at: float | None = None
        self.final_override: dict | None = None
        self.log_dirs = [cell.log_dir]
        self._tray_since = time.time()
        self.notes: list[str] = []

    # trays
    def tray(self) -> dict:
        self.close_tray()
        self.cell.probe.take_history()
        self._start = self.cell.new_tray()
        self._tray_since = time.time()
        self.cell.probe.take_history()
        return self._start

    def close_tray(self) -> None:
        if self._start is None:
            return
        final = self.final_override or self.cell.settled_truth()
        history = [t['objects'] for t in self.cell.probe.take_history()
                   if t['seed'] == self._start['seed']]
        score = score_case(self._start['objects'], history, final['objects'],
                           _logged_rows(self.log_dirs, self._tray_since))
        self.segments.append({'seed': self._start['seed'], **score.as_dict()})
        self._start, self.final_override = None, None

    # goals
    def send(self, num_boxes: int | None = None, **options):
        return self.cell.client.sort_async(
            self.cell.opt.boxes if num_boxes is None else num_boxes, **options)

    def sort(self, num_boxes: int | None = None, timeout: float = 600.0, **options):
        return self.send(num_boxes, **options).wait(timeout)

    def until(self, task, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(f) for f in list(task.feedback)):
                return
            if task.done():
                raise CaseFailed(f'the goal ended before {what}')
            time.sleep(0.02)
        raise CaseFailed(f'no feedback {what} within {timeout:.0f} s')

    def until_picks(self, task, n: int, timeout: float = 300.0) -> None:
        self.until(task, lambda f: f.phase == 'pick' and f.objects_done >= n, timeout,
                   f'{n} object(s) done')

    def until_lifted(self, task, timeout: float = 300.0) -> str:
        """The first object held above its start height (being carried to its box)."""
        start = self._start['objects']
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.cell.probe.latest()
            if t is not None:
                for name, o in t['objects'].items():
                    if o['box'] < 0 and o['position'][2] > start[name]['position'][2] + 0.05:
                        return name
            if task.done():
                raise CaseFailed('the goal ended before an object was lifted')
            time.sleep(0.02)
        raise CaseFailed(f'no object lifted within {timeout:.0f} s')

    def fault(self) -> None:
        """The fault is injected now: seconds_to_report counts from here."""
        self._fault_at = time.monotonic()

    def since_fault(self) -> float:
        return time.monotonic() - (self._fault_at or time.monotonic())

    def wait(self, task, timeout: float) -> tuple[Outcome, str, SortOutcome | None, float]:
        """What the client is told: (outcome, message, result, seconds since the fault)."""
        try:
            res = task.wait(timeout)
        except SorterGone as exc:
            return Outcome.SORTER_GONE, str(exc), None, self.since_fault()
        except TimeoutError as exc:
            return Outcome.TIMEOUT, str(exc), None, self.since_fault()
        return classify(res), res.message, res, self.since_fault()

    def sorter_idle(self, timeout: float = 300.0) -> None:
        """Wait until no sort of the sorter's log is running (a goal nobody waits for)."""
        deadline = time.monotonic() + timeout
        path = self.cell.sorter_log_dir / 'sortlog.sqlite3'
        while time.monotonic() < deadline:
            db = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=10.0)
            try:
                running = db.execute("SELECT COUNT(*) FROM sorts WHERE state='running'"
                                     ).fetchone()[0]
            finally:
                db.close()
            if not running:
                return
            time.sleep(0.2)
        raise CaseFailed(f'the sorter still runs a sort after {timeout:.0f} s')

    def resume_to_end(self) -> SortOutcome:
        """The README's plain goal again, until the tray is sorted."""
        # The log says a sort ended before the sorter has homed the arm and taken the next
        # goal: a goal sent in between is rejected as busy; send it again.
        deadline = time.monotonic() + 120.0
        while True:
            try:
                res = self.sort()
                break
            except SortRejected:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.notes.append(f'plain goal again: {res.status}, resumed {res.resumed}, '
                          f'{sum(o.success for o in res.objects)}/{len(res.objects)} placed'
                          + (f', {res.message}' if res.message else ''))
        return res


def classify(res: SortOutcome) -> Outcome:
    if res.status == 'canceled':
        return Outcome.CANCELED
    if res.status == 'aborted':
        return Outcome.REFUSED if 'nothing was moved' in res.message else Outcome.ABORTED
    if res.status == 'succeeded':
        if not res.success:
            return Outcome.FAILED
        return Outcome.RESUMED if res.resumed else Outcome.SUCCEEDED
    return Outcome.ERROR


@dataclass(frozen=True)
class Case:
    """One row of the matrix: ``run(CaseRun) -> (outcome, seconds_to_report, detail)``."""

    name: str
    what: str
    run: Callable[[CaseRun], tuple[Outcome, float, str]]
    expect: tuple[Outcome, ...]
    bound_s: float
    quick: bool = False          # cheap enough for the system test
    needs_mount: bool = False


# -- the cases ------------------------------------------------------------------------
LEASE_BOUND = HEARTBEAT_LEASE_S + 10.0


def _sorter_killed_plain_goal_resumes(run: CaseRun):
    run.tray()
    task = run.send()
    run.until_picks(task, 2)
    run.cell.kill('sorter')
    run.fault()
    told, msg, _, seconds = run.wait(task, LEASE_BOUND + 30)
    run.cell.start('sorter')
    res = run.resume_to_end()
    outcome = classify(res)
    return outcome, seconds, f'client while dead: {told.value} ({msg[:120]})'


def _client_waits_sorter_restarted(run: CaseRun):
    run.tray()
    task = run.send()
    run.until_picks(task, 1)
    run.cell.kill('sorter')
    run.fault()
    # Restarted at once, while the client waits: the new sorter's heartbeat must not hide
    # the loss of the one that had the goal.
    run.cell.start('sorter', wait_ready=False)
    told, msg, _, seconds = run.wait(task, LEASE_BOUND + 120)
    run.cell.sorter_ready()
    run.resume_to_end()
    return told, seconds, msg[:200]


def _sorter_hung(run: CaseRun):
    run.tray()
    task = run.send()
    run.until_picks(task, 1)
    run.cell.hang('sorter')
    run.fault()
    told, msg, _, seconds = run.wait(task, LEASE_BOUND + 30)
    run.cell.unhang('sorter')
    run.sorter_idle()            # the continued goal ends on its own
    res = run.resume_to_end()    # anything it left
    return told, seconds, f'{msg[:160]}; after SIGCONT: {res.status}'


def _sim_down_mid_sort(kind: str):
    def case(run: CaseRun):
        run.tray()
        task = run.send()
        run.until_picks(task, 1)
        if kind == 'kill':
            run.cell.kill('sim')
            # the sim's world dies with it: the case ends with its last ground truth
            run.final_override = run.cell.probe.latest()
        else:
            run.cell.hang('sim')
        run.fault()
        told, msg, res, seconds = run.wait(task, 240)
        detail = msg[:200]
        if res is not None:
            state, objs = sort_state(run.cell.sorter_log_dir, res.sort_id)
            resumable = state not in ('succeeded', 'failed', 'abandoned')
            detail += f'; log: sort {state}, objects {sorted(set(objs.values()))}'
            if not resumable:
                told = Outcome.FAILED
        if kind == 'kill':
            run.cell.procs['sim'].start()
            run.cell.probe.wait_truth(run.cell.opt.seed, -1.0, 240.0)
        else:
            run.cell.unhang('sim')
            if told in (Outcome.ABORTED, Outcome.TIMEOUT, Outcome.SORTER_GONE):
                run.sorter_idle()
                res2 = run.resume_to_end()
                detail += f'; after SIGCONT, plain goal: {classify(res2).value}'
        return told, seconds, detail
    return case


def _three_trays_no_false_box_full(run: CaseRun):
    outcomes, t0 = [], time.monotonic()
    for _ in range(3):
        run.tray()
        res = run.sort()
        full = [o.reason for o in res.objects if o.reason.startswith('box_full')]
        outcomes.append((classify(res), full))
    bad = [f for _, f in outcomes if f]
    # a pick that failed for another reason is reported and leaves its object on the tray
    # (the score says whether anything was lost); box_full with boxes emptied is false
    told = (Outcome.FALSE_REPORT if bad else
            next((o for o, _ in outcomes if o != Outcome.SUCCEEDED), Outcome.SUCCEEDED))
    return told, (time.monotonic() - t0) / 3, (
        f'box_full on trays: {bad}' if bad else 'no box_full; the three sorts: ' +
        ', '.join(o.value for o, _ in outcomes))


def _too_many_boxes(run: CaseRun):
    run.tray()
    run.fault()
    told, msg, _, seconds = run.wait(run.send(run.cell.opt.boxes + 2), 120)
    return told, seconds, msg[:200]


def _resume_after_newer_finished_sort(run: CaseRun):
    run.tray()
    task = run.send()
    run.until_picks(task, 1)
    run.cell.kill('sorter')
    run.wait(task, LEASE_BOUND + 30)
    run.cell.start('sorter')
    run.tray()                                  # a new tray
    newer = run.sort(max_objects=1)             # the newer sort, finished
    run.notes.append(f'newer sort: {newer.status}, resumed {newer.resumed}')
    if newer.resumed:
        return Outcome.ERROR, 0.0, 'the killed sort was resumed on a new tray'
    run.fault()
    told, msg, res, seconds = run.wait(run.send(resume=True), 120)
    if res is not None and res.status == 'aborted' and res.sort_id in ('', newer.sort_id):
        told = Outcome.REFUSED
    return told, seconds, msg[:200]


def _minus_one_boxes(run: CaseRun):
    run.fault()
    try:
        run.send(-1)
    except ValueError as exc:
        return Outcome.REFUSED, run.since_fault(), str(exc)
    return Outcome.ERROR, run.since_fault(), 'num_boxes=-1 was sent'


def _perception_node_down(node: str, kind: str):
    def case(run: CaseRun):
        run.tray()
        (run.cell.kill if kind == 'killed' else run.cell.hang)(node)
        run.fault()
        told, msg, _, seconds = run.wait(run.send(), 240)
        if kind == 'killed':
            run.cell.procs[node].start()
        else:
            run.cell.unhang(node)
        return told, seconds, msg[:200]
    return case


def _cancel(when: str):
    def case(run: CaseRun):
        run.tray()
        task = run.send()
        if when == 'perception':
            run.until(task, lambda f: f.phase in ('detect', 'cluster'), 120, 'perception')
        elif when == 'pick':
            run.until(task, lambda f: f.phase == 'pick' and f.current_object_id != ''
                      and f.objects_done >= 1, 300, 'a pick under way')
        else:
            run.until_picks(task, 1)
            run.until_lifted(task)
        run.fault()
        task.cancel()
        told, msg, _, seconds = run.wait(task, 120)
        res = run.resume_to_end()
        return told, seconds, f'{msg[:120]}; then {classify(res).value}'
    return case


def _arm_controller_off(when: str):
    """The arm's trajectory controller switched off (the sim's ``arm_controller_active``, what
    a controller switch does on a real cell): before the goal its first motion is rejected;
    while an object is carried the running motion is aborted and the next one rejected.
    Switched on again, the plain goal must finish the tray."""
    def case(run: CaseRun):
        run.tray()
        probe = run.cell.probe
        aborted = 0     # aborted arm goals before the switch (checked for 'pick' only)
        if when == 'goal':
            probe.set_parameters('sim', arm_controller_active=False)
            run.fault()
            task = run.send()
        else:
            task = run.send()
            run.until_picks(task, 1)
            run.until_lifted(task)
            # Switched off the moment the next motion starts (the carry), not between two:
            # at the cell's real-time factor a motion lasts a fraction of a wall second.
            started = probe.started_count(ARM_ACTION)
            deadline = time.monotonic() + 60.0
            while probe.started_count(ARM_ACTION) == started:
                if task.done() or time.monotonic() > deadline:
                    raise CaseFailed('no arm motion started after the lift')
                time.sleep(0.002)
            aborted = probe.goal_count(ARM_ACTION, GoalStatus.STATUS_ABORTED)
            probe.set_parameters('sim', arm_controller_active=False)
            run.fault()
        try:
            told, msg, _, seconds = run.wait(task, 240)
        finally:
            probe.set_parameters('sim', arm_controller_active=True)
        if when != 'goal' and probe.goal_count(ARM_ACTION, GoalStatus.STATUS_ABORTED) == aborted:
            # (the aborted status can reach the probe after the sorter's result)
            run.cell.probe.wait_truth(None, run.cell.probe.latest()['sim_time'] + 1.0, 60.0)
            if probe.goal_count(ARM_ACTION, GoalStatus.STATUS_ABORTED) == aborted:
                raise CaseFailed('the motion under way ended before the switch: no abort seen')
        res = run.resume_to_end()
        return told, seconds, f'{msg[:200]}; switched on, plain goal: {classify(res).value}'
    return case


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                   check=True, capture_output=True, text=True)


def _umount(path: Path) -> None:
    subprocess.run(['umount', '-l', str(path)], capture_output=True)


def can_mount(workdir: Path) -> str:
    """'' when a tmpfs can be mounted here, else why not."""
    probe = Path(workdir) / 'mount_probe'
    try:
        _mount_tmpfs(probe, '64k')
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError) as exc:
        return f'cannot mount a tmpfs here ({getattr(exc, "stderr", "") or exc})'.strip()
    _umount(probe)
    return ''


def _fill(where: Path) -> None:
    """Fill the file system of ``where`` to the last byte."""
    try:
        with open(where / 'filler', 'ab') as fh:
            while True:
                fh.write(b'\0' * 65536)
                fh.flush()
    except OSError:
        pass
    try:
        with open(where / 'filler_tail', 'ab') as fh:   # the last partial block
            while True:
                fh.write(b'\0' * 512)
                fh.flush()
    except OSError:
        pass


def _sort_log_on_tmpfs(name: str, size: str):
    """Run ``body(run, where)`` with the sorter's log on a fresh tmpfs at ``name``."""
    def wrap(body):
        def case(run: CaseRun):
            where = run.cell.workdir / name
            _mount_tmpfs(where, size)
            try:
                run.cell.procs['sorter'].stop()
                run.cell.start('sorter', sort_log_dir=where)
                run.log_dirs.append(where)
                out = body(run, where)
                run.close_tray()   # scored while the log is still mounted
                return out
            finally:
                run.cell.procs['sorter'].stop()
                _umount(where)
                run.cell.start('sorter')
        return case
    return wrap


@_sort_log_on_tmpfs('full_disk', '1m')
def _sort_log_disk_full(run: CaseRun, where: Path):
    _fill(where)
    run.tray()
    run.fault()
    told, msg, _, seconds = run.wait(run.send(), 120)
    return told, seconds, msg[:240]


@_sort_log_on_tmpfs('full_disk_mid', '8m')
def _sort_log_disk_full_mid_sort(run: CaseRun, where: Path):
    run.tray()
    task = run.send()
    run.until_picks(task, 1)
    _fill(where)
    run.fault()
    told, msg, _, seconds = run.wait(task, 240)
    for f in ('filler', 'filler_tail'):
        (where / f).unlink(missing_ok=True)
    res = run.resume_to_end()
    return told, seconds, f'{msg[:200]}; space freed, plain goal: {classify(res).value}'


def _sort_log_read_only(run: CaseRun):
    where = run.cell.workdir / 'ro_disk'
    _mount_tmpfs(where, '8m')
    sorter = run.cell.procs['sorter']
    try:
        sorter.stop()
        subprocess.run(['mount', '-o', 'remount,ro', str(where)], check=True,
                       capture_output=True)
        run.fault()
        sorter.start(**{**sorter.extra, 'sort_log_dir': str(where)})
        try:
            sorter.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            return Outcome.TIMEOUT, run.since_fault(), 'the sorter started on a read-only log'
        last = sorter.log_since_start().strip().splitlines()
        told = Outcome.REFUSED if sorter.proc.returncode == 2 else Outcome.ERROR
        return told, run.since_fault(), (f'sorter exit status {sorter.proc.returncode}: '
                                         + (last[-1][:240] if last else ''))
    finally:
        sorter.stop()
        _umount(where)
        run.cell.start('sorter')


_NODE_BOUND = 30.0
CASES: dict[str, Case] = {c.name: c for c in [
    Case('sorter_killed_then_plain_goal', 'sorter SIGKILLed after 2 picks, restarted, the '
         "README's plain goal sent again", _sorter_killed_plain_goal_resumes,
         (Outcome.RESUMED,), LEASE_BOUND, quick=True),
    Case('client_waiting_sorter_killed_and_restarted', 'sorter SIGKILLed mid-sort and '
         'restarted while the client waits', _client_waits_sorter_restarted,
         (Outcome.SORTER_GONE,), LEASE_BOUND),
    Case('sorter_hung', 'sorter SIGSTOPped mid-sort while the client waits, then SIGCONT',
         _sorter_hung, (Outcome.SORTER_GONE,), LEASE_BOUND),
    Case('sim_killed_mid_sort', 'the sim (robot and camera) SIGKILLed mid-sort',
         _sim_down_mid_sort('kill'), (Outcome.ABORTED,), 20.0),
    Case('sim_hung_mid_sort', 'the sim SIGSTOPped mid-sort, SIGCONT after the outcome, plain '
         'goal again', _sim_down_mid_sort('hang'), (Outcome.ABORTED,), 40.0),
    Case('three_trays_with_resets', 'three trays in one cell, sim/reset between: no false '
         'box_full', _three_trays_no_false_box_full, (Outcome.SUCCEEDED, Outcome.FAILED),
         600.0),
    Case('more_boxes_than_the_cell', 'num_boxes = the cell\'s boxes + 2',
         _too_many_boxes, (Outcome.REFUSED,), 15.0, quick=True),
    Case('resume_after_newer_finished_sort', 'sorter killed mid-sort, a new tray sorted by a '
         'newer goal, then resume=True', _resume_after_newer_finished_sort,
         (Outcome.REFUSED,), 30.0),
    Case('num_boxes_minus_one', 'the client asked for num_boxes=-1', _minus_one_boxes,
         (Outcome.REFUSED,), 1.0, quick=True),
    *[Case(f'{node}_{kind}', f'the {node} node {"SIGKILLed" if kind == "killed" else "SIGSTOPped"} '
           'before the goal (dead while the sorter perceives)', _perception_node_down(node, kind),
           (Outcome.REFUSED, Outcome.ABORTED), _NODE_BOUND)
      for node in ('proposals', 'clustering') for kind in ('killed', 'hung')],
    *[Case(f'cancel_during_{when}', f'cancel during {when}, then the plain goal again',
           _cancel(when), (Outcome.CANCELED,), 60.0 if when == 'perception' else 30.0,
           quick=when == 'pick')
      for when in ('perception', 'pick', 'place')],
    Case('arm_controller_off_at_goal', "the arm's trajectory controller switched off when "
         'the goal comes (its motions rejected); on again, plain goal',
         _arm_controller_off('goal'), (Outcome.ABORTED,), 90.0, quick=True),
    Case('arm_controller_off_mid_pick', "the arm's trajectory controller switched off while "
         'an object is carried (that motion aborted); on again, plain goal',
         _arm_controller_off('pick'), (Outcome.ABORTED,), 60.0),
    Case('sort_log_disk_full', 'the sort log on a full tmpfs (1 MB, filled) when the goal '
         'comes', _sort_log_disk_full, (Outcome.REFUSED,), 30.0, needs_mount=True),
    Case('sort_log_disk_full_mid_sort', 'the sort log\'s tmpfs filled after the first pick; '
         'space freed, plain goal again', _sort_log_disk_full_mid_sort, (Outcome.ABORTED,),
         30.0, needs_mount=True),
    Case('sort_log_read_only', 'the sorter started with its sort log on a read-only tmpfs',
         _sort_log_read_only, (Outcome.REFUSED,), 60.0, needs_mount=True),
]}


def run_case(cell: FaultCell, case: Case, mount_problem: str = '') -> dict:
    """Play one case on ``cell`` and score it; never raises for a case's own failure."""
    if case.needs_mount and mount_problem:
        return {'name': case.name, 'outcome': Outcome.SKIPPED.value, 'lost': 0,
                'duplicated': 0, 'seconds_to_report': None, 'bound_s': case.bound_s,
                'ok': None, 'detail': mount_problem, 'what': case.what}
    run = CaseRun(cell)
    t0 = time.monotonic()
    try:
        outcome, seconds, detail = case.run(run)
        run.close_tray()
    except Exception as exc:  # noqa: BLE001 - one case's failure is its row, not the run's
        outcome, seconds, detail = Outcome.ERROR, None, f'{type(exc).__name__}: {exc}'
        try:
            run.close_tray()
        except Exception as exc2:  # noqa: BLE001
            detail += f'; scoring failed: {exc2}'
    lost = sum(s['lost'] for s in run.segments)
    dup = sum(s['duplicated'] for s in run.segments)
    ok = (outcome in case.expect and lost == 0 and dup == 0 and seconds is not None
          and seconds <= case.bound_s)
    row = {'name': case.name, 'outcome': outcome.value, 'lost': lost, 'duplicated': dup,
           'seconds_to_report': None if seconds is None else round(seconds, 2),
           'bound_s': case.bound_s, 'expected': [e.value for e in case.expect], 'ok': ok,
           'detail': detail, 'notes': run.notes, 'what': case.what,
           'trays': run.segments, 'wall_s': round(time.monotonic() - t0, 1)}
    try:
        cell.ensure_up()
        if outcome == Outcome.ERROR:
            # Seen after a sorter was SIGSTOPped and continued: it finished its goal but
            # the same client's next goals got no answer. Reported in the row; the next
            # case gets a fresh client.
            cell.reconnect()
    except Exception as exc:  # noqa: BLE001
        row['notes'].append(f'cell not restored: {exc}')
    return row


def run_cases(workdir: Path, names: list[str] | None = None,
              options: CellOptions | None = None, echo=print,
              on_row: Callable[[list[dict]], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> list[dict]:
    """Start one cell, play ``names`` (default: all) on it, stop it; the rows
    (``on_row(rows so far)`` after each case). KeyboardInterrupt (the cell stopped) when
    ``should_stop()`` says so before a case."""
    unknown = sorted(set(names or ()) - set(CASES))
    if unknown:
        raise ValueError(f'unknown fault case(s) {unknown}; known: {sorted(CASES)}')
    cell = FaultCell(workdir, options)
    rows = []
    mount_problem = can_mount(workdir)
    try:
        cell.up()
        for name in names or list(CASES):
            if should_stop():
                raise KeyboardInterrupt
            row = run_case(cell, CASES[name], mount_problem)
            echo(format_row(row))
            rows.append(row)
            if on_row is not None:
                on_row(rows)
    finally:
        cell.close()
    return rows


def format_row(row: dict) -> str:
    s = row['seconds_to_report']
    mark = {True: 'ok', False: 'NOT OK', None: '-'}[row['ok']]
    return (f"{row['name']:<44} {row['outcome']:<12} lost {row['lost']} dup "
            f"{row['duplicated']} {'-' if s is None else f'{s:.1f}'} s "
            f"(bound {row['bound_s']:.0f}) {mark}")


if __name__ == '__main__':   # python -m sorting_cell.nodes.fault_matrix CASE... (debugging)
    out = Path(os.environ.get('FAULTS_OUT', '/tmp/faults'))
    for r in run_cases(out, sys.argv[1:] or None):
        print(json.dumps(r)[:400])
