"""Is the pretrained DeepLabV3 (PASCAL VOC) model a usable object proposer for tools?

Usage::

    SORTING_CELL_ASSETS=/path/to/shared python benchmarks/segmentation_deeplab.py

Runs ``resolve('deeplabv3')`` with LiteRT (2 threads) on the one-object frames that the
region tests annotate by hand (``HAND_BOXES`` in test/core/test_regions.py), takes
every non-'background' pixel as object, and reports the box IoU with the hand box, the
foreground fraction and the time per frame, next to :class:`BackgroundProposer` and
:class:`SaliencyProposer` on the same frames. Writes ``segmentation_deeplab.json`` and
``.md`` into ``benchmarks/results``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from sorting_cell.assets import resolve
from sorting_cell.images import load_image
from sorting_cell.regions.background import BackgroundProposer
from sorting_cell.regions.composites import condition_frames
from sorting_cell.regions.masks import box_iou
from sorting_cell.regions.saliency import SaliencyProposer

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / 'test' / 'core'))
from test_regions import HAND_BOXES  # noqa: E402  (the hand annotations live with the tests)


def main():
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=str(resolve('deeplabv3')), num_threads=2)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    size = tuple(int(s) for s in inp['shape'][1:3])
    tools = Path(resolve('tools', download=False))
    interp.set_tensor(inp['index'], np.zeros(inp['shape'], inp['dtype']))
    interp.invoke()  # warm-up
    rows = []
    for (c, name), hand in sorted(HAND_BOXES.items()):
        frame = load_image(tools / f'conditions{c}' / f'{name}.jpg')
        h, w = frame.shape[:2]
        x = cv2.resize(frame, size[::-1])[None].astype(inp['dtype'])
        t0 = time.perf_counter()
        interp.set_tensor(inp['index'], x)
        interp.invoke()
        labels = interp.get_tensor(out['index'])[0]
        dt = time.perf_counter() - t0
        if labels.ndim == 3:
            labels = labels.argmax(-1)
        fg = cv2.resize((labels != 0).astype(np.uint8), (w, h),
                        interpolation=cv2.INTER_NEAREST) > 0
        ys, xs = np.nonzero(fg)
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if xs.size else (0, 0, 1, 1)
        fit = [load_image(p) for p in condition_frames(c, tools)[::3]
               if f'{p.parent.name}/{p.name[0]}' != name[:-1]]
        bg = BackgroundProposer().fit(fit)
        bg.propose(frame)  # warm-up: first calls pay for lazy initialisation
        t1 = time.perf_counter()
        bg_main = bg.propose_main(frame)
        t_bg = time.perf_counter() - t1
        sal = SaliencyProposer().fit(None)
        sal.propose(frame)
        t2 = time.perf_counter()
        sal_main = sal.propose_main(frame)
        t_sal = time.perf_counter() - t2
        rows.append({'condition': c, 'frame': name,
                     'deeplab_box_iou': box_iou(box, hand),
                     'deeplab_foreground_fraction': float(fg.mean()),
                     'deeplab_classes': sorted(int(v) for v in np.unique(labels)),
                     'deeplab_ms': 1000 * dt,
                     'background_box_iou': box_iou(bg_main.box, hand), 'background_ms': 1000 * t_bg,
                     'saliency_box_iou': box_iou(sal_main.box, hand), 'saliency_ms': 1000 * t_sal})
    summary = {k: float(np.mean([r[k] for r in rows])) for k in
               ('deeplab_box_iou', 'background_box_iou', 'saliency_box_iou',
                'deeplab_ms', 'background_ms', 'saliency_ms')}
    res = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'frames': rows,
           'mean': summary}
    (ROOT / 'results').mkdir(exist_ok=True)
    (ROOT / 'results' / 'segmentation_deeplab.json').write_text(json.dumps(res, indent=1))
    lines = ['# DeepLabV3 (VOC) as a tool proposer vs. the project proposers', '',
             f"Run {res['date']}; hand-annotated boxes from test/core/test_regions.py; "
             'timings on a shared, loaded 2-core machine.', '',
             '| cond | frame | DeepLab IoU | DeepLab fg | DeepLab classes | DeepLab ms '
             '| background IoU | background ms | saliency IoU | saliency ms |',
             '|' + ' --- |' * 10]
    for r in rows:
        lines.append(f"| {r['condition']} | {r['frame']} | {r['deeplab_box_iou']:.2f} | "
                     f"{r['deeplab_foreground_fraction']:.3f} | {r['deeplab_classes']} | "
                     f"{r['deeplab_ms']:.0f} | {r['background_box_iou']:.2f} | "
                     f"{r['background_ms']:.0f} | {r['saliency_box_iou']:.2f} | "
                     f"{r['saliency_ms']:.0f} |")
    s = summary
    lines += ['', f"Mean box IoU: DeepLab {s['deeplab_box_iou']:.2f}, background "
              f"{s['background_box_iou']:.2f}, saliency {s['saliency_box_iou']:.2f}. "
              f"Mean ms: DeepLab {s['deeplab_ms']:.0f}, background {s['background_ms']:.0f}, "
              f"saliency {s['saliency_ms']:.0f}.", '',
              'VOC has no tool classes: DeepLab labels nearly every tool background, so it '
              'is not used.']
    (ROOT / 'results' / 'segmentation_deeplab.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
