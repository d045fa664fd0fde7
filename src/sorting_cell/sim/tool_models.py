"""The tool dataset's 28 physical tools as simulated objects, built from its own photos.

For every tool (7 classes x 4 objects, 20 photos each: 5 conditions x 4 shots):

1. **Masks** come from the project's background model
   (:class:`~sorting_cell.regions.background.BackgroundProposer`), fitted without labels on
   all 112 photos of each condition, exactly as the offline benchmark does.
2. **The cleanest shot** is chosen without labels: among the tool's photos in which the
   background model finds exactly one object that does not touch the frame's border, the one
   whose mask area (in mm^2) is closest to the median over those photos -- a mask that lost a
   shank to a reflection or swallowed a shadow is far from the median.
3. **Scale**: each condition's millimetres per pixel come from the USB-A plugs in its photos.
   A USB-A plug is 12.0 mm wide (USB 2.0 specification, plug shell 12.0 +- 0.1 mm) and
   every one of the dataset's four USB sticks has one; the plug is the narrow end of the
   stick's mask, so its width in pixels is the median mask width over the narrower fifth of
   the stick's length. Over the 16 USB photos of a condition the median plug width gives
   that condition's scale (its camera height differs a little from condition to condition).
   The scale is the *only* use of a class name: it is the ruler, like a calibration target;
   no other step sees labels.
4. **Geometry**: the mask's outline (holes kept), simplified to about one pixel, becomes a
   polygon in metres, extruded (``trimesh.creation.extrude_polygon``) to a thickness the top
   view cannot show: 0.8 of the tool's median width along its length (handles and shanks
   are about as thick as they are wide), at least 9 mm (the Panda's pads stop 4.6 mm above
   the table: a thinner object cannot be held) and at most 22 mm. Collision is CoACD's
   convex decomposition of that solid; mass is its volume at 2000 kg/m^3 (steel parts,
   plastic handles, and a solid extrusion that overestimates round handles' volume).
5. **Texture**: the photo itself, turned so the tool's long side is ``x``, with every pixel
   outside the mask set to its nearest mask pixel's colour so that edges do not show table.

Nothing derived is committed: :func:`tool_objects` builds the folders (see
:mod:`sorting_cell.sim.mesh_objects`) in the user cache at first use (a minute or two) from the
dataset the project already downloads.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from .mesh_objects import FORMAT_VERSION, convex_pieces, write_object

__all__ = ['tool_objects', 'tool_scales', 'USB_PLUG_WIDTH', 'TOOL_DENSITY', 'tools_cache_dir']

#: Width of a USB-A plug's shell (m), the ruler of every condition.
USB_PLUG_WIDTH = 0.012
TOOL_DENSITY = 2000.0
_MIN_T, _MAX_T, _T_RATIO = 0.009, 0.022, 0.8
# folder layout version of this builder on top of mesh_objects.FORMAT_VERSION
_VERSION = f'{FORMAT_VERSION}.1'


def tools_cache_dir() -> Path:
    from ..assets import cache_dir
    return cache_dir() / 'sim_objects' / f'tools-v{_VERSION}'


def _rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _turned(mask: np.ndarray):
    """(rotation 2x3, side) turning ``mask``'s long axis horizontal in a square of ``side``."""
    from ..regions.upright import LongAxis
    ys, xs = np.nonzero(mask)
    axis = LongAxis.of(np.stack([xs, ys], axis=1).astype(np.float32))
    side = int(np.ceil(np.hypot(axis.length, axis.width))) + 8
    return axis.rotation(side), side


def _widths(mask: np.ndarray) -> np.ndarray:
    """Mask width (pixels) at every column along its long axis."""
    rot, side = _turned(mask)
    turned = cv2.warpAffine(mask.astype(np.uint8), rot, (side, side),
                            flags=cv2.INTER_NEAREST) > 0
    cols = np.nonzero(turned.any(axis=0))[0]
    return turned[:, cols[0]:cols[-1] + 1].sum(axis=0).astype(float)


