"""Pick-and-place over seeded trays: does every object end in its intended box?

For each tray (``SimWorld(num_boxes, seed)``, objects of ``num_boxes`` families), objects
are picked one by one with the in-process stack (mink IK, OMPL, TOPP-RA timing,
grasp verification and retries) running on the simulated physics. Per pick, one camera
snapshot (RGB-D + segmentation) is rendered; the object's **ground-truth segmentation
mask is used as the perceived mask** (this benchmark measures manipulation, not the
proposer -- the end-to-end sort uses the project's proposer). Depth, intrinsics and the
camera pose are the camera's; no object pose reaches the manipulator. The intended box
is the object's family index (clustering is not part of this benchmark).

Outcomes are checked from the final physical positions after each tray has settled:
in the intended box, in another box, still on the table, or elsewhere (floor). A pick
reported as success whose object is not in the intended box, or a failure whose object
vanished from the table, would be a silent loss and is counted as such.

With ``--perception pipeline`` the run is end to end instead: the project's
:class:`~sorting_cell.pipeline.SortingPipeline` with its defaults (background proposer
against an empty-table frame of the same camera -- what the sim node latches on
``camera/background`` -- and the embedded feature/clustering defaults, into ``--boxes``
groups) finds the objects and chooses each one's box; its region masks are the
perceived masks. The intended box is then the cluster label, and ground truth only
matches regions to objects (largest overlap) for checking.

Run (about 2-4 min on 2 idle cores; figures committed here were taken under load)::

    MUJOCO_GL=egl .venv/bin/python benchmarks/picks.py --trays 9 --boxes 6
    MUJOCO_GL=egl SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/picks.py \
        --perception pipeline --out benchmarks/results/picks_e2e

Writes ``benchmarks/results/picks.{json,md}`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault('MUJOCO_GL', 'egl')

from sorting_cell.manipulation.base import PickRequest  # noqa: E402
from sorting_cell.manipulation.sim_manipulator import make_sim_manipulator  # noqa: E402
from sorting_cell.sim import SimWorld  # noqa: E402
from sorting_cell.sim.objects import FAMILY_NAMES  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'


def where(world: SimWorld, name: str) -> str:
    """'box<i>', 'table' or 'elsewhere' from the object's final position (ground truth)."""
    for b in range(world.info.num_boxes):
        if name in world.objects_in_box(b):
            return f'box{b}'
    pos = world.object_poses()[name][0]
    return 'table' if -0.01 < pos[2] < 0.15 and pos[0] > 0.15 else 'elsewhere'


def run_tray(world: SimWorld, man, families: tuple[str, ...]) -> list[dict]:
    fam = world.object_families()
    rows = []
    outcomes = {}
    for name in world.info.object_bodies:
        frame = world.render(depth=True, segmentation=True)
        mask = world.ground_truth_masks(frame.segmentation)[name]
        box = families.index(fam[name]) % world.info.num_boxes
        row = {'seed': world.info.seed, 'object': name, 'family': fam[name], 'box': box}
        if mask.sum() < 20:
            row.update(success=False, reason='not_visible: fewer than 20 pixels', attempts=0,
                       cycle_s=0.0, wall_s=0.0)
            rows.append(row)
            continue
        t_sim, t_wall = world.time, time.perf_counter()
        out = man.pick_and_place(PickRequest(name, box, mask, frame.depth,
                                             world.info.camera.as_dict()))
        row.update(success=out.success, reason=out.reason, attempts=out.attempts,
                   cycle_s=round(world.time - t_sim, 3),
                   wall_s=round(time.perf_counter() - t_wall, 3))
        outcomes[name] = out
        rows.append(row)
    world.advance(1.0)  # let everything come to rest before judging
    for row in rows:
        row['final'] = where(world, row['object'])
        row['in_intended_box'] = row['final'] == f'box{row["box"]}'
        row['silent_loss'] = bool((row['success'] and not row['in_intended_box'])
                                  or (not row['success'] and row['final'] == 'elsewhere'))
    return rows


