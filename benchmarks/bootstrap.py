"""Benchmark: transfer-learning bootstrapping vs. its boot features (seed 003's tables).

For each boot feature (raw pixels, Gabor, HOG, raw pixels + PCA) on

- the 1797 scikit-learn 8x8 digits (the MNIST-like set), k = 10, and
- the tool dataset, each condition's 112 images (Protocol C), k = 7,

it reports JC, FMI, NMI, ARI, ACC and the normalised DBI of (a) k-means on the boot
feature alone and (b) bootstrapping started from it, plus the index difference rate
eta = (max - min) / max of every index across boot features, before and after.

The pretrained network is the frozen MobileNet(s) named by ``--pretrained``; the trained
part is a head on its features (see sorting_cell.bootstrap for why). Run from the repo root:

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/bootstrap.py

Writes benchmarks/results/bootstrap.{json,md}. Feature caches live in /tmp (mv_data.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mv_data import digit_views, tool_views  # noqa: E402

from sorting_cell.bootstrap import TransferBootstrap, difference_rate  # noqa: E402
from sorting_cell.clustering.metrics import score_all  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
INDICES = ('jaccard', 'fmi', 'nmi', 'ari', 'acc', 'ndbi')
LABEL = {'jaccard': 'JC', 'fmi': 'FMI', 'nmi': 'NMI', 'ari': 'ARI', 'acc': 'ACC',
         'ndbi': 'nDBI'}
# boot feature name -> (view in the cache, PCA components)
BOOTS = {'raw': ('raw', None), 'gabor': ('gabor', None), 'hog': ('hog', None),
         'raw+pca': ('raw', 20)}


def _scores(y, labels, F) -> dict:
    s = score_all(y, labels, F)
    return {k: s[k] for k in INDICES}


def run_one(boot: np.ndarray, pretrained: list, y, k: int, pca, seed: int, params: dict):
    est = TransferBootstrap(k, boot_pca=pca, random_state=seed, **params)
    t0 = time.perf_counter()
    est.fit([boot, *pretrained])
    secs = time.perf_counter() - t0
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    Fb = boot if pca is None else PCA(pca, random_state=0).fit_transform(
        StandardScaler().fit_transform(boot))
    return {'boot': _scores(y, est.boot_labels_, Fb),
            'bootstrap': _scores(y, est.labels_, est.embedding_),
            'rounds': est.n_rounds_, 'confirmed': int(est.confirmed_.sum()),
            'per_round_nmi': [score_all(y, r['labels'])['nmi'] for r in est.rounds_],
            'seconds': secs}


def eta(rows: dict, which: str) -> dict:
    return {i: difference_rate([r[which][i] for r in rows.values()]) for i in INDICES}


def bench(views, y, k: int, pretrained_names, seed: int, params: dict, tag: str) -> dict:
    pretrained = [views[n] for n in pretrained_names]
    rows = {}
    for name, (view, pca) in BOOTS.items():
        rows[name] = run_one(views[view], pretrained, y, k, pca, seed, params)
        r = rows[name]
        print(f'[{tag}] {name:8s} boot NMI {r["boot"]["nmi"]:.3f} ACC {r["boot"]["acc"]:.3f}'
              f' -> bootstrap NMI {r["bootstrap"]["nmi"]:.3f} ACC {r["bootstrap"]["acc"]:.3f}'
              f' ({r["rounds"]} rounds, {r["seconds"]:.1f} s)', flush=True)
    return {'rows': rows, 'eta_boot': eta(rows, 'boot'), 'eta_bootstrap': eta(rows, 'bootstrap')}


def _table(res: dict) -> list[str]:
    head = '| boot feature | ' + ' | '.join(f'{LABEL[i]} boot -> boot+TL' for i in INDICES) \
        + ' | rounds | s |'
    out = [head, '|' + ' --- |' * (len(INDICES) + 3)]
    for name, r in res['rows'].items():
        cells = [f'{r["boot"][i]:.3f} -> **{r["bootstrap"][i]:.3f}**' for i in INDICES]
        out.append(f'| {name} | ' + ' | '.join(cells) + f' | {r["rounds"]} | '
                   f'{r["seconds"]:.1f} |')
    cells = [f'{res["eta_boot"][i]:.3f} -> **{res["eta_bootstrap"][i]:.3f}**' for i in INDICES]
    out.append('| eta (max-min)/max | ' + ' | '.join(cells) + ' | | |')
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pretrained', default='mobilenet_v1',
                    help="frozen pretrained views under the head, '+'-separated")
    ap.add_argument('--datasets', default='digits,tools')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--params', default='{}', help='JSON of TransferBootstrap parameters')
    args = ap.parse_args(argv)
    params = {'progress': False, 'n_threads': args.threads, **json.loads(args.params)}
    pre = args.pretrained.split('+')
    out = {'pretrained': pre, 'params': params, 'seed': args.seed, 'results': {}}
    md = ['# Transfer-learning bootstrapping (seed 003) on this machine', '',
          f'Pretrained network: frozen `{args.pretrained}` (LiteRT int8) + trained head; '
          f'parameters `{json.dumps({k: v for k, v in params.items() if k != "progress"})}`'
          f', seed {args.seed}. Each cell: k-means on the boot feature -> bootstrapping '
          'started from it. nDBI = 1 / (1 + DBI) on the clustered features (boot feature, '
          'resp. the re-extracted features). eta = (max - min) / max over boot features '
          '(lower = less dependent on the boot feature). Timings under load (2 shared cores).',
          '']
    t0 = time.perf_counter()
    if 'digits' in args.datasets:
        views, y = digit_views()
        views = views.subset(slice(None))
        # 'raw' for digits is the original 8x8 = 64 pixel values (the paper's raw pixels).
        views.data[views.names.index('raw')] = views['pixels']
        res = bench(views, y, 10, pre, args.seed, params, 'digits')
        out['results']['digits'] = res
        md += ['## Digits (scikit-learn 8x8, 1797 images, k = 10)', '', *_table(res), '']
    if 'tools' in args.datasets:
        views, meta = tool_views()
        out['results']['tools'] = {}
        for c in sorted(set(meta['condition'].tolist())):
            idx = np.nonzero(meta['condition'] == c)[0]
            res = bench(views.subset(idx), meta['label'][idx], 7, pre, args.seed, params,
                        f'tools c{c}')
            out['results']['tools'][f'c{c}'] = res
            md += [f'## Tool dataset, condition {c} (112 images, k = 7)', '', *_table(res), '']
        mean = {w: {i: float(np.mean([out['results']['tools'][c]['rows'][b][w][i]
                                      for c in out['results']['tools'] for b in BOOTS]))
                    for i in INDICES} for w in ('boot', 'bootstrap')}
        out['results']['tools_mean'] = mean
        md += ['Tool dataset, mean over conditions and boot features: ' + ', '.join(
            f'{LABEL[i]} {mean["boot"][i]:.3f} -> {mean["bootstrap"][i]:.3f}'
            for i in INDICES), '']
    out['seconds'] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'bootstrap.json').write_text(json.dumps(out, indent=1))
    (RESULTS / 'bootstrap.md').write_text('\n'.join(md))
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    sys.exit(main())
