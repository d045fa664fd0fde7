"""Shared data for benchmarks/multiview.py and benchmarks/bootstrap.py.

The per-view features of all 560 tool images (the pipeline's upright crops) and of the
1797 scikit-learn 8x8 digits are computed once with the project's extractors and cached
in a ``.npz`` under ``$SORTING_CELL_MV_CACHE`` (default ``/tmp/sorting_cell_mv``), never
in the repository.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from sorting_cell.multiview import Views

TOOL_VIEWS = ('mobilenet_v1', 'mobilenet_v2', 'mobilenet_v2_tf2', 'raw', 'hog', 'gabor',
              'colorhist')
DIGIT_VIEWS = ('mobilenet_v1', 'mobilenet_v2', 'mobilenet_v2_tf2', 'raw', 'hog', 'gabor')


def cache_dir() -> Path:
    d = Path(os.environ.get('SORTING_CELL_MV_CACHE', '/tmp/sorting_cell_mv'))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _extract(names, images) -> tuple[Views, dict]:
    from sorting_cell.features import make_extractor

    data, secs = [], {}
    for n in names:
        t0 = time.perf_counter()
        data.append(make_extractor(n).transform(images))
        secs[n] = (time.perf_counter() - t0) / len(images)
        print(f'  {n}: {data[-1].shape} {secs[n] * 1e3:.1f} ms/image', flush=True)
    return Views(data, list(names)), secs


def tool_views(progress: bool = True):
    """(views, meta) of the 560 tool images; meta has label/condition/object/shot/sizes.

    The crops are the product's: the product's :class:`~sorting_cell.perception.Describer` (upright strips of
    the background proposer's main region), described by ``bench.tools.describe`` -- the
    LiteRT nets at the strip's aspect ratio with flip TTA, exactly as ``sorting-cell bench
    tools`` sees them. Each view is L2-normalised (``ConcatFeatures.transform_views``);
    the per-set 'centered' normalisation is left to the benchmarks.
    """
    path = cache_dir() / 'tools_views_upright.npz'
    if not path.exists():
        from sorting_cell.bench.tools import describe
        from sorting_cell.datasets.tools import load_tools
        from sorting_cell.pipeline import SortingPipeline

        images = load_tools()
        pipe = SortingPipeline(features='+'.join(TOOL_VIEWS), method='mvec')
        d = describe(images, pipe, progress=progress)
        views = Views(list(d.description.views), list(TOOL_VIEWS))
        classes = sorted({im.label for im in images})
        views.save(path, label=np.array([classes.index(im.label) for im in images]),
                   condition=np.array([im.condition for im in images]),
                   object_id=np.array([im.object_id for im in images]),
                   shot=np.array([im.shot for im in images]),
                   sizes=np.asarray(d.description.sizes, dtype=float),
                   shapes=np.asarray(d.description.outlines, dtype=float),
                   seconds=np.array([d.seconds_per_image['features'],
                                     d.seconds_per_image['proposals']]))
    views = Views.load(path)
    with np.load(path) as z:
        meta = {k: z[k] for k in ('label', 'condition', 'object_id', 'shot', 'sizes',
                                  'seconds')}
        shapes = z['shapes'] if 'shapes' in z.files else None
    if shapes is None:  # a cache written before outlines were a feature: add them
        shapes = _tool_shapes(progress)
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        tmp = path.with_name(path.stem + '.tmp.npz')  # others may be reading the cache
        np.savez_compressed(tmp, **arrays, shapes=shapes)
        os.replace(tmp, path)
    meta['shapes'] = shapes
    meta['seconds_per_image'] = dict(zip(['features(all views)', 'proposals'],
                                         meta.pop('seconds').tolist()))
    return views, meta


def tool_crops(progress: bool = True) -> list[np.ndarray]:
    """The product's crops of the 560 tool images, in ``load_tools`` order."""
    return _tool_description(progress).crops


def _tool_shapes(progress: bool) -> np.ndarray:
    """Width profiles of the main region of every tool image, in ``load_tools`` order."""
    return _tool_description(progress).outlines


def _tool_description(progress: bool):
    from sorting_cell.datasets.tools import load_tools
    from sorting_cell.pipeline import SortingPipeline

    describer = SortingPipeline(features='raw', progress=progress).describer()
    return describer.images([im.path for im in load_tools()])


def digit_images() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The 8x8 digits as 32x32 RGB images (dark ink on white, bilinear), labels, pixels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = []
    for x in X:
        # 0..16 ink -> 255..0 gray: ImageNet nets have seen dark strokes on light paper.
        g = (255 - x.reshape(8, 8) * 255 / 16).astype(np.uint8)
        g = cv2.resize(g, (32, 32), interpolation=cv2.INTER_LINEAR)
        images.append(np.repeat(g[:, :, None], 3, axis=2))
    return images, y, X


def digit_views():
    """(views, y) of the 1797 digits; the 'pixels' view is the original 64 values."""
    path = cache_dir() / 'digits_views.npz'
    if not path.exists():
        images, y, X = digit_images()
        views, _ = _extract(DIGIT_VIEWS, images)
        views = Views([X, *views.data], ['pixels', *views.names])
        views.save(path, label=y)
    with np.load(path) as z:
        y = z['label']
    return Views.load(path), y


if __name__ == '__main__':
    print('tools:', tool_views()[0].dims)
    print('digits:', digit_views()[0].dims)
