"""The object's outline as a feature: how wide it is along its length.

An ImageNet net sees a short yellow-handled screwdriver and a long screw as two grey
metal rods; the silhouette does not -- a handle is a thick block at one end, a screw a
head and a constant shank, a pen tapers at both ends, an Allen key is an L. The width
profile (mask width at evenly spaced points along the long axis, divided by the length)
captures that and is independent of scale, rotation and mirroring. On the tool dataset
(Protocol A, 100 draws) adding it to the CNN features and the size lifts mean NMI from
0.901 to 0.956 (benchmarks/results/ablation_*).
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import Region
from .upright import LongAxis

__all__ = ['width_profile', 'PROFILE_BINS']

#: Points along the long axis (the measured benchmark uses 32).
PROFILE_BINS = 32


def width_profile(region: Region, bins: int = PROFILE_BINS) -> np.ndarray:
    """Width of ``region``'s mask along its long axis, relative to its length.

    The mask is turned so the minimum-area rectangle's long side is horizontal; column
    ``i`` of the result is the mask height at ``i / (bins - 1)`` of the length, divided by
    the length. The heavier half comes first, so an object and its mirror image (or the
    same object turned by 180 degrees) give the same profile. A mask of fewer than three
    pixels gives a flat profile (a bar).
    """
    if bins < 2:
        raise ValueError(f'bins must be >= 2, got {bins}')
    mask = np.asarray(region.mask, dtype=bool)
    ys, xs = np.nonzero(mask)
    if xs.size < 3:
        return np.full(bins, 1.0 / bins)
    pts = np.stack([xs, ys], axis=1).astype(np.float32)
    axis = LongAxis.of(pts)
    side = int(np.ceil(np.hypot(axis.length, axis.width))) + 4
    turned = cv2.warpAffine(mask.astype(np.uint8), axis.rotation(side), (side, side),
                            flags=cv2.INTER_NEAREST) > 0
    cols = np.nonzero(turned.any(axis=0))[0]
    if cols.size == 0:  # rounding lost every pixel of a tiny mask
        return np.full(bins, 1.0 / bins)
    widths = turned[:, cols[0]:cols[-1] + 1].sum(axis=0).astype(np.float64)
    length = float(widths.size)
    profile = np.interp(np.linspace(0, widths.size - 1, bins), np.arange(widths.size),
                        widths / length)
    half = bins // 2
    if profile[:half].sum() < profile[bins - half:].sum():
        profile = profile[::-1]
    return np.ascontiguousarray(profile)
