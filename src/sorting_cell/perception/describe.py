"""Describe a set of images: find the objects (or not), crop them, extract features.

:class:`Describer` is the one assembly of perception. It is used on a folder of photos
(:meth:`Describer.images`), on one frame of the cell's overhead camera
(:meth:`Describer.scene`) and on detections that arrive over ROS
(:meth:`Describer.regions`); every path ends in the same :class:`Description`.
"""
from __future__ import annotations

import os
import time
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator

from ..clustering.estimator import normalize_features
from ..features import DEFAULT_FEATURES, make_extractor
from ..images import ImageLoadError, load_image, to_rgb8
from ..regions import PROPOSERS, Proposer, Region, make_proposer
from ..regions.background import BackgroundProposer
from ..regions.shape import width_profile
from ..regions.upright import region_size, upright_crop
from .assign import geometry_block
from .description import Decision, Description, Item
from .evidence import (camera_decisions, geometry_decision, parallel_map, progress,
                       surround_decision)
from .methods import Input
from .turn import TurnViews, trimmed

__all__ = ['Describer', 'CROPS']

CROPS = ('upright', 'box')
#: More paths than this are described in batches (:meth:`Describer._streamed`).
STREAM_ABOVE = 2000
#: Images per batch of a streamed description.
STREAM_BATCH = 256
#: Images the decisions of a streamed description are made from (seeded sample).
DECIDE_SAMPLE = 300
#: Rows the geometry decision of a streamed description is made from.
GEOMETRY_SAMPLE = 2000


