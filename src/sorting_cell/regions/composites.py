"""Multi-object scenes with known answers, built from the one-object tool dataset.

Each object is cut out of its own dataset frame with the background model of its
condition, then pasted (rotated, optionally shrunk) at a free place on an empty table
of that condition, so the ground-truth masks and boxes are exact by construction.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..images import load_image
from .background import BackgroundProposer

__all__ = ['Composite', 'make_composite', 'condition_frames', 'empty_table', 'CLASSES']

CLASSES = ('allen', 'clamp', 'driver', 'flat', 'pen', 'screw', 'usb')


@dataclass
class Composite:
    """A pasted scene and its answers.

    Attributes
    ----------
    frame : ndarray of uint8, shape (h, w, 3)
        The scene (RGB).
    background : ndarray of uint8, shape (h, w, 3)
        The empty table the objects were pasted on (without the scene's exposure jitter).
    boxes : ndarray of int, shape (n, 4)
        ``(x0, y0, x1, y1)`` per object, exclusive upper bounds.
    masks : list of ndarray of bool, shape (h, w)
        Frame-sized mask per object.
    labels : list of str
        Class name per object.
    sources : list of str
        Dataset frame each object was cut from.
    scale : float
        Size factor finally applied to the objects (shrunk until all fitted).
    """

    frame: np.ndarray
    background: np.ndarray
    boxes: np.ndarray
    masks: list
    labels: list
    sources: list = field(default_factory=list)
    scale: float = 1.0

    def __iter__(self):
        # Allows ``frame, background, boxes, masks, labels = make_composite(...)``.
        return iter((self.frame, self.background, self.boxes, self.masks, self.labels))


def _root(root) -> Path:
    if root is not None:
        return Path(root)
    from ..assets import resolve
    return Path(resolve('tools', download=False))


def condition_frames(condition: int, root=None) -> list[Path]:
    """All frame paths of one condition (1..5), sorted."""
    if condition not in (1, 2, 3, 4, 5):
        raise ValueError(f'condition must be 1..5, got {condition!r}')
    paths = sorted((_root(root) / f'conditions{condition}').glob('*/*.jpg'))
    if not paths:
        raise FileNotFoundError(f'no frames under {_root(root) / f"conditions{condition}"}')
    return paths


@functools.lru_cache(maxsize=8)
def _cutter(condition: int, root: str) -> BackgroundProposer:
    """Background model of a whole condition, used to cut objects out of its frames."""
    frames = [load_image(p) for p in condition_frames(condition, root)]
    return BackgroundProposer(fallback='none').fit(frames)


@functools.lru_cache(maxsize=16)
def empty_table(condition: int, root: str | None = None, half: int = 0) -> np.ndarray:
    """Empty table of a condition: median of half of its frames (``half`` 0 or 1).

    The two halves (alternate objects) see different noise and exposure, so a scene built
    on one half and a proposer fitted on the other do not share pixels.
    """
    paths = condition_frames(condition, root)
    ids = sorted({p.parent.name + p.name[0] for p in paths})
    chosen = set(ids[half % 2::2])
    frames = [load_image(p) for p in paths if p.parent.name + p.name[0] in chosen]
    model = BackgroundProposer(fallback='none', min_group=1).fit(frames)
    biggest = int(np.argmax(np.bincount(model.labels_[model.labels_ >= 0])))
    return model.backgrounds_[biggest]


def _cut(path: Path, condition: int, root: str) -> tuple[np.ndarray, np.ndarray] | None:
    """RGB patch and mask of the object in one dataset frame (None if not found)."""
    frame = load_image(path)
    regions = _cutter(condition, root).propose(frame)
    if not regions or regions[0].extra.get('method') != 'background':
        return None
    r = regions[0]
    x0, y0, x1, y1 = r.box
    return frame[y0:y1, x0:x1].copy(), r.mask.copy()


def _rotate(patch: np.ndarray, mask: np.ndarray, angle: float, scale: float):
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)) + 2, int(np.ceil(h * cos + w * sin)) + 2
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    p = cv2.warpAffine(patch, m, (nw, nh), flags=cv2.INTER_LINEAR)
    k = cv2.warpAffine(mask.astype(np.uint8) * 255, m, (nw, nh), flags=cv2.INTER_LINEAR) > 127
    ys, xs = np.nonzero(k)
    if xs.size == 0:
        return None
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return p[sl], k[sl]


def make_composite(rng, n_objects: int, condition: int, root=None,
                   canvas_size: tuple[int, int] = (640, 480), scale: float = 1.0,
                   gap: int = 16, exposure_jitter: float = 0.06, noise: float = 2.0,
                   background_half: int = 0) -> Composite:
    """Paste ``n_objects`` dataset objects on an empty table of ``condition``, no overlap.

    Parameters
    ----------
    rng : int or numpy.random.Generator
        Seed or generator (objects, shots, angles, places, jitter).
    n_objects : int
        Objects to place (1..). Distinct physical objects while there are enough (28).
    condition : int
        1..5: which table, light and objects' look.
    root : path or None
        Tool dataset root; default ``resolve('tools')``.
    canvas_size : (width, height)
        Scene size; the empty table is resized to it.
    scale : float
        Initial object size factor; shrunk by 10 % steps until everything fits.
    gap : int
        Minimum free pixels between objects (the proposers merge fragments closer
        than 16 pixels by default, so closer objects would count as one).
    exposure_jitter : float
        The scene's global gain is drawn in ``1 +- exposure_jitter`` (auto-exposure).
    noise : float
        Standard deviation of added Gaussian sensor noise (grey levels).
    background_half : int
        Which half of the condition's frames makes the table (see :func:`empty_table`).

    Returns
    -------
    Composite
        Unpacks as ``frame, background, gt_boxes, gt_masks, labels``.
    """
    rng = np.random.default_rng(rng)
    if n_objects < 1:
        raise ValueError(f'n_objects must be >= 1, got {n_objects}')
    w, h = canvas_size
    if w < 64 or h < 64:
        raise ValueError(f'canvas_size must be at least 64x64, got {canvas_size}')
    root_s = str(_root(root))
    paths = condition_frames(condition, root_s)
    objects: dict[str, list[Path]] = {}
    for p in paths:
        objects.setdefault(f'{p.parent.name}/{p.name[0]}', []).append(p)
    ids = sorted(objects)
    order = list(rng.permutation(len(ids)))
    while len(order) < n_objects:
        order += list(rng.permutation(len(ids)))
    cuts = []
    for i in order[:n_objects]:
        shots = objects[ids[i]]
        for j in rng.permutation(len(shots)):
            cut = _cut(shots[j], condition, root_s)
            if cut is not None:
                cuts.append((ids[i].split('/')[0], str(shots[j]), *cut))
                break
        else:
            raise RuntimeError(f'could not cut object {ids[i]} out of any of its frames')
    angles = rng.uniform(0, 360, size=n_objects)
    table = cv2.resize(empty_table(condition, root_s, background_half), (w, h),
                       interpolation=cv2.INTER_LINEAR)
    for attempt in range(90):
        placed = _place(rng, cuts, angles, scale, (h, w), gap)
        if placed is not None:
            break
        # Random places can block each other: retry twice before shrinking by 10 %.
        if attempt % 3 == 2:
            scale *= 0.9
    else:
        raise RuntimeError(f'could not place {n_objects} objects on a {w}x{h} canvas')
    frame = table.astype(np.float32)
    masks, boxes = [], []
    for (x, y, patch, mask) in placed:
        ph, pw = mask.shape
        region = frame[y:y + ph, x:x + pw]
        region[mask] = patch[mask]
        full = np.zeros((h, w), bool)
        full[y:y + ph, x:x + pw] = mask
        masks.append(full)
        boxes.append((x, y, x + pw, y + ph))
    frame *= 1.0 + rng.uniform(-exposure_jitter, exposure_jitter)
    frame += rng.normal(0.0, noise, size=frame.shape).astype(np.float32)
    frame = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return Composite(frame=frame, background=table, boxes=np.array(boxes, dtype=int),
                     masks=masks, labels=[c[0] for c in cuts], sources=[c[1] for c in cuts],
                     scale=scale)


def _place(rng, cuts, angles, scale, shape, gap):
    """Random non-overlapping places for all cuts at ``scale`` (None if they do not fit).

    Every free position of an object is found at once by correlating the occupancy map
    with the object's mask grown by ``gap``; one of them is drawn at random.
    """
    h, w = shape
    occupied = np.zeros((h + 2 * gap, w + 2 * gap), np.float32)  # padded by ``gap``
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
    placed = []
    # Largest first: they are the hardest to fit.
    for k in sorted(range(len(cuts)), key=lambda k: -cuts[k][3].sum()):
        rot = _rotate(cuts[k][2], cuts[k][3], angles[k], scale)
        if rot is None:
            return None
        patch, mask = rot
        ph, pw = mask.shape
        if ph > h or pw > w:
            return None
        grown = cv2.dilate(np.pad(mask, gap).astype(np.uint8), kernel).astype(np.float32)
        # overlap[y, x]: occupied pixels under the grown mask with the object at (x, y).
        overlap = cv2.matchTemplate(occupied, grown, cv2.TM_CCORR)
        ys, xs = np.nonzero(overlap < 0.5)
        if xs.size == 0:
            return None
        j = int(rng.integers(xs.size))
        x, y = int(xs[j]), int(ys[j])
        occupied[y + gap:y + gap + ph, x + gap:x + gap + pw] += mask
        placed.append((k, (x, y, patch, mask)))
    return [p for _, p in sorted(placed, key=lambda t: t[0])]
