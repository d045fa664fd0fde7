"""Region-proposal benchmark: one-object frames and pasted multi-object composites.

Usage::

    SORTING_CELL_ASSETS=/path/to/shared python benchmarks/segmentation.py [--scenes 10]
        [--objects 6] [--conditions 1 2 3 4 5] [--out benchmarks/results]

Writes ``segmentation.json``, ``segmentation.md`` and ``segmentation.png`` (proposals on
one composite per condition) into ``--out``.

Methods
-------
background
    :class:`BackgroundProposer` fitted per condition on frames of the *other* objects
    (one-object frames) or on real frames of the other half of the objects (composites;
    the scene's table is the median of the first half, so no pixel is shared).
background-mixed
    The same proposer fitted once on frames of all five conditions mixed (28 per
    condition); it has to group them and pick the right table for each frame.
background-scene
    Composites only: fitted on the scene's own empty table (what the cell does when it
    grabs one empty frame at start-up); the scene adds exposure jitter and noise.
saliency
    :class:`SaliencyProposer`, single frame, no background.

One-object reference
--------------------
The dataset has no masks. The reference object of a frame is the main region of a
full-resolution background difference whose background is the median of the frames of
the *other* objects of the same condition (so the object cannot leak into its own
background); it was checked by eye on contact sheets. It is a sanity check of
agreement, not ground truth; the composites have exact ground truth.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from sorting_cell.images import load_image
from sorting_cell.regions import make_proposer
from sorting_cell.regions.background import BackgroundProposer
from sorting_cell.regions.composites import condition_frames, make_composite
from sorting_cell.regions.masks import box_iou, mask_iou

ROOT = Path(__file__).resolve().parent


def match(pred_boxes, pred_masks, gt_boxes, gt_masks, thr=0.5):
    """Hungarian matching on box IoU; returns per-GT box IoU, mask IoU and the FP count."""
    n, m = len(gt_boxes), len(pred_boxes)
    box_ious = np.zeros(n)
    mask_ious = np.zeros(n)
    if n == 0 or m == 0:
        return box_ious, mask_ious, m
    iou = np.array([[box_iou(g, p) for p in pred_boxes] for g in gt_boxes])
    rows, cols = linear_sum_assignment(-iou)
    matched_pred = set()
    for r, c in zip(rows, cols):
        box_ious[r] = iou[r, c]
        mask_ious[r] = mask_iou(gt_masks[r], pred_masks[c])
        if iou[r, c] >= thr:
            matched_pred.add(c)
    return box_ious, mask_ious, m - len(matched_pred)


def timed_propose(proposer, frame):
    """Regions, wall-clock seconds and CPU seconds (all threads) of one ``propose``.

    CPU time is the figure to trust on a shared machine: other jobs inflate wall time.
    """
    c0, t0 = time.process_time(), time.perf_counter()
    regions = proposer.propose(frame)
    return regions, (time.perf_counter() - t0, time.process_time() - c0)


def one_object(conditions, frames_per_condition, seed):
    """Detection rate and agreement with the leave-object-out reference."""
    rng = np.random.default_rng(seed)
    all_frames = {c: [(p, load_image(p)) for p in condition_frames(c)] for c in conditions}
    mixed_fit = []
    for c in conditions:
        pick = rng.choice(len(all_frames[c]), min(28, len(all_frames[c])), replace=False)
        mixed_fit += [all_frames[c][i][1] for i in pick]
    mixed = BackgroundProposer().fit(mixed_fit)
    saliency = make_proposer('saliency').fit(None)
    out, refs = {}, {}
    for c in conditions:
        frames = all_frames[c]
        obj = np.array([p.parent.name + p.name[0] for p, _ in frames])
        ids = sorted(set(obj))
        halves = {k: i % 2 for i, k in enumerate(ids)}
        half = np.array([halves[o] for o in obj])
        # Reference and 'background' both use the other half's frames as background.
        ref_models = [BackgroundProposer(resolution=1.0, fallback='none', min_group=1)
                      .fit([f for (p, f), hh in zip(frames, half) if hh != h])
                      for h in (0, 1)]
        own_models = [BackgroundProposer(min_group=1)
                      .fit([f for (p, f), hh in zip(frames, half) if hh != h])
                      for h in (0, 1)]
        refs[c] = {str(p): (ref_models[hh], f) for (p, f), hh in zip(frames, half)}
        idx = rng.choice(len(frames), min(frames_per_condition, len(frames)), replace=False)
        stats = {m: {'hit': [], 'single': [], 'dominant': [], 'box_iou': [], 'mask_iou': [],
                     'n_regions': [], 'time': [], 'cpu': [], 'fallback': []}
                 for m in ('background', 'background-mixed', 'saliency')}
        for i in idx:
            _, frame = frames[i]
            ref = ref_models[half[i]].propose(frame)
            if not ref:
                continue
            ref_box, ref_mask = ref[0].box, ref[0].full_mask(frame.shape)
            for name, prop in (('background', own_models[half[i]]),
                               ('background-mixed', mixed), ('saliency', saliency)):
                regions, dt = timed_propose(prop, frame)
                s = stats[name]
                s['time'].append(dt[0])
                s['cpu'].append(dt[1])
                s['n_regions'].append(len(regions))
                s['fallback'].append(bool(regions and 'fallback' in regions[0].extra))
                if not regions:
                    for k in ('hit', 'single', 'dominant', 'box_iou', 'mask_iou'):
                        s[k].append(0.0)
                    continue
                areas = np.array([r.area for r in regions], float)
                bi = box_iou(regions[0].box, ref_box)
                s['box_iou'].append(bi)
                s['mask_iou'].append(mask_iou(regions[0].full_mask(frame.shape), ref_mask))
                s['hit'].append(float(bi >= 0.5))
                s['single'].append(float(len(regions) == 1))
                s['dominant'].append(float(len(areas) == 1 or areas[0] >= 2 * areas[1]))
        out[c] = {m: {'frames': len(s['time']),
                      'detection_rate': _mean(s['hit']),
                      'single_region_rate': _mean(s['single']),
                      'dominant_rate': _mean(s['dominant']),
                      'box_iou_vs_reference': _mean(s['box_iou']),
                      'mask_iou_vs_reference': _mean(s['mask_iou']),
                      'mean_regions': _mean(s['n_regions']),
                      'fallback_rate': _mean(s['fallback']),
                      'ms_per_frame': 1000 * _median(s['time']),
                      'cpu_ms_per_frame': 1000 * _median(s['cpu'])}
                  for m, s in stats.items()}
    mixed_groups = {'n_backgrounds': len(mixed.backgrounds_),
                    'unmodelled_frames': int(np.sum(mixed.labels_ < 0))}
    mixed_groups['protocol_a_mixed'] = _mixed_draws(refs, rng)
    return out, mixed_groups


def _mixed_draws(refs, rng, n_draws=5):
    """Protocol A 'mixed' as the pipeline runs it: fit on the 28 frames of one draw
    (each object in a random condition), then ``propose_main`` on each of them."""
    by_object = {}
    for c, table in refs.items():
        for path, (ref, frame) in table.items():
            obj = Path(path).parent.name + Path(path).name[0]
            by_object.setdefault(obj, []).append((ref, frame))
    hits, ious, fallbacks, groups = [], [], [], []
    for _ in range(n_draws):
        draw = [shots[rng.integers(len(shots))] for _, shots in sorted(by_object.items())]
        model = BackgroundProposer().fit([f for _, f in draw])
        groups.append(len(model.backgrounds_))
        for ref, frame in draw:
            r = ref.propose(frame)
            if not r:
                continue
            main = model.propose_main(frame)
            iou = box_iou(main.box, r[0].box)
            ious.append(iou)
            hits.append(iou >= 0.5)
            fallbacks.append('fallback' in main.extra)
    return {'draws': n_draws, 'frames': len(hits), 'detection_rate': _mean(hits),
            'box_iou_vs_reference': _mean(ious), 'fallback_rate': _mean(fallbacks),
            'mean_backgrounds': _mean(groups)}


def composites(conditions, n_scenes, n_objects, seed, picture_path=None):
    rng = np.random.default_rng(seed)
    saliency = make_proposer('saliency').fit(None)
    out, panels = {}, []
    for c in conditions:
        paths = condition_frames(c)
        ids = sorted({p.parent.name + p.name[0] for p in paths})
        other = set(ids[1::2])
        fit_frames = [load_image(p) for p in paths if p.parent.name + p.name[0] in other]
        fitted = BackgroundProposer(min_group=1).fit(fit_frames[::2])
        stats = {m: {'box_iou': [], 'mask_iou': [], 'recall': [], 'fp': [], 'time': [],
                     'cpu': []}
                 for m in ('background', 'background-scene', 'saliency')}
        for s in range(n_scenes):
            comp = make_composite(rng, n_objects, c, background_half=0)
            scene_model = BackgroundProposer().fit([comp.background])
            for name, prop in (('background', fitted), ('background-scene', scene_model),
                               ('saliency', saliency)):
                regions, dt = timed_propose(prop, comp.frame)
                bi, mi, fp = match([r.box for r in regions],
                                   [r.full_mask(comp.frame.shape) for r in regions],
                                   list(comp.boxes), comp.masks)
                st = stats[name]
                st['box_iou'] += list(bi)
                st['mask_iou'] += list(mi)
                st['recall'] += list(bi >= 0.5)
                st['fp'].append(fp)
                st['time'].append(dt[0])
                st['cpu'].append(dt[1])
                if s == 0 and name == 'background' and picture_path is not None:
                    panels.append(_draw(comp, regions, f'c{c}'))
        out[c] = {m: {'scenes': n_scenes, 'objects_per_scene': n_objects,
                      'box_iou': _mean(st['box_iou']), 'mask_iou': _mean(st['mask_iou']),
                      'recall_at_0.5': _mean(st['recall']),
                      'false_positives_per_frame': _mean(st['fp']),
                      'ms_per_frame': 1000 * _median(st['time']),
                      'cpu_ms_per_frame': 1000 * _median(st['cpu'])}
                  for m, st in stats.items()}
    if picture_path is not None and panels:
        while len(panels) % 3:
            panels.append(np.zeros_like(panels[0]))
        grid = np.vstack([np.hstack(panels[i:i + 3]) for i in range(0, len(panels), 3)])
        _write_small_png(picture_path, grid)
    return out


def scene28(conditions, seed):
    """The 28-object scene: proposal time and recall on a 640x480 canvas."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in conditions:
        comp = make_composite(rng, 28, c)
        prop = BackgroundProposer().fit([comp.background])
        prop.propose(comp.frame)  # warm-up
        times, cpu, regions = [], [], []
        for _ in range(5):
            regions, dt = timed_propose(prop, comp.frame)
            times.append(dt[0])
            cpu.append(dt[1])
        bi, mi, fp = match([r.box for r in regions],
                           [r.full_mask(comp.frame.shape) for r in regions],
                           list(comp.boxes), comp.masks)
        out[c] = {'object_scale': round(comp.scale, 3), 'regions': len(regions),
                  'recall_at_0.5': float(np.mean(bi >= 0.5)), 'mask_iou': float(mi.mean()),
                  'false_positives': int(fp), 'ms_per_frame': 1000 * float(np.median(times)),
                  'cpu_ms_per_frame': 1000 * float(np.median(cpu))}
    return out


