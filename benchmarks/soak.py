"""Soak: many trays back to back in one running sim cell, and the replay path looping a bag as
long, with the memory of every process sampled.

- **sim**: ``sorting-cell sim bench --trays N`` (one running cell started with ``sorting-cell
  up sim --nodes sim,cell_frames,sorter``; each tray laid out with ``sim/reset`` and sorted
  through the ``SortObjects`` action by the Python client, as a user would).
- **replay**: ``sorting-cell up replay BAG --loop`` (replay, proposals, clustering, sorter)
  on a bag of the tool dataset recorded with ``sorting-cell record --from-tools``, on its
  own DDS domain, running while the sim soak runs.

Every ``--period`` seconds the RSS of every process of both trees is read (psutil). The
growth bound: per process, the median RSS of the last tenth of the run may exceed the median
of the tenth after warm-up (the first tray done; the replay's first minute) by at most
``--bound-mb`` (default 64 MB). Writes ``benchmarks/results/soak/soak.{json,png}`` and
``soak.md``. Exit status 1 when a bound is broken or the sim bench failed.

Run (long; on a shared machine, ``nice -n 10``)::

    MUJOCO_GL=egl python benchmarks/soak.py --trays 50 --per-tray 2 --boxes 2
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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procmem  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results' / 'soak'
CLI = [sys.executable, '-c', 'import sys; from sorting_cell.cli import main; '
       'sys.exit(main(sys.argv[1:]))']


def _env(domain: int) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1',
               SORTING_CELL_BENCH_DOMAIN=str(domain))
    # the cells' own transports, as a user runs them (`up`: the shipped shared-memory
    # profile; `sim bench`: the local one); LOCALHOST would add rmw's small segment to both
    env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    env.setdefault('MUJOCO_GL', 'egl')
    return env


def _stop(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=10)


def _growth(times: list[float], series: list, warm_t: float) -> dict:
    """Growth of one process: ``series`` holds ``[pid, rss]`` or None per sample; a process
    restarted under the same name is judged on its longest-lived pid."""
    pids = [s[0] for s in series if s is not None]
    if not pids:
        return {'samples': 0}
    pid = max(set(pids), key=pids.count)
    t = np.array(times)
    v = np.array([s[1] if s is not None and s[0] == pid else np.nan for s in series], float)
    ok = ~np.isnan(v) & (t >= warm_t)
    t, v = t[ok], v[ok]
    restarts = len(set(pids)) - 1
    if v.size < 10:
        return {'samples': int(v.size), 'restarts': restarts}
    k = max(1, v.size // 10)
    first, last = float(np.median(v[:k])), float(np.median(v[-k:]))
    slope = float(np.polyfit(t / 3600.0, v, 1)[0]) if np.ptp(t) > 0 else 0.0
    return {'samples': int(v.size), 'after_warmup_mb': round(first, 1),
            'end_mb': round(last, 1), 'growth_mb': round(last - first, 1),
            'peak_mb': round(float(v.max()), 1), 'slope_mb_per_h': round(slope, 1),
            'restarts': restarts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--trays', type=int, default=50)
    ap.add_argument('--per-tray', type=int, default=2, help='objects per tray (default 2)')
    ap.add_argument('--boxes', type=int, default=2)
    ap.add_argument('--objects', default='primitives')
    ap.add_argument('--real-time-factor', type=float, default=2.0)
    ap.add_argument('--period', type=float, default=5.0, help='seconds between samples')
    ap.add_argument('--bound-mb', type=float, default=64.0)
    ap.add_argument('--deadline', type=float, default=None,
                    help='stop after this many seconds even if trays remain (the count '
                         'measured is reported)')
    ap.add_argument('--no-replay', action='store_true')
    ap.add_argument('--out', type=Path, default=RESULTS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='soak_'))
    base = random.randint(120, 180)

    replay = None
    if not args.no_replay:
        bag = work / 'bag'
        subprocess.run(CLI + ['record', str(bag), '--from-tools', '--condition', '3',
                              '--per-class', '4'], env=_env(base + 1), check=True,
                       stdout=subprocess.DEVNULL)
        replay = subprocess.Popen(
            CLI + ['up', 'replay', str(bag), '--loop', '--log-dir', str(work / 'replay_logs'),
                   '--status-period', '30'],
            env=_env(base + 1), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
    bench = subprocess.Popen(
        CLI + ['sim', 'bench', '--objects', args.objects, '--trays', str(args.trays),
               '--per-tray', str(args.per_tray), '--boxes', str(args.boxes),
               '--real-time-factor', str(args.real_time_factor), '--timeout', '600',
               '--out', str(work / 'sim_bench')],
        env=_env(base), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)

    import threading
    trays_done: list[tuple[float, str]] = []
    bench_lines: list[str] = []
    errors: list[tuple[float, str]] = []

    def read_bench():
        for line in bench.stdout:
            bench_lines.append(line.rstrip())
            if line.startswith('error:'):
                errors.append((round(time.monotonic() - t0, 1), line.strip()))
                print(f'[{time.monotonic() - t0:7.0f} s] {line.strip()}', flush=True)
            if re.match(r'tray \d+ \(seed', line):
                trays_done.append((time.monotonic() - t0, line.strip()))
                print(f'[{time.monotonic() - t0:7.0f} s] {line.strip()}', flush=True)

    t0 = time.monotonic()
    threading.Thread(target=read_bench, daemon=True).start()
    samples: list[dict] = []
    stopped_early = False
    try:
        while bench.poll() is None:
            now = time.monotonic() - t0
            row = {'t': round(now, 1), 'sim': procmem.rss_by_node(bench.pid, 'bench')}
            if replay is not None:
                row['replay'] = procmem.rss_by_node(replay.pid, 'up')
            samples.append(row)
            if args.deadline is not None and now > args.deadline:
                stopped_early = True
                break
            time.sleep(args.period)
    finally:
        bench_rc = _stop(bench, 120.0) if bench.poll() is None else bench.returncode
        replay_rc = _stop(replay) if replay is not None else None
    wall = time.monotonic() - t0

    times = [s['t'] for s in samples]
    warm = {'sim': trays_done[0][0] if trays_done else 0.0, 'replay': 60.0}
    procs: dict[str, dict] = {}
    for path in ('sim', 'replay'):
        names = sorted({n for s in samples for n in s.get(path, {})})
        for name in names:
            series = [s.get(path, {}).get(name) for s in samples]
            procs[f'{path}/{name}'] = _growth(times, series, warm[path])
    broken = {k: v for k, v in procs.items()
              if v.get('growth_mb') is not None and v['growth_mb'] > args.bound_mb}
    summary = {
        'trays_requested': args.trays, 'trays_done': len(trays_done),
        'stopped_early': stopped_early, 'bench_exit': bench_rc, 'replay_exit': replay_rc,
        'tray': {'objects': args.objects, 'per_tray': args.per_tray, 'boxes': args.boxes,
                 'real_time_factor': args.real_time_factor},
        'wall_s': round(wall, 1), 'period_s': args.period, 'bound_mb': args.bound_mb,
        'bound': 'per process: median RSS of the last tenth of the run minus that of the '
                 'first tenth after warm-up (sim: first tray done; replay: first minute)',
        'processes': procs, 'broken': sorted(broken),
        'load_average_at_end': [round(v, 2) for v in os.getloadavg()],
        'trays': [line for _, line in trays_done],
        'bench_errors': errors,
        'cell_restarts': procs.get('sim/sim', {}).get('restarts'),
        'samples': samples,
    }
    summ = work / 'sim_bench' / 'summary.json'
    if summ.is_file():
        s = json.loads(summ.read_text())
        summary['sim_bench'] = {k: s.get(k) for k in ('picks', 'sorting', 'wall_s')}
    (args.out / 'soak.json').write_text(json.dumps(summary, indent=1))
    _plot(samples, trays_done, args.out / 'soak.png')
    _markdown(summary, args.out / 'soak.md')
    print(json.dumps({k: summary[k] for k in ('trays_done', 'wall_s', 'broken')}))
    if bench_rc not in (0, None) and not stopped_early:
        print('\n'.join(bench_lines[-20:]), file=sys.stderr)
    print(f'node logs and sim bench output in {work}')
    return 1 if broken or (bench_rc and not stopped_early) else 0


def _plot(samples, trays_done, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=False)
    t = np.array([s['t'] for s in samples]) / 60.0
    for ax, part, title in ((axes[0], 'sim', 'sim cell, trays back to back'),
                            (axes[1], 'replay', 'replay path, bag looping')):
        # processes gone between listing and reading have no name: not plotted
        names = sorted({n for s in samples for n in s.get(part, {}) if not n.startswith('pid')})
        for name in names:
            v = [s.get(part, {}).get(name, [0, np.nan])[1] for s in samples]
            ax.plot(t, v, label=name)
        if part == 'sim':
            for tt, _ in trays_done:
                ax.axvline(tt / 60.0, color='0.85', lw=0.5, zorder=0)
        ax.set_title(title)
        ax.set_xlabel('minutes')
        ax.set_ylabel('RSS (MB)')
        if names:
            ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _markdown(s: dict, path: Path) -> None:
    lines = ['# Soak: trays back to back in one sim cell, replay looping', '',
             f"{s['trays_done']} of {s['trays_requested']} trays "
             f"({s['tray']['per_tray']} {s['tray']['objects']} objects, {s['tray']['boxes']} "
             f"boxes, real-time factor {s['tray']['real_time_factor']:g}) in "
             f"{s['wall_s'] / 60:.1f} min"
             + (' (stopped at the time limit)' if s['stopped_early'] else '')
             + f"; load average at the end {s['load_average_at_end']}. Trays that failed "
             f"(the bench then starts a new cell): {len(s['bench_errors'])}"
             + ''.join(f"; {e}" for _, e in s['bench_errors']) + '.', '',
             f"Bound: {s['bound']} <= {s['bound_mb']:g} MB. "
             + ('**Broken by: ' + ', '.join(s['broken']) + '**' if s['broken']
                else 'Met by every process.'), '',
             '| process | after warm-up (MB) | end (MB) | growth (MB) | peak (MB) | slope '
             '(MB/h) |', '| --- | --- | --- | --- | --- | --- |']
    for name, g in s['processes'].items():
        if 'growth_mb' in g:
            lines.append(f"| {name} | {g['after_warmup_mb']} | {g['end_mb']} | "
                         f"{g['growth_mb']} | {g['peak_mb']} | {g['slope_mb_per_h']} |")
    lines += ['', '![memory vs time](soak.png)', '']
    path.write_text('\n'.join(lines))


if __name__ == '__main__':
    raise SystemExit(main())
