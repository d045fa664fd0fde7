"""The trivial proposer: each image already shows one object."""
import numpy as np

from .base import Proposer, Region


class WholeFrame(Proposer):
    """Return the whole frame as the one region (segmentation off)."""

    def propose(self, frame: np.ndarray) -> list[Region]:
        h, w = frame.shape[:2]
        return [Region(box=(0, 0, w, h), mask=np.ones((h, w), bool), crop=frame, score=1.0)]
