"""``sorting-cell sim bench``: full sorts of simulated trays through the nodes a user launches.

Starts ``sorting-cell up sim --nodes sim,cell_frames,sorter`` (the sim node renders the
camera, cell_frames puts its pose on tf; the sorter node runs perception on those images
only and drives the simulated arm) on a private DDS domain, lays out the trays (seeds
``S, S+1, ...``) one after the other in that running cell with ``sim/reset`` (or starts a
fresh cell per tray with ``--fresh-cell``), sends one ``SortObjects`` goal per tray with the
Python client and judges the result from the sim's ground truth (``sim/ground_truth``: read
here, never by the cell):

- **picks**: every object of the tray is one pick; it is *in its intended box* when its final
  physical position lies in the box perception chose for it (the object an outcome belongs
  to is the one nearest the position the sorter reports, as in the system test). Objects
  perception never proposed are failures ``not_proposed``.
- **sorting**: NMI and purity of the final physical contents of the boxes against the true
  categories, per tray (objects outside every box form one group of their own), averaged.
- **cycle_s**: simulated seconds per object, between successive pick outcomes (``/clock``
  at each feedback that counts one more object done); the first pick counts from the end
  of perception.

Writes ``DIR/summary.json`` and per tray ``DIR/trayN_{before,after}.png`` (the overhead
camera's images, as published), ``DIR/trayN_cell_{before,after}.png`` (a perspective view
of tray and boxes rendered from the ground-truth poses, so the boxes' contents show),
``DIR/trayN_boxes.png`` (a contact sheet: each box seen from straight above) and, with
``--animation``, ``DIR/trayN_sort.gif``.

Exit status: 0 written, 2 bad usage, 1 the cell failed to come up or a sort aborted.
"""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..nodes.sim_probe import SimProbe

__all__ = ['add_arguments', 'run_bench', 'score_tray']


def add_arguments(sub) -> None:
    b = sub.add_parser('bench', help='full sorts through the ROS nodes, scored from the '
                                     "sim's ground truth",
                       description=__doc__.splitlines()[0])
    b.add_argument('--objects', default='tools',
                   help="world: 'primitives', 'tools' (default), 'household' (robosuite's "
                        "objects) or a folder of <category>/<instance>/ meshes")
    b.add_argument('--trays', type=int, default=1, help='trays to sort (default 1)')
    b.add_argument('--boxes', type=int, default=None,
                   help='boxes (default: one per category of the world)')
    b.add_argument('--per-tray', type=int, default=None,
                   help='objects per tray (default: the world\'s default)')
    b.add_argument('--seed', type=int, default=0, help='first tray seed (default 0)')
    b.add_argument('--out', type=Path, required=True, help='output directory (created)')
    b.add_argument('--real-time-factor', type=float, default=4.0,
                   help='sim seconds per wall second for the sim node (default 4)')
    b.add_argument('--timeout', type=float, default=900.0,
                   help='seconds one tray may take before the bench gives up (default 900)')
    b.add_argument('--animation', action='store_true',
                   help='also write trayN_sort.gif (the overhead camera, one frame per '
                        'simulated second)')
    b.add_argument('--fresh-cell', action='store_true',
                   help='start a new cell for every tray (default: one running cell, the '
                        'next tray laid out with sim/reset)')
    b.set_defaults(_run=run_bench)


