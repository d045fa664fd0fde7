"""Segmentation of simulated trays against the simulator's ground-truth masks.

For each seeded tray the project's proposer (``make_proposer('background')``) is fitted on
one frame of the empty tray (same camera, arm at home), then run on the tray's overhead
RGB frame. Ground truth is MuJoCo's segmentation rendering of the same state: each
object's visible pixels. Proposals and objects are matched one-to-one by the Hungarian
algorithm on IoU (``scipy.optimize.linear_sum_assignment``); an object left unmatched, or
matched with IoU 0, scores 0.

Reported per tray and overall: mean IoU over objects, recall@0.5 (objects matched with
IoU >= 0.5), precision@0.5 (proposals matched with IoU >= 0.5), and mean IoU per family.

With ``--features`` (default ``mobilenet_v2``; ``none`` skips it) the proposals' crops
also go through the pipeline's extractor and clusterer (``SortingPipeline(n_clusters =
boxes)``), and the clusters are scored against the family of each proposal's matched
object (NMI, purity): how well the simulated families sort by appearance.

Run (about 1 min each on 2 idle cores)::

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_segmentation.py
    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_segmentation.py --boxes 6 \
        --out benchmarks/results/sim_segmentation_6families

Writes ``benchmarks/results/sim_segmentation.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from sorting_cell.regions import make_proposer
from sorting_cell.sim import SimWorld
from sorting_cell.sim.cell import resolve_families
from sorting_cell.sim.objects import FAMILY_NAMES

RESULTS = Path(__file__).resolve().parent / 'results'


def iou_matrix(truth: list[np.ndarray], pred: list[np.ndarray]) -> np.ndarray:
    """IoU of every (ground-truth, proposal) pair of boolean masks."""
    if not truth or not pred:
        return np.zeros((len(truth), len(pred)))
    t = np.stack([m.ravel() for m in truth]).astype(np.float32)
    p = np.stack([m.ravel() for m in pred]).astype(np.float32)
    inter = t @ p.T
    union = t.sum(1)[:, None] + p.sum(1)[None, :] - inter
    return inter / np.maximum(union, 1.0)


def match(iou: np.ndarray) -> np.ndarray:
    """Per ground-truth object, the IoU of its Hungarian-matched proposal (0 if none)."""
    best = np.zeros(iou.shape[0])
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        best[rows] = iou[rows, cols]
    return best


def cluster_scores(regions, iou, names, fam, num_boxes, features, method) -> dict:
    """Cluster the proposals' crops as the pipeline does; score against their families."""
    from sorting_cell.clustering.metrics import nmi, purity
    from sorting_cell.pipeline import SortingPipeline
    pipe = SortingPipeline(n_clusters=num_boxes, features=features, method=method)
    X = pipe.extractor_().transform([r.crop for r in regions])
    labels = pipe.clusterer_().fit_predict(X)
    # each proposal's family: that of the object it overlaps most
    truth = [fam[names[int(np.argmax(iou[:, j]))]] for j in range(len(regions))]
    return {'nmi': round(float(nmi(truth, labels)), 4),
            'purity': round(float(purity(truth, labels)), 4)}


