"""Benchmark: multi-view clustering (CC, MVEC, IDEC, DMVC) vs. single views, tool dataset.

Protocol A (shared/docs/BENCHMARK.md): draws of 28 images (one shot per object) per
condition and 'mixed', k = 7, mean NMI / purity over draws (fixed seed). Protocol C:
all 112 images of each condition, NMI / purity / ARI / ACC and time. Single views and
CC/MVEC are run on every draw; the deep methods (IDEC on the concatenated views, DMVC) on
the first ``--deep-draws`` draws only (said in the table). Also reports k-means on the
learned representation of IDEC/DMVC (Table 4 of Guerin & Boots 2018).

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/multiview.py

Writes benchmarks/results/multiview.{json,md}. Crops + features cached in /tmp (mv_data.py).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mv_data import tool_views  # noqa: E402

from sorting_cell.clustering.metrics import acc, ari, nmi, purity  # noqa: E402
from sorting_cell.clustering.estimator import normalize_features  # noqa: E402
from sorting_cell.multiview import make_multiview  # noqa: E402
from sorting_cell.pipeline import AUTO_SHAPE_WEIGHT, AUTO_SIZE_WEIGHT  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
COLUMNS = ('c1', 'c2', 'c3', 'c4', 'c5', 'mixed')


def draws_a(meta, condition, n: int, seed: int) -> list[np.ndarray]:
    """One shot of each of the 28 objects, in ``condition`` (or a random one: 'mixed')."""
    rng = np.random.default_rng(seed)
    key = {(o, c, s): i for i, (o, c, s) in enumerate(zip(meta['object_id'], meta['condition'],
                                                          meta['shot']))}
    objects = sorted(set(meta['object_id'].tolist()))
    conds = sorted(set(meta['condition'].tolist()))
    shots = sorted(set(meta['shot'].tolist()))
    out = []
    for _ in range(n):
        out.append(np.array([key[(o, conds[rng.integers(len(conds))] if condition == 'mixed'
                                  else condition, shots[rng.integers(len(shots))])]
                             for o in objects]))
    return out


def make_methods(view_names, deep_kw: dict, seed: int, size_weight: float,
                 shape_weight: float = AUTO_SHAPE_WEIGHT) -> dict:
    """name -> (callable(centred views, geometry, k) -> (labels, embedding or None), deep?).

    ``geometry`` is ``(sizes, shapes)`` of the set's regions. '+shape' methods add the
    outline term too (weight ``shape_weight``), exactly as the pipeline does.

    Every method gets the same per-set 'centered' normalisation of every view (done by the
    caller, as ``SortingPipeline.cluster_features`` does); '+size' methods add the
    pipeline's object-size term (weight ``size_weight``) -- to the matrix for single views
    and CC, to every view's matrix for MVEC (so each base partition is the pipeline's own
    ``cluster_features`` partition of that view).
    """
    from sorting_cell.pipeline import SortingPipeline

    def pipe(k, w, ws):
        return SortingPipeline(k, method='agglomerative', normalize=None, size_weight=w,
                               shape_weight=ws, random_state=seed)

    def single(i, w, ws=0.0):
        def run(vs, geo, k):
            return pipe(k, w, ws).cluster_features(vs[i], *geo), None
        return run

    def shallow(name, with_size=False, with_shape=False, **kw):
        def run(vs, geo, k):
            if with_size:
                # The pipeline's geometry block (size, and outline for '+shape'), alone.
                p = pipe(k, size_weight, shape_weight if with_shape else 0.0)
                S = p.geometry(np.zeros((len(vs[0]), 0)), *geo)
                if name == 'cc':  # one size block next to the concatenation
                    vs = [np.hstack(vs) / np.sqrt(len(vs)), S]
                    kw2 = {**kw, 'normalize': None}
                    return (make_multiview('cc', k, random_state=seed, **kw2)
                            .fit_predict(vs), None)
                vs = [np.hstack([V, S]) for V in vs]
                kw2 = {**kw, 'normalize': None}
            else:
                kw2 = kw
            return make_multiview(name, k, random_state=seed, **kw2).fit_predict(vs), None
        return run

    def deep(name):
        def run(vs, geo, k):
            est = make_multiview(name, k, random_state=seed, **deep_kw).fit(vs)
            return est.labels_, est.transform(vs)
        return run

    methods = {f'single:{n}': (single(i, 0.0), False) for i, n in enumerate(view_names)}
    methods.update({f'single:{n}+size': (single(i, size_weight), False)
                    for i, n in enumerate(view_names)})
    methods.update({f'single:{n}+size+shape': (single(i, size_weight, shape_weight), False)
                    for i, n in enumerate(view_names)})
    spectral = {'base': ['agglomerative', 'kmeans', 'spectral']}
    wardkm = {'base': ['agglomerative', 'kmeans']}
    methods.update({'CC': (shallow('cc'), False),
                    'CC+size': (shallow('cc', True), False),
                    'MVEC': (shallow('mvec'), False),
                    'MVEC+size': (shallow('mvec', True), False),
                    'CC+size+shape': (shallow('cc', True, True), False),
                    'MVEC+size+shape': (shallow('mvec', True, True), False),
                    'MVEC(ward+kmeans+spectral)': (shallow('mvec', **spectral), False),
                    'MVEC(ward+kmeans+spectral)+size': (shallow('mvec', True, **spectral),
                                                         False),
                    'MVEC(ward+kmeans)+size+shape': (shallow('mvec', True, True, **wardkm),
                                                     False),
                    'MVEC(ward+kmeans+spectral)+size+shape': (
                        shallow('mvec', True, True, **spectral), False),
                    'IDEC(concat)': (deep('idec'), True),
                    'DMVC': (deep('dmvc'), True)})
    return methods


def centred(views, idx) -> list[np.ndarray]:
    """The rows ``idx`` of every view, 'centered' over this set (the pipeline's rule)."""
    return [normalize_features(np.asarray(V[idx], dtype=np.float64), 'centered')
            for V in views]


def score(y, labels, Z, seed: int) -> dict:
    s = {'nmi': nmi(y, labels), 'purity': purity(y, labels), 'ari': ari(y, labels),
         'acc': acc(y, labels)}
    if Z is not None:  # Table 4: k-means on the learned representation
        from sklearn.cluster import KMeans
        km = KMeans(len(set(y)), n_init=10, random_state=seed).fit_predict(Z)
        s['kmeans_on_repr_nmi'] = nmi(y, km)
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--views', default='mobilenet_v1+mobilenet_v2+mobilenet_v2_tf2')
    ap.add_argument('--draws', type=int, default=100)
    ap.add_argument('--deep-draws', type=int, default=3)
    ap.add_argument('--methods', default='', help='comma-separated subset of method names')
    ap.add_argument('--protocols', default='A,C')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--columns', default=','.join(COLUMNS), help='Protocol A/C columns to run')
    ap.add_argument('--size-weight', type=float, default=AUTO_SIZE_WEIGHT,
                    help="weight of the object-size term of the '+size' methods")
    ap.add_argument('--shape-weight', type=float, default=AUTO_SHAPE_WEIGHT,
                    help="weight of the outline term of the '+shape' methods")
    ap.add_argument('--out', default='multiview', help='results/<out>.{json,md}')
    ap.add_argument('--deep-params', default='{}',
                    help='JSON overriding IDEC/DMVC parameters (default: the paper\'s)')
    args = ap.parse_args(argv)
    names = args.views.split('+')
    all_views, meta = tool_views()
    views = all_views.select(names)
    y_all = meta['label']
    deep_kw = {'progress': False, 'n_threads': args.threads, **json.loads(args.deep_params)}
    methods = make_methods(names, deep_kw, args.seed, args.size_weight, args.shape_weight)
    if args.methods:
        keep = args.methods.split(',')
        methods = {m: v for m, v in methods.items() if m in keep or m.startswith('single:')}
    out = {'views': names, 'deep_params': deep_kw, 'seed': args.seed,
           'size_weight': args.size_weight, 'shape_weight': args.shape_weight,
           'loadavg_start': os.getloadavg()[0], 'draws': args.draws,
           'deep_draws': args.deep_draws, 'A': {}, 'C': {},
           'seconds_per_image': meta['seconds_per_image']}
    if 'A' in args.protocols:
        for col in [c for c in COLUMNS if c in args.columns.split(',')]:
            cond = 'mixed' if col == 'mixed' else int(col[1:])
            draws = draws_a(meta, cond, args.draws, args.seed)
            for m, (fn, is_deep) in methods.items():
                rows, secs = [], []
                for idx in draws[:args.deep_draws] if is_deep else draws:
                    y = y_all[idx]
                    t0 = time.perf_counter()
                    geo = (meta['sizes'][idx], meta['shapes'][idx])
                    labels, Z = fn(centred(views, idx), geo, 7)
                    secs.append(time.perf_counter() - t0)
                    rows.append(score(y, labels, Z, args.seed))
                out['A'].setdefault(m, {})[col] = {
                    **{k: float(np.mean([r[k] for r in rows])) for k in rows[0]},
                    'nmi_std': float(np.std([r['nmi'] for r in rows])),
                    'n_draws': len(rows), 'seconds': float(np.mean(secs))}
                print(f'A {col} {m:22s} NMI {out["A"][m][col]["nmi"]:.3f} '
                      f'({len(rows)} draws, {np.mean(secs):.2f} s/draw)', flush=True)
    if 'C' in args.protocols:
        for c in [c for c in range(1, 6) if f'c{c}' in args.columns.split(',')]:
            idx = np.nonzero(meta['condition'] == c)[0]
            for m, (fn, _) in methods.items():
                t0 = time.perf_counter()
                geo = (meta['sizes'][idx], meta['shapes'][idx])
                labels, Z = fn(centred(views, idx), geo, 7)
                secs = time.perf_counter() - t0
                out['C'].setdefault(m, {})[f'c{c}'] = {**score(y_all[idx], labels, Z, args.seed),
                                                       'seconds': secs}
                print(f'C c{c} {m:22s} NMI {out["C"][m][f"c{c}"]["nmi"]:.3f} ({secs:.1f} s)',
                      flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f'{args.out}.json').write_text(json.dumps(out, indent=1))
    md = render(out)
    (RESULTS / f'{args.out}.md').write_text(md)
    print(md)
    return 0


def _mean(d: dict, key='nmi') -> float:
    return float(np.mean([v[key] for v in d.values()]))


def render(out: dict) -> str:
    md = ['# Multi-view clustering on the tool dataset', '',
          f'2 shared cores, 1-min load average {out.get("loadavg_start", float("nan")):.1f} '
          'at the start (other helpers running: timings are contended).', '',
          f'Views: {", ".join(out["views"])} on the pipeline\'s crops (upright strips, LiteRT '
          'at the strip\'s aspect + flip TTA, `bench.tools.describe`). Every view is '
          '\'centered\' per set (per draw), as in `SortingPipeline.cluster_features`. '
          'Single views: Ward; \'+size\': with the pipeline\'s object-size term (weight '
          f'{out.get("size_weight", 0.3)}; `single:mobilenet_v2_tf2+size` is the product '
          'default before outlines). CC: concatenation, Ward. MVEC: one Ward partition per view (or Ward + '
          'k-means + spectral), co-association, average linkage on 1 - CAM; MVEC+size: the '
          'size term appended to every view; \'+shape\': the outline term too (width '
          f'profile along the long axis, weight {out.get("shape_weight", 0.5)}; '
          '`single:mobilenet_v2_tf2+size+shape` is the product default since this run). '
          'IDEC on the concatenated views and DMVC: the paper\'s hyper-parameters (d-500-500-'
          '2000-k, 200 pretraining epochs, batch 256, lr 1e-3, gamma 0.1, tol 1e-3) with '
          '`update_interval=\'auto\'` (half an epoch, clipped to 10..140: 10 here) and fused '
          'Adam; parameters '
          f'`{json.dumps({k: v for k, v in out["deep_params"].items() if k != "progress"})}`'
          f'. Seed {out["seed"]}.', '']
    if out['A']:
        md += [f'## Protocol A: mean NMI over {out["draws"]} draws of 28 images '
               f'(deep methods: first {out["deep_draws"]} draws)', '',
               '| method | ' + ' | '.join(COLUMNS) + ' | mean | purity mean | s/draw |',
               '|' + ' --- |' * (len(COLUMNS) + 4),
               '| published Xception + agglomerative | 0.87 | 0.94 | 0.83 | 0.71 | 0.82 | '
               '0.54 | 0.785 | 0.782 | |']
        for m, cols in out['A'].items():
            md.append(f'| {m} | ' + ' | '.join(f'{cols[c]["nmi"]:.3f}' if c in cols else '-'
                                               for c in COLUMNS)
                      + f' | **{_mean(cols):.3f}** | {_mean(cols, "purity"):.3f} | '
                      f'{np.mean([v["seconds"] for v in cols.values()]):.2f} |')
        md += [''] + _gain(out['A'], 'A') + ['']
    if out['C']:
        cols = [c for c in COLUMNS[:5] if c in next(iter(out['C'].values()))]
        md += ['## Protocol C: all 112 images of a condition, k = 7', '',
               '| method | ' + ' | '.join(f'{c} NMI' for c in cols)
               + ' | mean NMI | mean purity | mean ARI | mean ACC | k-means on repr. NMI | '
               'mean s |', '|' + ' --- |' * (len(cols) + 7)]
        for m, d in out['C'].items():
            rep = (f'{_mean(d, "kmeans_on_repr_nmi"):.3f}'
                   if 'kmeans_on_repr_nmi' in next(iter(d.values()))
                   else '')
            md.append(f'| {m} | ' + ' | '.join(f'{d[c]["nmi"]:.3f}' for c in cols)
                      + f' | **{_mean(d):.3f}** | {_mean(d, "purity"):.3f} | '
                      f'{_mean(d, "ari"):.3f} | {_mean(d, "acc"):.3f} | {rep} | '
                      f'{_mean(d, "seconds"):.1f} |')
        md += [''] + _gain(out['C'], 'C') + ['']
    return '\n'.join(md)


def _gain(table: dict, proto: str) -> list[str]:
    singles = {m: _mean(v) for m, v in table.items() if m.startswith('single:')
               and 'nmi' in next(iter(v.values()))}
    if not singles:
        return []
    best = max(singles, key=singles.get)
    lines = [f'Best single view ({proto}): {best} mean NMI {singles[best]:.3f}.']
    for m, v in table.items():
        if not m.startswith('single:'):
            lines.append(f'- {m}: mean NMI {_mean(v):.3f} ({_mean(v) - singles[best]:+.3f} vs '
                         f'best single view), {np.mean([x["seconds"] for x in v.values()]):.2f}'
                         f' s per clustering')
    return lines


if __name__ == '__main__':
    sys.exit(main())
