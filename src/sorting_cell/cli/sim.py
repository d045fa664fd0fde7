"""``sorting-cell sim render --out DIR``: pictures of the simulated cell sorting a tray.

(``sorting-cell sim bench``, full sorts through the ROS nodes, is in :mod:`.sim_bench`.)

Builds a seeded tray, sorts it and writes, in ``DIR``:

- ``tray_before.png``, ``tray_after.png`` -- the overhead camera before and after;
- ``before_after.png`` -- the two side by side (for the README);
- ``cell_before.png``, ``cell_after.png`` -- a perspective view of arm, tray and boxes;
- ``sort.gif`` (or ``.mp4``) -- the sort as an animation: the perspective view with the
  overhead camera inset, one frame every ``speedup / fps`` simulated seconds;
- ``summary.json`` -- what went where: pick outcomes, per box the families that ended in it
  and the boxes' purity by family (read from the simulator's ground truth after the sort,
  for the record only; nothing of it reaches perception or the arm).

``--sort pipeline`` (default) sorts the way the cell does: the background proposer (fitted
on an empty-tray frame) finds the objects, the pretrained CNN features are clustered into
``--boxes`` groups, and the simulated arm moves each perceived mask into its group's box.
``--sort truth`` skips perception and sends each family to its own box (a quick demo
of the arm; masks are the simulator's ground truth).

Exit status: 0 written, 2 bad usage, 1 a model or the robot assets are unavailable.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ANIMATION_FORMATS = ('gif', 'mp4', 'none')


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest='sim_command', required=True, metavar='ACTION')
    r = sub.add_parser('render', help='before/after tray renders and an animation of a sort',
                       description=__doc__.splitlines()[0])
    r.add_argument('--out', type=Path, required=True, help='output directory (created)')
    r.add_argument('--seed', type=int, default=0, help='tray seed (default 0)')
    r.add_argument('--boxes', type=int, default=4, help='number of boxes (default 4)')
    r.add_argument('--objects', type=int, default=None,
                   help='objects in the tray (default three per family)')
    r.add_argument('--world', default=None,
                   help="what the objects are: 'primitives' (default), 'tools' (the tool "
                        "dataset's 28 tools), 'household' (robosuite's kitchen objects, 5 "
                        "kinds x 3) or a folder of <category>/<instance>/ meshes")
    r.add_argument('--families', default=None,
                   help='comma-separated families (default: the first BOXES of '
                        'screwdriver,pen,wrench,usb_stick,bolt,battery)')
    r.add_argument('--sort', choices=('pipeline', 'truth'), default='pipeline',
                   help='how boxes are chosen: perception + clustering, or ground truth')
    r.add_argument('--features', default=None,
                   help="feature extractor (pipeline; default: the pipeline's, "
                        "'mobilenet_v2_tf2')")
    r.add_argument('--method', default='agglomerative', help='clusterer (pipeline)')
    r.add_argument('--max-picks', type=int, default=None, help='stop after this many picks')
    r.add_argument('--animation', choices=ANIMATION_FORMATS, default='gif')
    r.add_argument('--fps', type=float, default=8.0, help='animation frames per second')
    r.add_argument('--speedup', type=float, default=3.0,
                   help='simulated seconds per animation second (default 3)')
    r.add_argument('--size', type=int, default=480,
                   help='animation height in pixels (width 4:3; default 480)')
    r.set_defaults(_run=run_render)
    from .sim_bench import add_arguments as add_bench
    add_bench(sub)


def run(args) -> int:
    return args._run(args)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    import cv2
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 26), (255, 255, 255), -1)
    cv2.putText(out, text, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1,
                cv2.LINE_AA)
    return out


class _Recorder:
    """Animation frames: the perspective view with the overhead camera inset and a caption."""

    def __init__(self, world, height: int):
        from ..sim.camera import CameraRenderer
        from ..sim.cell import OVERVIEW_CAMERA
        self.height = height - height % 2
        self.width = (self.height * 4 // 3) // 2 * 2
        self.view = CameraRenderer(world.model, OVERVIEW_CAMERA, self.width, self.height)
        self.frames: list[np.ndarray] = []
        self.caption = ''

    def __call__(self, world) -> None:
        import cv2
        frame = self.view.rgb(world.data)
        inset = world.render(depth=False).rgb
        iw = self.width // 3
        ih = iw * inset.shape[0] // inset.shape[1]
        inset = cv2.resize(inset, (iw, ih), interpolation=cv2.INTER_AREA)
        frame[-ih - 8:-8, -iw - 8:-8] = inset
        cv2.rectangle(frame, (self.width - iw - 9, self.height - ih - 9),
                      (self.width - 8, self.height - 8), (255, 255, 255), 1)
        self.frames.append(_label(frame, f't = {world.time:5.1f} s   {self.caption}'))

    def close(self) -> None:
        self.view.close()


def _write_animation(frames: list[np.ndarray], path: Path, fps: float) -> None:
    if path.suffix == '.gif':
        import imageio.v3 as iio
        iio.imwrite(path, np.stack(frames), duration=1000.0 / fps, loop=0)
        return
    import cv2
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write MP4 to {path} (no video backend); use '
                           '--animation gif')
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def _plan_pipeline(world, args, frame, background):
    """(object id, box, mask) per perceived object, from the project's sorting pipeline."""
    from ..pipeline import SortingPipeline
    # The pipeline's own defaults (features, upright crops, centring, size weight) unless
    # --features overrides: the pictures show what the cell does.
    extra = {} if args.features is None else {'features': args.features}
    pipe = SortingPipeline(n_clusters=args.boxes, method=args.method, proposer='background',
                           **extra)
    result = pipe.sort_scene(frame.rgb, background=background)
    shape = frame.rgb.shape[:2]
    plan = [(it.source, it.label, it.region.full_mask(shape)) for it in result.ok]
    timings = {k: round(v, 3) for k, v in result.timings.items()}
    params = {k: v for k, v in pipe.get_params().items()
              if isinstance(v, (str, int, float)) and k != 'progress'}
    return plan, timings, params


