"""How much an ImageNet network recognises in a dataset: its mean top-1 probability.

A label-free reading of why bootstrapping needs the boot-feature branch on the 8x8 digits
and not on the tool photos (README, transfer-learning bootstrapping): EfficientNet-Lite0
(the network the bootstrapper fine-tunes) is run on every image -- the product's upright
tool crops, the digits as drawn by mv_data -- and the softmax's largest value is averaged.
Run from the repo root:

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/imagenet_confidence.py

Writes benchmarks/results/imagenet_confidence.{json,md}.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mv_data import digit_images, tool_crops  # noqa: E402

from sorting_cell.features.efficientnet_lite import EfficientNetLiteFeatures  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'


def top1(images, variant: str = 'lite0') -> dict:
    """Mean / median / 10th-90th percentile of the largest ImageNet class probability."""
    ext = EfficientNetLiteFeatures(variant, layer='probabilities', resize='pad', tta='none')
    p = ext.transform(images).max(axis=1)
    return {'n': int(len(p)), 'mean': float(p.mean()), 'median': float(np.median(p)),
            'p10': float(np.percentile(p, 10)), 'p90': float(np.percentile(p, 90))}


def main() -> int:
    out = {'network': 'efficientnet_lite0 (square pad, no TTA)',
           'tools': top1(tool_crops(progress=False)), 'digits': top1(digit_images()[0])}
    md = ['# Mean top-1 ImageNet probability of EfficientNet-Lite0 (label-free)', '',
          '| data | images | mean | median | 10th-90th percentile |',
          '| --- | --- | --- | --- | --- |']
    for name in ('tools', 'digits'):
        r = out[name]
        md.append(f'| {name} | {r["n"]} | {r["mean"]:.3f} | {r["median"]:.3f} | '
                  f'{r["p10"]:.3f}-{r["p90"]:.3f} |')
    md += ['', 'A uniform guess over the 1000 classes would be 0.001.', '']
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'imagenet_confidence.json').write_text(json.dumps(out, indent=1))
    (RESULTS / 'imagenet_confidence.md').write_text('\n'.join(md))
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    sys.exit(main())