def score_tray(start: dict, final: dict, outcomes: list[dict]) -> dict:
    """Score one tray from the ground truth before/after and the sorter's outcomes.

    ``start``/``final``: ``sim/ground_truth`` ``objects`` dicts (body -> family, position,
    box). ``outcomes``: ``{'object_id', 'box', 'reason', 'position'}`` per sorter object.
    Returns rows per object, NMI and purity of the final box contents by category.
    """
    from sklearn.metrics import normalized_mutual_info_score

    names = list(start)
    xy = np.array([start[n]['position'][:2] for n in names]) if names else np.zeros((0, 2))
    intended: dict[str, dict] = {}
    for o in outcomes:
        if o.get('position') is None or not names:
            continue
        d = np.linalg.norm(xy - np.asarray(o['position'][:2]), axis=1)
        if d.min() > 0.05:
            continue
        name = names[int(d.argmin())]
        # two outcomes on one object (a split mask): the first is the pick that counts
        intended.setdefault(name, o)
    rows = []
    for n in names:
        o = intended.get(n)
        box_final = final[n]['box']
        if o is None:
            rows.append({'object': n, 'family': start[n]['family'],
                         'instance': start[n].get('instance', ''), 'intended_box': -1,
                         'final_box': box_final, 'in_intended_box': False,
                         'reason': 'not_proposed: perception found no region for it'})
            continue
        ok = box_final == o['box'] and box_final >= 0
        reason = o['reason'] if not ok or not o['reason'].startswith('placed') else ''
        if not ok and o['reason'].startswith('placed'):
            reason = (f'reported placed but lies in box {box_final}' if box_final >= 0
                      else 'reported placed but lies outside every box')
        rows.append({'object': n, 'family': start[n]['family'],
                     'instance': start[n].get('instance', ''), 'intended_box': o['box'],
                     'final_box': box_final, 'in_intended_box': bool(ok), 'reason': reason})
    truth = [final[n]['family'] for n in names]
    got = [final[n]['box'] for n in names]
    nmi = float(normalized_mutual_info_score(truth, got)) if names else 0.0
    per_box = collections.defaultdict(collections.Counter)
    for t, b in zip(truth, got):
        if b >= 0:
            per_box[b][t] += 1
    # purity over all objects: an object left out of every box counts against it
    purity = (sum(max(c.values()) for c in per_box.values()) / len(names)) if names else 0.0
    return {'rows': rows, 'nmi': nmi, 'purity': purity,
            'box_contents': {f'box{b}': dict(c) for b, c in sorted(per_box.items())}}


def _render_cell(world, truth: dict, path: Path) -> None:
    """A perspective view of the cell with every object where the ground truth says."""
    import imageio.v3 as iio
    import mujoco

    from ..sim.camera import CameraRenderer
    from ..sim.cell import OVERVIEW_CAMERA
    for name, obj in truth['objects'].items():
        jnt = world.model.joint(f'{name}_joint')
        adr = jnt.qposadr[0]
        world.data.qpos[adr:adr + 3] = obj['position']
        if 'quat' in obj:
            world.data.qpos[adr + 3:adr + 7] = obj['quat']
    mujoco.mj_forward(world.model, world.data)
    with CameraRenderer(world.model, OVERVIEW_CAMERA, 960, 720) as view:
        iio.imwrite(path, view.rgb(world.data))