def _plan_truth(world, families, frame):
    fam = world.object_families()
    masks = world.ground_truth_masks()
    return [(name, families.index(fam[name]) % world.info.num_boxes, masks[name])
            for name in world.info.object_bodies if masks[name].sum() >= 20], {}, None


def run_render(args) -> int:
    import imageio.v3 as iio

    from ..assets import AssetUnavailableError
    from ..sim import SimWorld
    from ..sim.cell import OVERVIEW_CAMERA, resolve_families
    from ..sim.camera import CameraRenderer
    from ..sim.catalog import is_primitives, object_catalog, resolve_categories
    from ..sim.layout import LayoutError

    if args.fps <= 0 or args.speedup <= 0:
        print('error: --fps and --speedup must be > 0', file=sys.stderr)
        return 2
    if args.size < 64:
        print('error: --size must be at least 64 pixels', file=sys.stderr)
        return 2
    try:
        if is_primitives(args.world):
            families = resolve_families(args.families, args.boxes)
        else:
            catalog = object_catalog(args.world)
            families = tuple(resolve_categories(args.families) if args.families
                             else sorted(catalog))
        world = SimWorld(num_boxes=args.boxes, seed=args.seed, n_objects=args.objects,
                         families=families, objects=args.world)
    except (ValueError, LayoutError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except RuntimeError as exc:   # robot assets or OpenGL missing
        print(f'error: {exc}', file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        from ..manipulation.sim_manipulator import make_sim_manipulator
        from ..manipulation.base import PickRequest

        world.advance(0.2)                       # let the objects settle
        with SimWorld(num_boxes=args.boxes, seed=args.seed, n_objects=0,
                      objects=args.world) as empty:
            background = empty.render(depth=False).rgb
        before = world.render(depth=True)
        with CameraRenderer(world.model, OVERVIEW_CAMERA, 960, 720) as view:
            iio.imwrite(out / 'cell_before.png', view.rgb(world.data))
        iio.imwrite(out / 'tray_before.png', before.rgb)
        if args.sort == 'pipeline':
            plan, timings, pipeline = _plan_pipeline(world, args, before, background)
        else:
            plan, timings, pipeline = _plan_truth(world, families, before)
        if args.max_picks is not None:
            plan = plan[:max(0, args.max_picks)]
        manipulator = make_sim_manipulator(world)
        recorder = None
        if args.animation != 'none':
            recorder = _Recorder(world, args.size)
            world.add_observer(recorder, args.speedup / args.fps)
        picks = []
        for i, (object_id, box, mask) in enumerate(plan):
            if recorder is not None:
                recorder.caption = f'pick {i + 1}/{len(plan)} -> box {box}'
            outcome = manipulator.pick_and_place(PickRequest(
                object_id, int(box), mask, before.depth, world.info.camera.as_dict()))
            picks.append({'object': object_id, 'box': int(box), 'success': outcome.success,
                          'reason': outcome.reason, 'attempts': outcome.attempts})
            print(f'pick {i + 1}/{len(plan)} -> box {box}: '
                  f'{"ok" if outcome.success else outcome.reason}', flush=True)
        manipulator.home()
        if recorder is not None:
            recorder.caption = 'sorted'
        world.advance(1.0)
        world.clear_observers()
        after = world.render(depth=False)
        iio.imwrite(out / 'tray_after.png', after.rgb)
        with CameraRenderer(world.model, OVERVIEW_CAMERA, 960, 720) as view:
            iio.imwrite(out / 'cell_after.png', view.rgb(world.data))
        gap = np.full((before.rgb.shape[0], 12, 3), 255, np.uint8)
        iio.imwrite(out / 'before_after.png', np.hstack([_label(before.rgb, 'before'), gap,
                                                         _label(after.rgb, 'after')]))
        animation = None
        if recorder is not None:
            recorder.close()
            if recorder.frames:
                animation = out / f'sort.{args.animation}'
                _write_animation(recorder.frames, animation, args.fps)
        # the record of what ended where (simulator ground truth; never fed back)
        fam = world.object_families()
        boxes = {f'box{b}': dict(Counter(fam[n] for n in world.objects_in_box(b)))
                 for b in range(world.info.num_boxes)}
        boxed = sum(sum(c.values()) for c in boxes.values())
        purity = (sum(max(c.values(), default=0) for c in boxes.values()) / boxed
                  if boxed else None)
        summary = {
            'seed': args.seed, 'boxes': args.boxes, 'families': list(families),
            'objects': len(world.info.object_bodies), 'sort': args.sort,
            'pipeline': pipeline, 'perceived_objects': len(plan), 'picks': picks,
            'picked_ok': sum(p['success'] for p in picks), 'box_contents': boxes,
            'box_purity_by_family': None if purity is None else round(purity, 4),
            'left_on_table': len(world.info.object_bodies)
            - sum(sum(c.values()) for c in boxes.values()),
            'perception_timings_s': timings, 'sim_time_s': round(world.time, 2),
            'wall_s': round(time.perf_counter() - t0, 1),
            'animation': None if animation is None else animation.name,
            'animation_frames': 0 if recorder is None else len(recorder.frames),
        }
        (out / 'summary.json').write_text(json.dumps(summary, indent=1))
        brief = ('picked_ok', 'box_contents', 'box_purity_by_family', 'left_on_table', 'wall_s')
        print(json.dumps({k: summary[k] for k in brief}))
        print(f'wrote {out}')
        return 0
    except (ValueError, ImportError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except AssetUnavailableError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    finally:
        world.close()
