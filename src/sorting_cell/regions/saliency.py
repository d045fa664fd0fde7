"""Single-frame object proposals: what stands out from the frame's own table.

No background image is needed. The empty table is estimated from the frame itself by a
large median filter (tools are thin or small compared with a window of half the frame,
so the median sees table), and a pixel is an object when its colour lies outside the
local range of that estimate by more than a multiple of the frame's own noise level.
Textured tables (perforated metal) defeat it: see benchmarks/results/segmentation.md.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..images import to_rgb8
from .base import Proposer, Region
from .masks import regions_from_strength

__all__ = ['SaliencyProposer']


class SaliencyProposer(Proposer):
    """Objects = pixels unlike the frame's median-filtered table.

    Parameters
    ----------
    low, high : float
        Hysteresis thresholds, in multiples of the frame's robust noise level
        (median absolute strength), floored at ``min_low``/``2 * min_low`` Lab units.
    min_low : float
        Floor of the low threshold in CIE Lab units.
    filter_size : float
        Median-filter window as a fraction of the frame's short side: larger than the
        widest object part (a clamp's handles), smaller than lighting gradients.
    lightness_weight : float
        Weight of lightness relative to chroma (lighting gradients move lightness).
    min_area, merge_gap, margin, resolution :
        As for :class:`~sorting_cell.regions.background.BackgroundProposer`.
    """

    def __init__(self, low: float = 3.0, high: float = 6.0, min_low: float = 6.0,
                 filter_size: float = 0.5, lightness_weight: float = 1.0,
                 min_area: int = 120, merge_gap: int = 16,
                 margin: float = 0.15, resolution: float = 0.5):
        self.low = low
        self.high = high
        self.min_low = min_low
        self.filter_size = filter_size
        self.lightness_weight = lightness_weight
        self.min_area = min_area
        self.merge_gap = merge_gap
        self.margin = margin
        self.resolution = resolution

    def fit(self, frames=None, y=None):
        """Nothing to learn: every frame is handled on its own."""
        if not 0 < self.resolution <= 1:
            raise ValueError(f'resolution must be in (0, 1], got {self.resolution}')
        return self

    def propose(self, frame: np.ndarray) -> list[Region]:
        """Regions of ``frame``, best first."""
        frame = to_rgb8(frame, max_side=1 << 30)  # never resize: boxes are in frame pixels
        strength = self.strength(frame)
        noise = float(np.median(strength)) + 1e-3
        low = max(self.min_low, self.low * noise)
        high = max(2 * self.min_low, self.high * noise)
        return regions_from_strength(
            frame, strength, low, high, min_area=self.min_area,
            merge_gap=max(1, round(self.merge_gap * self.resolution)), margin=self.margin,
            extra={'method': 'saliency'})

    def strength(self, frame: np.ndarray) -> np.ndarray:
        """Per-pixel object evidence at ``resolution`` times the frame size."""
        h, w = frame.shape[:2]
        size = (max(8, round(w * self.resolution)), max(8, round(h * self.resolution)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        weights = np.array([self.lightness_weight, 1.0, 1.0], np.float32)
        # Local table: median at quarter of the working size keeps the filter cheap.
        tiny = cv2.resize(small, (max(4, size[0] // 4), max(4, size[1] // 4)),
                          interpolation=cv2.INTER_AREA)
        k = int(self.filter_size * min(tiny.shape[:2])) | 1
        table = cv2.medianBlur(tiny, max(3, k))
        table = cv2.resize(table, size, interpolation=cv2.INTER_LINEAR)
        table_lab = cv2.cvtColor(table.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        kernel = np.ones((5, 5), np.uint8)
        lo, hi = cv2.erode(table_lab, kernel), cv2.dilate(table_lab, kernel)
        e = np.maximum(lo - lab, 0) + np.maximum(lab - hi, 0)
        local = np.sqrt(((e * weights) ** 2).sum(axis=-1))
        return local
