"""Process supervisor behind ``sorting-cell up``: start a node set, show its health, stop it.

Each node runs as its own process, ``python -m sorting_cell.nodes.<name> --ros-args
--params-file <config>/<name>.yaml -p ...``, exactly as a launch file would start it. The
supervisor

- refuses to start when a node module is missing (and says which), unless told to skip it;
- points every child at the shipped Fast DDS shared-memory profile (``config/fastdds_shm.xml``;
  see benchmarks/results/ros_latency.md) unless the user already chose a profile;
- shows health every few seconds: each process alive or its exit code, message rates on the
  key topics and the latched ``clustering/ready`` state (read by a monitor node, itself a child
  process, so this module never imports rclpy);
- restarts nothing: a node that dies is reported loudly with the end of its log;
- on Ctrl-C / SIGTERM sends SIGINT to every child, waits, then SIGTERM, then SIGKILL, and
  reports how each one ended. Children live in their own sessions (so a terminal Ctrl-C reaches
  them once, through the supervisor) and get SIGTERM from the kernel if the supervisor itself
  is killed (``PR_SET_PDEATHSIG``), so no orphans are left either way.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Sequence

__all__ = ['NodeSpec', 'Supervisor', 'NODE_SETS', 'KEY_TOPICS', 'LATCHED_TOPICS',
           'MissingNodeError', 'node_set', 'robot_node_set', 'ROS2_CONTROL_FACTORY',
           'find_config', 'shm_profile', 'missing_modules',
           'transport_env', 'local_env', 'ui_spec', 'TRANSPORTS']

NODE_SETS: dict[str, list[str]] = {
    'camera': ['camera', 'proposals', 'clustering', 'sorter'],
    'replay': ['replay', 'proposals', 'clustering', 'sorter'],
    'sim': ['sim', 'cell_frames', 'proposals', 'clustering', 'sorter'],
    # a real arm under its own driver; 'camera' only when camera.driver is 'opencv'
    'robot': ['camera', 'cell_frames', 'proposals', 'clustering', 'sorter'],
}
#: The sorter's arm backend for a real robot (ros2_control FollowJointTrajectory +
#: GripperCommand action clients), unless the cell configuration names another.
ROS2_CONTROL_FACTORY = 'sorting_cell.nodes.ros2_control_arm:make_manipulator'
# Per node set: parameters that make the set what it is.
SET_OVERRIDES: dict[str, dict[str, dict[str, str]]] = {
    # the sorter follows its camera's heartbeat (the sim's: 'auto' with manipulator 'sim')
    'camera': {'sorter': {'manipulator': 'none', 'watch_nodes': '[auto,camera]'}},
    'replay': {'sorter': {'manipulator': 'none'},
               # the first frames must not go out before the proposals node listens
               'replay': {'wait_for_subscribers': '1'}},
    'sim': {'sorter': {'manipulator': 'sim'}, 'cell_frames': {'source': 'sim'}},
}
KEY_TOPICS = ['camera/image_raw', 'detections', 'assignments']
LATCHED_TOPICS = ['clustering/ready']
MONITOR = 'monitor'


class MissingNodeError(RuntimeError):
    """A node module of the requested set does not exist in this installation."""


@dataclass
class NodeSpec:
    """How to start one node process."""

    name: str
    module: str
    params_file: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    internal: bool = False  # the monitor: not part of the cell itself
    remaps: dict[str, str] = field(default_factory=dict)   # topic -> topic

    def command(self, python: str = sys.executable) -> list[str]:
        cmd = [python, '-m', self.module, '--ros-args']
        if self.params_file is not None:
            cmd += ['--params-file', str(self.params_file)]
        for key, value in self.overrides.items():
            # rcl rejects `key:=` ; the YAML empty string is what an empty value means
            cmd += ['-p', f'{key}:={value}' if str(value) != '' else f"{key}:=''"]
        for src, dst in self.remaps.items():
            cmd += ['-r', f'{src}:={dst}']
        return cmd


def _config_dirs() -> list[Path]:
    dirs = []
    if os.environ.get('SORTING_CELL_CONFIG'):
        dirs.append(Path(os.environ['SORTING_CELL_CONFIG']))
    # A source checkout (editable install) first: that is what a developer edits.
    dirs.append(Path(__file__).resolve().parents[2] / 'config')
    for prefix in [sys.prefix, *os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)]:
        if prefix:
            dirs.append(Path(prefix) / 'share' / 'sorting_cell' / 'config')
    return dirs


def find_config(filename: str) -> Path | None:
    """The first ``filename`` in $SORTING_CELL_CONFIG, the source tree's config/, or an
    installed share/sorting_cell/config/."""
    for folder in _config_dirs():
        if (folder / filename).is_file():
            return folder / filename
    return None


#: Fast DDS transports for the cell's processes: the shipped profile of each (None: Fast
#: DDS's built-in transports, shared memory and UDP). 'auto' keeps a profile the user set,
#: else 'shm'.
TRANSPORT_PROFILES = {'shm': 'fastdds_shm.xml', 'local': 'fastdds_local.xml', 'default': None}
TRANSPORTS = ('auto', *TRANSPORT_PROFILES)


def shm_profile() -> Path | None:
    """The shipped Fast DDS shared-memory profile."""
    return find_config(TRANSPORT_PROFILES['shm'])


def transport_env(mode: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for children: ``mode`` 'shm' (shipped shared-memory profile), 'local'
    (the same shared memory, UDP on loopback only: a cell on this machine, see
    ``config/fastdds_local.xml``), 'default' (Fast DDS built-in transports) or 'auto' (keep
    a profile the user set, else 'shm')."""
    env = dict(os.environ if env is None else env)
    if mode not in TRANSPORTS:
        raise ValueError(f'transport must be one of {", ".join(TRANSPORTS)}, got {mode!r}')
    if mode == 'auto' and env.get('FASTRTPS_DEFAULT_PROFILES_FILE'):
        return env
    env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    filename = TRANSPORT_PROFILES['shm' if mode == 'auto' else mode]
    if mode == 'local':
        # With LOCALHOST, rmw_fastrtps adds transports of its own (a small shared-memory
        # segment, loopback UDP); the local profile is loopback-only itself.
        env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    if filename is not None:
        profile = find_config(filename)
        if profile is None:
            raise FileNotFoundError(f'{filename} not found in any config directory '
                                    f'({", ".join(map(str, _config_dirs()))})')
        env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(profile)
    return env


