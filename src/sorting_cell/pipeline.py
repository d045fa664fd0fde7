"""The sorting brain: frames -> objects -> features -> N groups.

This is the one API the CLI, the ROS nodes, the simulator and the benchmarks call.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator

from .clustering.estimator import ImageClusterer, normalize_features
from .images import ImageLoadError, load_image, to_rgb8
from .regions import Region, make_proposer
from .regions.shape import width_profile
from .regions.upright import region_size, upright_crop
from .features import make_extractor

#: The embedded default: chosen on Protocol A of the tool dataset (README, benchmarks/).
DEFAULT_FEATURES = 'mobilenet_v2_tf2'
#: Weight of object size when all frames come from one camera (size_weight='auto').
AUTO_SIZE_WEIGHT = 0.3
#: Weight of the outline's width profile when all frames come from one camera.
AUTO_SHAPE_WEIGHT = 0.5
#: Base clusterers run on every view by ``method='mvec'``.
MVEC_BASES = ('agglomerative', 'kmeans', 'spectral')
#: Bootstrapping that fine-tunes EfficientNet-Lite0's last block (needs the crops, not features).
FINETUNE = 'bootstrap-finetune'

__all__ = ['SortingPipeline', 'SortResult', 'Item']


@dataclass
class Item:
    """One object to sort: where it came from, where it is, which box it goes to.

    ``label`` is -1 and ``error`` says why when the item could not be processed.
    """

    source: str
    region: Region | None = None
    label: int = -1
    error: str | None = None
    frame_index: int = 0


@dataclass
class SortResult:
    """What :meth:`SortingPipeline.sort_images` / :meth:`sort_scene` return."""

    items: list[Item]
    n_clusters: int
    features: np.ndarray
    timings: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=int)

    @property
    def ok(self) -> list[Item]:
        return [it for it in self.items if it.error is None]

    @property
    def failed(self) -> list[Item]:
        return [it for it in self.items if it.error is not None]


class SortingPipeline(BaseEstimator):
    """Find objects, describe them with a pretrained CNN, cluster them into boxes.

    Parameters
    ----------
    n_clusters : int
        Number of boxes.
    features : str or FeatureExtractor
        A registry name (see :func:`sorting_cell.features.make_extractor`), e.g.
        ``'mobilenet_v2'`` (the embedded default), ``'torchvision:resnet50'``, ``'hog'``,
        or ``'mobilenet_v1+mobilenet_v2'`` for a concatenated multi-view, or an extractor.
    method : str
        Clusterer (see :data:`sorting_cell.clustering.METHODS`) or a multi-view method.
    proposer : str or Proposer or None
        How objects are found: ``'background'`` (fixed camera, learns the empty table
        from the frames it is given), ``'saliency'`` (single frames), ``'none'`` (each
        image is already one object), or a :class:`~sorting_cell.regions.Proposer`.
    crop : {'upright', 'box'}
        What the extractor sees: the object turned so its long axis is horizontal, in a
        tight strip (:func:`~sorting_cell.regions.upright.upright_crop`), or the region's
        square box crop.
    normalize : str
        Feature normalisation before clustering (see
        :class:`~sorting_cell.clustering.ImageClusterer`); ``'centered'`` removes what all
        objects of the set share (table, light) before comparing them.
    size_weight : float or 'auto'
        Weight of the objects' size in the frame (log length and width of the mask's
        rotated box, standardised over the set) next to the appearance features. The
        cell's camera is fixed, so pixel size is physical size: a screw and a screwdriver
        look alike to an ImageNet net but not to a ruler. 0 turns it off. ``'auto'``
        uses 0.3 (measured best on the tool dataset) when every image has the same size
        -- one camera, one scale, as in the cell -- and 0 for mixed-size photo folders,
        where pixel size says nothing.
    shape_weight : float or 'auto'
        Weight of the objects' outline: the mask's width along its long axis, relative to
        its length (:func:`~sorting_cell.regions.shape.width_profile`). CNN features
        confuse a thin screwdriver with a screw; the silhouettes differ (handle block vs
        head and shank). ``'auto'`` uses 0.5 (the middle of the 0.4-0.6 plateau measured
        on the tool dataset) under the same one-camera rule as ``size_weight``: there the
        background model gives clean masks; photo folders get 0.
    cache_dir : path or None
        On-disk feature cache keyed by crop content + extractor config.
    random_state : int or None
        Seed for the stochastic clusterers.
    progress : bool
        Show progress bars on long runs.
    """

    def __init__(self, n_clusters: int = 2, features=DEFAULT_FEATURES, method='agglomerative',
                 proposer='background', crop: str = 'upright', normalize: str = 'centered',
                 size_weight='auto', shape_weight='auto',
                 cache_dir: str | os.PathLike | None = None, random_state=0,
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.features = features
        self.method = method
        self.proposer = proposer
        self.crop = crop
        self.normalize = normalize
        self.size_weight = size_weight
        self.shape_weight = shape_weight
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.progress = progress

    # -- building blocks -------------------------------------------------------------
    def extractor_(self):
        return make_extractor(self.features, cache_dir=self.cache_dir)

    def finetune_network_(self):
        """The EfficientNet-Lite tail that ``method='bootstrap-finetune'`` fine-tunes."""
        if getattr(self, '_finetune_network', None) is None:
            from .bootstrap import EfficientNetLiteTail
            self._finetune_network = EfficientNetLiteTail()  # weights load once per pipeline
        return self._finetune_network

    def proposer_(self):
        return make_proposer(self.proposer)

    def clusterer_(self):
        return ImageClusterer(n_clusters=self.n_clusters, method=self.method,
                              normalize=None, random_state=self.random_state)

    def _weight(self, value, auto: float, available: bool) -> float:
        if isinstance(value, str):
            if value != 'auto':
                raise ValueError(f"weights must be a number or 'auto', got {value!r}")
            return auto if available else 0.0
        if not np.isfinite(value) or value < 0:
            raise ValueError(f'weights must be finite and >= 0, got {value!r}')
        return float(value)

    def geometry(self, X, sizes: np.ndarray | None = None,
                 shapes: np.ndarray | None = None) -> np.ndarray:
        """The matrix that is clustered: normalised ``X`` next to weighted size and shape.

        ``sizes`` are (length, width) per object (:func:`~sorting_cell.regions.upright.
        region_size`), ``shapes`` width profiles (:func:`~sorting_cell.regions.shape.
        width_profile`); either may be None (unknown: not used).
        """
        Z = normalize_features(X, self.normalize)
        G = self._geometry_block(len(Z), sizes, shapes)
        return np.hstack([Z, G]) if G.shape[1] else Z

    def _geometry_block(self, n: int, sizes, shapes) -> np.ndarray:
        """The weighted size and outline columns alone (zero columns when unused)."""
        parts = [np.zeros((n, 0))]
        w = self._weight(self.size_weight, AUTO_SIZE_WEIGHT, sizes is not None)
        if sizes is not None and w > 0:
            S = np.log(np.maximum(np.asarray(sizes, dtype=float), 1.0))
            parts.append(w * (S - S.mean(0)) / np.maximum(S.std(0), 1e-6))
        w = self._weight(self.shape_weight, AUTO_SHAPE_WEIGHT, shapes is not None)
        if shapes is not None and w > 0:
            # Same recipe as appearance features: what all outlines share is removed.
            parts.append(w * normalize_features(np.asarray(shapes, dtype=float), 'centered'))
        return np.hstack(parts)

    def cluster_features(self, X, sizes: np.ndarray | None = None,
                         shapes: np.ndarray | None = None) -> np.ndarray:
        """Labels for appearance features ``X`` (and region sizes/outlines) of one set.

        ``X`` is one matrix, or a list of per-view matrices for a multi-view ``method``
        (``'cc'``, ``'mvec'``, ``'idec'``, ``'dmvc'``, ``'bootstrap'``; for
        ``'bootstrap-finetune'`` the boot feature and the trunk rows, as :meth:`describe`
        gives them). Normalisation is per set (centring removes what this set's objects
        share), so it happens here, not once for a whole dataset.
        """
        from .multiview import is_multiview, make_multiview

        if is_multiview(self.method):
            views = X if isinstance(X, list) else [X]
            trunk = None
            if self.method == FINETUNE:
                if len(views) != 2:
                    raise ValueError(f"method {FINETUNE!r} needs [boot feature, trunk rows] "
                                     f'(from describe), got {len(views)} matrices')
                # The trunk rows feed the network as they are; only the boot feature is
                # normalised and carries the geometry.
                views, trunk = views[:1], np.asarray(views[1], dtype=np.float64)
            views = [normalize_features(np.asarray(v, dtype=np.float64), self.normalize)
                     for v in views]
            G = self._geometry_block(len(views[0]), sizes, shapes)
            if G.shape[1]:
                # Size and outline belong to the object, not to a view: every view gets
                # them, so each base partition is the single-view pipeline's own.
                views = [np.hstack([V, G]) for V in views]
            # The trained methods show their epochs when the run shows progress.
            extra = ({'progress': self.progress}
                     if self.method in ('idec', 'dmvc', 'bootstrap', FINETUNE) else {})
            if trunk is not None:
                views.append(trunk)
                extra['network'] = self.finetune_network_()
            if self.method in ('cc', 'mvec'):
                extra['normalize'] = None  # done above; again would re-weight the geometry
            if self.method == 'mvec':
                # A partition per (view, clusterer): measured best on the tool benchmark
                # (benchmarks/results/multiview_shape_ensembles.md).
                extra['base'] = list(MVEC_BASES)
            return make_multiview(self.method, self.n_clusters, random_state=self.random_state,
                                  **extra).fit_predict(views)
        return self.clusterer_().fit_predict(self.geometry(X, sizes, shapes))

    def describe(self, crops: list[np.ndarray]):
        """Features of ``crops``: one matrix, or per-view matrices for multi-view methods."""
        from .multiview import is_multiview

        extractor = self.extractor_()
        if self.method == FINETUNE:
            # The feature spec is the boot feature; the fine-tuned network sees the crops.
            return [extractor.transform(crops),
                    self.finetune_network_().trunk(crops, progress=self.progress)]
        if is_multiview(self.method) and hasattr(extractor, 'transform_views'):
            return extractor.transform_views(crops)
        return extractor.transform(crops)

    def feature_crop(self, frame: np.ndarray, region: Region) -> np.ndarray:
        """The image the extractor describes for ``region`` of ``frame``."""
        if self.crop == 'upright':
            return upright_crop(frame, region)
        if self.crop == 'box':
            return region.crop
        raise ValueError(f"crop must be 'upright' or 'box', got {self.crop!r}")

    # -- entry points ----------------------------------------------------------------
    def sort_images(self, images: Sequence, sources: Sequence[str] | None = None) -> SortResult:
        """Sort a set of images, one object each (a folder of photos, the tool dataset).

        ``images`` holds paths or arrays. Unreadable ones become failed items with the
        reason; the others are clustered. Raises ``ValueError`` when fewer than
        ``n_clusters`` images are usable.
        """
        t0 = time.perf_counter()
        sources = [str(s) for s in (sources or [_name(x, i) for i, x in enumerate(images)])]
        items = [Item(source=s, frame_index=i) for i, s in enumerate(sources)]
        frames: list[np.ndarray | None] = []
        for item, x in zip(items, _progress(images, self.progress, 'load')):
            try:
                frames.append(load_image(x) if isinstance(x, (str, os.PathLike))
                              else to_rgb8(x, source=item.source))
            except ImageLoadError as exc:
                item.error = exc.reason
                frames.append(None)
        good = [i for i, f in enumerate(frames) if f is not None]
        t1 = time.perf_counter()
        proposer = self.proposer_().fit(_fit_frames([frames[i] for i in good]))
        crops = {}
        for i in _progress(good, self.progress, 'find objects'):
            items[i].region = proposer.propose_main(frames[i])
            crops[i] = self.feature_crop(frames[i], items[i].region)
        t2 = time.perf_counter()
        same_camera = len({frames[i].shape for i in good}) == 1
        return self._cluster(items, [items[i] for i in good], [crops[i] for i in good],
                             {'load': t1 - t0, 'proposals': t2 - t1}, same_camera)

    def sort_scene(self, frame, background: np.ndarray | None = None,
                   source: str = 'scene') -> SortResult:
        """Sort the objects of one frame (the overhead camera's view of the table).

        ``background`` is an empty-table frame of the same camera when known (the cell
        grabs one at start-up); without it the proposer works on the frame alone.
        """
        t0 = time.perf_counter()
        frame = load_image(frame) if isinstance(frame, (str, os.PathLike)) else to_rgb8(frame)
        proposer = self.proposer_()
        proposer.fit(None if background is None else [to_rgb8(background)])
        regions = proposer.propose(frame)
        items = [Item(source=f'{source}#{j}', region=r) for j, r in enumerate(regions)]
        crops = [self.feature_crop(frame, r) for r in regions]
        return self._cluster(items, items, crops, {'proposals': time.perf_counter() - t0})

    # -- shared tail -----------------------------------------------------------------
    def _cluster(self, items: list[Item], usable: list[Item], crops: list[np.ndarray],
                 timings: dict, same_camera: bool = True) -> SortResult:
        if self.n_clusters < 1:
            raise ValueError(f'n_clusters (number of boxes) must be >= 1, got {self.n_clusters}')
        if len(usable) < self.n_clusters:
            raise ValueError(f'found {len(usable)} usable object(s) but {self.n_clusters} '
                             f'boxes were asked for; need at least as many objects as boxes'
                             + (f' ({len(items) - len(usable)} input(s) failed to load)'
                                if len(items) > len(usable) else ''))
        t0 = time.perf_counter()
        X = self.describe(crops)
        t1 = time.perf_counter()
        sizes = shapes = None
        if same_camera:
            sizes = np.array([region_size(it.region) for it in usable])
            shapes = np.array([width_profile(it.region) for it in usable])
        labels = self.cluster_features(X, sizes, shapes)
        t2 = time.perf_counter()
        for it, lab in zip(usable, labels):
            it.label = int(lab)
        timings.update(features=t1 - t0, clustering=t2 - t1)
        timings['total'] = sum(timings.values())
        features = np.hstack(X) if isinstance(X, list) else X
        return SortResult(items=items, n_clusters=self.n_clusters, features=features,
                          timings=timings)


def _name(x, i: int) -> str:
    return str(x) if isinstance(x, (str, os.PathLike)) else f'image{i}'


def _fit_frames(frames: list[np.ndarray]) -> list[np.ndarray] | None:
    """Frames to learn backgrounds from (the proposer groups them by camera itself).

    With fewer than 3, a proposer would take each as an empty table -- wrong for photos
    that each show an object -- so it gets none and works frame by frame.
    """
    return frames if len(frames) >= 3 else None


def _progress(seq, enabled: bool, desc: str):
    if not enabled:
        return seq
    from tqdm import tqdm
    return tqdm(seq, desc=desc, unit='img')
