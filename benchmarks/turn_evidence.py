"""Can the images tell whether a whole-image set has an up? Label-free rules, checked.

The default sees every whole image turned by 180 degrees too (and half-whitens the
features). That helps sets of things seen from above and costs sets with an up (letters,
and presumably faces). For each build of the whole-image sets this prints whether the
turn helps (Ward NMI with the true k, half-whitened, with and without the turned view)
and what three label-free rules would have decided:

- ``silhouette, true k``: Ward with the true k on the whole set; turn when averaging in
  the turned view gives a higher silhouette than averaging in a view cropped by a tenth
  (a view that is surely still an image of the set);
- ``silhouette, sample``: the same on a seeded sample of 200, silhouette averaged over the
  cuts into 2 .. 10 groups (what a describer that does not know k could do);
- ``nearest neighbour``: turn when turned views are about as near their nearest other
  image as the images themselves are (median ratio >= 0.95).

    python benchmarks/turn_evidence.py [--sets a,b] [--seeds 0,1,2] [--out DIR]
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score, silhouette_score

from sorting_cell.bench.image_sets import build_image_set
from sorting_cell.bench.records import (add_build_arguments, run_builds, run_meta, seed_list,
                                        write_results)
from sorting_cell.clustering.estimator import normalize_features
from sorting_cell.features.litert import LiteRTFeatures
from sorting_cell.images import load_image

#: The sets the default describes whole (no fixed camera with segmentable objects).
SETS = ('tools-resized', 'tools-uniform', 'tools-turntable', 'tools-clutter', 'digits',
        'glyphs', 'fashion')


def _crop(im):
    h, w = im.shape[:2]
    return np.ascontiguousarray(im[h // 20:h - h // 20, w // 20:w - w // 20])


def _ward(X, k):
    return AgglomerativeClustering(n_clusters=k).fit_predict(X)


def _sample_tightness(X, rng):
    pick = rng.choice(len(X), min(len(X), 200), replace=False)
    Z = normalize_features(X[pick], 'whitened')
    tree = linkage(Z, 'ward')
    return float(np.mean([silhouette_score(Z, fcluster(tree, k, 'maxclust'))
                          for k in range(2, 11)]))


def run_build(name, seed, work, net):
    folder = work / f'{name}-{seed}'
    build_image_set(name, folder, seed=seed)
    paths = sorted(folder.glob('*/*.png'))
    truth = np.array([p.parent.name for p in paths])
    k = len(set(truth))
    ims = [load_image(str(p)) for p in paths]
    E = np.asarray(net.transform(ims), float)
    T = np.asarray(net.transform([np.ascontiguousarray(im[::-1, ::-1]) for im in ims]), float)
    N = np.asarray(net.transform([_crop(im) for im in ims]), float)
    W = {v: normalize_features(X, 'whitened') for v, X in
         (('as is', E), ('turned', (E + T) / 2), ('cropped', (E + N) / 2))}
    labels = {v: _ward(Z, k) for v, Z in W.items()}
    nmi = {v: round(float(normalized_mutual_info_score(truth, lab)), 4)
           for v, lab in labels.items()}
    sil = {v: float(silhouette_score(W[v], labels[v])) for v in W}
    tight = {v: _sample_tightness(X, np.random.default_rng(0)) for v, X in
             (('turned', (E + T) / 2), ('cropped', (E + N) / 2))}
    Zc = normalize_features(np.vstack([E, T]), 'centered')
    Zc /= np.linalg.norm(Zc, axis=1, keepdims=True)
    n = len(E)
    S = Zc[:n] @ Zc[:n].T
    np.fill_diagonal(S, -9)
    St = Zc[n:] @ Zc[:n].T
    np.fill_diagonal(St, -9)
    ratio = float(np.median(St.max(1)) / np.median(S.max(1)))
    return {'set': name, 'seed': seed, 'images': n, 'k': k, 'nmi': nmi,
            'turn_helps': round(nmi['turned'] - nmi['as is'], 4),
            'rule_silhouette_true_k': sil['turned'] > sil['cropped'],
            'rule_silhouette_sample': tight['turned'] > tight['cropped'],
            'rule_nearest_neighbour': ratio >= 0.95, 'nn_ratio': round(ratio, 3),
            'silhouette': {v: round(x, 4) for v, x in sil.items()},
            'sample_tightness': {v: round(x, 4) for v, x in tight.items()}}


def markdown(rows, note):
    def yn(b):
        return 'turn' if b else 'as is'
    lines = ['## Does the set have an up? Label-free rules against what the turn does', '',
             'Embedded MobileNetV2 (TF2 int8), whole images, half-whitened, Ward with the '
             f'true k. A rule is right when it turns exactly where the turn gains more than '
             f'0.005 NMI or loses less (level counts as right either way). {note}', '',
             '| set | seed | NMI as is | NMI turned | turn gains | silhouette, true k | '
             'silhouette, sample | nearest neighbour (ratio) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    right = {r: 0 for r in ('rule_silhouette_true_k', 'rule_silhouette_sample',
                            'rule_nearest_neighbour')}
    for r in rows:
        gain = r['turn_helps']
        for rule in right:
            right[rule] += (abs(gain) <= 0.005) or ((gain > 0) == r[rule])
        lines.append(f"| {r['set']} | {r['seed']} | {r['nmi']['as is']:.3f} | "
                     f"{r['nmi']['turned']:.3f} | {gain:+.3f} | "
                     f"{yn(r['rule_silhouette_true_k'])} | {yn(r['rule_silhouette_sample'])} | "
                     f"{yn(r['rule_nearest_neighbour'])} ({r['nn_ratio']}) |")
    lines += ['', 'Right on: ' + ', '.join(f"{k.replace('rule_', '').replace('_', ' ')} "
                                          f'{v} of {len(rows)}' for k, v in right.items())]
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_build_arguments(p, SETS)
    args = p.parse_args()
    seeds = seed_list(args.seeds)
    net = LiteRTFeatures('mobilenet_v2_tf2', tta='none')
    rows = run_builds(args.sets.split(','), seeds,
                      lambda name, seed, work: run_build(name, seed, work, net),
                      lambda row: print(json.dumps(row), flush=True))
    md = markdown(rows, args.note)
    write_results(args.out, 'turn_evidence', {'meta': run_meta(args.note, seeds=seeds),
                                              'rows': rows}, md)
    print(md)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
