"""Folder throughput after the model is loaded: whole-image path and segmentation path.

Both runs go through ``SortingPipeline.sort_images`` with the defaults, so perception
decides: a set of uniform-size photos with no shared background is described whole; the
tool dataset's frames (one fixed camera) get background-model segmentation, upright crops,
size and outline. Images are read once before timing (warm page cache) and the model runs
once first, so the figure is the pipeline's, not the disk's or the loader's.

    python benchmarks/folder_speed.py [--n 300] [--repeats 3] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from sorting_cell.bench.image_sets import build_image_set
from sorting_cell.pipeline import SortingPipeline


def _files(folder: Path, n: int) -> list[Path]:
    files = sorted(folder.rglob('*.png')) + sorted(folder.rglob('*.jpg'))
    return files[:n]


def measure(files: list[Path], k: int, repeats: int) -> dict:
    for f in files:
        f.read_bytes()  # warm the page cache: the figure is the pipeline's, not the disk's
    pipe = SortingPipeline(n_clusters=k)
    pipe.sort_images(files[:k * 2])  # load the model once
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = pipe.sort_images(files)
        runs.append((time.perf_counter() - t0, result))
    wall, result = min(runs, key=lambda r: r[0])
    return {'images': len(files), 'best_wall_s': round(wall, 3),
            'images_per_s': round(len(files) / wall, 1),
            'walls_s': [round(w, 3) for w, _ in runs],
            'stages_s': {k2: round(v, 3) for k2, v in result.timings.items()},
            'decided': {k2: v.value for k2, v in result.decisions.items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=300)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--out', default='benchmarks/results')
    args = p.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        build_image_set('tools-uniform', Path(tmp) / 'uniform')
        whole = measure(_files(Path(tmp) / 'uniform', args.n), 7, args.repeats)
        from sorting_cell.datasets.tools import load_tools
        tools = [im.path for im in load_tools()][:args.n]
        seg = measure(tools, 7, args.repeats)
    result = {'whole_image_path': whole, 'segmentation_path': seg,
              'meta': {'date': time.strftime('%Y-%m-%d'),
                       'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
                                  f'Python {platform.python_version()}',
                       'load_average_before': load0, 'load_average_after': os.getloadavg()[0]}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'folder_speed.json').write_text(json.dumps(result, indent=2))
    md = ['## Folder throughput after the model is loaded (`benchmarks/folder_speed.py`)', '',
          f"Load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; best of "
          f'{args.repeats} runs.', '',
          '| path | images | images/s | stages (s) |', '| --- | --- | --- | --- |']
    for name, r in (('whole image (tools-uniform set: no shared background)', whole),
                    ('segmentation (tool dataset frames: one fixed camera)', seg)):
        stages = ', '.join(f'{k} {v}' for k, v in r['stages_s'].items())
        md.append(f"| {name} | {r['images']} | **{r['images_per_s']}** | {stages} |")
    (out / 'folder_speed.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