def run_tray_pipeline(world: SimWorld, man, background: np.ndarray) -> list[dict]:
    """End to end: the project's proposer + features + clustering choose masks and boxes."""
    from sorting_cell.pipeline import SortingPipeline

    fam = world.object_families()
    frame = world.render(depth=True, segmentation=True)
    truth = world.ground_truth_masks(frame.segmentation)
    result = SortingPipeline(n_clusters=world.info.num_boxes, proposer='background',
                             random_state=0, progress=False).sort_scene(frame.rgb, background)
    rows, seen = [], set()
    for k, item in enumerate(result.items):
        if item.region is None or item.label < 0:
            continue
        x0, y0, x1, y1 = item.region.box
        mask = np.zeros(frame.rgb.shape[:2], bool)
        mask[y0:y1, x0:x1] = item.region.mask
        # Ground truth only to name the object this region is (largest overlap).
        name = max(truth, key=lambda n: (truth[n] & mask).sum())
        overlap = (truth[name] & mask).sum() / max(1, (truth[name] | mask).sum())
        row = {'seed': world.info.seed, 'object': name, 'family': fam[name],
               'box': item.label, 'region': k, 'iou': round(float(overlap), 3)}
        if name in seen or overlap < 0.3:
            row.update(object=f'region{k}', family='none')
        seen.add(name)
        t_sim, t_wall = world.time, time.perf_counter()
        out = man.pick_and_place(PickRequest(f'region{k}', item.label, mask, frame.depth,
                                             world.info.camera.as_dict()))
        row.update(success=out.success, reason=out.reason, attempts=out.attempts,
                   cycle_s=round(world.time - t_sim, 3),
                   wall_s=round(time.perf_counter() - t_wall, 3))
        rows.append(row)
    for name in world.info.object_bodies:
        if name not in seen:
            rows.append({'seed': world.info.seed, 'object': name, 'family': fam[name],
                         'box': -1, 'success': False, 'reason': 'not_proposed: no region',
                         'attempts': 0, 'cycle_s': 0.0, 'wall_s': 0.0})
    world.advance(1.0)
    for row in rows:
        row['final'] = where(world, row['object']) if row['object'] in fam else 'n/a'
        row['in_intended_box'] = row['final'] == f'box{row["box"]}'
        row['silent_loss'] = bool(row['object'] in fam and (
            (row['success'] and not row['in_intended_box'] and 'left on the table'
             not in row['reason'])
            or (not row['success'] and row['final'] == 'elsewhere')))
    return rows


def pipeline_description() -> str:
    """The SortingPipeline configuration the end-to-end run uses (its defaults)."""
    from sorting_cell.pipeline import SortingPipeline
    p = SortingPipeline().get_params()
    return (f"the project's SortingPipeline (proposer {p['proposer']!r} + empty-table frame, "
            f"features {p['features']!r}, crop {p['crop']!r}, normalize {p['normalize']!r}, "
            f"size_weight {p['size_weight']!r}, shape_weight {p['shape_weight']!r}, "
            f"method {p['method']!r}) -- end to end; "
            'intended box = cluster label')


def purity(rows: list[dict], num_boxes: int) -> float:
    """Per box, the share of its majority family; weighted by box size (from final positions)."""
    total, majority = 0, 0
    for b in range(num_boxes):
        fams = collections.Counter(r['family'] for r in rows
                                   if r['final'] == f'box{b}' and r['family'] != 'none')
        total += sum(fams.values())
        majority += max(fams.values(), default=0)
    return majority / total if total else 0.0


def summarise(rows: list[dict], args, wall: float) -> dict:
    rows = [r for r in rows if r['family'] != 'none' or r['success']]
    n = len(rows)
    cycles = np.array([r['cycle_s'] for r in rows if r['success']])
    walls = np.array([r['wall_s'] for r in rows if r['success']])
    reasons = collections.Counter(r['reason'].split(':')[0] for r in rows)
    seeds = sorted({r['seed'] for r in rows})
    per_tray = [purity([r for r in rows if r['seed'] == s], args.boxes) for s in seeds]
    return {
        'objects': n, 'trays': len(seeds), 'boxes': args.boxes,
        'in_intended_box': sum(r['in_intended_box'] for r in rows),
        'in_intended_box_rate': round(sum(r['in_intended_box'] for r in rows) / n, 4),
        'reported_success': sum(r['success'] for r in rows),
        'silent_losses': sum(r['silent_loss'] for r in rows),
        'purity_by_family_mean_over_trays': round(float(np.mean(per_tray)), 4),
        'purity_by_family_min_tray': round(float(np.min(per_tray)), 4),
        'retries_used': sum(max(0, r['attempts'] - 1) for r in rows),
        'reasons': dict(reasons),
        'failures': [{k: r[k] for k in ('seed', 'object', 'family', 'box', 'reason', 'final')}
                     for r in rows if not r['in_intended_box']],
        'cycle_sim_s': {'mean': round(float(cycles.mean()), 3),
                        'p50': round(float(np.median(cycles)), 3),
                        'p95': round(float(np.percentile(cycles, 95)), 3),
                        'max': round(float(cycles.max()), 3)} if cycles.size else None,
        'wall_per_pick_s': {'mean': round(float(walls.mean()), 3),
                            'p95': round(float(np.percentile(walls, 95)), 3)}
        if walls.size else None,
        'wall_total_s': round(wall, 1),
        'machine': f'{platform.machine()}, {os.cpu_count()} CPUs, shared with other jobs '
                   '(contended; rerun on an idle machine for reference wall times)',
        'perceived_mask': ('ground-truth segmentation of the camera snapshot (pick-only '
                           'benchmark); depth, K and camera pose from the camera'
                           if args.perception == 'gt' else pipeline_description()),
        'command': ' '.join([Path(sys.executable).name, *sys.argv]),
    }


