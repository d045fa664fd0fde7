"""The sorting brain as one estimator: images -> objects -> features -> N groups.

A convenience over :mod:`sorting_cell.perception` (describe, then assign), which is
where perception is assembled; the CLI, the benchmarks and the ROS nodes use the same
two steps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator

from .features import DEFAULT_FEATURES
from .perception import Describer, Description, Item, assign, check_assign_params, lookup
from .perception.assign import AUTO_K, clustered_matrix
from .perception.choose_k import DEFAULT_K_MAX
from .perception.methods import Input

__all__ = ['SortingPipeline', 'SortResult', 'Item', 'DEFAULT_FEATURES']


@dataclass
class SortResult:
    """What :meth:`SortingPipeline.sort_images` / :meth:`sort_scene` return."""

    items: list[Item]
    n_clusters: int
    features: np.ndarray
    timings: dict = field(default_factory=dict)
    description: Description | None = None

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=int)

    @property
    def ok(self) -> list[Item]:
        return [it for it in self.items if it.error is None]

    @property
    def failed(self) -> list[Item]:
        return [it for it in self.items if it.error is not None]

    @property
    def decisions(self) -> dict:
        """What was decided about the input, with its evidence (see perception.evidence)."""
        return {} if self.description is None else self.description.decisions


class SortingPipeline(BaseEstimator):
    """Find objects, describe them with a pretrained CNN, cluster them into boxes.

    Parameters
    ----------
    n_clusters : int or 'auto'
        Number of boxes; ``'auto'`` chooses it from the images (at most ``k_max``; see
        :mod:`~sorting_cell.perception.choose_k`), recorded in the result's decisions.
    features : str or FeatureExtractor
        A registry name (see :func:`sorting_cell.features.make_extractor`), e.g.
        ``'mobilenet_v2_tf2'`` (the embedded default), ``'hog'``, or
        ``'mobilenet_v1+mobilenet_v2'`` for a concatenated multi-view, or an extractor.
    method : str
        A name of :data:`sorting_cell.perception.METHODS`: a classic clusterer, a
        multi-view method or bootstrapping.
    proposer : {'auto', 'background', 'saliency', 'none'} or Proposer
        How objects are found. ``'auto'``: decided from the images (one fixed camera over
        one background with objects at varying places -> the background model; otherwise
        each image whole), see :mod:`sorting_cell.perception.evidence`. The others force
        it: ``'background'`` (fixed camera, learns the empty table from the frames),
        ``'saliency'`` (single frames), ``'none'`` (each image is one object).
    crop : {'upright', 'box'}
        What the extractor sees of a segmented object: turned so its long axis is
        horizontal, in a tight strip (:func:`~sorting_cell.regions.upright.upright_crop`),
        or the region's square box crop. Whole images are not cropped.
    turn : {'auto', True, False}
        Average in every view turned by 180 degrees; ``'auto'`` turns segmented objects
        and decides for whole images whether the set has an up (see
        :class:`~sorting_cell.perception.Describer`); False describes views as they are.
    normalize : str
        Feature normalisation before clustering (see
        :func:`~sorting_cell.clustering.normalize_features`); ``'centered'`` removes what
        all objects of the set share (table, light) before comparing them, ``'whitened'``
        also evens out the set's strongest directions; ``'auto'`` (default) centres
        segmented objects and whitens whole images
        (:func:`~sorting_cell.perception.assign.resolve_normalize`).
    size_weight : float or 'auto'
        Weight of the objects' size (log length and width of the mask's rotated box,
        standardised over the set) next to appearance. Under one fixed camera pixel size
        is physical size: a screw and a screwdriver look alike to an ImageNet net but not
        to a ruler. ``'auto'``: 0.3 when the evidence says size and outline carry
        information (:func:`~sorting_cell.perception.evidence.geometry_decision`), else 0.
    shape_weight : float or 'auto'
        Weight of the objects' outline: the mask's width along its long axis, relative to
        its length (:func:`~sorting_cell.regions.shape.width_profile`). ``'auto'``: 0.5
        under the same evidence as ``size_weight``, else 0.
    cache_dir : path or None
        On-disk feature cache keyed by crop content + extractor config.
    random_state : int or None
        Seed for the stochastic clusterers.
    progress : bool
        Show progress bars on long runs.
    k_max : int
        Largest number of groups tried with ``n_clusters='auto'``.
    workers, scheduler : int or str or None
        Feature extraction on Dask: a local cluster of ``workers`` processes, or the
        cluster at ``scheduler`` (see :class:`~sorting_cell.perception.Describer`).
    """

    def __init__(self, n_clusters: int = 2, features=DEFAULT_FEATURES, method='agglomerative',
                 proposer='auto', crop: str = 'upright', turn='auto',
                 normalize: str = 'auto', size_weight='auto', shape_weight='auto',
                 cache_dir: str | os.PathLike | None = None, random_state=0,
                 progress: bool = False, k_max: int = DEFAULT_K_MAX,
                 workers: int | None = None, scheduler: str | None = None):
        self.n_clusters = n_clusters
        self.features = features
        self.method = method
        self.proposer = proposer
        self.crop = crop
        self.turn = turn
        self.normalize = normalize
        self.size_weight = size_weight
        self.shape_weight = shape_weight
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.progress = progress
        self.k_max = k_max
        self.workers = workers
        self.scheduler = scheduler

    def _check(self) -> None:
        check_assign_params(self.n_clusters, self.method, self.normalize, self.size_weight,
                            self.shape_weight, self.k_max)

    def describer(self) -> Describer:
        """The :class:`~sorting_cell.perception.Describer` this pipeline describes with."""
        return Describer(features=self.features, proposer=self.proposer, crop=self.crop,
                         turn=self.turn, input=lookup(self.method).input,
                         cache_dir=self.cache_dir, progress=self.progress, workers=self.workers,
                         scheduler=self.scheduler)

    def assign(self, description: Description) -> np.ndarray:
        """Box labels for ``description`` (:func:`sorting_cell.perception.assign`)."""
        return assign(description, self.n_clusters, method=self.method,
                      normalize=self.normalize, size_weight=self.size_weight,
                      shape_weight=self.shape_weight, random_state=self.random_state,
                      progress=self.progress, k_max=self.k_max)

    def geometry(self, X, sizes: np.ndarray | None = None,
                 shapes: np.ndarray | None = None) -> np.ndarray:
        """The matrix that is clustered for feature rows ``X`` and known sizes/outlines."""
        d = Description.of_features(X, sizes, shapes)
        return clustered_matrix(d, self.normalize, self.size_weight, self.shape_weight)[0]

    def cluster_features(self, X, sizes: np.ndarray | None = None,
                         shapes: np.ndarray | None = None) -> np.ndarray:
        """Labels for feature rows ``X`` (one matrix or per-view matrices) of one set.

        ``sizes`` / ``shapes`` are the objects' mask sizes and outlines when known; they
        are weighed in as for a fixed camera. For ``'bootstrap-finetune'`` ``X`` is
        ``[boot feature, trunk rows]``.
        """
        self._check()
        views = list(X) if isinstance(X, list) else [X]
        trunk = None
        if lookup(self.method).input is Input.TRUNK:
            if len(views) != 2:
                raise ValueError(f'method {self.method!r} needs [boot feature, trunk rows], '
                                 f'got {len(views)} matrices')
            views, trunk = views[:1], np.asarray(views[1])
        d = Description.of_features(views, sizes, shapes)
        d.trunk = trunk
        return self.assign(d)

    # -- entry points ----------------------------------------------------------------
    def sort_images(self, images: Sequence, sources: Sequence[str] | None = None) -> SortResult:
        """Sort a set of images, one object each (a folder of photos, the tool dataset).

        ``images`` holds paths or arrays. Unreadable ones become failed items with the
        reason; the others are clustered. Raises ``ValueError`` when fewer than
        ``n_clusters`` images are usable.
        """
        self._check()
        describer = self.describer()
        try:
            return self._result(describer.images(images, sources))
        finally:
            describer.close()

    def sort_scene(self, frame, background: np.ndarray | None = None,
                   source: str = 'scene') -> SortResult:
        """Sort the objects of one frame (the overhead camera's view of the table).

        ``background`` is an empty-table frame of the same camera when known (the cell
        grabs one at start-up); without it the proposer works on the frame alone.
        """
        self._check()
        return self._result(self.describer().scene(frame, background, source))

    def _result(self, d: Description) -> SortResult:
        import time
        failed = len(d.items) - len(d)
        fewest = 3 if self.n_clusters == AUTO_K else self.n_clusters
        if len(d) < fewest:
            asked = (f'{self.n_clusters} boxes were asked for' if fewest == self.n_clusters
                     else 'the number of boxes is to be chosen from at least 3')
            raise ValueError(f'found {len(d)} usable object(s) but {asked}; need at least as '
                             'many objects as boxes'
                             + (f' ({failed} input(s) failed to load)' if failed else ''))
        t0 = time.perf_counter()
        labels = self.assign(d)
        for i, lab in zip(d.usable, labels):
            d.items[i].label = int(lab)
        timings = {k: v for k, v in d.timings.items() if k != 'describe_total'}
        timings['clustering'] = time.perf_counter() - t0
        timings['total'] = sum(timings.values())
        k = self.n_clusters if self.n_clusters != AUTO_K else int(labels.max()) + 1
        return SortResult(items=d.items, n_clusters=k, features=d.features,
                          timings=timings, description=d)