def plug_width_px(mask: np.ndarray) -> float:
    """Width of a USB stick's narrower end (its plug) in pixels: median over a fifth of
    the length at that end."""
    w = _widths(mask)
    k = max(2, w.size // 5)
    # skip the rounded last pixels of the tip
    a, b = w[1:k + 1], w[-k - 1:-1]
    return float(min(np.median(a), np.median(b)))


def _masks_by_condition(images, conditions):
    """{image index: (full mask, touches border, number of regions)} via the background model."""
    from ..regions import make_proposer
    out = {}
    for c in conditions:
        idx = [i for i, im in enumerate(images) if im.condition == c]
        frames = [_rgb(images[i].path) for i in idx]
        proposer = make_proposer('background').fit(frames)
        for i, frame in zip(idx, frames):
            regions = proposer.propose(frame)
            if not regions:
                continue
            region = max(regions, key=lambda r: r.area)
            mask = region.full_mask(frame.shape[:2])
            border = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any()
                          or mask[:, -1].any())
            out[i] = (mask, border, len(regions))
    return out


def tool_scales(images, masks) -> dict[int, float]:
    """Metres per pixel of each condition, from its USB plugs (see module doc)."""
    per = defaultdict(list)
    for i, (mask, border, n) in masks.items():
        if images[i].label == 'usb' and n == 1 and not border:
            per[images[i].condition].append(plug_width_px(mask))
    out = {}
    for c, widths in per.items():
        if len(widths) >= 3:
            out[c] = USB_PLUG_WIDTH / float(np.median(widths))
    if not out:
        raise RuntimeError('no USB plug could be measured in the tool dataset: cannot scale')
    fallback = float(np.median(list(out.values())))
    return {c: out.get(c, fallback) for c in sorted({im.condition for im in images})}


def _choose_shots(images, masks, scales) -> dict[str, int]:
    """Per object id, the index of its cleanest photo (see module doc, step 2)."""
    by_object = defaultdict(list)
    for i, (mask, border, n) in masks.items():
        if n == 1 and not border:
            s = scales[images[i].condition]
            by_object[images[i].object_id].append((i, mask.sum() * s * s))
    for im in images:  # objects with no clean shot: any shot with a mask
        if im.object_id not in by_object:
            cands = [(i, m[0].sum() * scales[images[i].condition] ** 2)
                     for i, m in masks.items() if images[i].object_id == im.object_id]
            if cands:
                by_object[im.object_id] = cands
    out = {}
    for obj, cands in by_object.items():
        med = float(np.median([a for _, a in cands]))
        out[obj] = min(cands, key=lambda c: abs(c[1] - med))[0]
    return out


