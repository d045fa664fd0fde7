"""From a per-pixel foreground strength to cleaned-up, ranked :class:`Region` objects.

Shared by every proposer that produces a difference/saliency map: hysteresis threshold,
morphology, connected components, size filter, fragment merging, ranking.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import find_objects

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
                          fragment_ratio: float = 0.35,
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
        Pieces closer than half of this (pixels of ``strength``) are always one object;
        a piece smaller than ``fragment_ratio`` times its neighbour joins it up to the
        full gap: a specular stripe across a screw must not cut it in two, while two
        tools lying close together stay apart.
    fragment_ratio : float
        See ``merge_gap``.
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
    labels = _merge_fragments(fg, merge_gap, fragment_ratio)
    n = int(labels.max()) + 1
    slices = find_objects(labels)
    min_area_s = min_area / (scale * scale)
    candidates = []
    for k in range(1, n):
        if slices[k - 1] is None:
            continue
        ys, xs = slices[k - 1]
        x, y, bw, bh = xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start
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


def _merge_fragments(fg: np.ndarray, merge_gap: int, fragment_ratio: float) -> np.ndarray:
    """Label ``fg``: pieces within ``merge_gap // 2`` merge; small pieces within ``merge_gap``.

    Returns an int32 label image (0 = background, labels need not be contiguous).
    """
    near = max(1, merge_gap // 4)
    far = max(near, merge_gap // 2)
    # Pieces whose dilations touch share a label; the mask keeps undilated pixels.
    _, pieces = cv2.connectedComponents(cv2.dilate(fg, _ellipse(near)), connectivity=8)
    pieces = np.where(fg > 0, pieces, 0).astype(np.int32)
    if far == near:
        return pieces
    _, groups = cv2.connectedComponents(cv2.dilate(fg, _ellipse(far)), connectivity=8)
    on = pieces > 0
    n = int(pieces.max()) + 1
    area = np.bincount(pieces[on], minlength=n)
    group_of = np.zeros(n, np.int64)
    group_of[pieces[on]] = groups[on]
    remap = np.arange(n)
    boxes = find_objects(groups)
    for g in np.unique(group_of[1:][area[1:] > 0]):
        members = np.flatnonzero((group_of == g) & (area > 0))
        members = members[members > 0]
        if members.size < 2:
            continue
        big = members[area[members] >= fragment_ratio * area[members].max()]
        if big.size == 1:
            remap[members] = big[0]
            continue
        # Several real objects in reach of each other: each small piece joins the large
        # one whose reach covers most of it; the large ones stay apart.
        sub = pieces[boxes[g - 1]]
        reach = [cv2.dilate((sub == b).astype(np.uint8), _ellipse(2 * far)) > 0 for b in big]
        for piece in np.setdiff1d(members, big):
            inside = sub == piece
            cover = [int(np.count_nonzero(r & inside)) for r in reach]
            if max(cover) > 0:
                remap[piece] = big[int(np.argmax(cover))]
    return remap[pieces].astype(np.int32)


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