def local_env(domain: int, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the nodes of a cell that stays on this machine (tests, benches, the
    fault matrix): DDS domain ``domain``, the shipped local profile (large shared-memory
    segments, loopback UDP: ``config/fastdds_local.xml``)."""
    if not 0 <= domain <= 232:
        raise ValueError(f'DDS domain must be 0..232 (Fast DDS), got {domain}')
    env = transport_env('local', env)
    env['ROS_DOMAIN_ID'] = str(domain)
    return env


def missing_modules(specs: Sequence[NodeSpec]) -> list[str]:
    """Modules of ``specs`` that cannot be imported (checked without importing them)."""
    out = []
    for spec in specs:
        try:
            found = importlib.util.find_spec(spec.module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            out.append(spec.module)
    return out


def node_set(kind: str, overrides: dict[str, dict[str, str]] | None = None,
             only: Sequence[str] | None = None) -> list[NodeSpec]:
    """The :class:`NodeSpec` list of a node set ('camera', 'replay', 'sim').

    Parameters
    ----------
    kind : str
        Key of :data:`NODE_SETS`.
    overrides : dict, optional
        ``{node: {param: value}}`` on top of the set's own overrides.
    only : sequence of str, optional
        Start only these nodes of the set.
    """
    if kind not in NODE_SETS:
        raise ValueError(f'unknown node set {kind!r}; choose one of {sorted(NODE_SETS)}')
    if kind == 'robot':
        raise ValueError("the 'robot' node set comes from a cell configuration: "
                         'robot_node_set(CellConfig.load(path))')
    names = NODE_SETS[kind]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f'{unknown} not in the {kind!r} node set {names}')
        names = [n for n in names if n in only]
    specs = []
    for name in names:
        params = dict(SET_OVERRIDES.get(kind, {}).get(name, {}))
        params.update((overrides or {}).get(name, {}))
        specs.append(NodeSpec(name, f'sorting_cell.nodes.{name}', find_config(f'{name}.yaml'),
                              params))
    if kind == 'sim':
        _match_sim_frames(specs, overrides or {})
    return specs


#: The sim cell's gripper deadline, wall seconds (see :func:`_match_sim_frames`).
SIM_GRIPPER_TIMEOUT_S = 20.0


def _match_sim_frames(specs: list[NodeSpec], overrides: dict) -> None:
    """cell_frames and the sorter's arm describe the sim's cell: same boxes, the sim's camera
    frame name."""
    sim = dict(_yaml_params(find_config('sim.yaml')), **overrides.get('sim', {}))
    frames = next((s for s in specs if s.name == 'cell_frames'), None)
    if frames is not None:
        for mine, theirs in (('num_boxes', 'num_boxes'), ('camera_frame', 'frame_id')):
            if mine not in frames.overrides and theirs in sim:
                frames.overrides[mine] = str(sim[theirs])
    # Told here, the arm does not ask the sim node at start-up: on a loaded machine that
    # parameter call could outlast its timeout and stop the sorter before the cell was up.
    sorter = next((s for s in specs if s.name == 'sorter'), None)
    if (sorter is not None and 'num_boxes' in sim
            and sorter.overrides.get('manipulator') in ('sim', ROS2_CONTROL_FACTORY)
            and 'arm.num_boxes' not in sorter.overrides):
        sorter.overrides['arm.num_boxes'] = str(sim['num_boxes'])
    # A gripper goal is a fraction of a simulated second, but the sim runs slower than its
    # clock on a starved machine: in wall seconds the result can take far longer than a real
    # gripper's 5 s deadline, and a missed deadline ends the sort as 'robot not responding'.
    if (sorter is not None and sorter.overrides.get('manipulator') == 'sim'
            and 'arm.gripper_timeout' not in sorter.overrides):
        sorter.overrides['arm.gripper_timeout'] = str(SIM_GRIPPER_TIMEOUT_S)


def _yaml_params(path: Path | None) -> dict:
    """The ``/**: ros__parameters`` of a node's config file (empty when there is none)."""
    if path is None:
        return {}
    import yaml
    data = yaml.safe_load(path.read_text()) or {}
    return next(iter(data.values()), {}).get('ros__parameters', {}) if data else {}


def robot_node_set(config, overrides: dict[str, dict[str, str]] | None = None,
                   only: Sequence[str] | None = None) -> list[NodeSpec]:
    """The node set of a real cell from its :class:`~sorting_cell.cell_config.CellConfig`.

    The perception nodes subscribe to the robot's camera topics (remapped; best effort when
    the config says so), put positions in the robot base frame, and the sorter drives the
    arm's ros2_control controllers named in the config. ``use_sim_time`` goes to every node.
    """
    cam = config.camera
    remaps = {'camera/image_raw': cam.image, 'camera/camera_info': cam.camera_info}
    if cam.depth:
        remaps['camera/depth'] = cam.depth
    common = {'use_sim_time': str(config.use_sim_time).lower()}
    perception = dict(common, best_effort=str(cam.best_effort).lower(),
                      world_frame=config.frames.base, background_path=cam.background)
    arm, gripper = config.arm, config.gripper
    sorter = dict(perception, manipulator=arm.manipulator or ROS2_CONTROL_FACTORY,
                  cell_config=str(Path(config.source).resolve()) if config.source else '')
    # the parameters of nodes/ros2_control_arm.py (robot model and boxes: from cell_config)
    sorter.update({'arm.action': arm.action_name,
                   'arm.joints': '[' + ','.join(arm.joints) + ']',
                   'gripper.action': gripper.action,
                   'gripper.max_opening': repr(float(gripper.max_opening))})
    per_node = {
        'camera': dict(common, source='opencv', device=cam.device,
                       frame_id=config.frames.camera),
        'cell_frames': dict(common, source='cell_config', cell_config=sorter['cell_config']),
        'proposals': perception, 'clustering': dict(common), 'sorter': sorter}
    names = [n for n in NODE_SETS['robot'] if n != 'camera' or cam.driver == 'opencv']
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f'{unknown} not in the robot node set {names}')
        names = [n for n in names if n in only]
    specs = []
    for name in names:
        params = dict(per_node[name], **(overrides or {}).get(name, {}))
        specs.append(NodeSpec(name, f'sorting_cell.nodes.{name}', find_config(f'{name}.yaml'),
                              params, remaps=dict(remaps) if name != 'cell_frames' else {}))
    return specs


def ui_spec(specs: Sequence[NodeSpec], host: str, port: int, out_dir: str | Path,
            status_file: str | Path | None = None) -> NodeSpec:
    """The operator's page node for a node set: it listens to the cell's own camera topic
    (the perception nodes' remaps and QoS) and reads the sorter's sort log."""
    params = {'host': host, 'port': str(int(port)), 'out_dir': str(Path(out_dir).resolve())}
    if status_file is not None:
        params['status_file'] = str(Path(status_file).resolve())
    like = next((s for s in specs if s.name in ('proposals', 'sorter')), None)
    remaps = dict(like.remaps) if like is not None else {}
    for spec in specs:
        for key in ('best_effort', 'use_sim_time'):
            if key in spec.overrides and spec.name in ('proposals', 'sorter'):
                params.setdefault(key, spec.overrides[key])
        if spec.name == 'sorter' and spec.overrides.get('sort_log_dir'):
            params['sort_log_dir'] = str(spec.overrides['sort_log_dir'])
    return NodeSpec('ui', 'sorting_cell.nodes.ui', find_config('ui.yaml'), params,
                    remaps={k: v for k, v in remaps.items() if k == 'camera/image_raw'})


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to this child when the supervisor dies, even by SIGKILL.
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen
    log_path: Path | None
    started: float
    reported_exit: bool = False
    how: str = ''


class Supervisor:
    """Start, watch and stop a set of node processes.

    Parameters
    ----------
    specs : sequence of NodeSpec
        Nodes to start (in order).
    env : dict, optional
        Environment of the children (see :func:`transport_env`).
    log_dir : path-like, optional
        Where each child's output goes (``<name>.log``); ``None`` lets children write to
        this terminal.
    monitor : bool
        Also start the monitor node that measures topic rates and the ready state.
    grace_s, term_s : float
        How long to wait after SIGINT, then after SIGTERM, before escalating.
    out : file
        Where status lines go.
    status_file : path-like, optional
        Also write each health report there as JSON (atomically; the page node reads it).
    """

    def __init__(self, specs: Sequence[NodeSpec], env: dict[str, str] | None = None,
                 log_dir: str | os.PathLike | None = None, monitor: bool = True,
                 grace_s: float = 10.0, term_s: float = 5.0, out: IO[str] = sys.stdout,
                 status_format: str = 'text', status_file: str | os.PathLike | None = None):
        self.specs = list(specs)
        self.status_file = Path(status_file) if status_file is not None else None
        self.env = dict(os.environ if env is None else env)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.monitor = monitor
        self.grace_s, self.term_s = grace_s, term_s
        self.out = out
        self.status_format = status_format
        self.children: dict[str, _Child] = {}
        self.health: dict = {}
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    # -- start
    def start(self) -> None:
        """Start every node (and the monitor); raise :class:`MissingNodeError` first if any
        module is missing."""
        missing = missing_modules(self.specs)
        if missing:
            raise MissingNodeError(
                f"node module(s) {', '.join(missing)} not found: not written yet or not "
                'installed in this environment')
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, PYTHONUNBUFFERED='1')
        for spec in self.specs:
            self._spawn(spec, env)
        if self.monitor:
            topics = ','.join(KEY_TOPICS)
            spec = NodeSpec(MONITOR, 'sorting_cell.nodes.monitor', None,
                            {'topics': f'[{topics}]', 'latched': f"[{','.join(LATCHED_TOPICS)}]",
                             'period_s': '1.0'}, internal=True)
            child = self._spawn(spec, env, pipe=True)
            threading.Thread(target=self._read_monitor, args=(child.proc.stdout,),
                             daemon=True).start()

    def _spawn(self, spec: NodeSpec, env: dict[str, str], pipe: bool = False) -> _Child:
        log_path = None
        stdout = stderr = None
        if self.log_dir is not None:
            log_path = self.log_dir / f'{spec.name}.log'
            stderr = open(log_path, 'ab')
            stdout = subprocess.PIPE if pipe else stderr
        elif pipe:
            stdout = subprocess.PIPE
        proc = subprocess.Popen(spec.command(), env=env, stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
        if stderr is not None:
            stderr.close()
        child = _Child(spec, proc, log_path, time.monotonic())
        self.children[spec.name] = child
        self._say(f'started {spec.name} (pid {proc.pid}): {" ".join(spec.command()[1:])}')
        return child

    def _read_monitor(self, stream) -> None:
        for line in stream:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.health = data

    # -- watch
    def poll(self) -> list[str]:
        """Names of cell nodes that exited since the last poll (each reported once)."""
        exited = []
        for name, child in self.children.items():
            code = child.proc.poll()
            if code is not None and not child.reported_exit:
                child.reported_exit = True
                if not child.spec.internal:
                    exited.append(name)
                tail = self._tail(child)
                self._say(f'!! {name} (pid {child.proc.pid}) EXITED with code {code} after '
                          f'{time.monotonic() - child.started:.1f} s; not restarting'
                          + (f'\n   last output:\n{tail}' if tail else ''))
        return exited

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last ``lines`` lines of node ``name``'s log ('' when not logged to a file)."""
        return self._tail(self.children[name], lines)

    def _tail(self, child: _Child, lines: int = 15) -> str:
        if child.log_path is None or not child.log_path.exists():
            return ''
        text = child.log_path.read_text(errors='replace').splitlines()[-lines:]
        return '\n'.join('   | ' + t for t in text)

    def status(self) -> dict:
        """Current health: processes, topic rates, latched states."""
        with self._lock:
            health = dict(self.health)
        now = time.monotonic()
        procs = {}
        for name, child in self.children.items():
            if child.spec.internal:
                continue
            code = child.proc.poll()
            # A running process whose heartbeat lapsed is hung (or its executor is).
            heartbeat = health.get('alive', {}).get(name)
            procs[name] = {'pid': child.proc.pid, 'alive': code is None and heartbeat != 'dead',
                           'returncode': code, 'heartbeat': heartbeat,
                           'uptime_s': round(now - child.started, 1)}
        return {'t': round(now - self._t0, 1), 'processes': procs,
                'topics': health.get('topics', {}), 'latched': health.get('latched', {}),
                'graph_nodes': health.get('nodes', [])}

    def format_status(self, status: dict) -> str:
        def state(p: dict) -> str:
            if p['returncode'] is not None:
                return f"EXITED {p['returncode']}"
            return 'DEAD (no heartbeat: hung?)' if p.get('heartbeat') == 'dead' else 'up'

        procs = ' | '.join(f'{n} {state(p)}' for n, p in status['processes'].items())
        topics = ' | '.join(f"{t} {v.get('hz', 0.0):.1f} Hz" for t, v in
                            status['topics'].items()) or 'waiting for monitor'
        latched = ' | '.join(f'{t}: {v}' for t, v in status['latched'].items())
        return f"[{status['t']:7.1f} s] {procs}\n           {topics}" + (
            f' | {latched}' if latched else '')

    def report(self) -> None:
        status = self.status()
        if self.status_file is not None:
            tmp = self.status_file.with_name(self.status_file.name + '.tmp')
            tmp.write_text(json.dumps(status))
            tmp.replace(self.status_file)   # readers never see half a file
        if self.status_format == 'json':
            self._say(json.dumps({'status': status}))
        else:
            self._say(self.format_status(status))

    # -- stop
    def shutdown(self) -> dict[str, str]:
        """SIGINT all, wait ``grace_s``; SIGTERM, wait ``term_s``; SIGKILL. Returns how each
        child ended: 'exited N' (already gone), 'SIGINT', 'SIGTERM' or 'SIGKILL'."""
        alive = [c for c in self.children.values() if c.proc.poll() is None]
        for c in self.children.values():
            if c.proc.poll() is not None:
                c.how = f'exited {c.proc.returncode} before shutdown'
        for sig, wait_s in ((signal.SIGINT, self.grace_s), (signal.SIGTERM, self.term_s),
                            (signal.SIGKILL, 5.0)):
            for c in alive:
                try:
                    c.proc.send_signal(sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            for c in alive:
                try:
                    c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                    c.how = f'{signal.Signals(sig).name} (code {c.proc.returncode})'
                except subprocess.TimeoutExpired:
                    pass
            alive = [c for c in alive if c.proc.poll() is None]
            if not alive:
                break
            self._say(f"{', '.join(c.spec.name for c in alive)} still running after "
                      f'{signal.Signals(sig).name}; escalating')
        for c in self.children.values():
            if c.proc.stdout is not None:
                c.proc.stdout.close()
        result = {n: c.how for n, c in self.children.items()}
        self._say('stopped: ' + ', '.join(f'{n}: {h}' for n, h in result.items()))
        killed = [c.spec.name for c in self.children.values()
                  if c.proc.returncode is not None and c.proc.returncode < 0]
        if killed:
            # A node ended by a signal (killed, or an abort while shutting down) leaves its
            # shared-memory segments behind; nobody else would remove them.
            from .shm import remove_stale_segments
            removed = remove_stale_segments()
            if removed:
                self._say(f'{", ".join(killed)} ended by a signal: removed {len(removed)} '
                          'stale Fast DDS segment(s) from /dev/shm')
        return result

    # -- all together
    def run(self, period_s: float = 2.0, exit_on_failure: bool = False,
            duration_s: float | None = None) -> int:
        """Start, report every ``period_s`` until SIGINT/SIGTERM (or ``duration_s``), stop.

        Returns 0 when every node ran until asked to stop and stopped on SIGINT, 1 when a node
        died or had to be killed.
        """
        stop = threading.Event()
        previous = {s: signal.signal(s, lambda *_: stop.set())
                    for s in (signal.SIGINT, signal.SIGTERM)}
        died: list[str] = []
        try:
            self.start()
            deadline = None if duration_s is None else time.monotonic() + duration_s
            next_report = time.monotonic() + period_s
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                died += self.poll()
                if died and exit_on_failure:
                    self._say(f"stopping the cell because {', '.join(died)} exited")
                    break
                if time.monotonic() >= next_report:
                    self.report()
                    next_report += period_s
                stop.wait(0.2)
            self._say('shutting down (SIGINT to every node)')
        finally:
            # Signals from now on must not interrupt the orderly shutdown.
            for s in previous:
                signal.signal(s, signal.SIG_IGN)
            how = self.shutdown() if self.children else {}
            for s, handler in previous.items():
                signal.signal(s, handler)
        forced = [n for n, h in how.items() if h.startswith(('SIGTERM', 'SIGKILL'))]
        return 1 if died or forced else 0

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def run_foreground(spec: NodeSpec, env: dict[str, str] | None = None) -> int:
    """Run one node with this terminal's output; forward SIGINT/SIGTERM and return its exit
    code.

    The child has its own session, so a terminal Ctrl-C reaches it exactly once, through this
    process (a second SIGINT could interrupt a recorder while it closes its bag).
    """
    missing = missing_modules([spec])
    if missing:
        raise MissingNodeError(f'node module {missing[0]} not found')
    proc = subprocess.Popen(spec.command(), env=env, start_new_session=True,
                            preexec_fn=_die_with_parent)

    def forward(signum, _frame):
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover -- handler above replaces it
                continue
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
