"""One 28-object scene end to end (proposals + features + clustering) on this CPU.

Scenes are composites of the tool dataset (28 real objects pasted on a condition's empty
table, exact ground truth). Reports the embedded default's wall and CPU time per scene,
its breakdown, and the ratio to a plain single-model baseline measured in the same run
(square box crops, MobileNetV2 at 224x224 without test-time augmentation).

    python benchmarks/scene_speed.py [--repeats 5] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from sorting_cell import SortingPipeline
from sorting_cell.features import LiteRTFeatures
from sorting_cell.regions.composites import make_composite


def timed(pipe: SortingPipeline, scene) -> dict:
    w0, c0 = time.perf_counter(), time.process_time()
    result = pipe.sort_scene(scene.frame, background=scene.background)
    return {'wall': time.perf_counter() - w0, 'cpu': time.process_time() - c0,
            'objects': len(result.items), **{k: v for k, v in result.timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--out', default='benchmarks/results')
    args = ap.parse_args()
    default = SortingPipeline(n_clusters=7)
    baseline = SortingPipeline(n_clusters=7, crop='box', normalize='l2', size_weight=0,
                               features=LiteRTFeatures('mobilenet_v2', resize='pad', tta='none'))
    scenes = [make_composite(c, n_objects=28, condition=c) for c in (1, 2, 3, 4, 5)]
    for pipe in (default, baseline):   # warm-up: model load, interpreters per input size
        for s in scenes:
            pipe.sort_scene(s.frame, background=s.background)
    rows = {'default': [], 'baseline': []}
    for _ in range(args.repeats):
        for s in scenes:
            rows['default'].append(timed(default, s))
            rows['baseline'].append(timed(baseline, s))
    summary = {name: {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
               for name, rs in rows.items()}
    ratio = summary['default']['wall'] / summary['baseline']['wall']
    meta = {'machine': f'{platform.machine()}, {os.cpu_count()} CPUs',
            'load_average': os.getloadavg(), 'date': time.strftime('%Y-%m-%d %H:%M UTC',
                                                                     time.gmtime()),
            'repeats': args.repeats, 'scenes': '28-object composites, conditions 1-5'}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'scene_speed.json').write_text(json.dumps({'meta': meta, 'summary': summary,
                                                     'rows': rows}, indent=2))
    lines = ['# One 28-object scene end to end', '',
             f'{meta["machine"]}, load average {meta["load_average"][0]:.1f} at the end, '
             f'{meta["date"]}; median of {args.repeats} x 5 scenes (one per condition). '
             'Command: `python benchmarks/scene_speed.py`.', '',
             '| pipeline | objects found | wall s | CPU s | proposals s | features s | '
             'clustering s |', '| --- | --- | --- | --- | --- | --- | --- |']
    for name, label in [('default', 'embedded default (upright strips, mobilenet_v2_tf2 '
                                    'aspect + flip TTA, centred + size + outline)'),
                        ('baseline', 'plain baseline (box crops, mobilenet_v2 224x224)')]:
        s = summary[name]
        lines.append(f'| {label} | {s["objects"]:.0f} | {s["wall"]:.3f} | {s["cpu"]:.3f} | '
                     f'{s["proposals"]:.3f} | {s["features"]:.3f} | {s["clustering"]:.3f} |')
    lines += ['', f'Ratio default / baseline (wall): {ratio:.2f}.']
    (out / 'scene_speed.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