def markdown(s: dict) -> str:
    lines = [
        '# Pick-and-place benchmark (benchmarks/picks.py)', '',
        f'{s["objects"]} objects over {s["trays"]} seeded trays, {s["boxes"]} boxes. '
        f'Perceived mask: {s["perceived_mask"]}.', '',
        '| metric | value |', '| --- | --- |',
        f'| in intended box (final physical positions) | {s["in_intended_box"]}/{s["objects"]}'
        f' = {s["in_intended_box_rate"]:.1%} |',
        f'| reported success | {s["reported_success"]} |',
        f'| silent losses (success but elsewhere, or failure and gone) | {s["silent_losses"]} |',
        f'| sorting purity by family (mean over trays) | '
        f'{s["purity_by_family_mean_over_trays"]:.3f} (worst tray '
        f'{s["purity_by_family_min_tray"]:.3f}) |',
        f'| retries used | {s["retries_used"]} |',
    ]
    if s['cycle_sim_s']:
        c = s['cycle_sim_s']
        lines.append(f'| cycle, simulated s per object (mean / p50 / p95 / max) | '
                     f'{c["mean"]} / {c["p50"]} / {c["p95"]} / {c["max"]} |')
    if s['wall_per_pick_s']:
        lines.append(f'| wall s per pick (mean / p95) | {s["wall_per_pick_s"]["mean"]} / '
                     f'{s["wall_per_pick_s"]["p95"]} |')
    lines += [f'| wall total | {s["wall_total_s"]} s |', '',
              f'Outcome words: {s["reasons"]}', '']
    if s['failures']:
        lines += ['## Objects not in their intended box', '',
                  '| tray seed | object | family | box | reason | final |',
                  '| --- | --- | --- | --- | --- | --- |']
        lines += [f'| {f["seed"]} | {f["object"]} | {f["family"]} | {f["box"]} | '
                  f'{f["reason"]} | {f["final"]} |' for f in s['failures']]
    lines += ['', f'Machine: {s["machine"]}.', f'Command: `{s["command"]}`', '']
    return '\n'.join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--trays', type=int, default=9)
    ap.add_argument('--boxes', type=int, default=6)
    ap.add_argument('--objects', type=int, default=None,
                    help="objects per tray (default: 12 primitives, the world's own default "
                         'otherwise)')
    ap.add_argument('--world', default='primitives',
                    help="'primitives' (default), 'tools' (the tool dataset's own tools) or "
                         'a folder of <category>/<instance>/ meshes; the intended box is the '
                         "category's index")
    ap.add_argument('--controller-aborts', action='store_true',
                    help="abort a motion that does not settle, as the sim node's trajectory "
                         'controller does (the ROS path), instead of ending it where it got to')
    ap.add_argument('--first-seed', type=int, default=100)
    ap.add_argument('--out', type=Path, default=RESULTS / 'picks')
    ap.add_argument('--perception', choices=('gt', 'pipeline'), default='gt',
                    help="'gt': ground-truth masks, box = family; 'pipeline': end to end")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.world == 'primitives':
        families = FAMILY_NAMES[:args.boxes]
        world = SimWorld(num_boxes=args.boxes, seed=args.first_seed,
                         n_objects=12 if args.objects is None else args.objects,
                         families=families)
    else:
        from sorting_cell.sim.catalog import object_catalog
        families = tuple(sorted(object_catalog(args.world)))
        world = SimWorld(num_boxes=args.boxes, seed=args.first_seed, n_objects=args.objects,
                         objects=args.world)
    man = make_sim_manipulator(world, abort_unsettled=args.controller_aborts)
    background = None
    if args.perception == 'pipeline':
        empty = SimWorld(num_boxes=args.boxes, seed=args.first_seed, n_objects=0)
        background = empty.render(depth=False).rgb
        empty.close()
    rows = []
    for k in range(args.trays):
        if k:
            world.reset(seed=args.first_seed + k)
            man.reset_boxes()
        tray = (run_tray(world, man, families) if background is None
                else run_tray_pipeline(world, man, background))
        rows += tray
        ok = sum(r['in_intended_box'] for r in tray)
        print(f'tray seed {args.first_seed + k}: {ok}/{len(tray)} in intended box, '
              f'{time.perf_counter() - t0:.0f} s', flush=True)
    world.close()
    summary = summarise(rows, args, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix('.json').write_text(json.dumps({'summary': summary, 'picks': rows},
                                                        indent=1, default=float))
    args.out.with_suffix('.md').write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
