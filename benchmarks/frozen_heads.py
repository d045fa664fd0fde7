"""Ward against clusterers that learn on top of the same frozen features, on unseen sets.

Each set of :mod:`sorting_cell.bench.image_sets` is built (seeded) and described once by
:class:`~sorting_cell.perception.Describer` (the given features and proposer); then every
method is run through :func:`~sorting_cell.perception.assign` on that same description.
The table gives NMI against the folder names and the time of the assignment alone
(description time is listed once per set).

    python benchmarks/frozen_heads.py [--sets a,b] [--features NAME] [--proposer auto]
        [--methods agglomerative,temi,umap-ward] [--name frozen_heads] [--note "(loaded)"]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from sorting_cell.bench.image_sets import IMAGE_SETS, build_image_set
from sorting_cell.bench.records import run_meta
from sorting_cell.features import DEFAULT_FEATURES
from sorting_cell.perception import Describer, assign
from sorting_cell.perception.assign import clustered_matrix


def describe_set(name: str, work: Path, features: str, proposer: str, cache: str | None):
    folder = work / name
    build_image_set(name, folder)
    paths = sorted(str(p) for p in folder.glob('*/*.png'))
    truth = np.array([Path(p).parent.name for p in paths])
    t0 = time.perf_counter()
    d = Describer(features=features, proposer=proposer, cache_dir=cache).images(paths)
    seconds = time.perf_counter() - t0
    return d, truth[np.asarray(d.usable, dtype=int)], seconds


def run_set(name, work, features, proposer, methods, cache, dump=None) -> dict:
    d, truth, describe_s = describe_set(name, work, features, proposer, cache)
    if dump:
        # What assign() clusters, so other methods can be tried without describing again.
        Path(dump).mkdir(parents=True, exist_ok=True)
        np.savez(Path(dump) / f'{name}.npz', X=np.hstack(clustered_matrix(d)), truth=truth)
    k = len(np.unique(truth))
    row = {'set': name, 'images': len(truth), 'k': k, 'describe_s': round(describe_s, 1),
           'decided': {q: v.value for q, v in d.decisions.items()}, 'methods': {}}
    for m in methods:
        t0 = time.perf_counter()
        labels = assign(d, k, method=m, random_state=0)
        row['methods'][m] = {'nmi': round(float(normalized_mutual_info_score(truth, labels)), 4),
                             'seconds': round(time.perf_counter() - t0, 2)}
    return row


def markdown(rows, methods, features, proposer, note) -> str:
    head = ' | '.join(f'{m} NMI | {m} s' for m in methods)
    lines = [f'## Ward vs clusterers trained on the frozen features ({features}, '
             f'proposer {proposer})', '',
             'Same description per set; NMI against the folder names; seconds of the '
             f'assignment alone (seed 0). {note}', '',
             f'| set | images | k | describe s | {head} |',
             '| --- | --- | --- | --- | ' + ' | '.join(['---'] * 2 * len(methods)) + ' |']
    for r in rows:
        cells = ' | '.join(f"{r['methods'][m]['nmi']:.3f} | {r['methods'][m]['seconds']}"
                           for m in methods)
        lines.append(f"| {r['set']} | {r['images']} | {r['k']} | {r['describe_s']} | {cells} |")
    means = ' | '.join(f"{np.mean([r['methods'][m]['nmi'] for r in rows]):.3f} | "
                       f"{np.mean([r['methods'][m]['seconds'] for r in rows]):.2f}"
                       for m in methods)
    lines.append(f'| **mean** | | | | {means} |')
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', default=','.join(IMAGE_SETS))
    p.add_argument('--features', default=DEFAULT_FEATURES)
    p.add_argument('--proposer', default='auto')
    p.add_argument('--methods', default='agglomerative,temi,umap-ward')
    p.add_argument('--cache', default=None, help='feature cache folder (reruns are cheaper)')
    p.add_argument('--dump', default=None, help='folder for the clustered matrices (.npz)')
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--name', default='frozen_heads')
    p.add_argument('--note', default='', help='load note for the table (e.g. "(loaded)")')
    args = p.parse_args()
    methods = args.methods.split(',')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(','):
            rows.append(run_set(name, Path(tmp), args.features, args.proposer, methods,
                                args.cache, args.dump))
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_meta(args.note, features=args.features, proposer=args.proposer)
    (out / f'{args.name}.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2))
    md = markdown(rows, methods, args.features, args.proposer, args.note)
    (out / f'{args.name}.md').write_text(md)
    print(md)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