def evaluate_tray(seed: int, num_boxes: int, families, n_objects, proposer_name: str,
                  min_visible: int, features: str, method: str) -> dict:
    with SimWorld(num_boxes=num_boxes, seed=seed, n_objects=0, families=families) as empty:
        background = empty.render(depth=False).rgb
    with SimWorld(num_boxes=num_boxes, seed=seed, n_objects=n_objects,
                  families=families) as world:
        world.advance(0.5)
        frame = world.render(depth=False, segmentation=True)
        gt = world.ground_truth_masks(frame.segmentation)
        fam = world.object_families()
    names = [n for n in gt if gt[n].sum() >= min_visible]
    proposer = make_proposer(proposer_name).fit([background])
    t0 = time.perf_counter()
    regions = proposer.propose(frame.rgb)
    seconds = time.perf_counter() - t0
    shape = frame.rgb.shape[:2]
    pred = [r.full_mask(shape) for r in regions]
    iou = iou_matrix([gt[n] for n in names], pred)
    best = match(iou)
    matched_pred = 0
    clustering = None
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        matched_pred = int((iou[rows, cols] >= 0.5).sum())
        if features != 'none' and len(pred) >= num_boxes:
            clustering = cluster_scores(regions, iou, names, fam, num_boxes, features, method)
    return {'seed': seed, 'objects': len(names), 'proposals': len(pred),
            'mean_iou': round(float(best.mean()), 4) if names else None,
            'recall@0.5': round(float((best >= 0.5).mean()), 4) if names else None,
            'precision@0.5': round(matched_pred / len(pred), 4) if pred else None,
            'propose_s': round(seconds, 3), 'clustering': clustering,
            'per_object': [{'object': n, 'family': fam[n], 'pixels': int(gt[n].sum()),
                            'iou': round(float(b), 4)} for n, b in zip(names, best)]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=list(range(8)))
    ap.add_argument('--boxes', type=int, default=4)
    ap.add_argument('--objects', type=int, default=12)
    ap.add_argument('--families', default='',
                    help='comma-separated families; default the first BOXES of '
                         + ','.join(FAMILY_NAMES))
    ap.add_argument('--proposer', default='background')
    ap.add_argument('--features', default='mobilenet_v2',
                    help="extractor for the clustering score ('none' to skip)")
    ap.add_argument('--method', default='agglomerative', help='clusterer')
    ap.add_argument('--min-visible', type=int, default=20,
                    help='ignore objects with fewer visible pixels')
    ap.add_argument('--out', type=Path, default=RESULTS / 'sim_segmentation')
    args = ap.parse_args(argv)
    families = list(resolve_families(args.families or None, args.boxes))
    rows = []
    for seed in args.seeds:
        row = evaluate_tray(seed, args.boxes, families, args.objects, args.proposer,
                            args.min_visible, args.features, args.method)
        rows.append(row)
        print(f'seed {seed}: {row["objects"]} objects, {row["proposals"]} proposals, '
              f'mean IoU {row["mean_iou"]}, recall@0.5 {row["recall@0.5"]}, '
              f'precision@0.5 {row["precision@0.5"]}', flush=True)
    objs = [o for r in rows for o in r['per_object']]
    ious = np.array([o['iou'] for o in objs])
    per_family = defaultdict(list)
    for o in objs:
        per_family[o['family']].append(o['iou'])
    n_prop = sum(r['proposals'] for r in rows)
    summary = {
        'trays': len(rows), 'objects': len(objs), 'proposals': n_prop,
        'mean_iou': round(float(ious.mean()), 4),
        'recall@0.5': round(float((ious >= 0.5).mean()), 4),
        'precision@0.5': round(sum((r['precision@0.5'] or 0) * r['proposals'] for r in rows)
                               / max(n_prop, 1), 4),
        'mean_iou_per_tray': {'min': min(r['mean_iou'] for r in rows),
                              'max': max(r['mean_iou'] for r in rows)},
        'mean_iou_per_family': {f: round(float(np.mean(v)), 4)
                                for f, v in sorted(per_family.items())},
        'recall@0.5_per_family': {f: round(float(np.mean(np.array(v) >= 0.5)), 4)
                                  for f, v in sorted(per_family.items())},
        'propose_s_median': float(np.median([r['propose_s'] for r in rows])),
    }
    scored = [r['clustering'] for r in rows if r['clustering']]
    if scored:
        summary['clustering'] = {
            'features': args.features, 'method': args.method, 'trays': len(scored),
            'nmi_mean': round(float(np.mean([c['nmi'] for c in scored])), 4),
            'nmi_min': min(c['nmi'] for c in scored),
            'purity_mean': round(float(np.mean([c['purity'] for c in scored])), 4)}
    meta = {'proposer': args.proposer, 'fitted_on': 'one empty-tray frame per tray',
            'ground_truth': 'MuJoCo segmentation rendering (visible pixels per object)',
            'matching': 'Hungarian on IoU (scipy.optimize.linear_sum_assignment)',
            'machine': f'{platform.machine()}, {os.cpu_count()} CPUs (shared; timings '
                       'contended)',
            'command': ' '.join([Path(sys.executable).name, *sys.argv])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix('.json').write_text(json.dumps({'summary': summary, 'trays': rows,
                                                        'meta': meta}, indent=1))
    md = ['# Segmentation on simulated trays (benchmarks/sim_segmentation.py)', '',
          f'Proposer `{args.proposer}` fitted on one empty-tray frame; {len(rows)} seeded '
          f'trays ({args.seeds[0]}..{args.seeds[-1]}), {args.objects} objects each from '
          f'{len(families)} families; 640x480 overhead camera. Ground truth: the simulator\'s '
          'segmentation rendering; one-to-one Hungarian matching on IoU.', '',
          '| metric | value |', '| --- | --- |',
          f'| objects / proposals | {summary["objects"]} / {summary["proposals"]} |',
          f'| mean IoU (unmatched = 0) | {summary["mean_iou"]:.3f} |',
          f'| recall@0.5 | {summary["recall@0.5"]:.3f} |',
          f'| precision@0.5 | {summary["precision@0.5"]:.3f} |',
          f'| mean IoU per tray, min / max | {summary["mean_iou_per_tray"]["min"]:.3f} / '
          f'{summary["mean_iou_per_tray"]["max"]:.3f} |',
          f'| propose time per frame, median | {summary["propose_s_median"]:.3f} s |']
    if 'clustering' in summary:
        c = summary['clustering']
        md += [f'| clustering the proposals ({c["features"]} + {c["method"]}, k = boxes): '
               f'NMI mean / min vs family | {c["nmi_mean"]:.3f} / {c["nmi_min"]:.3f} |',
               f'| clustering: purity, mean | {c["purity_mean"]:.3f} |']
    md += ['', '| family | mean IoU | recall@0.5 |', '| --- | --- | --- |']
    for f in summary['mean_iou_per_family']:
        md.append(f'| {f} | {summary["mean_iou_per_family"][f]:.3f} | '
                  f'{summary["recall@0.5_per_family"][f]:.3f} |')
    md += ['', '| tray seed | objects | proposals | mean IoU | recall@0.5 | precision@0.5 | '
           'cluster NMI |', '| --- | --- | --- | --- | --- | --- | --- |']
    md += [f'| {r["seed"]} | {r["objects"]} | {r["proposals"]} | {r["mean_iou"]} | '
           f'{r["recall@0.5"]} | {r["precision@0.5"]} | '
           f'{(r["clustering"] or {}).get("nmi", "")} |' for r in rows]
    md += ['', f'Machine: {meta["machine"]}.', f'Command: `{meta["command"]}`', '']
    args.out.with_suffix('.md').write_text('\n'.join(md))
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    sys.exit(main())
