"""New objects into the boxes of an earlier sort, on the tool dataset (and other sets).

Per condition (112 photos, 7 kinds, 3-6 objects of each kind, 4 shots of each object):

- **half then half**: the shots of half the objects of every kind (seeded draw) are
  sorted into 7 boxes (Ward, the defaults); the other objects are then placed into those
  boxes (:func:`sorting_cell.perception.boxes.place`). NMI with the true kinds over all
  112, next to sorting all 112 at once; also the first half's own NMI (what the boxes
  start from), the NMI an *oracle* placement would reach (every new object into the box
  holding most of its kind: the part of the gap the placement cannot close), the NMI
  between the two partitions and the share of the second half flagged "new kind" (all of
  them are of kinds the boxes hold);
- **unseen kind**: the same, but one kind is left out of the first half entirely (6
  boxes), in turn for each of the 7 kinds; reported: the share of that kind's photos
  flagged "new kind" (detected), and of the other second-half photos (false alarms).

"Half the objects" of a kind with an odd number of objects is rounded up or down at
random (``--rounding random``, the default: the first batch holds half the objects on
average). ``--rounding floor`` always rounds down, as the first version of this benchmark
did: the first batch then held 12 of the 28 objects, and one object of each 3-object kind.

``--sets digits,tools-turntable`` runs the same on sets of :mod:`sorting_cell.bench.
image_sets` (there every image is its own object).

    python benchmarks/into.py [--cache DIR] [--draws 20] [--sets ...] [--out benchmarks/results]
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


def describe_set(name: str, cache: str | None, work: Path):
    """An image set of :mod:`sorting_cell.bench.image_sets`, each image its own object."""
    from sorting_cell.bench.image_sets import build_image_set
    folder = work / name
    build_image_set(name, folder)
    files, _ = collect_inputs([folder])
    d = Describer(cache_dir=cache).images(files)
    kinds = np.array([files[i].parent.name for i in d.usable])
    return d, kinds, np.array([str(files[i]) for i in d.usable])


def split(kinds, objects, rng, leave_out=None, rounding='random'):
    """Rows of the first batch: half the objects of every kind (none of ``leave_out``).

    An odd count is rounded up or down at random (``'random'``) or always down
    (``'floor'``); every kind keeps at least one object in each batch when it has two.
    """
    first = np.zeros(len(kinds), bool)
    for kind in np.unique(kinds):
        if kind == leave_out:
            continue
        objs = np.unique(objects[kinds == kind])
        n = len(objs) // 2
        if rounding == 'random' and len(objs) % 2:
            n += int(rng.random() < 0.5)
        n = max(1, min(n, len(objs) - 1)) if len(objs) > 1 else 1
        first |= np.isin(objects, rng.choice(objs, n, replace=False))
    return first


def oracle(kinds_first, box_labels, kinds_new, k: int) -> np.ndarray:
    """Each new object into the box holding most of its kind's boxed objects."""
    best = {kd: np.bincount(box_labels[kinds_first == kd], minlength=k).argmax()
            for kd in np.unique(kinds_first)}
    return np.array([best.get(kd, -1) for kd in kinds_new])


def run_condition(condition: int, cache, draws: int, new_kinds: int,
                  rounding: str = 'random') -> dict:
    return run_set(f'c{condition}', *describe(condition, cache), draws, new_kinds, rounding)


def run_set(name: str, d, kinds, objects, draws: int, new_kinds: int,
            rounding: str = 'random') -> dict:
    n_kinds = len(np.unique(kinds))
    at_once = assign(d, n_kinds)
    row = {'set': name, 'images': len(d), 'kinds': n_kinds,
           'nmi_at_once': nmi(kinds, at_once), 'draws': []}
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        first = split(kinds, objects, rng, rounding=rounding)
        a, b = d.subset(np.flatnonzero(first)), d.subset(np.flatnonzero(~first))
        boxes = Boxes.of(a, assign(a, n_kinds))
        p = place(boxes, b, new_kinds)
        inc = np.empty(len(d), int)
        inc[first], inc[~first] = boxes.labels, p.labels
        best = np.empty(len(d), int)
        best[first] = boxes.labels
        best[~first] = oracle(kinds[first], boxes.labels, kinds[~first], n_kinds)
        row['draws'].append({'nmi_incremental': nmi(kinds, inc),
                             'nmi_first_half': nmi(kinds[first], boxes.labels),
                             'nmi_oracle_placement': nmi(kinds, best),
                             'placed_as_oracle': float(np.mean(inc[~first] == best[~first])),
                             'nmi_vs_at_once': nmi(at_once, inc),
                             'first_share': float(first.mean()),
                             'false_new_share': float(p.new_kind.mean())})
    unseen = []
    for kind in np.unique(kinds):
        rng = np.random.default_rng(0)
        first = split(kinds, objects, rng, leave_out=kind, rounding=rounding)
        a, b = d.subset(np.flatnonzero(first)), d.subset(np.flatnonzero(~first))
        boxes = Boxes.of(a, assign(a, n_kinds - 1))
        p = place(boxes, b, new_kinds)
        held = kinds[~first] == kind
        unseen.append({'kind': str(kind), 'detected': float(p.new_kind[held].mean()),
                       'false_new': float(p.new_kind[~held].mean())})
    row['unseen'] = unseen
    for key in ('nmi_incremental', 'nmi_first_half', 'nmi_oracle_placement', 'placed_as_oracle',
                'nmi_vs_at_once', 'first_share', 'false_new_share'):
        row[key] = float(np.mean([r[key] for r in row['draws']]))
    row['detected'] = float(np.mean([u['detected'] for u in unseen]))
    row['false_new_unseen_runs'] = float(np.mean([u['false_new'] for u in unseen]))
    return row


