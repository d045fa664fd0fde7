"""Up/down loop: ``sorting-cell up sim`` started and stopped again and again, alternately with
Ctrl-C (SIGINT) and SIGTERM sent to the ``up`` process, as a terminal or a service manager
would.

A cycle starts the cell on a DDS domain of its own (the shipped shared-memory transport),
waits until it is up (every node process alive and in the ROS graph, and -- unless
``--ready graph`` -- camera frames flowing), sends the signal and then checks:

- ``up`` exits, and every process of its tree (recorded just before the signal) has ended
  within ``--bound-s`` seconds (default 15: the supervisor's 10 s SIGINT grace plus margin);
  each node stopped on the SIGINT the supervisor sends, not escalated to SIGTERM/SIGKILL;
- nothing is left running: no process of the tree, and no process at all that inherited the
  cycle's environment marker;
- no stale shared memory: of the ``/dev/shm`` entries the cell's processes had mapped (read
  from ``/proc/PID/maps`` just before the signal; other users' entries are not judged), no
  Fast DDS segment is left without its owner's lock (``fastrtps_*`` whose ``*_el`` lock
  nobody holds), and nothing else is left that is not a port segment or port mutex (shared
  by every participant on the port and reused by the next one);
- no lock left: the sorter's sort log (SQLite, WAL mode; in the cycle's folder) has no
  ``-wal``/``-shm``/``-journal`` file left, which SQLite removes on a clean close.

Writes ``benchmarks/results/up_down.{json,md}``.

Run (long; on a shared machine, ``nice -n 10``)::

    MUJOCO_GL=egl python benchmarks/up_down.py --cycles 50
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procmem  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
CLI = [sys.executable, '-c', 'import sys; from sorting_cell.cli import main; '
       'sys.exit(main(sys.argv[1:]))']
# shared per port and reused by the next participant on it: not a leak
MARKER = 'UP_DOWN_CYCLE'
_PORT = re.compile(r'^(sem\.)?fastrtps_port\d+(_mutex|_el)?$')


def _marked_processes(marker: str) -> list[int]:
    """Pids of running processes whose environment carries ``UP_DOWN_CYCLE=marker`` (every
    process the cycle started inherits it; nobody else's process has it)."""
    out = []
    for proc in psutil.process_iter(['pid']):
        try:
            if proc.environ().get(MARKER) == marker and proc.pid != os.getpid():
                out.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def free_domain() -> int:
    """A DDS domain above the 1..200 the test suite's nodes use (Fast DDS takes up to 232)."""
    return random.randint(201, 232)


def cycle(sig: int, domain: int, log_dir: Path, nodes: str | None = None,
          ready: str = 'camera', start_timeout: float = 180.0, bound_s: float = 15.0,
          grace_s: float = 10.0) -> dict:
    """Start ``up sim``, wait until ``ready``, send ``sig`` to it, check what is left.
    ``grace_s``: the supervisor's wait after its SIGINT before it escalates to SIGTERM."""
    shm_before = procmem.shm_entries()
    marker = f'{os.getpid()}-{time.time_ns()}'
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1', **{MARKER: marker})
    # `up`'s own transport, as a user runs it (the shipped shared-memory profile); LOCALHOST
    # would add rmw's small segment to it
    env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    env.setdefault('MUJOCO_GL', 'egl')
    cmd = CLI + ['up', 'sim', '--log-dir', str(log_dir), '--status-format', 'json',
                 '--status-period', '1', '--grace', str(grace_s)]
    if nodes:
        cmd += ['--nodes', nodes]
    sortlog = log_dir / 'sortlog'
    if not nodes or 'sorter' in nodes.split(','):
        cmd += ['-p', f'sorter.sort_log_dir:={sortlog}']
    t0 = time.monotonic()
    from sorting_cell.bringup import _die_with_parent
    # SIGTERM to the cell if this loop is itself stopped mid-cycle
    up = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True, preexec_fn=_die_with_parent)
    lines: list[str] = []
    status: dict = {}

    def read():
        for line in up.stdout:
            lines.append(line.rstrip())
            if line.startswith('{'):
                try:
                    status.update(json.loads(line)['status'])
                except (ValueError, KeyError):
                    pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def is_ready() -> bool:
        procs = status.get('processes', {})
        if not procs or not all(p['alive'] for p in procs.values()):
            return False
        if not set(procs) <= {n.lstrip('/') for n in status.get('graph_nodes', [])}:
            return False
        return ready == 'graph' or status.get('topics', {}).get(
            'camera/image_raw', {}).get('hz', 0.0) > 0

    deadline = t0 + start_timeout
    while time.monotonic() < deadline and up.poll() is None and not is_ready():
        time.sleep(0.1)
    became_ready = is_ready()
    up_s = time.monotonic() - t0
    pids = {p.pid: procmem.node_name(p) for p in procmem.tree(up.pid)[1:]}
    # what the cell's processes use in /dev/shm (other users' segments are none of ours)
    mapped = procmem.mapped_shm(pids) | {f'{n}_el' for n in procmem.mapped_shm(pids)}
    t_sig = time.monotonic()
    if up.poll() is None:
        os.kill(up.pid, sig)
    ended_at: dict[int, float] = {}
    end_deadline = t_sig + 60.0
    while time.monotonic() < end_deadline:
        for pid in pids:
            if pid not in ended_at:
                try:
                    gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
                except psutil.NoSuchProcess:
                    gone = True
                if gone:
                    ended_at[pid] = time.monotonic() - t_sig
        if len(ended_at) == len(pids) and up.poll() is not None:
            break
        time.sleep(0.05)
    if up.poll() is None:      # the supervisor itself hung: clean up, and say so
        os.killpg(up.pid, signal.SIGKILL)
    up_rc = up.wait(timeout=10)
    up_exit_s = time.monotonic() - t_sig
    reader.join(timeout=5)
    left = sorted(pid for pid in pids if pid not in ended_at)
    left_marked = _marked_processes(marker)
    for pid in set(left) | set(left_marked):     # leave the machine clean for the next cycle
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    left_shm = (procmem.shm_entries() - shm_before) & mapped
    stale = procmem.stale_shm(left_shm)
    unexplained = sorted(n for n in left_shm if not _PORT.match(n)
                         and not (n.startswith('fastrtps_') and n not in stale))
    # SQLite removes its -wal/-shm/-journal files when the last connection closes cleanly
    db_left = sorted(p.name for p in sortlog.glob('*')
                     if p.name.endswith(('-wal', '-shm', '-journal'))) if sortlog.is_dir() else []
    stopped = next((ln for ln in lines if ln.startswith('stopped: ')), '')
    how = dict(part.split(': ', 1) for part in stopped[len('stopped: '):].split(', ')
               if ': ' in part)
    escalated = sorted(n for n, h in how.items() if not h.startswith(('SIGINT', 'exited')))
    slowest = max(ended_at.values(), default=0.0)
    ok = (became_ready and not left and not left_marked and not stale and not unexplained
          and not escalated and not db_left and up_rc == 0 and slowest <= bound_s)
    return {'signal': signal.Signals(sig).name, 'ready': became_ready,
            'up_s': round(up_s, 1), 'children': len(pids), 'up_exit_code': up_rc,
            'up_exit_s': round(up_exit_s, 2), 'slowest_child_s': round(slowest, 2),
            'how': how, 'escalated': escalated,
            'left_running': [f'{pids[p]} ({p})' for p in left], 'left_marked': left_marked,
            'shm_used': len(mapped), 'shm_left': sorted(left_shm), 'stale_shm': stale,
            'unexplained_shm': unexplained, 'sort_log_left_open': db_left,
            'ok': ok, 'tail': lines[-5:] if not ok else []}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cycles', type=int, default=50)
    ap.add_argument('--nodes', help='subset of the sim node set (default: all)')
    ap.add_argument('--ready', choices=['camera', 'graph'], default='camera')
    ap.add_argument('--bound-s', type=float, default=15.0)
    ap.add_argument('--deadline', type=float, default=None,
                    help='stop starting cycles after this many seconds')
    ap.add_argument('--out', type=Path, default=RESULTS)
    args = ap.parse_args()
    domain = free_domain()
    work = Path(tempfile.mkdtemp(prefix='up_down_'))
    rows = []
    t0 = time.monotonic()
    for i in range(args.cycles):
        if args.deadline is not None and time.monotonic() - t0 > args.deadline:
            break
        sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        row = cycle(sig, domain, work / f'cycle{i}', args.nodes, args.ready,
                    bound_s=args.bound_s)
        rows.append(row)
        print(f"cycle {i}: {row['signal']} up {row['up_s']} s, all {row['children']} ended in "
              f"{row['slowest_child_s']} s, left {len(row['left_running'])}, stale shm "
              f"{len(row['stale_shm'])}, {'ok' if row['ok'] else 'FAILED'}", flush=True)
        _write(rows, args, t0)
    return _write(rows, args, t0)


