"""Which model / tensor / resize mode clusters the tool dataset best (whole images).

First signal for choosing the default features: each condition's 112 whole images
(640x480, object not cropped), features L2-normalised, AgglomerativeClustering (Ward,
k=7), NMI against the class (sklearn ``normalized_mutual_info_score``). Also reports the
same-object vs other-class cosine-distance ratio (lower = better separated).

Run (about 3-5 min on 2 idle cores)::

    SORTING_CELL_ASSETS=../shared .venv/bin/python benchmarks/feature_layers.py

Writes ``benchmarks/results/feature_layers.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score
from sklearn.preprocessing import normalize

from sorting_cell.assets import resolve
from sorting_cell.features import make_extractor
from sorting_cell.images import load_image

RESULTS = Path(__file__).resolve().parent / 'results'
CONDITIONS = (1, 2, 3, 4, 5)

# (registry spec, resize mode). Intermediate tensors picked from tensor_names(): the last
# blocks of each network, where ImageNet features are semantic but not yet class-specific.
CONFIGS = [
    ('mobilenet_v1', 'pad'), ('mobilenet_v1', 'pad_gray'), ('mobilenet_v1', 'stretch'),
    ('mobilenet_v1', 'crop'),
    ('mobilenet_v1:MobilenetV1/MobilenetV1/Conv2d_11_pointwise/Relu6', 'pad'),
    ('mobilenet_v1:MobilenetV1/MobilenetV1/Conv2d_12_pointwise/Relu6', 'pad'),
    ('mobilenet_v2', 'pad'), ('mobilenet_v2', 'pad_gray'), ('mobilenet_v2', 'stretch'),
    ('mobilenet_v2', 'crop'),
    ('mobilenet_v2:MobilenetV2/expanded_conv_12/add', 'pad'),
    ('mobilenet_v2:MobilenetV2/expanded_conv_15/add', 'pad'),
    ('mobilenet_v2:MobilenetV2/expanded_conv_16/project/add_fold', 'pad'),
    ('mobilenet_v2:logits', 'pad'), ('mobilenet_v2:probabilities', 'pad'),
    ('mobilenet_v2_tf2', 'pad'), ('mobilenet_v2_tf2', 'pad_gray'), ('mobilenet_v2_tf2', 'stretch'),
    ('mobilenet_v2_tf2', 'crop'),
    ('mobilenet_v2_tf2:MobileNetV2/expanded_conv_13/add/add', 'pad'),
    ('mobilenet_v2_tf2:MobileNetV2/expanded_conv_16/add/add', 'pad'),
    ('mobilenet_v2_tf2:logits', 'pad'),
    ('mobilenet_v1+mobilenet_v2', 'pad'), ('mobilenet_v1+mobilenet_v2+mobilenet_v2_tf2', 'pad'),
    ('hog', 'pad'), ('gabor', 'pad'), ('colorhist', 'pad'), ('raw', 'pad'),
]


def load_dataset(root: Path):
    """Images, class labels, object ids and conditions of the whole dataset."""
    pat = re.compile(r'^(\d)(\d)\.jpg$')
    images, labels, objects, conds = [], [], [], []
    for c in CONDITIONS:
        for cls_dir in sorted((root / f'conditions{c}').iterdir()):
            for path in sorted(cls_dir.glob('*.jpg')):
                m = pat.match(path.name)
                if not m:
                    continue
                images.append(load_image(path))
                labels.append(cls_dir.name)
                objects.append(f'{cls_dir.name}/{m.group(1)}')
                conds.append(c)
    return images, np.array(labels), np.array(objects), np.array(conds)


def build(spec: str, resize: str):
    ext = make_extractor(spec)
    views = ext.views if hasattr(ext, 'views') else [ext]
    for v in views:
        if 'resize' in v.get_params():
            v.set_params(resize=resize)
    return ext


def separation(X: np.ndarray, labels, objects) -> float:
    """Mean cosine distance between shots of one object / mean distance to other classes."""
    Xn = normalize(X)
    D = 1.0 - Xn @ Xn.T
    same_obj = (objects[:, None] == objects[None, :]) & ~np.eye(len(X), dtype=bool)
    other_cls = labels[:, None] != labels[None, :]
    return float(D[same_obj].mean() / D[other_cls].mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', help='substring filter on config specs')
    args = ap.parse_args(argv)
    images, labels, objects, conds = load_dataset(Path(resolve('tools', download=False)))
    rows = []
    for spec, resize in CONFIGS:
        if args.only and args.only not in spec:
            continue
        ext = build(spec, resize)
        t0 = time.perf_counter()
        X = ext.transform(images)
        dt = (time.perf_counter() - t0) / len(images)
        nmi, sep = {}, {}
        for c in CONDITIONS:
            m = conds == c
            Xc = normalize(X[m])
            pred = AgglomerativeClustering(n_clusters=7).fit_predict(Xc)
            nmi[c] = float(normalized_mutual_info_score(labels[m], pred))
            sep[c] = separation(X[m], labels[m], objects[m])
        row = {'spec': spec, 'resize': resize, 'dim': int(X.shape[1]),
               'nmi': nmi, 'nmi_mean': float(np.mean(list(nmi.values()))),
               'same_object_over_other_class': float(np.mean(list(sep.values()))),
               'ms_per_image': 1000 * dt}
        rows.append(row)
        print(f"{spec:58s} {resize:8s} d={row['dim']:5d} NMI "
              + ' '.join(f'{nmi[c]:.3f}' for c in CONDITIONS)
              + f" mean {row['nmi_mean']:.3f} sep {row['same_object_over_other_class']:.3f}"
              f" {row['ms_per_image']:.1f} ms/img", flush=True)
    write(rows)
    return 0


def write(rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {'protocol': 'whole images, per condition all 112, L2-normalised, '
                        'AgglomerativeClustering(ward, k=7), NMI vs class',
            'machine': platform.platform(), 'cpus': os.cpu_count(),
            'python': sys.version.split()[0], 'when': time.strftime('%Y-%m-%d %H:%M UTC',
                                                                    time.gmtime()),
            'note': 'ms_per_image includes the 640x480 -> 224 resize; timed on a shared, '
                    'loaded machine: use benchmarks/feature_speed.py for speed'}
    (RESULTS / 'feature_layers.json').write_text(json.dumps({'meta': meta, 'rows': rows},
                                                            indent=1))
    best = sorted(rows, key=lambda r: -r['nmi_mean'])
    lines = ['# Feature layers on the tool dataset (whole images)', '',
             f"Protocol: {meta['protocol']}. Generated by `benchmarks/feature_layers.py` "
             f"on {meta['when']} ({meta['cpus']} CPUs).", '',
             '`sep` = mean cosine distance between shots of the same object divided by the '
             'mean distance to images of other classes (lower is better).', '',
             '| features | resize | dim | c1 | c2 | c3 | c4 | c5 | mean NMI | sep |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in best:
        lines.append(f"| `{r['spec']}` | {r['resize']} | {r['dim']} | "
                     + ' | '.join(f"{r['nmi'][c]:.3f}" for c in CONDITIONS)
                     + f" | **{r['nmi_mean']:.3f}** | {r['same_object_over_other_class']:.3f} |")
    (RESULTS / 'feature_layers.md').write_text('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