def _table(rows, lines) -> None:
    lines += ['| set | NMI all at once | first half alone | half then half | difference | '
              'oracle placement | placed as the oracle | first batch share | NMI between '
              'the two | second half flagged new (all seen kinds) | unseen kind detected | '
              'false "new" in those runs |', '| --- ' * 12 + '|']
    keys = ('nmi_at_once', 'nmi_first_half', 'nmi_incremental', 'nmi_oracle_placement',
            'placed_as_oracle', 'first_share', 'nmi_vs_at_once', 'false_new_share',
            'detected', 'false_new_unseen_runs')

    def line(name, r):
        return (f"| {name} | {r['nmi_at_once']:.3f} | {r['nmi_first_half']:.3f} | "
                f"{r['nmi_incremental']:.3f} | "
                f"{r['nmi_incremental'] - r['nmi_at_once']:+.3f} | "
                f"{r['nmi_oracle_placement']:.3f} | {r['placed_as_oracle']:.1%} | "
                f"{r['first_share']:.0%} | {r['nmi_vs_at_once']:.3f} | "
                f"{r['false_new_share']:.1%} | {r['detected']:.1%} | "
                f"{r['false_new_unseen_runs']:.1%} |")
    for r in rows:
        lines.append(line(r['set'], r))
    tools = [r for r in rows if r['set'].startswith('c')]
    if len(tools) > 1:
        lines.append(line('**tools mean**', {k: np.mean([r[k] for r in tools]) for k in keys}))


def markdown(rows, meta) -> str:
    lines = ['## New objects into existing boxes (half then half)', '',
             f"Default description (MobileNetV2 TF2 + size + outline where the evidence says "
             f"so), Ward; second half placed by clustering both halves together "
             f"(perception.boxes.place); groups beyond the boxes {meta['new_kinds']}; "
             f"{meta['draws']} seeded half splits per set, odd object counts rounded "
             f"{meta['rounding']}. Tool conditions c1-c5: half the *objects* of every kind "
             f"(all 4 shots of an object in the same batch); other sets: half the images. "
             f"{meta['loaded']}", '']
    _table(rows, lines)
    lines += ['', 'Unseen kind detected, per kind left out (mean over the tool conditions):',
              '', '| kind | detected | false new |', '| --- | --- | --- |']
    tools = [r for r in rows if r['set'].startswith('c')] or rows[:1]
    for kind in [u['kind'] for u in tools[0]['unseen']]:
        us = [u for r in tools for u in r['unseen'] if u['kind'] == kind]
        lines.append(f"| {kind} | {np.mean([u['detected'] for u in us]):.1%} | "
                     f"{np.mean([u['false_new'] for u in us]):.1%} |")
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cache', default=None)
    ap.add_argument('--draws', type=int, default=20)
    ap.add_argument('--conditions', default='1,2,3,4,5')
    ap.add_argument('--sets', default='', help='image sets to run as well, comma-separated')
    ap.add_argument('--rounding', choices=('random', 'floor'), default='random')
    ap.add_argument('--work', type=Path, default=Path('/tmp/sorting-cell-into'))
    ap.add_argument('--new-kinds', type=int, default=DEFAULT_NEW_KINDS)
    ap.add_argument('--out', type=Path, default=Path(__file__).parent / 'results')
    ap.add_argument('--name', default='into')
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = [run_condition(int(c), args.cache, args.draws, args.new_kinds, args.rounding)
            for c in args.conditions.split(',') if c]
    rows += [run_set(name, *describe_set(name, args.cache, args.work), args.draws,
                     args.new_kinds, args.rounding) for name in args.sets.split(',') if name]
    load = os.getloadavg()[0]
    meta = {'new_kinds': args.new_kinds, 'draws': args.draws, 'rounding': args.rounding,
            'machine': platform.machine(),
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