def _write(rows: list[dict], args, t0: float) -> int:
    ends = [r['slowest_child_s'] for r in rows]
    summary = {
        'cycles': len(rows), 'cycles_requested': args.cycles, 'ok': sum(r['ok'] for r in rows),
        'signals': {s: sum(r['signal'] == s for r in rows) for s in ('SIGINT', 'SIGTERM')},
        'bound_s': args.bound_s, 'ready': args.ready, 'nodes': args.nodes or 'all',
        'slowest_child_s': {'max': max(ends, default=None),
                            'mean': round(sum(ends) / len(ends), 2) if ends else None},
        'up_s_mean': round(sum(r['up_s'] for r in rows) / len(rows), 1) if rows else None,
        'left_running': sum(len(r['left_running']) for r in rows),
        'stale_shm': sum(len(r['stale_shm']) for r in rows),
        'unexplained_shm': sum(len(r['unexplained_shm']) for r in rows),
        'escalated': sum(len(r['escalated']) for r in rows),
        'sort_log_left_open': sum(len(r.get('sort_log_left_open', [])) for r in rows),
        'wall_s': round(time.monotonic() - t0, 1),
        'load_average_at_end': [round(v, 2) for v in os.getloadavg()],
        'per_cycle': rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'up_down.json').write_text(json.dumps(summary, indent=1))
    (args.out / 'up_down.md').write_text(_markdown(summary))
    print(json.dumps({k: v for k, v in summary.items() if k != 'per_cycle'}))
    return 0 if rows and summary['ok'] == len(rows) else 1


