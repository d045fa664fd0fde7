"""Fixed-camera background subtraction: learn the empty table, find what differs.

The cell's camera does not move, and objects change place between shots, so the
per-pixel median of a few frames is the empty table. Frames from several cameras or
backgrounds may come mixed in one ``fit`` call: they are grouped by global appearance
and each group gets its own background. A frame no background explains (another
camera, another size, no fit frames) goes to a single-frame proposer instead.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..images import to_rgb8
from .base import Proposer, Region
from .masks import regions_from_strength

__all__ = ['BackgroundProposer', 'appearance_thumb', 'appearance_distance',
           'appearance_distances']

_THUMB = (64, 48)
# Background range window: tolerates a camera shake of up to two pixels.
_KERNEL = np.ones((5, 5), np.uint8)
_ONES = np.ones((1, 3), np.float32)


def appearance_thumb(frame: np.ndarray) -> np.ndarray:
    """Log-intensity thumbnail used to group frames and to pick a background."""
    small = cv2.resize(frame, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.log(small + 8.0)


def appearance_distance(thumb: np.ndarray, ref: np.ndarray) -> tuple[float, np.ndarray]:
    """How unlike the background ``ref`` a frame is; below 1 means 'same camera'.

    Three normalised parts, the worst counts: the spatial pattern left after a global
    per-channel gain (different table / camera), the colour cast between channels
    (different lamp), and the overall gain (different exposure beyond auto-exposure
    drift). Scales were set on the tool dataset: within a condition every part stays
    below ~0.7, between conditions at least one exceeds ~1.3.

    Returns
    -------
    distance : float
    gain : ndarray, shape (3,)
        Per-channel log gain of the frame relative to ``ref``.
    """
    d, gain = appearance_distances(thumb, ref[None])
    return float(d[0]), gain[0]


def appearance_distances(thumb: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`appearance_distance` of one thumbnail to each of ``refs`` (stacked), at once."""
    r = (thumb[None] - refs).reshape(len(refs), -1, 3)
    gain = np.median(r, axis=1)
    pattern = np.median(np.abs(r - gain[:, None, :]).mean(axis=-1), axis=1)
    cast = np.abs(gain - gain.mean(axis=1, keepdims=True)).max(axis=1)
    level = np.abs(gain.mean(axis=1))
    return np.maximum.reduce([pattern / 0.07, cast / 0.06, level / 0.35]), gain


