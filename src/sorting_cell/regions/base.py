"""What a region proposer returns, and the contract every proposer follows."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ['Region', 'Proposer', 'crop_region']


@dataclass
class Region:
    """One object found in a frame.

    Attributes
    ----------
    box : tuple of int
        ``(x0, y0, x1, y1)`` in pixels, exclusive upper bounds (``image[y0:y1, x0:x1]``).
    mask : ndarray of bool, shape (y1 - y0, x1 - x0)
        The object's pixels inside ``box``.
    crop : ndarray of uint8, shape (h, w, 3)
        What the feature extractors see: the box, padded by the proposer's margin,
        clipped to the frame.
    score : float
        Proposer confidence in [0, 1] (objectness); higher is more object-like.
    """

    box: tuple[int, int, int, int]
    mask: np.ndarray
    crop: np.ndarray
    score: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def centroid(self) -> tuple[float, float]:
        """Mask centroid ``(x, y)`` in frame pixels."""
        ys, xs = np.nonzero(self.mask)
        if xs.size == 0:
            x0, y0, x1, y1 = self.box
            return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        return (float(xs.mean() + self.box[0]), float(ys.mean() + self.box[1]))

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask pasted into a frame-sized boolean array of ``shape`` (h, w)."""
        out = np.zeros(shape[:2], dtype=bool)
        x0, y0, x1, y1 = self.box
        out[y0:y1, x0:x1] = self.mask
        return out


def crop_region(image: np.ndarray, box: tuple[int, int, int, int],
                margin: float = 0.15, square: bool = True) -> np.ndarray:
    """Cut ``box`` out of ``image`` with a relative margin, optionally squared.

    Squaring keeps the object's aspect ratio when the extractor resizes to 224x224
    (a long screwdriver squashed into a square looks like something else).
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half_w = bw * (1 + 2 * margin) / 2.0
    half_h = bh * (1 + 2 * margin) / 2.0
    if square:
        half_w = half_h = max(half_w, half_h)
    xa, xb = int(max(0, round(cx - half_w))), int(min(w, round(cx + half_w)))
    ya, yb = int(max(0, round(cy - half_h))), int(min(h, round(cy + half_h)))
    return np.ascontiguousarray(image[ya:max(yb, ya + 1), xa:max(xb, xa + 1)])


class Proposer(BaseEstimator):
    """Base class: find the objects in a frame.

    Subclasses follow the scikit-learn contract: ``__init__`` only stores arguments;
    ``fit(frames)`` learns what it needs from frames of the same camera (a background
    model, say) and returns ``self``; ``propose(frame)`` returns the regions of one
    RGB uint8 frame, best first. Proposers that need no fitting accept ``fit`` as a no-op.
    """

    def fit(self, frames=None, y=None):
        return self

    def propose(self, frame: np.ndarray) -> list[Region]:
        raise NotImplementedError

    def propose_main(self, frame: np.ndarray) -> Region:
        """The single most object-like region (for one-object-per-image inputs).

        Falls back to the whole frame when nothing is found, so that a folder of
        arbitrary photos still clusters.
        """
        regions = self.propose(frame)
        if regions:
            return regions[0]
        h, w = frame.shape[:2]
        return Region(box=(0, 0, w, h), mask=np.ones((h, w), bool), crop=frame, score=0.0,
                      extra={'fallback': 'whole frame'})
