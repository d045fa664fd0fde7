"""Big folders: ``sorting-cell cluster`` at 1k / 10k / (100k) images, time and peak memory,
and what kNN Ward costs against exact Ward where both run.

The set is :func:`sorting_cell.bench.big_set.build_big_set` (96 x 96 tool cut-outs and
digits drawn large, 17 classes). Each size is one CLI run in a child process with a fresh
feature cache (cold: every feature is computed), timed, its peak RSS read from the
kernel (``ru_maxrss`` of the child). Then, on the rows the run kept (``boxes.npz``),
exact Ward and Ward on a 10-nearest-neighbour graph (128 principal axes) are
compared by NMI with the classes, at every size where exact Ward fits (<= 10k).

    python benchmarks/scale.py --sizes 1000,10000 [--work DIR] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi

CLI = 'import sys; from sorting_cell.cli import main; sys.exit(main(sys.argv[1:]))'


def run_cli(folder: Path, out: Path, cache: Path, k: int) -> dict:
    shutil.rmtree(cache, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', CLI, 'cluster', str(folder), '-k', str(k),
                           '--out', str(out), '--cache', str(cache), '--truth-from-parent-dir',
                           '--no-progress'], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    s = json.loads((out / 'summary.json').read_text())
    return {'wall_s': round(wall, 1), 'peak_rss_mb': round(max(peak, before) / 1024, 1),
            'peak_is_this_run': peak > before, 'nmi': s['metrics']['nmi'],
            'clustering': s['decisions'].get('clustering', {}).get('reason', 'exact Ward'),
            'timings': {k2: round(v, 1) for k2, v in s['timings'].items()}}


def ward_cost(out: Path, k: int) -> dict:
    from sorting_cell.perception import assign
    from sorting_cell.perception.boxes import Boxes
    boxes = Boxes.load(out / 'boxes.npz')
    y = [Path(s).parent.name for s in boxes.sources]
    d = boxes.description()
    row = {}
    for method in ('agglomerative', 'knn_ward'):
        t0 = time.perf_counter()
        labels = assign(d, k, method=method)
        row[method] = {'nmi': nmi(y, labels), 's': round(time.perf_counter() - t0, 1)}
    row['nmi_cost'] = row['agglomerative']['nmi'] - row['knn_ward']['nmi']
    return row


TILE = '''
import resource, sys, time, json
import numpy as np
from pathlib import Path
from sklearn.metrics import normalized_mutual_info_score as nmi
from sorting_cell.perception import assign
from sorting_cell.perception.boxes import Boxes
b = Boxes.load(sys.argv[1]); n = int(sys.argv[2])
rng = np.random.default_rng(0)
reps = -(-n // len(b.rows))
rows = np.vstack([b.rows + rng.normal(0, 0.02, b.rows.shape).astype(np.float32)
                  for _ in range(reps)])[:n]
y = np.tile([Path(s).parent.name for s in b.sources], reps)[:n]
del b
t0 = time.perf_counter()
d = Boxes(rows=rows, labels=np.zeros(n, int)).description()
labels = assign(d, 17)
print(json.dumps({'rows': n, 'clustering_s': round(time.perf_counter() - t0, 1),
                  'nmi': nmi(y, labels), 'method': d.decisions['clustering'].reason,
                  'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 1024, 1)}))
'''


def tiled_clustering(boxes: Path, n: int) -> dict:
    """Peak memory and time of the clustering stage on ``n`` rows: the real rows of a
    smaller run, repeated with a little noise (the stage that grows with n when the
    description is streamed)."""
    proc = subprocess.run([sys.executable, '-c', TILE, str(boxes), str(n)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    from sorting_cell.bench.big_set import build_big_set
    from sorting_cell.perception.assign import EXACT_WARD_MAX

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='1000,10000')
    ap.add_argument('--work', type=Path, default=Path('/tmp/sorting-cell-scale'))
    ap.add_argument('--out', type=Path, default=Path(__file__).parent / 'results')
    ap.add_argument('--name', default='scale')
    ap.add_argument('--tile', type=int, default=0,
                    help='also cluster this many rows tiled from the largest run (clustering '
                         'stage only)')
    args = ap.parse_args(argv)
    rows = []
    for n in map(int, args.sizes.split(',')):
        folder = args.work / f'big{n}'
        t0 = time.perf_counter()
        build_big_set(folder, n)
        row = {'images': n, 'build_s': round(time.perf_counter() - t0, 1)}
        row.update(run_cli(folder, args.work / f'out{n}', args.work / f'cache{n}', 17))
        if n <= EXACT_WARD_MAX:
            row['ward'] = ward_cost(args.work / f'out{n}', 17)
        rows.append(row)
        print(json.dumps(row), flush=True)
    tiled = (tiled_clustering(args.work / f'out{rows[-1]["images"]}' / 'boxes.npz', args.tile)
             if args.tile else None)
    load = os.getloadavg()[0]
    meta = {'machine': platform.machine(), 'cpus': os.cpu_count(),
            'loaded': f'Machine loaded (load average {load:.1f} at the end).' if load > 1.5
            else f'Machine idle (load average {load:.1f}).'}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f'{args.name}.json').write_text(json.dumps({'meta': meta, 'rows': rows,
                                                            'tiled': tiled}, indent=1))
    lines = ['## Big folders: sorting-cell cluster on the big set (17 classes)', '',
             f"Cold feature cache, defaults, -k 17. {meta['loaded']}", '',
             '| images | wall s | peak RSS MB | clustering | NMI | exact Ward NMI | kNN '
             'Ward NMI | cost |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        w = r.get('ward')
        lines.append(f"| {r['images']} | {r['wall_s']} | {r['peak_rss_mb']} | "
                     f"{r['clustering'][:40]} | {r['nmi']:.3f} | "
                     + (f"{w['agglomerative']['nmi']:.3f} | {w['knn_ward']['nmi']:.3f} | "
                        f"{w['nmi_cost']:+.3f} |" if w else '| | |'))
    if tiled:
        lines += ['', f"Clustering stage alone on {tiled['rows']} rows (the largest run's real "
                  f"rows repeated with noise): {tiled['clustering_s']} s, peak RSS "
                  f"{tiled['peak_rss_mb']} MB, NMI {tiled['nmi']:.3f} ({tiled['method']})."]
    (args.out / f'{args.name}.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
