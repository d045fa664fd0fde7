"""Label-free evidence about a set of images, and the choices made from it.

Three questions decide how a set is described, each answered from the images alone:

1. **One fixed camera over one background?** The frames share one pixel size and most of
   them fall into a few groups of alike empty-table appearance
   (:class:`~sorting_cell.regions.background.BackgroundProposer`'s grouping). A folder of
   unrelated photos opens a group per photo and is answered no after a bounded number of
   comparisons.
2. **Did segmentation find real objects?** Against the learned empty table, most frames
   show one compact foreground region, and no place of the frame is foreground in half of
   the frames or more: the per-pixel median is then an empty table, not an average
   object (faces, turntable objects and centred digits put the object in the same place
   every time; the "background" is then the object and what differs from it is noise).
3. **Do size and outline carry information?** Objects that look alike (appearance
   nearest neighbours) must also be alike in size and outline, clearly more than random
   pairs; geometry that is noise next to appearance is left out.

When 1 or 2 is answered no, each image is described whole, exactly as with
``proposer='none'``, unless a fourth answer says otherwise:

4. **One object in a plain surround?** Most images have a border of one flat colour and
   what stands out of it covers a small part of the frame (a photo on a canvas, a
   product shot): each such image is then described by the box of what stands out.
"""
from __future__ import annotations

import os

import numpy as np

from ..regions.background import BackgroundProposer
from .description import Decision

__all__ = ['MIN_EXPLAINED', 'MIN_FOUND', 'MAX_COVERAGE', 'MAX_NEIGHBOUR_RATIO',
           'camera_decisions', 'geometry_decision', 'NOT_ENOUGH_FRAMES', 'surround_box',
           'surround_decision', 'SURROUND_TOLERANCE', 'FLAT_BORDER', 'MAX_OBJECT_AREA',
           'MIN_SURROUNDED']

#: Share of frames a modelled background must explain to call the set one fixed camera.
MIN_EXPLAINED = 0.5
#: Share of those frames in which the background model must find an object.
MIN_FOUND = 0.5
#: Largest share of frames in which one place may be foreground (the median is then
#: still the empty table there).
MAX_COVERAGE = 0.5
#: Largest ratio of geometry distance between appearance neighbours to that between
#: random pairs at which size and outline count as information.
MAX_NEIGHBOUR_RATIO = 0.8
#: Fewest frames from which a background can be learned.
NOT_ENOUGH_FRAMES = 3
#: Frames (evenly spaced) on which the objects question is answered.
SAMPLE = 64

_COVERAGE_SIDE = 48  # coverage is counted on a coarse grid: where, not which pixel


def camera_decisions(frames: list[np.ndarray], proposer: BackgroundProposer | None = None,
                     show: bool = False) -> tuple[Decision, Decision, list]:
    """Answer questions 1 and 2 for ``frames`` (RGB uint8).

    Returns the fixed-camera decision, the objects decision and, per frame, the main
    background-model region (None where none was found, or for every frame when the
    answer is no).
    """
    n = len(frames)
    none = [None] * n
    if n < NOT_ENOUGH_FRAMES:
        no = Decision(False, f'{n} frame(s): too few to learn a background from',
                      {'frames': n})
        return no, Decision(False, 'no background model', {'frames': n}), none
    shapes = {f.shape[:2] for f in frames}
    if len(shapes) > 1:
        no = Decision(False, f'frames come in {len(shapes)} pixel sizes: not one camera',
                      {'frames': n, 'pixel_sizes': len(shapes)})
        return no, Decision(False, 'no background model', {'frames': n}), none
    if proposer is None:
        # No single-frame fallback: a frame the model does not explain counts as "no".
        proposer = BackgroundProposer(fallback='none', max_groups=max(8, n // 10))
    proposer.fit(frames)
    modelled = proposer.labels_ >= 0
    explained = float(modelled.mean())
    camera_ev = {'frames': n, 'explained': round(explained, 3),
                 'backgrounds': len(proposer.backgrounds_)}
    if explained < MIN_EXPLAINED:
        why = (f'{explained:.0%} of frames share an empty-table appearance '
               f'(need {MIN_EXPLAINED:.0%})')
        return (Decision(False, why, camera_ev), Decision(False, 'no background model', {}),
                none)
    camera = Decision(True, f'{explained:.0%} of frames share {len(proposer.backgrounds_)} '
                      'empty-table appearance(s)', camera_ev)

    def main_region(frame):
        found = proposer.propose(frame)
        return found[0] if found and found[0].extra.get('method') == 'background' else None

    # The objects question is answered on a sample first, so that a set where the answer
    # is no (and every image is described whole) does not pay for segmenting all of it.
    sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).astype(int))
    probe = parallel_map(main_region, [frames[i] for i in sample])
    hit = [r for r in probe if r is not None]
    found_share = len(hit) / len(sample)
    coverage = _coverage(hit, frames[0].shape[:2])
    ev = {'found': round(found_share, 3), 'coverage_max': round(coverage, 3),
          'frames_checked': int(len(sample))}
    if found_share < MIN_FOUND:
        return camera, Decision(False, f'an object was found in {found_share:.0%} of frames '
                                f'(need {MIN_FOUND:.0%})', ev), none
    if coverage >= MAX_COVERAGE:
        return camera, Decision(False, f'one place is foreground in {coverage:.0%} of frames: '
                                'the objects always sit in the same place, so the learned '
                                '"empty table" holds them', ev), none
    rest = np.setdiff1d(np.arange(n), sample)
    regions: list = [None] * n
    for i, r in zip(sample, probe):
        regions[i] = r
    for i, r in zip(rest, parallel_map(main_region, [frames[i] for i in rest], show,
                                       'find objects')):
        regions[i] = r
    found_all = sum(r is not None for r in regions) / n
    ev['found'] = round(found_all, 3)
    return camera, Decision(True, f'one object found in {found_all:.0%} of frames, at '
                            f'varying places (max {coverage:.0%} per place in '
                            f'{len(sample)} frames checked)', ev), regions


