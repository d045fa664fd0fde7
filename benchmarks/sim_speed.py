"""Simulator speed: physics real-time factor without rendering, and camera frame rates.

Physics (no rendering), per seeded tray of 12 objects and 4 boxes:

- ``arm_moving``: the arm sweeps continuously between four poses over the tray and the
  boxes (a joint trajectory fed to the position servos every 2 ms step) while the
  resting objects sleep;
- ``arm_moving_no_sleep``: the same with MuJoCo's sleeping disabled (every resting
  object's contacts solved every step) -- the cost sleeping saves;
- ``arm_holding``: the arm holds still;
- ``pick_cycles`` (when the manipulation package is present): real pick-and-place cycles
  into the boxes (grasped objects, contacts, gripper); only the wall time spent inside
  physics steps counts, planning time is excluded.

The real-time factor is simulated seconds per wall second (bar: >= 5). Rendering:
frames per second of the 640x480 overhead camera for RGB, RGB + depth, and RGB + depth +
segmentation, with the arm in view or not as at home (shadows off).

Run (about 1-2 min on 2 idle cores)::

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_speed.py

Writes ``benchmarks/results/sim_speed.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

from sorting_cell.sim import JointTrajectory, SimWorld

RESULTS = Path(__file__).resolve().parent / 'results'

# over the tray, over the left boxes, over the tray's right side, back over the tray
SWEEP = np.array([[0.0, -1.7, 1.9, -1.77, -1.5708, 0.0],
                  [0.4, -1.5, 1.6, -1.67, -1.5708, 0.5],
                  [1.57, -1.7, 1.9, -1.77, -1.5708, 0.0],
                  [-0.4, -1.5, 1.6, -1.67, -1.5708, -0.5]])


def _rtf(world: SimWorld, t0: float, w0: float, c0: float) -> tuple[float, float]:
    sim = world.time - t0
    return sim / (world.physics_wall_s - w0), sim / max(world.physics_cpu_s - c0, 1e-9)


def sweep(world: SimWorld, seconds: float) -> tuple[float, float]:
    """Run the arm through SWEEP for ``seconds`` of sim time; real-time factors by wall and
    by CPU time."""
    leg = 1.5
    n = int(np.ceil(seconds / (leg * len(SWEEP))))
    points = np.vstack([SWEEP] * n)
    times = leg * (1 + np.arange(len(points)))
    world.follow(JointTrajectory(world.info.arm_joint_names, times, points))
    t0, w0, c0 = world.time, world.physics_wall_s, world.physics_cpu_s
    world.advance(seconds)
    moved = np.abs(world.arm_positions() - world.info.home_qpos).max()
    assert moved > 0.1, 'the arm did not move'
    return _rtf(world, t0, w0, c0)


def hold(world: SimWorld, seconds: float) -> tuple[float, float]:
    world.stop()
    t0, w0, c0 = world.time, world.physics_wall_s, world.physics_cpu_s
    world.advance(seconds)
    return _rtf(world, t0, w0, c0)


def picks(world: SimWorld, count: int) -> dict | None:
    try:
        from sorting_cell.manipulation.base import PickRequest
        from sorting_cell.manipulation.sim_manipulator import make_sim_manipulator
    except ImportError:
        return None
    man = make_sim_manipulator(world)
    fam = world.object_families()
    families = sorted(set(fam.values()))
    t0, w0, c0 = world.time, world.physics_wall_s, world.physics_cpu_s
    wall0 = time.perf_counter()
    ok = 0
    for name in world.info.object_bodies[:count]:
        frame = world.render(depth=True, segmentation=True)
        mask = world.ground_truth_masks(frame.segmentation)[name]
        box = families.index(fam[name]) % world.info.num_boxes
        out = man.pick_and_place(PickRequest(name, box, mask, frame.depth,
                                             world.info.camera.as_dict()))
        ok += bool(out.success)
    sim = world.time - t0
    wall_rtf, cpu_rtf = _rtf(world, t0, w0, c0)
    return {'picks': count, 'succeeded': ok, 'sim_s': round(sim, 2),
            'physics_wall_s': round(world.physics_wall_s - w0, 3),
            'rtf_physics': round(wall_rtf, 2), 'rtf_physics_cpu': round(cpu_rtf, 2),
            'rtf_including_planning_and_snapshots':
                round(sim / (time.perf_counter() - wall0), 2)}


def render_fps(world: SimWorld, frames: int) -> dict:
    r = world.renderer
    r.rgb(world.data)   # warm-up: context creation and texture upload
    out = {}
    for label, fn in [('rgb', lambda: r.rgb(world.data)),
                      ('rgb+depth', lambda: (r.rgb(world.data), r.depth(world.data))),
                      ('rgb+depth+segmentation', lambda: (r.rgb(world.data),
                                                          r.depth(world.data),
                                                          r.segmentation(world.data)))]:
        t0 = time.perf_counter()
        for _ in range(frames):
            fn()
        out[label] = round(frames / (time.perf_counter() - t0), 2)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--seconds', type=float, default=12.0, help='sim seconds per measurement')
    ap.add_argument('--frames', type=int, default=20, help='frames per render measurement')
    ap.add_argument('--picks', type=int, default=3, help='pick cycles per tray (0 = skip)')
    ap.add_argument('--out', type=Path, default=RESULTS / 'sim_speed')
    args = ap.parse_args(argv)
    rows = []
    for seed in args.seeds:
        with SimWorld(num_boxes=4, seed=seed) as world:
            world.advance(0.5)
            row = {'seed': seed, 'objects': len(world.info.object_bodies)}
            for key, fn, secs in [('arm_moving', sweep, args.seconds),
                                  ('arm_holding', hold, args.seconds / 2)]:
                wall, cpu = fn(world, secs)
                row[f'rtf_{key}'], row[f'rtf_{key}_cpu'] = round(wall, 2), round(cpu, 2)
            world.model.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_SLEEP)
            wall, cpu = sweep(world, args.seconds)
            row['rtf_arm_moving_no_sleep'], row['rtf_arm_moving_no_sleep_cpu'] = (
                round(wall, 2), round(cpu, 2))
            world.model.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
            world.follow(JointTrajectory(world.info.arm_joint_names, [1.5],
                                         [world.info.home_qpos]))
            world.advance(2.0)
            row['render_fps_640x480'] = render_fps(world, args.frames)
            if args.picks:
                row['pick_cycles'] = picks(world, args.picks)
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = [f'rtf_{k}{c}' for k in ('arm_moving', 'arm_holding', 'arm_moving_no_sleep')
            for c in ('', '_cpu')]
    summary = {k: {'min': min(r[k] for r in rows),
                   'median': float(np.median([r[k] for r in rows]))} for k in keys}
    for k in rows[0]['render_fps_640x480']:
        summary[f'render_fps_{k}'] = float(np.median([r['render_fps_640x480'][k] for r in rows]))
    cycles = [r['pick_cycles'] for r in rows if r.get('pick_cycles')]
    if cycles:
        for k in ('rtf_physics', 'rtf_physics_cpu'):
            summary[f'rtf_pick_cycles_{k[4:]}'] = {
                'min': min(c[k] for c in cycles),
                'median': float(np.median([c[k] for c in cycles]))}
    load = os.getloadavg()
    meta = {'machine': f'{platform.machine()}, {os.cpu_count()} CPUs',
            'load_average_at_end': [round(x, 2) for x in load],
            'mujoco': mujoco.__version__, 'MUJOCO_GL': os.environ.get('MUJOCO_GL', ''),
            'timestep_s': 0.002, 'command': ' '.join([Path(sys.executable).name, *sys.argv])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix('.json').write_text(json.dumps({'summary': summary, 'rows': rows,
                                                        'meta': meta}, indent=1))
    md = ['# Simulator speed (benchmarks/sim_speed.py)', '',
          f'Trays: seeds {args.seeds}, 4 boxes, {rows[0]["objects"]} objects; 2 ms physics step; '
          f'{args.seconds:g} s of sim time per physics measurement. Real-time factor = sim s '
          'per wall s spent stepping (no rendering); `_cpu` rows divide by the CPU time the '
          'physics thread used instead (what an idle core needs; wall time on this shared '
          'machine includes waiting for a core). Bar: >= 5x.', '',
          '| measurement | min | median |', '| --- | --- | --- |']
    for k in keys:
        md.append(f'| {k} | {summary[k]["min"]:.1f}x | {summary[k]["median"]:.1f}x |')
    if cycles:
        n_picks = sum(c['picks'] for c in cycles)
        n_ok = sum(c['succeeded'] for c in cycles)
        for k in ('rtf_pick_cycles_physics', 'rtf_pick_cycles_physics_cpu'):
            s = summary[k]
            md.append(f'| {k} ({n_picks} picks, {n_ok} ok) | {s["min"]:.1f}x | '
                      f'{s["median"]:.1f}x |')
    md += ['', '| render, 640x480 overhead camera | frames/s (median) |', '| --- | --- |']
    for k in rows[0]['render_fps_640x480']:
        md.append(f'| {k} | {summary[f"render_fps_{k}"]:.1f} |')
    md += ['', f'Machine: {meta["machine"]}, load average at the end {meta["load_average_at_end"]}'
           ' (shared with other jobs: figures are contended; rerun on an idle machine).',
           f'MuJoCo {meta["mujoco"]}, MUJOCO_GL={meta["MUJOCO_GL"]} (software rendering).',
           f'Command: `{meta["command"]}`', '']
    args.out.with_suffix('.md').write_text('\n'.join(md))
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    sys.exit(main())
