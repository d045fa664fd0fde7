"""Per-image feature time of every backend, one crop per call vs a 28-crop batch.

Crops are cut from the tool dataset at object-like sizes (fixed seed), so the resize to
the network input is part of the measured time, as in the cell. For each extractor:

- ``load_s``: the first call (model file read, graph pruning, interpreter / weights set-up);
- ``ms_per_image_b1``: 28 calls of ``transform([crop])`` (the streaming case);
- ``ms_per_image_b28``: one ``transform(28 crops)`` call with ``batch_size=28`` where the
  backend batches (LiteRT resizes its input tensor, torchvision forwards a 28-image batch);
- ``cpu_ms_per_image_b28``: process CPU time of that call per image (load-robust);
- ``scene_28_ms``: the 28-crop call, i.e. the feature share of one 28-object scene.

Median over ``--repeats`` runs. torchvision models use ``weights=None`` (same compute as
the pretrained ones, no download). Run on an idle machine for reference figures::

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/feature_speed.py

Writes ``benchmarks/results/feature_speed.{json,md}``. ``--features a,b`` times those
registry extractors instead (as :func:`sorting_cell.features.make_extractor` builds them,
with their own thread defaults) and writes ``feature_speed_<--name>.{json,md}``::

    .venv/bin/python benchmarks/feature_speed.py --features mobilenet_v2_tf2,efficientnet_lite2 \
        --name efficientnet_lite2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from sorting_cell.assets import resolve
from sorting_cell.features import (ColorHistogram, GaborFeatures, HOGFeatures, LiteRTFeatures,
                                   RawPixels, TorchvisionFeatures, make_extractor)
from sorting_cell.images import load_image

RESULTS = Path(__file__).resolve().parent / 'results'
N_CROPS = 28


def crops(root: Path, n: int = N_CROPS, seed: int = 0) -> list[np.ndarray]:
    """``n`` crops of 90-320 px (any aspect) from distinct tool photos."""
    rng = np.random.default_rng(seed)
    files = sorted(root.glob('conditions*/*/*.jpg'))
    out = []
    for path in rng.choice(files, size=n, replace=False):
        img = load_image(path)
        h, w = img.shape[:2]
        ch, cw = (int(v) for v in rng.integers(90, 320, size=2))
        y, x = int(rng.integers(0, h - ch)), int(rng.integers(0, w - cw))
        out.append(img[y:y + ch, x:x + cw])
    return out


def extractors(batch: int) -> list[tuple[str, str, object]]:
    """(backend, name, extractor) with the backend's batch size set to ``batch``."""
    out = []
    for model in ('mobilenet_v1', 'mobilenet_v2', 'mobilenet_v2_tf2'):
        out.append(('litert', f'{model} (2 threads)',
                    LiteRTFeatures(model, num_threads=2, batch_size=batch)))
    out.append(('litert', 'mobilenet_v2 (1 thread)',
                LiteRTFeatures('mobilenet_v2', num_threads=1, batch_size=batch)))
    out.append(('litert', 'mobilenet_v2:MobilenetV2/expanded_conv_15/add',
                LiteRTFeatures('mobilenet_v2', layer='MobilenetV2/expanded_conv_15/add',
                               batch_size=batch)))
    for arch in ('resnet18', 'resnet50'):
        out.append(('torchvision', f'{arch} (weights=None)',
                    TorchvisionFeatures(arch, weights=None, batch_size=batch)))
    for name, cls in (('raw', RawPixels), ('hog', HOGFeatures), ('gabor', GaborFeatures),
                      ('colorhist', ColorHistogram)):
        out.append(('handcrafted', name, cls()))
    return out