def _draw(comp, regions, title):
    vis = comp.frame.copy()
    for m in comp.masks:
        edge = m ^ cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        vis[edge] = (255, 255, 0)
    for r in regions:
        cv2.rectangle(vis, r.box[:2], (r.box[2] - 1, r.box[3] - 1), (0, 255, 0), 2)
    cv2.putText(vis, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return cv2.resize(vis, (320, 240), interpolation=cv2.INTER_AREA)


def _write_small_png(path, image, limit=500_000):
    """PNG under ``limit`` bytes: drop the low colour bits, then shrink until it fits."""
    img = image & 0xF8
    while True:
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if len(buf) <= limit or min(img.shape[:2]) < 64:
            Path(path).write_bytes(buf.tobytes())
            return
        img = cv2.resize(img, None, fx=0.85, fy=0.85, interpolation=cv2.INTER_AREA) & 0xF8


def _mean(x):
    return float(np.mean(x)) if len(x) else float('nan')


def _median(x):
    return float(np.median(x)) if len(x) else float('nan')


def to_markdown(res) -> str:
    lines = ['# Segmentation / region proposals', '',
             f"Run {res['date']} on {res['machine']} ({res['note']}).", '',
             f"Command: `{res['command']}`", '',
             '## One-object frames (tool dataset)', '',
             'detection = top region box IoU >= 0.5 with the leave-object-out reference; '
             'dominant = top region at least twice the area of the next.', '',
             '| cond | method | frames | detection | single | dominant | box IoU | mask IoU '
             '| regions | fallback | ms | CPU ms |', '|' + ' --- |' * 12]
    for c, per in res['one_object'].items():
        for m, s in per.items():
            lines.append(f"| {c} | {m} | {s['frames']} | {s['detection_rate']:.3f} | "
                         f"{s['single_region_rate']:.3f} | {s['dominant_rate']:.3f} | "
                         f"{s['box_iou_vs_reference']:.3f} | {s['mask_iou_vs_reference']:.3f}"
                         f" | {s['mean_regions']:.2f} | {s['fallback_rate']:.2f} | "
                         f"{s['ms_per_frame']:.1f} | {s['cpu_ms_per_frame']:.1f} |")
    mg = dict(res['mixed_groups'])
    pa = mg.pop('protocol_a_mixed')
    lines += ['', f"Mixed fit (28 frames per condition): {mg}", '',
              'Protocol A mixed draws (fit on the 28 frames of a draw, one shot per object in '
              f"a random condition; {pa['draws']} draws, {pa['frames']} frames): detection "
              f"{pa['detection_rate']:.3f}, box IoU {pa['box_iou_vs_reference']:.3f}, "
              f"fallback to saliency {pa['fallback_rate']:.3f}, backgrounds per fit "
              f"{pa['mean_backgrounds']:.1f}.", '',
              '## Composites (exact ground truth, Hungarian matching on box IoU)', '',
              '| cond | method | scenes x objects | box IoU | mask IoU | recall@0.5 '
              '| FP/frame | ms | CPU ms |', '|' + ' --- |' * 9]
    for c, per in res['composites'].items():
        for m, s in per.items():
            lines.append(f"| {c} | {m} | {s['scenes']}x{s['objects_per_scene']} | "
                         f"{s['box_iou']:.3f} | {s['mask_iou']:.3f} | "
                         f"{s['recall_at_0.5']:.3f} | {s['false_positives_per_frame']:.2f} | "
                         f"{s['ms_per_frame']:.1f} | {s['cpu_ms_per_frame']:.1f} |")
    lines += ['', '## 28-object scene (640x480, background-scene)', '',
              '| cond | object scale | regions | recall@0.5 | mask IoU | FP | ms | CPU ms |',
              '|' + ' --- |' * 8]
    for c, s in res['scene28'].items():
        lines.append(f"| {c} | {s['object_scale']} | {s['regions']} | "
                     f"{s['recall_at_0.5']:.3f} | {s['mask_iou']:.3f} | "
                     f"{s['false_positives']} | {s['ms_per_frame']:.1f} | "
                     f"{s['cpu_ms_per_frame']:.1f} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--conditions', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    ap.add_argument('--frames', type=int, default=40, help='one-object frames per condition')
    ap.add_argument('--scenes', type=int, default=8, help='composites per condition')
    ap.add_argument('--objects', type=int, default=6, help='objects per composite')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--note', default='', help='e.g. "machine under load"')
    ap.add_argument('--out', type=Path, default=ROOT / 'results')
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    import cv2 as _cv2
    res = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
           'machine': f'{platform.machine()}, {_cv2.getNumberOfCPUs()} CPUs',
           'note': args.note or 'timings are wall-clock on this machine',
           'command': 'python benchmarks/segmentation.py ' + ' '.join(
               f'--{k} {" ".join(map(str, v)) if isinstance(v, list) else v}'
               for k, v in vars(args).items() if k not in ('out',) and v != ''),
           'args': {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    t0 = time.time()
    res['one_object'], res['mixed_groups'] = one_object(args.conditions, args.frames, args.seed)
    print(f'one-object done {time.time() - t0:.0f}s', flush=True)
    res['composites'] = composites(args.conditions, args.scenes, args.objects, args.seed,
                                   args.out / 'segmentation.png')
    print(f'composites done {time.time() - t0:.0f}s', flush=True)
    res['scene28'] = scene28(args.conditions, args.seed)
    res['seconds'] = round(time.time() - t0, 1)
    (args.out / 'segmentation.json').write_text(json.dumps(res, indent=1))
    (args.out / 'segmentation.md').write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == '__main__':
    main()