def _markdown(s: dict) -> str:
    return '\n'.join([
        '# Up/down loop: `sorting-cell up sim` started and stopped', '',
        f"{s['cycles']} cycles ({s['signals']['SIGINT']} Ctrl-C, {s['signals']['SIGTERM']} "
        f"SIGTERM) of the {s['nodes']} node set, each stopped once ready ({s['ready']}); "
        f"{s['ok']} of {s['cycles']} clean. Load average at the end "
        f"{s['load_average_at_end']}; {s['wall_s'] / 60:.1f} min in all.", '',
        '| check | result |', '| --- | --- |',
        f"| every child ended within {s['bound_s']:g} s of the signal | slowest "
        f"{s['slowest_child_s']['max']} s (mean of the slowest per cycle "
        f"{s['slowest_child_s']['mean']} s) |",
        f"| nodes escalated past SIGINT | {s['escalated']} |",
        f"| processes left running | {s['left_running']} |",
        f"| stale Fast DDS segments left in /dev/shm | {s['stale_shm']} |",
        f"| other new /dev/shm entries left | {s['unexplained_shm']} |",
        f"| sort log (SQLite) left open: -wal/-shm/-journal files | "
        f"{s['sort_log_left_open']} |",
        f"| time to ready (mean) | {s['up_s_mean']} s |", ''])


if __name__ == '__main__':
    raise SystemExit(main())