def registry_extractors(names: list[str], batch: int) -> list[tuple[str, str, object]]:
    """(backend, name, extractor) for registry names, batch size set where there is one."""
    out = []
    for name in names:
        ext = make_extractor(name)
        if 'batch_size' in ext.get_params():
            ext.set_params(batch_size=batch)
        out.append(('registry', name, ext))
    return out


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``fn()``.

    CPU time (all threads of this process) is much less sensitive than wall time to other
    programs competing for the cores, so it is the figure to compare across loaded runs.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--only', help='substring filter on extractor names')
    ap.add_argument('--features', help='comma-separated registry names to time instead')
    ap.add_argument('--name', default='registry', help='result stem suffix with --features')
    args = ap.parse_args(argv)
    if args.features:
        names = [n.strip() for n in args.features.split(',') if n.strip()]
        build = lambda batch: registry_extractors(names, batch)  # noqa: E731
    else:
        build = extractors
    import torch

    images = crops(Path(resolve('tools', download=False)))
    rows = []
    singles = {n: e for _, n, e in build(1)}
    for backend, name, ext in build(N_CROPS):
        if args.only and args.only not in name:
            continue
        single = singles[name]
        t0 = time.perf_counter()
        single.transform(images[:1])
        load = time.perf_counter() - t0
        ext.transform(images[:1])  # warm the batched runtime too
        # one-per-call torchvision is slow: time it on a quarter of the crops
        few = images if backend != 'torchvision' else images[:N_CROPS // 4]
        b1, _ = _median_time(lambda: [single.transform([im]) for im in few], args.repeats)
        b28, cpu28 = _median_time(lambda: ext.transform(images), args.repeats)
        dim = ext.transform(images[:1]).shape[1]
        row = {'backend': backend, 'name': name, 'dim': int(dim), 'load_s': load,
               'ms_per_image_b1': 1000 * b1 / len(few),
               'ms_per_image_b28': 1000 * b28 / len(images),
               'cpu_ms_per_image_b28': 1000 * cpu28 / len(images), 'scene_28_ms': 1000 * b28}
        rows.append(row)
        print(f"{backend:12s} {name:48s} d={dim:5d} load {load:6.2f}s  b1 "
              f"{row['ms_per_image_b1']:7.2f} ms/img  b28 {row['ms_per_image_b28']:7.2f} "
              f"ms/img (CPU {row['cpu_ms_per_image_b28']:7.2f})  28 crops "
              f"{row['scene_28_ms']:7.1f} ms", flush=True)
    load1, load5, load15 = os.getloadavg()
    meta = {'machine': platform.platform(), 'processor': platform.processor(),
            'cpus': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
            'python': sys.version.split()[0], 'repeats': args.repeats,
            'n_crops': len(images), 'loadavg_1_5_15': [load1, load5, load15],
            'when': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}
    write(rows, meta, f'feature_speed_{args.name}' if args.features else 'feature_speed')
    return 0


def write(rows: list[dict], meta: dict, stem: str = 'feature_speed') -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{stem}.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=1))
    lines = ['# Feature extraction speed', '',
             f"Generated by `benchmarks/feature_speed.py` on {meta['when']}: {meta['cpus']} "
             f"CPUs, torch threads {meta['torch_threads']}, median of {meta['repeats']} "
             f"runs over {meta['n_crops']} crops (90-320 px, resize included). Load average "
             f"during the run: {', '.join(f'{v:.1f}' for v in meta['loadavg_1_5_15'])} "
             '(above ~0.5 the machine was shared and figures are pessimistic).', '',
             'CPU ms/img is process CPU time (all threads) for the batch of 28: the '
             'load-robust figure.', '',
             '| backend | extractor | dim | first call (s) | ms/img, 1 per call | '
             'ms/img, batch 28 | CPU ms/img, batch 28 | 28 crops (ms) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(f"| {r['backend']} | {r['name']} | {r['dim']} | {r['load_s']:.2f} | "
                     f"{r['ms_per_image_b1']:.2f} | {r['ms_per_image_b28']:.2f} | "
                     f"{r['cpu_ms_per_image_b28']:.2f} | {r['scene_28_ms']:.1f} |")
    (RESULTS / f'{stem}.md').write_text('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
