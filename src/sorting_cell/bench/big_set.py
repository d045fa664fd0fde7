"""A big image folder with known classes, built cheaply from what the project has.

``n`` small images (96 x 96 PNG), ``<out>/<class>/<index>.png``, half of them tools and
half digits:

- ``tool-<kind>``: a tool cut out of a tool-dataset photo by the background model, turned
  by a random angle, scaled and shifted onto a flat random colour (7 kinds);
- ``digit-<d>``: one of scikit-learn's 8 x 8 digits drawn large, shifted and scaled, in a
  random ink colour on a random dark field (10 kinds).

Image ``i`` depends only on ``(seed, i)``, so a set can be built in parts or resumed (an
existing file is kept), and every build of the same ``n`` and seed is the same set.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ['build_big_set', 'SIDE']

SIDE = 96


def _sources(root):
    from sklearn.datasets import load_digits

    from .image_sets import _cuts
    return _cuts(root), load_digits()


def _tool(rng, cuts) -> tuple[str, np.ndarray]:
    im, patch, mask = cuts[int(rng.integers(len(cuts)))]
    canvas = np.empty((SIDE, SIDE, 3), np.uint8)
    canvas[:] = rng.integers(0, 256, 3)
    h, w = patch.shape[:2]
    scale = float(rng.uniform(0.6, 0.95)) * SIDE / max(h, w)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(0, 360)), scale)
    M[:, 2] += (SIDE / 2 - w / 2 + rng.uniform(-6, 6), SIDE / 2 - h / 2 + rng.uniform(-6, 6))
    p = cv2.warpAffine(patch, M, (SIDE, SIDE), flags=cv2.INTER_AREA)
    m = cv2.warpAffine(mask.astype(np.uint8), M, (SIDE, SIDE), flags=cv2.INTER_NEAREST) > 0
    canvas[m] = p[m]
    return f'tool-{im.label}', canvas


def _digit(rng, digits) -> tuple[str, np.ndarray]:
    i = int(rng.integers(len(digits.target)))
    side = int(rng.integers(56, 88))
    ink = cv2.resize((digits.images[i] / 16).astype(np.float32), (side, side),
                     interpolation=cv2.INTER_CUBIC).clip(0, 1)
    field = np.empty((SIDE, SIDE, 3), np.float32)
    field[:] = rng.integers(0, 80, 3)
    colour = rng.integers(150, 256, 3).astype(np.float32)
    y, x = (int(v) for v in rng.integers(0, SIDE - side + 1, 2))
    region = field[y:y + side, x:x + side]
    field[y:y + side, x:x + side] = region * (1 - ink[..., None]) + colour * ink[..., None]
    return f'digit-{digits.target[i]}', field.astype(np.uint8)


def build_big_set(out: str | Path, n: int, seed: int = 0, root=None, start: int = 0) -> int:
    """Write images ``start..n-1`` of the set into ``out`` (existing ones kept); returns n."""
    out = Path(out)
    if root is None:
        from sorting_cell.datasets.tools import tools_root
        root = tools_root()
    cuts, digits = _sources(root)
    for i in range(start, n):
        rng = np.random.default_rng([seed, i])
        label, rgb = _tool(rng, cuts) if rng.random() < 0.5 else _digit(rng, digits)
        path = out / label / f'{i:06d}.png'
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return n
