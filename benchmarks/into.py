"""New objects into the boxes of an earlier sort, on the tool dataset.

Per condition (112 photos, 7 kinds, 2-4 objects of each kind, 4 shots of each object):

- **half then half**: the shots of half the objects of every kind (seeded draw) are
  sorted into 7 boxes (Ward, the defaults); the other objects are then placed into those
  boxes (:func:`sorting_cell.perception.boxes.place`). NMI with the true kinds over all
  112, next to sorting all 112 at once; also the NMI between the two partitions and the
  share of the second half flagged "new kind" (all of them are of kinds the boxes hold);
- **unseen kind**: the same, but one kind is left out of the first half entirely (6
  boxes), in turn for each of the 7 kinds; reported: the share of that kind's photos
  flagged "new kind" (detected), and of the other second-half photos (false alarms).

    python benchmarks/into.py [--cache DIR] [--draws 5] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi

from sorting_cell.cli.cluster import collect_inputs
from sorting_cell.perception import Describer, assign
from sorting_cell.perception.boxes import DEFAULT_NEW_KINDS, Boxes, place


def describe(condition: int, cache: str | None):
    from sorting_cell.assets import resolve
    folder = Path(resolve('tools')) / f'conditions{condition}'
    files, _ = collect_inputs([folder])
    d = Describer(cache_dir=cache).images(files)
    kinds = np.array([files[i].parent.name for i in d.usable])
    objects = np.array([f'{files[i].parent.name}/{files[i].stem[0]}' for i in d.usable])
    return d, kinds, objects


def split(kinds, objects, rng, leave_out=None):
    """Rows of the first batch: half the objects of every kind (none of ``leave_out``)."""
    first = np.zeros(len(kinds), bool)
    for kind in np.unique(kinds):
        if kind == leave_out:
            continue
        objs = np.unique(objects[kinds == kind])
        chosen = rng.choice(objs, max(1, len(objs) // 2), replace=False)
        first |= np.isin(objects, chosen)
    return first


def run_condition(condition: int, cache, draws: int, new_kinds: int) -> dict:
    d, kinds, objects = describe(condition, cache)
    n_kinds = len(np.unique(kinds))
    at_once = assign(d, n_kinds)
    row = {'condition': condition, 'images': len(d), 'kinds': n_kinds,
           'nmi_at_once': nmi(kinds, at_once), 'draws': []}
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        first = split(kinds, objects, rng)
        a, b = d.subset(np.flatnonzero(first)), d.subset(np.flatnonzero(~first))
        boxes = Boxes.of(a, assign(a, n_kinds))
        p = place(boxes, b, new_kinds)
        inc = np.empty(len(d), int)
        inc[first], inc[~first] = boxes.labels, p.labels
        row['draws'].append({'nmi_incremental': nmi(kinds, inc),
                             'nmi_first_half': nmi(kinds[first], boxes.labels),
                             'nmi_vs_at_once': nmi(at_once, inc),
                             'false_new_share': float(p.new_kind.mean())})
    unseen = []
    for kind in np.unique(kinds):
        rng = np.random.default_rng(0)
        first = split(kinds, objects, rng, leave_out=kind)
        a, b = d.subset(np.flatnonzero(first)), d.subset(np.flatnonzero(~first))
        boxes = Boxes.of(a, assign(a, n_kinds - 1))
        p = place(boxes, b, new_kinds)
        held = kinds[~first] == kind
        unseen.append({'kind': str(kind), 'detected': float(p.new_kind[held].mean()),
                       'false_new': float(p.new_kind[~held].mean())})
    row['unseen'] = unseen
    for key in ('nmi_incremental', 'nmi_first_half', 'nmi_vs_at_once', 'false_new_share'):
        row[key] = float(np.mean([r[key] for r in row['draws']]))
    row['detected'] = float(np.mean([u['detected'] for u in unseen]))
    row['false_new_unseen_runs'] = float(np.mean([u['false_new'] for u in unseen]))
    return row


def markdown(rows, meta) -> str:
    lines = ['## New objects into existing boxes (tool dataset, half then half)', '',
             f"Default description (MobileNetV2 TF2 + size + outline), Ward; second half "
             f"placed by clustering both halves together (perception.boxes.place); groups "
             f"beyond the boxes {meta['new_kinds']}; "
             f"{meta['draws']} seeded half splits per condition. {meta['loaded']}", '',
             '| condition | NMI all at once | NMI first half alone | NMI half then half | '
             'difference | NMI between the two | second half flagged new (all seen kinds) | '
             'unseen kind detected | false "new" in those runs |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(f"| c{r['condition']} | {r['nmi_at_once']:.3f} | "
                     f"{r['nmi_first_half']:.3f} | {r['nmi_incremental']:.3f}"
                     f" | {r['nmi_incremental'] - r['nmi_at_once']:+.3f} | "
                     f"{r['nmi_vs_at_once']:.3f} | {r['false_new_share']:.1%} | "
                     f"{r['detected']:.1%} | {r['false_new_unseen_runs']:.1%} |")
    m = {k: np.mean([r[k] for r in rows]) for k in ('nmi_at_once', 'nmi_first_half',
                                                     'nmi_incremental',
                                                     'false_new_share', 'detected',
                                                     'false_new_unseen_runs')}
    lines.append(f"| mean | {m['nmi_at_once']:.3f} | {m['nmi_first_half']:.3f} | "
                 f"{m['nmi_incremental']:.3f} | "
                 f"{m['nmi_incremental'] - m['nmi_at_once']:+.3f} | | "
                 f"{m['false_new_share']:.1%} | {m['detected']:.1%} | "
                 f"{m['false_new_unseen_runs']:.1%} |")
    lines += ['', 'Unseen kind detected, per kind left out (mean over conditions):', '',
              '| kind | detected | false new |', '| --- | --- | --- |']
    for kind in [u['kind'] for u in rows[0]['unseen']]:
        us = [u for r in rows for u in r['unseen'] if u['kind'] == kind]
        lines.append(f"| {kind} | {np.mean([u['detected'] for u in us]):.1%} | "
                     f"{np.mean([u['false_new'] for u in us]):.1%} |")
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cache', default=None)
    ap.add_argument('--draws', type=int, default=5)
    ap.add_argument('--conditions', default='1,2,3,4,5')
    ap.add_argument('--new-kinds', type=int, default=DEFAULT_NEW_KINDS)
    ap.add_argument('--out', type=Path, default=Path(__file__).parent / 'results')
    ap.add_argument('--name', default='into')
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = [run_condition(int(c), args.cache, args.draws, args.new_kinds)
            for c in args.conditions.split(',')]
    load = os.getloadavg()[0]
    meta = {'new_kinds': args.new_kinds, 'draws': args.draws, 'machine': platform.machine(),
            'cpus': os.cpu_count(), 'wall_s': round(time.perf_counter() - t0, 1),
            'loaded': f'Machine loaded (load average {load:.1f} at the end).' if load > 1.5
            else f'Machine idle (load average {load:.1f}).'}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f'{args.name}.json').write_text(json.dumps({'meta': meta, 'rows': rows},
                                                           indent=1))
    (args.out / f'{args.name}.md').write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