class BackgroundProposer(Proposer):
    """Objects = what differs from the learned empty table of a fixed camera.

    Parameters
    ----------
    low, high : float
        Hysteresis thresholds on the colour difference (CIE Lab units, after relighting
        and outside the background's local range).
    lightness_weight : float
        Weight of the lightness difference relative to chroma (1 is the plain Lab
        distance). Global and smooth lighting changes are already removed by relighting
        and shadows by ``shadow_ratio``; 1 keeps black tools on dark tables visible.
    shadow_ratio : float
        A pixel explained by the background dimmed uniformly to at least this fraction
        of its brightness is a shadow, not an object.
    min_area : int
        Smallest object in pixels.
    merge_gap : int
        Pieces closer than half this many pixels are one object; a piece much smaller
        than its neighbour joins it up to the full gap (a screw cut by a reflection).
    group_tolerance : float
        Largest :func:`appearance_distance` at which a frame joins a background group
        or is explained by a background at propose time.
    min_group : int
        Fewest frames a group needs for its median to be an empty table. When fewer
        frames than this are given in all, each is taken as an empty table.
    max_median_frames : int
        At most this many frames (evenly spaced) go into a group's median.
    max_foreground : float
        If more than this fraction of the frame differs from the chosen background, the
        background is wrong for it (camera moved, lights changed): fall back.
    fallback : str or Proposer
        Single-frame proposer used when no background applies (see
        :func:`~sorting_cell.regions.make_proposer`).
    margin : float
        Crop margin around each box.
    resolution : float
        The difference is computed on the frame scaled by this factor (masks and boxes
        are returned at full size): 0.5 is four times faster and still resolves a 5-pixel
        hex key.
    max_groups : int or None
        Stop grouping (and model no background) once more groups than this are open;
        None: no limit.

    Attributes
    ----------
    backgrounds_ : list of ndarray
        One RGB uint8 empty-table image per group.
    thumbs_ : list of ndarray
        Appearance thumbnail of each background.
    labels_ : ndarray of int
        Group of each fit frame (-1: its group was too small to model).
    fallback_ : Proposer
        The fitted single-frame proposer.
    """

    def __init__(self, low: float = 8.0, high: float = 16.0, lightness_weight: float = 1.0,
                 shadow_ratio: float = 0.8, min_area: int = 120, merge_gap: int = 16,
                 group_tolerance: float = 1.0, min_group: int = 3,
                 max_median_frames: int = 25, max_foreground: float = 0.5,
                 fallback='saliency', margin: float = 0.15, resolution: float = 0.5,
                 max_groups: int | None = None):
        self.low = low
        self.high = high
        self.lightness_weight = lightness_weight
        self.shadow_ratio = shadow_ratio
        self.min_area = min_area
        self.merge_gap = merge_gap
        self.group_tolerance = group_tolerance
        self.min_group = min_group
        self.max_median_frames = max_median_frames
        self.max_foreground = max_foreground
        self.fallback = fallback
        self.margin = margin
        self.resolution = resolution
        self.max_groups = max_groups

    # -- fitting ---------------------------------------------------------------------
    def fit(self, frames: Sequence[np.ndarray] | None = None, y=None):
        """Learn one empty-table image per camera/background found in ``frames``.

        ``frames`` may be ``None`` or empty (then every frame goes to the fallback),
        and may mix sizes and backgrounds.
        """
        from . import make_proposer
        if self.min_group < 1:
            raise ValueError(f'min_group must be >= 1, got {self.min_group}')
        self.fallback_ = make_proposer(self.fallback)
        if isinstance(self.fallback_, BackgroundProposer):
            raise ValueError('the fallback of a BackgroundProposer must work on single frames')
        self.fallback_.fit(None)
        frames = [] if frames is None else [to_rgb8(f, source=f'fit frame {i}')
                                            for i, f in enumerate(frames)]
        thumbs = [appearance_thumb(f) for f in frames]
        labels = self._group(frames, thumbs)
        self.backgrounds_, self.thumbs_ = [], []
        self.labels_ = np.full(len(frames), -1, dtype=int)
        for g in range(labels.max() + 1 if labels.size else 0):
            members = np.flatnonzero(labels == g)
            # Fewer frames than min_group in total means they were chosen as empty
            # tables (the cell's start-up frame): trust them.
            if members.size < min(self.min_group, len(frames)):
                continue
            self.labels_[members] = len(self.backgrounds_)
            ref = np.median(np.stack([thumbs[i] for i in members]), axis=0)
            pick = members[np.linspace(0, members.size - 1,
                                       min(members.size, self.max_median_frames)).astype(int)]
            stack = []
            for i in pick:
                # Undo each frame's exposure drift before the median so the empty table
                # is not a blend of exposures.
                _, gain = appearance_distance(thumbs[i], ref)
                stack.append(frames[i].astype(np.float32) * np.exp(-gain)[None, None, :])
            bg = np.clip(np.median(np.stack(stack), axis=0), 0, 255).astype(np.uint8)
            self.backgrounds_.append(bg)
            self.thumbs_.append(appearance_thumb(bg))
        self._prepare()
        return self

    def _group(self, frames: list[np.ndarray], thumbs: list[np.ndarray]) -> np.ndarray:
        """Leader clustering by appearance, refined by two reassignment passes.

        Gives up (every frame in a group of its own, so none is modelled) once more than
        ``max_groups`` groups are open: frames that share no background (a folder of
        unrelated photos) would otherwise cost a comparison per pair.
        """
        n = len(frames)
        labels = np.full(n, -1, dtype=int)
        reps: list[np.ndarray] = []
        shapes: list[tuple] = []
        cap = self.max_groups if self.max_groups else n
        for i, (f, t) in enumerate(zip(frames, thumbs)):
            same = [g for g, s in enumerate(shapes) if s == f.shape]
            if same:
                d, _ = appearance_distances(t, np.stack([reps[g] for g in same]))
                j = int(np.argmin(d))
                if d[j] <= self.group_tolerance:
                    labels[i] = same[j]
                    continue
            if len(reps) >= cap:
                return np.arange(n)
            labels[i] = len(reps)
            reps.append(t)
            shapes.append(f.shape)
        for _ in range(2 if n else 0):
            groups = [np.flatnonzero(labels == g) for g in range(len(reps))]
            keep = [g for g in range(len(reps)) if groups[g].size]
            refs = np.stack([np.median(np.stack([thumbs[i] for i in groups[g]]), axis=0)
                             for g in keep])
            for i, (f, t) in enumerate(zip(frames, thumbs)):
                cand = [k for k, g in enumerate(keep) if shapes[g] == f.shape]
                d, _ = appearance_distances(t, refs[cand])
                labels[i] = keep[cand[int(np.argmin(d))]]
        # Renumber densely.
        _, labels = np.unique(labels, return_inverse=True)
        return labels.reshape(-1)

    def _prepare(self) -> None:
        """Scaled copies of the backgrounds, reused by every ``propose`` call."""
        if not 0 < self.resolution <= 1:
            raise ValueError(f'resolution must be in (0, 1], got {self.resolution}')
        self.scaled_backgrounds_ = [self._scaled(bg) for bg in self.backgrounds_]

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        if self.resolution == 1:
            return image
        h, w = image.shape[:2]
        size = (max(1, round(w * self.resolution)), max(1, round(h * self.resolution)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    # -- proposing -------------------------------------------------------------------
    def match(self, frame: np.ndarray) -> tuple[int, float, np.ndarray | None]:
        """Index of the background that explains ``frame`` (-1 if none), its distance, gain."""
        if not getattr(self, 'backgrounds_', None):
            return -1, np.inf, None
        thumb = appearance_thumb(frame)
        best, best_d, best_gain = -1, np.inf, None
        for k, (bg, ref) in enumerate(zip(self.backgrounds_, self.thumbs_)):
            if bg.shape != frame.shape:
                continue
            d, gain = appearance_distance(thumb, ref)
            if d < best_d:
                best, best_d, best_gain = k, d, gain
        if best_d > self.group_tolerance:
            return -1, best_d, None
        return best, best_d, best_gain

    def propose(self, frame: np.ndarray) -> list[Region]:
        """Regions of ``frame``, best first (see :class:`~sorting_cell.regions.Region`)."""
        if not hasattr(self, 'fallback_'):
            raise RuntimeError('BackgroundProposer is not fitted; call fit(frames) first '
                               '(fit(None) is fine: it then works on single frames)')
        frame = to_rgb8(frame, max_side=1 << 30)  # never resize: boxes are in frame pixels
        k, dist, _ = self.match(frame)
        if k < 0:
            return self._fallback(frame, 'no background matches this frame'
                                  if self.backgrounds_ else 'no background was fitted')
        strength = self.difference(self._scaled(frame), k)
        if np.mean(strength > self.low) > self.max_foreground:
            return self._fallback(frame, f'background {k} explains too little of the frame')
        gap = max(1, round(self.merge_gap * self.resolution))
        return regions_from_strength(
            frame, strength, self.low, self.high, min_area=self.min_area, merge_gap=gap,
            margin=self.margin,
            extra={'method': 'background', 'background': k, 'distance': round(dist, 3)})

    def _fallback(self, frame: np.ndarray, why: str) -> list[Region]:
        regions = self.fallback_.propose(frame)
        for r in regions:
            r.extra.setdefault('fallback', why)
        return regions

    def difference(self, frame: np.ndarray, k: int) -> np.ndarray:
        """Per-pixel foreground strength of ``frame`` (already scaled) against background ``k``.

        The background is first relit to the frame (a smooth per-channel gain field fitted
        where the two agree), then compared in CIE Lab against the 5x5 min/max of the
        background so that a camera shake of a pixel or two on a hole edge is not an object.
        """
        bg = self.scaled_backgrounds_[k]
        f = frame.astype(np.float32)
        b = cv2.multiply(bg.astype(np.float32), _gain_field(frame, bg))
        np.clip(b, 0, 255, out=b)
        f_lab = cv2.cvtColor(f * (1 / 255.0), cv2.COLOR_RGB2Lab)
        strength = self._excess(f_lab, b)
        # Shadow hypothesis: the pixel is the background dimmed by a factor k in
        # [shadow_ratio, 1] in every channel; if that explains it, it is no object.
        k = (cv2.transform(f, _ONES) + 1.0) / (cv2.transform(b, _ONES) + 1.0)
        dim = k < 0.97
        if dim.any():
            k = np.clip(k, self.shadow_ratio, 1.0)
            shadow = self._excess(f_lab, b * k[..., None])
            strength = np.where(dim, np.minimum(strength, shadow), strength)
        return strength

    def _excess(self, f_lab: np.ndarray, b_rgb: np.ndarray) -> np.ndarray:
        """Weighted Lab distance from ``f_lab`` to the local (5x5) range of the background."""
        b_lab = cv2.cvtColor(b_rgb * (1 / 255.0), cv2.COLOR_RGB2Lab)
        lo, hi = cv2.erode(b_lab, _KERNEL), cv2.dilate(b_lab, _KERNEL)
        e = np.maximum(lo - f_lab, 0) + np.maximum(f_lab - hi, 0)
        weights = np.array([[self.lightness_weight ** 2, 1.0, 1.0]], np.float32)
        return cv2.sqrt(cv2.transform(e * e, weights))


def _gain_field(frame: np.ndarray, bg: np.ndarray, cells: tuple[int, int] = (80, 60),
                sigma: float = 6.0, outlier: float = 0.12) -> np.ndarray:
    """Smooth per-channel multiplicative relighting from ``bg`` to ``frame``.

    Fitted on coarse cells by normalised convolution, ignoring cells that disagree with
    the global gain by more than ``outlier`` (log units): those hold objects, not light.
    """
    fs = cv2.resize(frame, cells, interpolation=cv2.INTER_AREA).astype(np.float32)
    bs = cv2.resize(bg, cells, interpolation=cv2.INTER_AREA).astype(np.float32)
    r = np.log(fs + 8.0) - np.log(bs + 8.0)
    g = np.median(r.reshape(-1, 3), axis=0)
    w = (np.abs(r - g).max(axis=-1) < outlier).astype(np.float32)
    num = cv2.GaussianBlur(r * w[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)[..., None]
    field = np.where(den > 0.05, num / np.maximum(den, 1e-6), g).astype(np.float32)
    h, wd = frame.shape[:2]
    return np.exp(cv2.resize(field, (wd, h), interpolation=cv2.INTER_LINEAR))
