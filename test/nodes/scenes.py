"""Synthetic overhead-camera scenes: coloured objects of a few kinds on a textured table.

Deterministic for a seed; returns ground truth (kind and box of every object) so that
tests can score the cell's boxes against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ('red_disc', 'blue_square', 'green_triangle', 'yellow_bar', 'purple_ring',
         'orange_cross', 'black_ellipse')


@dataclass
class Scene:
    frame: np.ndarray          # H x W x 3 RGB uint8
    background: np.ndarray     # the same table, empty
    kinds: list[str]           # per object
    boxes: list[tuple]         # per object (x0, y0, x1, y1)

    @property
    def labels(self) -> np.ndarray:
        return np.array([KINDS.index(k) for k in self.kinds])

    def match(self, centroids) -> np.ndarray:
        """Ground-truth label of each (x, y) centroid (-1 if in no object's box)."""
        out = []
        for cx, cy in centroids:
            hit = [i for i, (x0, y0, x1, y1) in enumerate(self.boxes)
                   if x0 <= cx < x1 and y0 <= cy < y1]
            out.append(self.labels[hit[0]] if hit else -1)
        return np.array(out)


def _table(h: int, w: int, rng) -> np.ndarray:
    base = np.array([200, 190, 170], np.float32)
    noise = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 3)[..., None]
    grad = np.linspace(-8, 8, w, dtype=np.float32)[None, :, None]
    return np.clip(base + noise + grad, 0, 255).astype(np.uint8)


def _draw(img: np.ndarray, kind: str, cx: int, cy: int, s: int, angle: float) -> None:
    rot = cv2.getRotationMatrix2D((0, 0), angle, 1.0)[:, :2]

    def poly(pts):
        p = (np.asarray(pts, np.float32) @ rot.T + (cx, cy)).round().astype(np.int32)
        return p.reshape(-1, 1, 2)

    if kind == 'red_disc':
        cv2.circle(img, (cx, cy), s, (200, 30, 30), -1, cv2.LINE_AA)
    elif kind == 'blue_square':
        cv2.fillPoly(img, [poly([(-s, -s), (s, -s), (s, s), (-s, s)])], (30, 60, 200),
                     cv2.LINE_AA)
    elif kind == 'green_triangle':
        cv2.fillPoly(img, [poly([(0, -s), (s, s), (-s, s)])], (30, 160, 50), cv2.LINE_AA)
    elif kind == 'yellow_bar':
        cv2.fillPoly(img, [poly([(-s * 1.6, -s / 3), (s * 1.6, -s / 3), (s * 1.6, s / 3),
                                 (-s * 1.6, s / 3)])], (230, 200, 20), cv2.LINE_AA)
    elif kind == 'purple_ring':
        cv2.circle(img, (cx, cy), s, (130, 40, 150), max(3, s // 3), cv2.LINE_AA)
    elif kind == 'orange_cross':
        t = s / 3
        cv2.fillPoly(img, [poly([(-s, -t), (s, -t), (s, t), (-s, t)])], (240, 120, 20))
        cv2.fillPoly(img, [poly([(-t, -s), (t, -s), (t, s), (-t, s)])], (240, 120, 20))
    elif kind == 'black_ellipse':
        cv2.ellipse(img, (cx, cy), (s, max(4, s // 2)), angle, 0, 360, (25, 25, 25), -1,
                    cv2.LINE_AA)
    else:
        raise ValueError(kind)


def make_scene(n_objects: int = 12, n_kinds: int = 3, seed: int = 0,
               size: tuple[int, int] = (480, 640)) -> Scene:
    """``n_objects`` objects cycling through the first ``n_kinds`` kinds, on a grid."""
    rng = np.random.default_rng(seed)
    h, w = size
    background = _table(h, w, rng)
    frame = background.copy()
    cols = int(np.ceil(np.sqrt(n_objects * w / h)))
    rows = int(np.ceil(n_objects / cols))
    cw, ch = w // cols, h // rows
    cells = rng.permutation(rows * cols)[:n_objects]
    kinds, boxes = [], []
    for i, cell in enumerate(cells):
        kind = KINDS[i % n_kinds]
        r, c = divmod(int(cell), cols)
        s = int(min(cw, ch) * rng.uniform(0.20, 0.28))
        reach = int(s * 1.7) + 2
        cx = int(c * cw + cw / 2 + rng.uniform(-0.1, 0.1) * cw)
        cy = int(r * ch + ch / 2 + rng.uniform(-0.1, 0.1) * ch)
        _draw(frame, kind, cx, cy, s, float(rng.uniform(0, 180)))
        kinds.append(kind)
        boxes.append((max(0, cx - reach), max(0, cy - reach), min(w, cx + reach),
                      min(h, cy + reach)))
    return Scene(frame=frame, background=background, kinds=kinds, boxes=boxes)