def _box_sheet(world, truth: dict, path: Path, size: int = 320) -> None:
    """One picture per box, looking straight down into it, tiled with its index and the
    categories inside (ground truth, for the record)."""
    import cv2
    import imageio.v3 as iio
    import mujoco
    counts = collections.defaultdict(collections.Counter)
    for obj in truth['objects'].values():
        if obj['box'] >= 0:
            counts[obj['box']][obj['family']] += 1
    renderer = mujoco.Renderer(world.model, size, size)
    tiles = []
    try:
        for box in world.info.boxes:
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
            cam.lookat[:] = box.center
            cam.distance, cam.elevation = 0.42, -90.0
            cam.azimuth = float(np.degrees(box.yaw))
            renderer.update_scene(world.data, cam)
            tile = renderer.render().copy()
            text = ', '.join(f'{n} {f}' for f, n in sorted(counts[box.index].items())) or 'empty'
            cv2.rectangle(tile, (0, 0), (size, 22), (255, 255, 255), -1)
            cv2.putText(tile, f'box {box.index}: {text}', (5, 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.42, (20, 20, 20), 1, cv2.LINE_AA)
            tiles.append(tile)
    finally:
        renderer.close()
    cols = min(4, len(tiles))
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    iio.imwrite(path, np.vstack(rows))


def _start_cell(args, boxes: int, seed: int, domain: int, logs: Path) -> subprocess.Popen:
    params = {'sim.objects': args.objects, 'sim.num_boxes': boxes, 'sim.seed': seed,
              'sim.n_objects': -1 if args.per_tray is None else args.per_tray,
              'sim.real_time_factor': args.real_time_factor, 'sim.camera_rate': 5.0,
              'sim.publish_ground_truth': 'true', 'sorter.sort_log_dir': logs / 'sortlog',
              'sorter.snapshot_timeout': 30.0,
              # the bench knows the box count: the sorter need not ask a sim node that may
              # still be building its world when the machine is busy
              'sorter.arm.num_boxes': boxes}
    cmd = [sys.executable, '-c', 'import sys; from sorting_cell.cli import main; '
           'sys.exit(main(sys.argv[1:]))', 'up', 'sim', '--nodes', 'sim,cell_frames,sorter',
           '--transport', 'local', '--log-dir', str(logs / 'nodes'), '--exit-on-failure']
    for key, value in params.items():
        cmd += ['-p', f'{key}:={value}']
    from ..bringup import _die_with_parent, local_env
    env = local_env(domain, dict(os.environ, PYTHONUNBUFFERED='1'))
    env.setdefault('MUJOCO_GL', 'egl')
    log = open(logs / 'up.log', 'w')
    # its own session (a terminal Ctrl-C reaches it through us, once), and SIGTERM from the
    # kernel if the bench dies: a bench killed mid-run must not leave a cell running
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def _stop_cell(up: subprocess.Popen) -> None:
    if up.poll() is not None:
        return
    os.killpg(up.pid, signal.SIGINT)
    try:
        up.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(up.pid, signal.SIGKILL)
        up.wait(timeout=10)


def _sort_tray(args, t: int, seed: int, boxes: int, probe: SimProbe, ctx, out: Path):
    """One tray: wait for the cell, sort it, score it, render it."""
    import imageio.v3 as iio

    from ..client import SortingCell
    from ..sim import SimWorld

    start = probe.wait_truth(seed, -1.0, 300.0)
    # The sim's clock runs on across sim/reset: a frame stamped after this tray's first
    # ground truth is of this tray, however late the last tray's frames are delivered.
    # The goal goes out once this tray's own frames arrive.
    before = probe.wait_image(start['sim_time'] - 1e-6, 120.0)
    probe.wait_image(start['sim_time'] + 0.5, 120.0)
    iio.imwrite(out / f'tray{t}_before.png', before)
    done_at: list[tuple[int, float, str]] = []
    frames: list[np.ndarray] = []
    tray_t0 = time.perf_counter()
    with SortingCell(context=ctx, server_timeout=300.0) as cell:
        if args.animation:
            probe.record(frames, period=1.0)
        outcome = cell.sort(
            num_boxes=boxes, timeout=args.timeout,
            on_feedback=lambda fb: done_at.append((fb.objects_done, probe.sim_time, fb.phase)))
        probe.record(None)
    if outcome.status != 'succeeded':
        print(f'tray {t}: sort {outcome.status}: {outcome.message}', file=sys.stderr)
    final = probe.wait_truth(seed, probe.sim_time + 1.5, 120.0)
    after = probe.wait_image(final['sim_time'] - 1e-6, 60.0)
    iio.imwrite(out / f'tray{t}_after.png', after)
    scored = score_tray(start['objects'], final['objects'], [
        {'object_id': o.object_id, 'box': o.box, 'reason': o.reason, 'position': o.position}
        for o in outcome.objects])
    # cycle: sim time between successive 'one more object done' feedbacks; the first pick
    # counts from the first feedback of the pick phase
    cycles = []
    marks = [(n, s) for n, s, phase in done_at if phase == 'pick']
    last_n, last_s = 0, marks[0][1] if marks else None
    for n, s in marks:
        if n > last_n and last_s is not None:
            cycles.extend([(s - last_s) / (n - last_n)] * (n - last_n))
            last_n, last_s = n, s
    rows = [{'tray': t, 'seed': seed, **r} for r in scored['rows']]
    ok = sum(r['in_intended_box'] for r in scored['rows'])
    info = {'tray': t, 'seed': seed, 'objects': len(scored['rows']), 'in_intended_box': ok,
            'nmi': round(scored['nmi'], 4), 'purity': round(scored['purity'], 4),
            'box_contents': scored['box_contents'], 'sort_status': outcome.status,
            'message': outcome.message, 'perception_s': round(outcome.perception_seconds, 3),
            'wall_s': round(time.perf_counter() - tray_t0, 1)}
    print(f'tray {t} (seed {seed}): {ok}/{len(scored["rows"])} in the intended box, '
          f'NMI {scored["nmi"]:.3f}, purity {scored["purity"]:.3f}', flush=True)
    with SimWorld(num_boxes=boxes, seed=seed, objects=args.objects, n_objects=args.per_tray,
                  width=64, height=48) as world:
        _render_cell(world, start, out / f'tray{t}_cell_before.png')
        _render_cell(world, final, out / f'tray{t}_cell_after.png')
        _box_sheet(world, final, out / f'tray{t}_boxes.png')
    if frames:
        iio.imwrite(out / f'tray{t}_sort.gif', np.stack(frames), duration=250, loop=0)
    return info, rows, cycles


def run_bench(args) -> int:
    from ..sim.catalog import is_primitives, object_catalog
    from ..sim.mesh_objects import MeshCheckError

    if args.trays < 1:
        print('error: --trays must be >= 1', file=sys.stderr)
        return 2
    try:
        # prepare the world here (first use builds it): the node then starts from the cache,
        # and a bad folder fails with its reason before anything is launched
        categories = (None if is_primitives(args.objects)
                      else sorted(object_catalog(args.objects)))
    except (MeshCheckError, FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    boxes = args.boxes or (len(categories) if categories else 4)
    out: Path = args.out
    logs = out / 'logs'
    logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('MUJOCO_GL', 'egl')
    domain = int(os.environ.get('SORTING_CELL_BENCH_DOMAIN', random.randint(120, 200)))
    from ..bringup import local_env
    local = local_env(domain)   # this process talks to the cell the same way
    os.environ.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    os.environ.update(local)
    import rclpy

    from ..nodes.sim_probe import SimProbe

    t0 = time.perf_counter()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    trays, rows, cycles = [], [], []
    status = 0
    up, probe = None, None
    try:
        for t in range(args.trays):
            seed = args.seed + t
            tray_logs = logs / (f'tray{t}' if args.fresh_cell else 'cell')
            tray_logs.mkdir(parents=True, exist_ok=True)
            if up is None:
                up = _start_cell(args, boxes, seed, domain, tray_logs)
                probe = SimProbe(ctx, name='sim_bench_probe', clock=True, image=True)
            else:
                # the same running cell, the next tray laid out by the sim
                probe.reset(seed)
            try:
                tray = _sort_tray(args, t, seed, boxes, probe, ctx, out)
            except (TimeoutError, ConnectionError) as exc:
                print(f'error: tray {t}: {exc}; node logs in {tray_logs}', file=sys.stderr)
                status = 1
                # a cell that timed out is not trusted with the next tray
                probe.close()
                _stop_cell(up)
                up, probe = None, None
                continue
            finally:
                if args.fresh_cell and up is not None:
                    probe.close()
                    _stop_cell(up)
                    up, probe = None, None
            info, tray_rows, tray_cycles = tray
            if info['sort_status'] != 'succeeded':
                status = 1
            trays.append(info)
            rows.extend(tray_rows)
            cycles.extend(tray_cycles)
    finally:
        # also on Ctrl-C or an error: the cell this bench started is stopped
        if up is not None:
            probe.close()
            _stop_cell(up)
        rclpy.try_shutdown(context=ctx)
    total = len(rows)
    cyc = np.array(cycles)
    summary = {
        'objects': str(args.objects), 'trays': len(trays), 'boxes': boxes,
        'seed': args.seed, 'categories': categories,
        'picks': {'total': total, 'in_intended_box': sum(r['in_intended_box'] for r in rows),
                  'rate': round(sum(r['in_intended_box'] for r in rows) / total, 4)
                  if total else None},
        'sorting': {'nmi': round(float(np.mean([t['nmi'] for t in trays])), 4) if trays
                    else None,
                    'purity': round(float(np.mean([t['purity'] for t in trays])), 4) if trays
                    else None,
                    'scored_on': 'final physical box contents vs true categories, per tray, '
                                 'mean over trays'},
        'cycle_s': {'mean': round(float(cyc.mean()), 3), 'p95': round(float(
            np.percentile(cyc, 95)), 3), 'unit': 'simulated seconds per object'}
        if cyc.size else None,
        'failures': [{'object': r['object'], 'instance': r['instance'], 'tray': r['tray'],
                      'family': r['family'], 'intended_box': r['intended_box'],
                      'final_box': r['final_box'], 'reason': r['reason']}
                     for r in rows if not r['in_intended_box']],
        'per_tray': trays,
        'wall_s': round(time.perf_counter() - t0, 1),
        'load_average_at_end': [round(v, 2) for v in os.getloadavg()],
        'path': 'sorting-cell up sim --nodes sim,cell_frames,sorter (DDS) + SortObjects action; '
                'perception on the rendered images only; ground truth read by the bench only',
        'cell': 'a new cell per tray' if args.fresh_cell else 'one running cell, trays laid '
                'out with sim/reset',
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ('picks', 'sorting', 'cycle_s')}))
    print(f'wrote {out}')
    return status if trays else 1
