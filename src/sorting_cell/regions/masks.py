"""From a per-pixel foreground strength to cleaned-up, ranked :class:`Region` objects.

Shared by every proposer that produces a difference/saliency map: hysteresis threshold,
morphology, connected components, size filter, fragment merging, ranking.
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import Region, crop_region

__all__ = ['regions_from_strength', 'hysteresis', 'box_iou', 'mask_iou']


def _ellipse(radius: int) -> np.ndarray:
    size = 2 * int(radius) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def hysteresis(strength: np.ndarray, low: float, high: float,
               min_strong: int = 3) -> np.ndarray:
    """Pixels above ``low`` that are connected to at least ``min_strong`` pixels above ``high``.

    Weak evidence next to strong evidence is kept (the faint end of a pen), isolated weak
    evidence is noise (wood grain, sensor noise).
    """
    weak = (strength > low).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    if n <= 1:
        return np.zeros(strength.shape, bool)
    strong_counts = np.bincount(labels[strength > high], minlength=n)
    keep = strong_counts >= min_strong
    keep[0] = False
    return keep[labels]


def regions_from_strength(frame: np.ndarray, strength: np.ndarray, low: float, high: float,
                          min_area: int = 120, merge_gap: int = 4, close_radius: int = 2,
                          max_regions: int = 64, margin: float = 0.15,
                          extra: dict | None = None) -> list[Region]:
    """Threshold a foreground-strength map and return its objects, best first.

    Parameters
    ----------
    frame : ndarray of uint8, shape (h, w, 3)
        The RGB frame the crops are cut from.
    strength : ndarray of float, shape (h', w')
        Foreground evidence; may be at a lower resolution than ``frame`` (masks are
        scaled back up).
    low, high : float
        Hysteresis thresholds on ``strength``.
    min_area : int
        Smallest object, in pixels of ``frame``.
    merge_gap : int
        Fragments closer than this (pixels of ``strength``) are one object: a specular
        stripe across a screwdriver shaft must not cut it in two.
    close_radius : int
        Morphological closing radius before labelling (fills pinholes and thin gaps).
    max_regions : int
        Keep at most this many regions (the largest/strongest).
    margin : float
        Crop margin passed to :func:`~sorting_cell.regions.base.crop_region`.
    extra : dict or None
        Copied into each region's ``extra``.

    Returns
    -------
    list of Region
        Ordered by ``score * area`` (most object-like and largest first).
    """
    h, w = frame.shape[:2]
    sh, sw = strength.shape[:2]
    scale = (w / sw + h / sh) / 2.0
    fg = hysteresis(strength, low, high).astype(np.uint8)
    if close_radius > 0:
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _ellipse(close_radius))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _ellipse(1))
    # Label a dilated copy so that nearby fragments share a label, but keep the
    # undilated pixels as the mask.
    joined = cv2.dilate(fg, _ellipse(max(1, merge_gap // 2))) if merge_gap > 0 else fg
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    labels = np.where(fg > 0, labels, 0)
    min_area_s = min_area / (scale * scale)
    candidates = []
    for k in range(1, n):
        x, y, bw, bh, _ = stats[k]
        sub = labels[y:y + bh, x:x + bw] == k
        area = int(sub.sum())
        if area < min_area_s:
            continue
        sub = _fill_holes(sub)
        vals = strength[y:y + bh, x:x + bw][sub]
        # Objectness: how far above the detection threshold the region's evidence lies,
        # mapped to [0, 1).
        contrast = float(np.median(vals)) / high
        score = float(1.0 - np.exp(-contrast))
        candidates.append((score * area, score, (x, y, x + bw, y + bh), sub))
    candidates.sort(key=lambda c: -c[0])
    regions = []
    for _, score, (x0, y0, x1, y1), sub in candidates[:max_regions]:
        if scale != 1.0:
            box = (int(np.floor(x0 * w / sw)), int(np.floor(y0 * h / sh)),
                   int(np.ceil(x1 * w / sw)), int(np.ceil(y1 * h / sh)))
            box = (box[0], box[1], min(w, box[2]), min(h, box[3]))
            mask = cv2.resize(sub.astype(np.uint8), (box[2] - box[0], box[3] - box[1]),
                              interpolation=cv2.INTER_LINEAR) > 0
            box, mask = _tighten(box, mask)
        else:
            box, mask = (x0, y0, x1, y1), sub
        regions.append(Region(box=box, mask=mask, crop=crop_region(frame, box, margin),
                              score=score, extra=dict(extra or {})))
    return regions


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes (the loop of a key ring, a highlight inside a handle)."""
    padded = np.pad(mask, 1).astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8),
                  (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def _tighten(box, mask):
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return box, mask
    x0, y0 = box[0] + int(xs.min()), box[1] + int(ys.min())
    x1, y1 = box[0] + int(xs.max()) + 1, box[1] + int(ys.max()) + 1
    return (x0, y0, x1, y1), mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def box_iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two frame-sized boolean masks."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0
