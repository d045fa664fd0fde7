"""Turn an object upright before describing it: long axis horizontal, tight strip.

Tools lie at any angle; a CNN sees a diagonal screwdriver in a square crop as a thin
line in a field of table. Rotating the object so its principal axis is horizontal and
cutting a strip just around it lets an aspect-preserving extractor spend its whole
input on the object (tool dataset, Protocol A, 100 draws: mean NMI 0.805 -> 0.868 over
square box crops, +0.16 on the perforated-metal condition; benchmarks/results/ablation_*).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .base import Region

__all__ = ['upright_crop', 'region_size', 'LongAxis']


def upright_crop(frame: np.ndarray, region: Region, margin: float = 0.12,
                 pad: int = 4) -> np.ndarray:
    """The object of ``region`` rotated to horizontal, in a strip with a relative margin.

    The rotation uses the minimum-area rectangle of the mask; pixels outside the frame are
    mirrored in (the table continues rather than a black border appearing). A region
    without mask pixels returns its box crop unchanged.
    """
    x0, y0, _, _ = region.box
    ys, xs = np.nonzero(region.mask)
    if xs.size < 3:
        return region.crop
    pts = np.stack([xs + x0, ys + y0], axis=1).astype(np.float32)
    axis = LongAxis.of(pts)
    side = int(axis.length * (1 + 2 * margin)) + 2 * pad
    square = cv2.warpAffine(frame, axis.rotation(side), (side, side), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    strip_h = min(side, int(axis.width * (1 + 2 * margin)) + 2 * pad)
    top = max(0, side // 2 - strip_h // 2)
    return np.ascontiguousarray(square[top:top + strip_h])


@dataclass(frozen=True)
class LongAxis:
    """The minimum-area rectangle around a set of points, long side first."""

    center: tuple[float, float]
    length: float
    width: float
    angle: float  # degrees that turn the long side horizontal

    @classmethod
    def of(cls, pts: np.ndarray) -> 'LongAxis':
        """From ``N x 2`` float32 ``(x, y)`` points."""
        center, (w, h), angle = cv2.minAreaRect(pts)
        if w < h:
            angle += 90.0
        return cls(center, float(max(w, h)), float(min(w, h)), angle)

    def rotation(self, side: int) -> np.ndarray:
        """2x3 affine turning the long axis horizontal, centred in a ``side`` square."""
        cx, cy = self.center
        M = cv2.getRotationMatrix2D((cx, cy), self.angle, 1.0)
        M[0, 2] += side / 2.0 - cx
        M[1, 2] += side / 2.0 - cy
        return M


def region_size(region: Region) -> tuple[float, float]:
    """``(length, width)`` in pixels of the mask's minimum-area rotated rectangle."""
    ys, xs = np.nonzero(region.mask)
    if xs.size < 3:
        x0, y0, x1, y1 = region.box
        return (float(max(x1 - x0, y1 - y0)), float(min(x1 - x0, y1 - y0)))
    axis = LongAxis.of(np.stack([xs, ys], axis=1).astype(np.float32))
    return (axis.length, axis.width)