def _fill_outside(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with each pixel outside ``mask`` replaced by its nearest mask pixel."""
    _, labels = cv2.distanceTransformWithLabels((~mask).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(mask)
    # labels number the zero (mask) pixels in row-major order, starting at 1
    lut = np.zeros((labels.max() + 1, 3), np.uint8)
    order = labels[ys, xs]
    lut[order] = image[ys, xs]
    return lut[labels]


def build_tool(frame: np.ndarray, mask: np.ndarray, scale: float, folder: Path,
               family: str, instance: str, source: str) -> Path:
    """One tool's object folder from its photo, mask and metres per pixel."""
    import shapely
    import trimesh
    from shapely.geometry import Polygon

    rot, side = _turned(mask)
    turned = cv2.warpAffine(mask.astype(np.uint8), rot, (side, side),
                            flags=cv2.INTER_NEAREST) > 0
    photo = cv2.warpAffine(frame, rot, (side, side), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.nonzero(turned)
    pad = 3
    y0, y1 = max(0, ys.min() - pad), min(side, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(side, xs.max() + pad + 1)
    turned, photo = turned[y0:y1, x0:x1], photo[y0:y1, x0:x1]
    h, w = turned.shape
    contours, hierarchy = cv2.findContours(turned.astype(np.uint8), cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_NONE)
    outer = max(range(len(contours)), key=lambda k: cv2.contourArea(contours[k]))

    def to_m(c):
        pts = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).astype(float)
        # image y runs down; the object's y runs left when seen from above (right-handed)
        return np.column_stack([(pts[:, 0] - w / 2) * scale, -(pts[:, 1] - h / 2) * scale])

    holes = [to_m(contours[k]) for k in range(len(contours))
             if hierarchy[0][k][3] == outer and cv2.contourArea(contours[k]) > 20]
    poly = shapely.make_valid(Polygon(to_m(contours[outer]), [hl for hl in holes if len(hl) > 2]))
    if poly.geom_type != 'Polygon':
        poly = max(getattr(poly, 'geoms', [poly]), key=lambda g: g.area)
        poly = poly if poly.geom_type == 'Polygon' else poly.convex_hull
    widths = turned.sum(axis=0)
    thickness = float(np.clip(_T_RATIO * np.median(widths[widths > 0]) * scale, _MIN_T, _MAX_T))
    mesh = trimesh.creation.extrude_polygon(poly, thickness)
    # centre the footprint (the outline's bounding box) on the origin
    bounds = mesh.bounds
    shift = np.array([-(bounds[0, 0] + bounds[1, 0]) / 2, -(bounds[0, 1] + bounds[1, 1]) / 2, 0])
    mesh.apply_translation(shift)
    # texture coordinates: back to the strip's pixels (OBJ's v runs up from the bottom)
    px = (mesh.vertices[:, 0] - shift[0]) / scale + w / 2
    py = -(mesh.vertices[:, 1] - shift[1]) / scale + h / 2
    uv = np.column_stack([px / w, 1.0 - py / h])
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv)
    texture = _fill_outside(photo, turned)
    pieces = convex_pieces(mesh)
    return write_object(folder, mesh, pieces, family, instance,
                        mass=TOOL_DENSITY * float(mesh.volume), source=source, texture=texture,
                        friction=0.9, extra={'metres_per_pixel': scale,
                                             'thickness': thickness})


def tool_objects(root=None, rebuild: bool = False) -> dict[str, list[Path]]:
    """Family -> object folders of the tool dataset's 28 tools, built at first use.

    Raises
    ------
    AssetUnavailableError
        The tool dataset is neither local nor downloadable.
    """
    out_dir = tools_cache_dir()
    index = out_dir / 'index.json'
    if index.is_file() and not rebuild:
        data = json.loads(index.read_text())
        return {fam: [out_dir / p for p in paths] for fam, paths in data['families'].items()}
    from sorting_cell.datasets import load_tools
    images = load_tools(root)
    conditions = sorted({im.condition for im in images})
    masks = _masks_by_condition(images, conditions)
    scales = tool_scales(images, masks)
    chosen = _choose_shots(images, masks, scales)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='tools-', dir=out_dir.parent))
    families: dict[str, list[str]] = defaultdict(list)
    try:
        for obj in sorted(chosen):
            i = chosen[obj]
            im = images[i]
            family, instance = obj.split('/')
            rel = f'{family}/{instance}'
            build_tool(_rgb(im.path), masks[i][0], scales[im.condition], tmp / rel, family,
                       obj, source=f'conditions{im.condition}/{im.label}/{im.path.name}')
            families[family].append(rel)
        (tmp / 'index.json').write_text(json.dumps(
            {'families': families, 'metres_per_pixel': scales,
             'shots': {o: str(images[i].path.name) + f' (condition {images[i].condition})'
                       for o, i in chosen.items()}}, indent=1))
        if rebuild and out_dir.exists():
            shutil.rmtree(out_dir)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            # another process finished the same build first: keep its copy
            if not index.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {fam: [out_dir / p for p in paths] for fam, paths in families.items()}