class Describer(BaseEstimator):
    """Turn images into a :class:`Description` (objects, crops, features, evidence).

    Parameters
    ----------
    features : str or FeatureExtractor
        Registry name (:func:`sorting_cell.features.make_extractor`) or an extractor.
    proposer : {'auto', 'background', 'saliency', 'none'} or Proposer
        How objects are found. ``'auto'`` decides from the images
        (:mod:`~sorting_cell.perception.evidence`): the background model of a fixed camera
        where the evidence is there, else each image whole. The others force a choice.
    crop : {'upright', 'box'}
        What the extractor sees of a segmented object: turned so its long axis is
        horizontal in a tight strip (:func:`~sorting_cell.regions.upright.upright_crop`),
        or its square box crop. Whole images are not cropped.
    turn : {'auto', True, False}
        Average in each view turned by 180 degrees (the extractor's own test-time
        augmentation). ``'auto'``: segmented objects are turned (they lie either way
        round); whole images are described as they are, turned and trimmed, and whether
        the set has an up is decided with the number of groups
        (:func:`~sorting_cell.perception.turn.decide_turn`, in
        :func:`~sorting_cell.perception.assign`). Big streamed folders and multi-view
        methods are turned without a decision. True turns every view, False none.
    input : Input
        What the clustering method needs (:class:`~sorting_cell.perception.methods.Input`):
        per-view matrices and the fine-tunable network's trunk are computed only then.
    cache_dir : path or None
        On-disk feature cache.
    progress : bool
        Progress bars on long runs.
    workers : int or None
        Extract features on a local Dask cluster of this many worker processes
        (:class:`~sorting_cell.features.distributed.DaskFeatures`); None: in this process.
    scheduler : str or None
        Extract features on the Dask cluster whose scheduler is at this address.
    """

    def __init__(self, *, features=DEFAULT_FEATURES, proposer='auto', crop: str = 'upright',
                 turn='auto', input: Input = Input.MATRIX,
                 cache_dir: str | os.PathLike | None = None,
                 progress: bool = False, workers: int | None = None,
                 scheduler: str | None = None):
        self.features = features
        self.proposer = proposer
        self.crop = crop
        self.turn = turn
        self.input = input
        self.cache_dir = cache_dir
        self.progress = progress
        self.workers = workers
        self.scheduler = scheduler

    def _check(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f'crop must be one of {CROPS}, got {self.crop!r}')
        if not isinstance(self.proposer, Proposer) and self.proposer not in ('auto', *PROPOSERS):
            raise ValueError(f'unknown proposer {self.proposer!r}; choose one of auto, '
                             f'{", ".join(PROPOSERS)}')
        if not isinstance(self.input, Input):
            raise ValueError(f'input must be an Input, got {self.input!r}')
        if not (isinstance(self.turn, (bool, np.bool_)) or self.turn == 'auto'):
            raise ValueError(f"turn must be 'auto', True or False, got {self.turn!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(
                self.workers, int) or self.workers < 1):
            raise ValueError(f'workers must be an integer >= 1, got {self.workers!r}')
        if self.workers is not None and self.scheduler is not None:
            raise ValueError('give workers (a local cluster) or scheduler (a running one), '
                             'not both')

    # -- entry points ----------------------------------------------------------------
    def images(self, images: Sequence, sources: Sequence[str] | None = None) -> Description:
        """Describe a set of images, one object each (a folder of photos, a dataset).

        ``images`` holds paths or arrays. Unreadable ones become items with the reason.
        More than :data:`STREAM_ABOVE` paths are described in batches
        (:meth:`_streamed`): memory then holds one batch of images and the feature rows.
        """
        self._check()
        if len(images) > STREAM_ABOVE and all(isinstance(x, (str, os.PathLike))
                                              for x in images):
            return self._streamed(images, sources)
        t0 = time.perf_counter()
        sources = [str(s) for s in (sources or [_name(x, i) for i, x in enumerate(images)])]
        items = [Item(source=s, frame_index=i) for i, s in enumerate(sources)]

        def read(i_x):
            i, x = i_x
            try:
                return (load_image(x) if isinstance(x, (str, os.PathLike))
                        else to_rgb8(x, source=items[i].source))
            except ImageLoadError as exc:
                items[i].error = exc.reason
                return None

        loaded = parallel_map(read, list(enumerate(images)), self.progress, 'load')
        frames = {i: f for i, f in enumerate(loaded) if f is not None}
        good = sorted(frames)
        t1 = time.perf_counter()
        camera, objects, regions = self._decide([frames[i] for i in good])
        if objects.value and regions is None:  # a forced proposer: run it
            proposer = make_proposer(self.proposer)
            proposer.fit(_fit_frames([frames[i] for i in good]))
            regions = [proposer.propose_main(frames[i])
                       for i in progress(good, self.progress, 'find objects')]
        surround, boxes = None, [None] * len(good)
        if not objects.value and self.proposer == 'auto':
            surround, boxes = surround_decision([frames[i] for i in good])
        crops = []
        for j, i in enumerate(good):
            region = regions[j] if objects.value else None
            if region is None:
                h, w = frames[i].shape[:2]
                why = {'fallback': 'whole frame'} if objects.value else {}
                region = Region(box=(0, 0, w, h), mask=np.ones((h, w), bool), crop=frames[i],
                                score=0.0 if why else 1.0, extra=why)
                if boxes[j] is not None:
                    x0, y0, x1, y1 = boxes[j]
                    region.extra['surround_box'] = boxes[j]
                    crops.append(frames[i][y0:y1, x0:x1])
                else:
                    crops.append(frames[i])
            else:
                crops.append(self._crop(frames[i], region))
            items[i].region = region
        t2 = time.perf_counter()
        # Objects cropped out of a plain surround are objects: turned as segmented ones are.
        cut = objects.value or bool(surround is not None and surround.value)
        d = self._finish(items, good, crops, camera, objects,
                         {'load': t1 - t0, 'proposals': t2 - t1}, cut=cut)
        if surround is not None:
            d.decisions['surround'] = surround
        return d

    def _streamed(self, paths: Sequence, sources: Sequence[str] | None) -> Description:
        """Describe a big folder batch by batch; only rows, sizes and outlines are kept.

        The decisions (fixed camera, objects) and the background model are made from a
        seeded sample of :data:`DECIDE_SAMPLE` images; the geometry decision from a sample
        of the rows. Items keep no region (no pixels): a report reloads the few images it
        shows. With a feature cache, a run that was killed resumes: the batches already
        described are read back from the cache.
        """
        t0 = time.perf_counter()
        n = len(paths)
        sources = [str(s) for s in (sources or paths)]
        items = [Item(source=s, frame_index=i) for i, s in enumerate(sources)]

        def read(i):
            try:
                return load_image(paths[i])
            except ImageLoadError as exc:
                items[i].error = exc.reason
                return None

        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(n, min(n, DECIDE_SAMPLE), replace=False))
        sample = [f for f in parallel_map(read, list(pick)) if f is not None]
        for i in pick:
            items[i].error = None  # read again with its batch (errors reported once)
        proposer = None
        spec = self.proposer
        if spec == 'auto':
            proposer = BackgroundProposer(fallback='none', max_groups=max(8, len(sample) // 10))
            camera, objects, _ = camera_decisions(sample, proposer, show=self.progress)
        else:
            camera, objects, _ = self._decide(sample)
            if objects.value:
                proposer = make_proposer(spec)
                proposer.fit(_fit_frames(sample))
        del sample
        t_decide = time.perf_counter() - t0
        usable, blocks, sizes, outlines = [], [], [], []
        timings = {'decide (sample)': t_decide, 'load': 0.0, 'proposals': 0.0, 'features': 0.0}
        starts = range(0, n, STREAM_BATCH)
        for start in progress(starts, self.progress, f'batches of {STREAM_BATCH}',
                              total=len(starts)):
            t1 = time.perf_counter()
            idx = list(range(start, min(n, start + STREAM_BATCH)))
            frames = parallel_map(read, idx)
            t2 = time.perf_counter()
            crops = []
            for i, frame in zip(idx, frames):
                if frame is None:
                    continue
                region = self._main_region(proposer, frame) if objects.value else None
                if region is None:
                    crops.append(frame)
                    if objects.value:
                        h, w = frame.shape[:2]
                        region = Region(box=(0, 0, w, h), mask=np.ones((h, w), bool),
                                        crop=frame, score=0.0)
                else:
                    crops.append(self._crop(frame, region))
                if objects.value:
                    sizes.append(region_size(region))
                    outlines.append(width_profile(region))
                usable.append(i)
            del frames
            t3 = time.perf_counter()
            if crops:
                views, _ = self._features(crops, self.turn is not False)
                blocks.append(np.asarray(views[0], dtype=np.float32))
            timings['load'] += t2 - t1
            timings['proposals'] += t3 - t2
            timings['features'] += time.perf_counter() - t3
        X = np.vstack(blocks) if blocks else np.zeros((0, 0), np.float32)
        d = Description(items=items, usable=usable, views=[X], trunk=None,
                        sizes=np.array(sizes).reshape(-1, 2) if objects.value else None,
                        outlines=np.array(outlines) if objects.value and outlines else None,
                        crops=[], timings=timings,
                        decisions={'fixed_camera': camera, 'objects': objects,
                                   'turn': self._turn_decision(objects.value, streamed=True)})
        rows = np.sort(rng.choice(len(d), min(len(d), GEOMETRY_SAMPLE), replace=False))
        d.decisions['geometry'] = self._geometry(d.subset(rows)) if len(d) else \
            Decision(False, 'no usable image')
        timings['describe_total'] = time.perf_counter() - t0
        return d

    @staticmethod
    def _main_region(proposer, frame):
        if isinstance(proposer, BackgroundProposer) and proposer.fallback == 'none':
            found = proposer.propose(frame)
            return found[0] if found and found[0].extra.get('method') == 'background' \
                else None
        return proposer.propose_main(frame)

    def scene(self, frame, background: np.ndarray | None = None,
              source: str = 'scene') -> Description:
        """Describe the objects of one frame of the cell's overhead camera.

        ``background`` is an empty-table frame of the same camera when known; without it
        objects are found in the frame alone (saliency).
        """
        self._check()
        t0 = time.perf_counter()
        frame = load_image(frame) if isinstance(frame, (str, os.PathLike)) else to_rgb8(frame)
        spec = self.proposer
        if spec == 'auto':
            spec = 'background' if background is not None else 'saliency'
        proposer = make_proposer(spec)
        proposer.fit(None if background is None else [to_rgb8(background)])
        regions = proposer.propose(frame)
        items = [Item(source=f'{source}#{j}', region=r) for j, r in enumerate(regions)]
        crops = [self._crop(frame, r) for r in regions]
        camera = Decision(True, 'all objects are in one frame of one camera', forced=True)
        objects = Decision(bool(regions), f'{len(regions)} object(s) found by the {spec} '
                           'proposer', {'found': len(regions)}, forced=self.proposer != 'auto')
        return self._finish(items, list(range(len(items))), crops, camera, objects,
                            {'proposals': time.perf_counter() - t0})

    def regions(self, regions: Sequence[Region], sources: Sequence[str] | None = None,
                features: np.ndarray | None = None) -> Description:
        """Describe objects found elsewhere (the proposals node's detections).

        Each region's ``crop`` is what the extractor sees (the detections carry the view
        :meth:`view` made); ``features`` are their rows when already extracted. The
        regions come from one camera.
        """
        self._check()
        regions = list(regions)
        if features is not None and len(features) != len(regions):
            raise ValueError(f'{len(features)} feature rows for {len(regions)} regions')
        sources = list(sources) if sources is not None else [f'object{i}' for i in
                                                             range(len(regions))]
        items = [Item(source=s, region=r) for s, r in zip(sources, regions)]
        camera = Decision(True, 'detections of one camera', forced=True)
        masked = sum(1 for r in regions if not r.mask.all())
        objects = Decision(masked > 0, f'{masked} of {len(regions)} detection(s) carry an '
                           'object mask', {'masked': masked}, forced=True)
        # Detections are objects found in a frame (masked or not): turned as objects are.
        return self._finish(items, list(range(len(items))), [r.crop for r in regions], camera,
                            objects, {}, features, cut=True)

    def view(self, frame: np.ndarray, region: Region) -> np.ndarray:
        """What the extractor sees of ``region`` of ``frame`` (see ``crop``)."""
        self._check()
        return self._crop(frame, region)

    # -- shared parts ----------------------------------------------------------------
    def _decide(self, frames: list[np.ndarray]) -> tuple[Decision, Decision, list | None]:
        """Fixed camera and objects decisions; regions when the evidence already found them."""
        spec = self.proposer
        if spec == 'auto':
            return camera_decisions(frames, show=self.progress)
        if spec in (None, 'none'):
            no = Decision(False, "forced by proposer='none'", forced=True)
            return no, Decision(False, "forced by proposer='none'", forced=True), None
        fixed = spec == 'background' or isinstance(spec, BackgroundProposer)
        return (Decision(fixed, f'forced by proposer={spec!r}', forced=True),
                Decision(True, f'forced by proposer={spec!r}', forced=True), None)

    def _crop(self, frame: np.ndarray, region: Region) -> np.ndarray:
        return upright_crop(frame, region) if self.crop == 'upright' else region.crop

    def _finish(self, items: list[Item], usable: list[int], crops: list[np.ndarray],
                camera: Decision, objects: Decision, timings: dict,
                features: np.ndarray | None = None, cut: bool | None = None) -> Description:
        """The description of ``crops``; ``cut``: the crops are objects cut out of their
        frames (default: as the ``objects`` decision says)."""
        t0 = time.perf_counter()
        cut = objects.value if cut is None else cut
        turn_views = None
        if features is not None:
            views, trunk = [np.asarray(features, dtype=np.float64)], None
        elif self._decides_turn(cut) and crops:
            turn_views = self._turn_views(crops)
            views, trunk = [turn_views.turned], None
        else:
            views, trunk = self._features(crops, self.turn is not False)
        t1 = time.perf_counter()
        sizes = outlines = None
        if objects.value and usable:
            regions = [items[i].region for i in usable]
            sizes = np.array([region_size(r) for r in regions]).reshape(-1, 2)
            outlines = np.array([width_profile(r) for r in regions])
        d = Description(items=items, usable=usable, views=views, trunk=trunk, sizes=sizes,
                        outlines=outlines, crops=crops, timings=timings,
                        decisions={'fixed_camera': camera, 'objects': objects},
                        turn_views=turn_views)
        if features is None:
            d.decisions['turn'] = self._turn_decision(cut, surround=cut and not objects.value)
        d.decisions['geometry'] = self._geometry(d)
        timings.update(features=t1 - t0, describe_total=time.perf_counter() - t0
                       + sum(timings.values()))
        return d

    def _geometry(self, d: Description) -> Decision:
        if not d.decisions['objects'].value:
            return Decision(False, 'no segmented objects: whole images have no size or '
                            'outline of their own')
        if not d.decisions['fixed_camera'].value:
            return Decision(False, 'not one fixed camera: pixel size is not physical size')
        d.decisions['geometry'] = Decision(True, 'probe')  # weigh geometry as it would enter
        G = geometry_block(d)
        return geometry_decision(normalize_features(d.views[0], 'centered'), G)

    # -- the turn ----------------------------------------------------------------------
    def _decides_turn(self, objects: bool) -> bool:
        return (self.turn == 'auto' and not objects and self.input is Input.MATRIX
                and self._extractor_turns())

    def _extractor_turns(self) -> bool:
        """Whether the configured extractor has a turned view (test-time augmentation)."""
        # From the extractor's parameters: building it would start a Dask cluster.
        features = self.features
        if isinstance(features, str):
            features = make_extractor(features)
        return any(v != 'none' for k, v in features.get_params(deep=True).items()
                   if k == 'tta' or k.endswith('__tta'))

    def _turn_decision(self, objects: bool, streamed: bool = False,
                       surround: bool = False) -> Decision:
        if self.turn != 'auto':
            return Decision(bool(self.turn), f'forced by turn={bool(self.turn)}', forced=True)
        if surround:
            return Decision(True, 'objects cropped out of a plain surround lie either way '
                            'round, as segmented ones: each is also seen turned by 180 degrees')
        if objects:
            return Decision(True, 'segmented objects lie either way round: each is also '
                            'seen turned by 180 degrees')
        if streamed:
            return Decision(True, f'more than {STREAM_ABOVE} images, described in batches: '
                            'turned without a decision (it needs every image seen three ways)')
        if self.input is not Input.MATRIX:
            return Decision(True, 'the method clusters several views or fine-tunes a '
                            'network: turned without a decision')
        if not self._extractor_turns():
            return Decision(False, f'the extractor {self.features!r} has no turned view '
                            '(no test-time augmentation)')
        return Decision(True, 'pending: decided with the number of groups',
                        {'pending': True})

    def _turn_views(self, crops: list[np.ndarray]):
        """Whole images as they are, turned by 180 degrees and trimmed (one pass each)."""
        extractor = self.extractor(turned=False)
        return TurnViews.of(
            extractor.transform(crops),
            extractor.transform([np.ascontiguousarray(c[::-1, ::-1]) for c in crops]),
            extractor.transform([trimmed(c) for c in crops]))

    def extractor(self, turned: bool | None = None):
        """The feature extractor, made once per describer (its weights load once).

        ``turned``: whether it averages in the 180-degree turn (its test-time
        augmentation); None: as segmented objects are described (turned unless ``turn``
        is False).
        """
        turned = self.turn is not False if turned is None else bool(turned)
        key = (repr(self.features), str(self.cache_dir), turned)
        cache = self.__dict__.setdefault('_extractors', {})
        if key not in cache:
            extractor = make_extractor(self.features, cache_dir=self.cache_dir)
            if not turned:
                extractor = _without_tta(extractor)
            if self.workers is not None or self.scheduler is not None:
                extractor = self._distributed(extractor)
            cache[key] = extractor
        return cache[key]

    def _distributed(self, extractor):
        """``extractor`` with its computation on Dask (inside the cache: only misses go)."""
        from ..features.cache import CachedExtractor
        from ..features.distributed import DaskFeatures

        def wrap(e):
            return DaskFeatures(e, scheduler=self.scheduler, n_workers=self.workers or 1)

        if isinstance(extractor, CachedExtractor):
            return CachedExtractor(wrap(extractor.extractor), extractor.cache_dir)
        return wrap(extractor)

    def close(self) -> None:
        """Stop what the describer started (a local Dask cluster); it can be used again."""
        for extractor in self.__dict__.pop('_extractors', {}).values():
            inner = getattr(extractor, 'extractor', extractor)
            for e in (extractor, inner):
                if hasattr(e, 'close'):
                    e.close()

    def _features(self, crops: list[np.ndarray], turned: bool
                  ) -> tuple[list[np.ndarray], np.ndarray | None]:
        if not crops:
            return [np.zeros((0, 0))], None
        extractor = self.extractor(turned)
        if self.input is Input.VIEWS and hasattr(extractor, 'transform_views'):
            return list(extractor.transform_views(crops)), None
        views = [extractor.transform(crops)]
        if self.input is Input.TRUNK:
            from ..bootstrap import EfficientNetLiteTail
            return views, EfficientNetLiteTail().trunk(crops, progress=self.progress)
        return views, None


def _without_tta(extractor):
    """A copy of ``extractor`` (and of every part of a cached or multi-view one) that
    averages no test-time turns."""
    from sklearn.base import clone
    params = extractor.get_params(deep=True)
    off = {k: 'none' for k in params if k == 'tta' or k.endswith('__tta')}
    return clone(extractor).set_params(**off) if off else extractor


def _name(x, i: int) -> str:
    return str(x) if isinstance(x, (str, os.PathLike)) else f'image{i}'


def _fit_frames(frames: list[np.ndarray]) -> list[np.ndarray] | None:
    """Frames to learn backgrounds from (the proposer groups them by camera itself).

    With fewer than 3, a proposer would take each as an empty table -- wrong for photos
    that each show an object -- so it gets none and works frame by frame.
    """
    return frames if len(frames) >= 3 else None


