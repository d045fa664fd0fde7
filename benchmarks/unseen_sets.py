"""The default against whole-image features, through the CLI, on sets nobody tuned for.

Each set of :mod:`sorting_cell.bench.image_sets` is built (seeded; every seed of
``--seeds`` for the sets that depend on it) and clustered three times by
``sorting-cell cluster --truth-from-parent-dir``:

- ``default``: the defaults (perception decides from the images);
- ``whole``: ``--proposer none --normalize centered --no-turn``, whole-image features of
  the same backbone as they are, centred: the floor the default must stay above (what the
  default did on whole images before the turn and the whitening);
- ``whole_auto``: ``--proposer none`` alone (whole images with the default turn and normalisation),
  which separates what the normalisation gains from what finding the object gains;
- ``turn_on``: ``--turn on``, the defaults with every image turned (the default before
  the turn was decided from the images), which shows what the decision gains or costs.

The table gives NMI, the decisions and the wall time of each run; the summary counts the
sets where the default is above, level with (within 0.005) or below the floor.

    python benchmarks/unseen_sets.py [--sets a,b] [--seeds 0,1,2] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np

from sorting_cell.bench.image_sets import IMAGE_SETS, build_image_set
from sorting_cell.bench.records import (add_build_arguments, run_builds, run_meta, seed_list,
                                        write_results)
from sorting_cell.cli import main as cli

MODES = (('default', []),
         ('whole', ['--proposer', 'none', '--normalize', 'centered', '--no-turn']),
         ('whole_auto', ['--proposer', 'none']),
         ('turn_on', ['--turn', 'on']))
DECISIONS = ('fixed_camera', 'objects', 'geometry', 'surround', 'whitening', 'turn')
#: Differences smaller than this are called level: Ward's NMI moves by about that much
#: when a set is rebuilt with another seed.
LEVEL = 0.005


def run_set(name: str, seed: int, work: Path, features: str | None = None) -> dict:
    folder = work / f'{name}-{seed}'
    n = build_image_set(name, folder, seed=seed)
    k = len([p for p in folder.iterdir() if p.is_dir()])
    row = {'set': name, 'seed': seed, 'images': n, 'k': k}
    for mode, extra in MODES:
        out = work / f'{name}-{seed}-{mode}'
        if features and mode != 'whole':  # the floor stays the embedded default's
            extra = [*extra, '--features', features]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(['cluster', str(folder), '-k', str(k), '--out', str(out),
                        '--truth-from-parent-dir', '--no-progress', *extra])
        wall = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f'{name} seed {seed} {mode}: exit {code}')
        s = json.loads((out / 'summary.json').read_text())
        row[mode] = {'nmi': s['metrics']['nmi'], 'purity': s['metrics']['purity'],
                     'wall_s': round(wall, 1),
                     'decided': {k2: v['value'] for k2, v in s['decisions'].items()}}
    row['default_minus_whole'] = round(row['default']['nmi'] - row['whole']['nmi'], 4)
    return row


def _yn(decided: dict) -> str:
    return ' / '.join('-' if q not in decided else 'yes' if decided[q] else 'no'
                      for q in DECISIONS)


def markdown(rows: list[dict], loaded: str, features: str | None = None) -> str:
    net = (f'`--features {features}` for the default (the floor stays the embedded '
           'MobileNetV2)' if features else 'embedded MobileNetV2 (TF2 int8)')
    lines = ['## Default vs whole-image features on sets that break the tool dataset\'s '
             'assumptions', '',
             '`sorting-cell cluster --truth-from-parent-dir` with the defaults against the '
             'floor, `--proposer none --normalize centered --no-turn` (whole images as they are, '
             'centred features), '
             'against `--proposer none` alone (whole images, default turn and normalisation), '
             'and against `--turn on` (every image turned: the default before the turn was '
             f'decided); {net} + Ward. {loaded}', '',
             f'| set | seed | images | k | decided: {" / ".join(DECISIONS)} | default NMI | '
             'floor NMI | default - floor | whole images, default normalisation | '
             'always turned | default wall s | floor wall s |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        turned = f"{r['turn_on']['nmi']:.3f}" if 'turn_on' in r else '-'
        lines.append(f"| {r['set']} | {r['seed']} | {r['images']} | {r['k']} | "
                     f"{_yn(r['default']['decided'])} | {r['default']['nmi']:.3f} | "
                     f"{r['whole']['nmi']:.3f} | {r['default_minus_whole']:+.3f} | "
                     f"{r['whole_auto']['nmi']:.3f} | {turned} | {r['default']['wall_s']} | "
                     f"{r['whole']['wall_s']} |")
    diff = np.array([r['default_minus_whole'] for r in rows])
    above, below = int((diff > LEVEL).sum()), int((diff < -LEVEL).sum())
    lines += ['', f'Default minus floor over {len(rows)} set builds: mean {diff.mean():+.3f}, '
              f'smallest {diff.min():+.3f}, largest {diff.max():+.3f}; above the floor on '
              f'{above}, level (within {LEVEL}) on {len(rows) - above - below}, below on '
              f'{below}.']
    for name in dict.fromkeys(r['set'] for r in rows):
        d = [r['default_minus_whole'] for r in rows if r['set'] == name]
        lines.append(f'- {name}: mean {np.mean(d):+.3f} over {len(d)} build(s)')
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_build_arguments(p, IMAGE_SETS, seeds='0')
    p.add_argument('--features', default=None,
                   help='backbone of the default runs (the floor stays the embedded one)')
    p.add_argument('--name', default='unseen_sets', help='file name of the results')
    p.add_argument('--add', action='store_true',
                   help="keep the last run's rows of the sets not run now (one table)")
    p.add_argument('--markdown-only', action='store_true',
                   help='rewrite the markdown from the JSON of the last run')
    args = p.parse_args()
    if args.markdown_only:
        data = json.loads((Path(args.out) / f'{args.name}.json').read_text())
        (Path(args.out) / f'{args.name}.md').write_text(
            markdown(data['rows'], data['meta']['note'], data['meta'].get('features')))
        return 0
    seeds = seed_list(args.seeds)
    rows = run_builds(args.sets.split(','), seeds,
                      lambda name, seed, work: run_set(name, seed, work, args.features),
                      lambda row: print(json.dumps(row), flush=True))
    out = Path(args.out)
    meta = run_meta(args.note, seeds=seeds, features=args.features)
    last = out / f'{args.name}.json'
    if args.add and last.exists():
        old = json.loads(last.read_text())
        ran = {r['set'] for r in rows}
        for r in rows:
            r['run'] = meta['date']
        rows = [r for r in old['rows'] if r['set'] not in ran] + rows
        meta['earlier'] = old['meta']     # when and how the kept rows were run
        meta['note'] = (f"Rows of {', '.join(sorted(ran))} added on {meta['date']} "
                        f"{args.note}; the others from {old['meta']['date']} "
                        f"{old['meta']['note']}").strip()
    md = markdown(rows, meta['note'], args.features)
    write_results(out, args.name, {'meta': meta, 'rows': rows}, md, indent=2)
    print(md)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
