"""What whole-image features gain from test-time views, pooling and whitening.

For every build of the unseen image sets (:mod:`sorting_cell.bench.image_sets`; the seeds
of ``--seeds`` for the sets that depend on them) each image is run once as it is, once
mirrored and once turned by 180 degrees through the embedded MobileNetV2 (TF2 int8),
at its own aspect-preserving size, and the last spatial map is pooled four ways: average
(the product's), max, generalised mean (p = 3) and an average weighted by each cell's
activation norm (the net's own saliency: an object-centred pooling without labels).
Then Ward clusters every combination of views x pooling x normalisation (centred, or
half-whitened on 32 / 64 / 128 principal axes) and the table gives NMI against the folder
names, each row's mean and its wins / losses (beyond 0.005) against the plain row
(as is, average, centred).

    python benchmarks/whole_image_views.py [--sets a,b] [--seeds 0,1,2] [--out DIR] [--name N]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score

from sorting_cell.bench.image_sets import IMAGE_SETS, build_image_set
from sorting_cell.bench.records import (add_build_arguments, run_builds, run_meta, seed_list,
                                        write_results)
from sorting_cell.clustering import estimator
from sorting_cell.features.litert import LiteRTFeatures
from sorting_cell.images import load_image

VIEWS = {'as is': ('id',), '+ mirror': ('id', 'mirror'), '+ turn': ('id', 'turn'),
         '+ both': ('id', 'mirror', 'turn')}
TRANSFORMS = {'id': lambda im: im, 'mirror': lambda im: im[:, ::-1],
              'turn': lambda im: im[::-1, ::-1]}
NORMS = {'centred': lambda X: estimator.normalize_features(X, 'centered'),
         **{f'whitened {d}': (lambda d: lambda X: estimator._whitened(X, d))(d)
            for d in (32, 64, 128)}}
#: The set built with tools-small's flat surround is left out: the default crops it first.
DEFAULT_SETS = [s for s in IMAGE_SETS if s != 'tools-small']


def pools(m: np.ndarray) -> dict[str, np.ndarray]:
    f = m.reshape(-1, m.shape[-1])
    w = np.linalg.norm(f, axis=1)
    return {'average': f.mean(0), 'max': f.max(0),
            'GeM 3': np.cbrt(np.power(np.maximum(f, 0), 3).mean(0)),
            'activation-weighted': (w[:, None] * f).sum(0) / max(w.sum(), 1e-12)}


def run_build(name: str, seed: int, work: Path, net: LiteRTFeatures) -> dict:
    folder = work / f'{name}-{seed}'
    build_image_set(name, folder, seed=seed)
    paths = sorted(folder.glob('*/*.png'))
    truth = np.array([p.parent.name for p in paths])
    k = len(set(truth))
    rows: dict[tuple[str, str], list] = {}
    t0 = time.perf_counter()
    for p in paths:
        im = load_image(str(p))
        for t, f in TRANSFORMS.items():
            for pool, v in pools(net.feature_maps([f(im)])[0]).items():
                rows.setdefault((t, pool), []).append(v)
    features_s = time.perf_counter() - t0
    nmi = {}
    for view, parts in VIEWS.items():
        for pool in ('average', 'max', 'GeM 3', 'activation-weighted'):
            X = np.mean([np.stack(rows[(t, pool)]) for t in parts], axis=0)
            for norm, fn in NORMS.items():
                labels = AgglomerativeClustering(n_clusters=k).fit_predict(fn(X))
                nmi[f'{view} | {pool} | {norm}'] = round(
                    float(normalized_mutual_info_score(truth, labels)), 4)
    return {'set': name, 'seed': seed, 'images': len(paths), 'k': k,
            'features_s_three_views': round(features_s, 1), 'nmi': nmi}


def markdown(builds: list[dict], note: str) -> str:
    cols = [f"{b['set'].replace('tools-', '')} {b['seed']}" for b in builds]
    base = 'as is | average | centred'
    keys = sorted(builds[0]['nmi'], key=lambda c: -np.mean([b['nmi'][c] for b in builds]))
    lines = ['## Whole-image features: test-time views x pooling x normalisation', '',
             'Embedded MobileNetV2 (TF2 int8), Ward, NMI against the folder names, per set '
             f'build (set, seed). Sorted by mean. {note}', '',
             f'| views | pooling | normalisation | {" | ".join(cols)} | mean | wins / losses '
             'vs as is, average, centred |',
             '| --- | --- | --- | ' + ' | '.join(['---'] * len(cols)) + ' | --- | --- |']
    for c in keys:
        vals = [b['nmi'][c] for b in builds]
        d = np.array(vals) - np.array([b['nmi'][base] for b in builds])
        mark = '**' if c == base or c == '+ turn | average | whitened 64' else ''
        lines.append(f"| {mark}{c.replace(' | ', f'{mark} | {mark}')}{mark} | "
                     + ' | '.join(f'{v:.3f}' for v in vals)
                     + f' | {np.mean(vals):.3f} | {(d > 0.005).sum()} / {(d < -0.005).sum()} |')
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_build_arguments(p, DEFAULT_SETS)
    p.add_argument('--name', default='whole_image_views', help='file name of the results')
    args = p.parse_args()
    seeds = seed_list(args.seeds)
    net = LiteRTFeatures('mobilenet_v2_tf2', tta='none')
    builds = run_builds(args.sets.split(','), seeds,
                        lambda name, seed, work: run_build(name, seed, work, net),
                        lambda b: print(b['set'], b['seed'], b['features_s_three_views'], 's',
                                        flush=True))
    write_results(args.out, args.name, {'meta': run_meta(args.note, seeds=seeds),
                                        'builds': builds}, markdown(builds, args.note))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