def progress(seq, enabled: bool, desc: str, total: int | None = None):
    """``seq``, with a progress bar when ``enabled``."""
    if not enabled:
        return seq
    from tqdm import tqdm
    return tqdm(seq, desc=desc, unit='img', total=total)


def parallel_map(fn, items: list, show: bool = False, desc: str = '') -> list:
    """``[fn(x) for x in items]`` on one thread per core, in order.

    The per-image work here (decoding, OpenCV filtering) releases the GIL, so threads
    use every core without copying frames between processes.
    """
    from concurrent.futures import ThreadPoolExecutor
    workers = max(1, min(len(items), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(progress(pool.map(fn, items), show, desc, total=len(items)))


def _coverage(regions: list, shape: tuple[int, int]) -> float:
    """Largest share of ``regions`` whose mask covers one cell of a coarse grid."""
    if not regions:
        return 0.0
    h, w = shape
    sy, sx = _COVERAGE_SIDE / h, _COVERAGE_SIDE / w
    count = np.zeros(_COVERAGE_SIDE * _COVERAGE_SIDE)
    for r in regions:
        x0, y0, _, _ = r.box
        ys, xs = np.nonzero(r.mask)
        cells = (np.minimum(((ys + y0) * sy).astype(int), _COVERAGE_SIDE - 1) * _COVERAGE_SIDE
                 + np.minimum(((xs + x0) * sx).astype(int), _COVERAGE_SIDE - 1))
        hit = np.zeros_like(count, dtype=bool)
        hit[cells] = True
        count += hit
    return float(count.max() / len(regions))


def geometry_decision(appearance: np.ndarray, geometry: np.ndarray) -> Decision:
    """Answer question 3 from appearance rows and standardised geometry rows.

    The ratio is the mean geometry distance from each object to its ``k`` appearance
    nearest neighbours over the mean geometry distance between all pairs: near 1 when
    size and outline are unrelated to what the objects look like. ``k`` is a tenth of the
    set (1 to 5), so that the neighbours are likely of the object's own kind even when
    each kind has only a few members.
    """
    n = len(appearance)
    if n < 4 or geometry.shape[1] == 0:
        return Decision(False, f'{n} object(s): too few to judge size and outline',
                        {'objects': n})
    spread = float(np.abs(geometry - geometry.mean(0)).max())
    if spread < 1e-9:
        return Decision(False, 'every object has the same size and outline', {'objects': n})
    from sklearn.metrics import pairwise_distances
    k = int(np.clip(n // 10, 1, 5))
    da = pairwise_distances(appearance)
    np.fill_diagonal(da, np.inf)
    nn = np.argsort(da, axis=1)[:, :k]
    dg = pairwise_distances(geometry)
    near = float(np.take_along_axis(dg, nn, axis=1).mean())
    pairs = float(dg.sum() / (n * (n - 1)))
    ratio = near / max(pairs, 1e-12)
    ev = {'neighbour_ratio': round(ratio, 3), 'objects': n, 'k': k}
    if ratio > MAX_NEIGHBOUR_RATIO:
        return Decision(False, f'look-alike objects differ in size and outline as much as any '
                        f'two (ratio {ratio:.2f} > {MAX_NEIGHBOUR_RATIO})', ev)
    return Decision(True, f'look-alike objects share size and outline (ratio {ratio:.2f} '
                    f'<= {MAX_NEIGHBOUR_RATIO})', ev)


#: Largest colour step (any channel, 0-255) between a pixel and the border colour at which
#: the pixel still counts as surround.
SURROUND_TOLERANCE = 24
#: Share of border pixels that must be within the tolerance for a frame's border to be flat.
FLAT_BORDER = 0.9
#: Largest share of the frame the main object's box may cover for cropping to be worth it
#: (a crop that keeps more changes little of what the network sees: an object centred on
#: a turntable stage is not helped by it).
MAX_OBJECT_AREA = 0.25
#: Share of whole images that must show one object in a plain surround.
MIN_SURROUNDED = 0.5
_BORDER = 0.02   # border strip, share of the shorter side
_MARGIN = 0.05   # context kept around the box, share of its side
_SIDE = 320      # longest side the surround is looked for at


def surround_box(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of what stands out of a flat border colour, or None.

    None when the border is not one flat colour (a photo of a table, a texture) or when
    what stands out covers most of the frame (cropping would change little).
    """
    H, W = frame.shape[:2]
    # Where, not which pixel: a frame of a few hundred pixels answers as well, much faster.
    scale = min(1.0, _SIDE / max(H, W))
    if scale < 1.0:
        import cv2
        frame = cv2.resize(frame, (max(1, round(W * scale)), max(1, round(H * scale))),
                           interpolation=cv2.INTER_AREA)
    h, w = frame.shape[:2]
    b = max(1, int(round(_BORDER * min(h, w))))
    f = frame.reshape(h, w, -1).astype(np.int16)
    border = np.concatenate([f[:b].reshape(-1, f.shape[2]), f[-b:].reshape(-1, f.shape[2]),
                             f[:, :b].reshape(-1, f.shape[2]), f[:, -b:].reshape(-1, f.shape[2])])
    colour = np.median(border, axis=0)
    if (np.abs(border - colour).max(1) <= SURROUND_TOLERANCE).mean() < FLAT_BORDER:
        return None
    fg = np.abs(f - colour).max(2) > SURROUND_TOLERANCE
    # Rows / columns with a real run of foreground, not a speck of sensor noise.
    rows = np.flatnonzero(fg.sum(1) > 0.01 * w)
    cols = np.flatnonzero(fg.sum(0) > 0.01 * h)
    if not len(rows) or not len(cols):
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (y1 - y0) * (x1 - x0) > MAX_OBJECT_AREA * h * w:
        return None
    my, mx = int(_MARGIN * (y1 - y0)), int(_MARGIN * (x1 - x0))
    box = (max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my))
    if scale < 1.0:
        # back to the frame's pixels, rounded outwards
        box = (np.floor(box[0] / scale), np.floor(box[1] / scale),
               min(W, np.ceil(box[2] / scale)), min(H, np.ceil(box[3] / scale)))
    return tuple(int(v) for v in box)


def surround_decision(frames: list[np.ndarray]) -> tuple[Decision, list]:
    """Question 4, for whole images: do most show one object in a plain surround?

    Answered yes when most frames have a flat border colour and what stands out of it
    covers a small part of the frame (a photo pasted on a canvas, a product shot on a
    sweep); each such frame is then described by the box of what stands out, the others
    whole. Returns the decision and, per frame, the box or None.
    """
    n = len(frames)
    if not n:
        return Decision(False, 'no images', {'frames': 0}), []
    boxes = parallel_map(surround_box, frames)
    share = sum(b is not None for b in boxes) / n
    areas = [(b[2] - b[0]) * (b[3] - b[1]) / (f.shape[0] * f.shape[1])
             for b, f in zip(boxes, frames) if b is not None]
    ev = {'frames': n, 'surrounded': round(share, 3),
          'object_area_median': round(float(np.median(areas)), 3) if areas else None}
    if share < MIN_SURROUNDED:
        return Decision(False, f'{share:.0%} of images show one object in a flat surround '
                        f'(need {MIN_SURROUNDED:.0%})', ev), [None] * n
    return Decision(True, f'{share:.0%} of images show one object in a flat surround: '
                    'each is described by the box of what stands out', ev), boxes
