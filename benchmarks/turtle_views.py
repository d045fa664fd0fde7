"""TURTLE over several pretrained nets against Ward / k-means on one net, on unseen sets.

Each set of :mod:`sorting_cell.bench.image_sets` is built (seeded) and described twice by
:class:`~sorting_cell.perception.Describer` with several nets as views (one row block per
net, :class:`~sorting_cell.perception.methods.Input` ``VIEWS``): with the defaults
(``proposer='auto'``: perception decides from the images) and whole (``proposer='none'``).
Every method then runs on what :func:`~sorting_cell.perception.assign` would give it
(:func:`~sorting_cell.perception.assign.clustered_matrix`), on the views it names:

- ``whole ward`` / ``whole kmeans``: whole images, the default net alone (the floor);
- ``default``: the product's default (auto description, the default net, Ward);
- ``turtle <views>`` and ``cc <views>`` (concatenation + Ward): auto description, several nets.

NMI is against the folder names, which no method sees. TURTLE's own (label-free) final
loss is in the JSON.

    python benchmarks/turtle_views.py [--sets a,b] [--cache DIR] [--dump DIR] [--runs a,b]
    python benchmarks/turtle_views.py --from-dump DIR   # cluster an earlier dump again
    python benchmarks/turtle_views.py --merge LOG...    # one table from per-set JSON lines
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
from sorting_cell.perception import Describer
from sorting_cell.perception.assign import clustered_matrix
from sorting_cell.perception.methods import Input, make_method

#: The nets described per image, in view order (the first is the product's default).
NETS = ('mobilenet_v2_tf2', 'mobilenet_v1')
SHORT = {'mobilenet_v2_tf2': 'v2', 'mobilenet_v1': 'v1'}

#: The nets of a dump that does not name them (the first runs of this script).
DUMPED_NETS = ('mobilenet_v2_tf2', 'efficientnet_lite0', 'mobilenet_v1', 'efficientnet_lite2')

#: (column name, description, method, view indices)
RUNS = (
    ('whole ward', 'none', 'agglomerative', (0,)),
    ('whole kmeans', 'none', 'kmeans', (0,)),
    ('default', 'auto', 'agglomerative', (0,)),
    ('turtle v2', 'auto', 'turtle', (0,)),
    ('turtle v2+v1', 'auto', 'turtle', (0, 1)),
    ('cc v2+v1', 'auto', 'cc', (0, 1)),
    ('whole turtle v2+v1', 'none', 'turtle', (0, 1)),
)


def describe(folder: Path, proposer: str, cache: str | None):
    paths = sorted(str(p) for p in folder.glob('*/*.png'))
    truth = np.array([Path(p).parent.name for p in paths])
    t0 = time.perf_counter()
    d = Describer(features='+'.join(NETS), proposer=proposer, input=Input.VIEWS,
                  cache_dir=cache).images(paths)
    return d, truth[np.asarray(d.usable, dtype=int)], time.perf_counter() - t0


def run_method(method: str, views: list[np.ndarray], k: int):
    est = make_method(method, k, random_state=0)
    t0 = time.perf_counter()
    X = views if method in ('turtle', 'cc') else views[0]
    labels = np.asarray(est.fit_predict(X), dtype=int)
    extra = {}
    if hasattr(est, 'loss_'):
        extra['loss'] = round(float(est.loss_), 4)
    return labels, time.perf_counter() - t0, extra


def run_set(name: str, work: Path, cache, runs, dump=None, from_dump=None) -> dict:
    folder = work / name
    row = {'set': name, 'runs': {}, 'describe_s': {}}
    described = {}
    if not from_dump:
        build_image_set(name, folder)
    for proposer in sorted({r[1] for r in runs} | {'auto'}):
        if from_dump:
            # What an earlier run of this script described (clustered_matrix of it).
            z = np.load(Path(from_dump) / f'{name}-{proposer}.npz')
            nets = list(z['nets']) if 'nets' in z.files else list(DUMPED_NETS)
            views = [z[f'view{nets.index(net)}'] for net in NETS]
            described[proposer] = (views, z['truth'])
            if 'decided' in z.files:
                row['decided'] = json.loads(str(z['decided']))
            continue
        d, truth, sec = describe(folder, proposer, cache)
        described[proposer] = (clustered_matrix(d), truth)
        row['describe_s'][proposer] = round(sec, 1)
        if proposer == 'auto':
            row['decided'] = {q: v.value for q, v in d.decisions.items()}
        if dump:
            Path(dump).mkdir(parents=True, exist_ok=True)
            np.savez(Path(dump) / f'{name}-{proposer}.npz', truth=truth,
                     decided=json.dumps(row.get('decided', {})), nets=np.array(NETS),
                     **{f'view{i}': v for i, v in enumerate(described[proposer][0])})
    truth = described['auto'][1]
    row['images'], row['k'] = len(truth), int(len(np.unique(truth)))
    for col, proposer, method, idx in runs:
        views, t = described[proposer]
        labels, sec, extra = run_method(method, [views[i] for i in idx], row['k'])
        row['runs'][col] = {'nmi': round(float(normalized_mutual_info_score(t, labels)), 4),
                            'seconds': round(sec, 2), **extra}
    return row


def markdown(rows, cols, note) -> str:
    lines = ['## TURTLE over several nets vs Ward / k-means on the default net', '',
             'Views: ' + ', '.join(f'{SHORT[n]} = {n}' for n in NETS) + '. `whole`: every '
             'image whole (`--proposer none`); the others use the auto description '
             '(the product\'s decisions). NMI against the folder names (seed 0); seconds of '
             f'the clustering alone. {note}', '',
             '| set | images | k | ' + ' | '.join(cols) + ' |',
             '| --- | --- | --- | ' + ' | '.join(['---'] * len(cols)) + ' |']
    for r in rows:
        lines.append(f"| {r['set']} | {r['images']} | {r['k']} | "
                     + ' | '.join(f"{r['runs'][c]['nmi']:.3f}" for c in cols) + ' |')
    lines.append('| **mean** | | | ' + ' | '.join(
        f"{np.mean([r['runs'][c]['nmi'] for r in rows]):.3f}" for c in cols) + ' |')
    lines.append('| mean s | | | ' + ' | '.join(
        f"{np.mean([r['runs'][c]['seconds'] for r in rows]):.2f}" for c in cols) + ' |')
    floor = [c for c in cols if c.startswith('whole ward')]
    if floor:
        lines.append('| sets above whole ward (+0.01) | | | ' + ' | '.join(
            str(sum(r['runs'][c]['nmi'] > r['runs'][floor[0]]['nmi'] + 0.01 for r in rows))
            for c in cols) + ' |')
    return '\n'.join(lines) + '\n'


def merge(args) -> int:
    rows: dict[str, dict] = {}
    for log in args.merge:
        for line in Path(log).read_text().splitlines():
            if not line.startswith('{'):
                continue
            r = json.loads(line)
            row = rows.setdefault(r['set'], {**r, 'runs': {}})
            row['runs'].update(r['runs'])
            row.update({q: r[q] for q in ('decided', 'images', 'k') if q in r})
    cols = [c for c, *_ in RUNS if all(c in r['runs'] for r in rows.values())]
    order = [n for n in IMAGE_SETS if n in rows]
    out = Path(args.out)
    meta = {'date': time.strftime('%Y-%m-%d'), 'note': args.note, 'nets': NETS,
            'merged_from': [Path(x).name for x in args.merge]}
    data = [rows[n] for n in order]
    (out / f'{args.name}.json').write_text(json.dumps({'meta': meta, 'rows': data}, indent=2))
    (out / f'{args.name}.md').write_text(markdown(data, cols, args.note))
    print(markdown(data, cols, args.note))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', default=','.join(IMAGE_SETS))
    p.add_argument('--cache', default=None, help='feature cache folder (reruns are cheaper)')
    p.add_argument('--dump', default=None, help='folder for the clustered matrices (.npz)')
    p.add_argument('--from-dump', default=None,
                   help='cluster the matrices an earlier --dump wrote (no describing)')
    p.add_argument('--runs', default=None, help='comma-separated column names (default all)')
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--name', default='turtle_views')
    p.add_argument('--note', default='', help='load note for the table (e.g. "(loaded)")')
    p.add_argument('--merge', nargs='+', default=None, metavar='LOG',
                   help='no run: merge the per-set JSON lines these runs printed (the '
                   'later value of a column wins) into one table')
    args = p.parse_args()
    if args.merge:
        return merge(args)
    runs = RUNS if not args.runs else [r for r in RUNS if r[0] in args.runs.split(',')]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(','):
            rows.append(run_set(name, Path(tmp), args.cache, runs, args.dump, args.from_dump))
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_meta(args.note, nets=NETS)
    (out / f'{args.name}.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2))
    md = markdown(rows, [r[0] for r in runs], args.note)
    (out / f'{args.name}.md').write_text(md)
    print(md)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
