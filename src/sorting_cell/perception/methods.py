"""The clustering methods perception can assign boxes with, and what each needs.

One registry, name -> :class:`Method`: a method declares the input it takes (one matrix,
per-view matrices, or per-view matrices plus the fine-tunable network's trunk rows) and
builds its estimator. :func:`~sorting_cell.perception.assign` looks methods up here; no
caller switches on method names.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

__all__ = ['Input', 'Method', 'METHODS', 'MVEC_BASES', 'lookup', 'make_method']


class Input(enum.Enum):
    """What a method's ``fit_predict`` takes."""

    #: One feature matrix (appearance next to size and outline).
    MATRIX = 'matrix'
    #: A list of per-view matrices (every view gets size and outline).
    VIEWS = 'views'
    #: Per-view matrices plus the trunk rows of the network it fine-tunes (last).
    TRUNK = 'trunk'


@dataclass(frozen=True)
class Method:
    """A registered method: how to build it and what it needs.

    ``build(n_clusters, random_state, progress)`` returns an unfitted estimator with
    ``fit_predict`` that takes already-normalised input (normalising again would
    re-weight size and outline).
    """

    build: Callable
    input: Input = Input.MATRIX
    summary: str = ''


def _classic(name: str) -> Callable:
    def build(n_clusters, random_state, progress):
        from ..clustering import ImageClusterer
        return ImageClusterer(n_clusters=n_clusters, method=name, normalize=None,
                              random_state=random_state)
    return build


def _multiview(name: str, **fixed) -> Callable:
    def build(n_clusters, random_state, progress):
        from ..multiview import make_multiview
        kw = dict(fixed)
        if name in ('idec', 'dmvc'):
            kw['progress'] = progress
        return make_multiview(name, n_clusters, random_state=random_state, **kw)
    return build


def _bootstrap(finetune: bool) -> Callable:
    def build(n_clusters, random_state, progress):
        from ..bootstrap import EfficientNetLiteTail, TransferBootstrap
        kw = {}
        if finetune:
            # Photos of objects: the ImageNet tail alone, the boot feature only seeds it
            # (benchmarks/results/bootstrap_tail_tools.md).
            kw = {'network': EfficientNetLiteTail(), 'head_input': 'pretrained'}
        return TransferBootstrap(n_clusters=n_clusters, random_state=random_state,
                                 progress=progress, **kw)
    return build


def _frozen(cls_name: str) -> Callable:
    def build(n_clusters, random_state, progress):
        from ..clustering import frozen
        return getattr(frozen, cls_name)(n_clusters=n_clusters, random_state=random_state)
    return build


def _turtle(n_clusters, random_state, progress):
    from ..clustering.turtle import TURTLEClusterer
    return TURTLEClusterer(n_clusters=n_clusters, random_state=random_state)


#: A partition per (view, clusterer) for MVEC: measured best on the tool benchmark
#: (benchmarks/results/multiview_shape_ensembles.md).
MVEC_BASES = ('agglomerative', 'kmeans', 'spectral')


def _knn_ward(n_clusters, random_state, progress):
    from ..clustering.scalable import KnnWard
    return KnnWard(n_clusters=n_clusters,
                   random_state=0 if random_state is None else random_state)


def _registry() -> dict[str, Method]:
    from ..clustering.estimator import METHODS as CLASSIC
    reg = {name: Method(_classic(name), Input.MATRIX, f'{name} (scikit-learn)')
           for name in CLASSIC}
    reg.update({
        'knn_ward': Method(_knn_ward, Input.MATRIX,
                           'Ward restricted to a 10-nearest-neighbour graph on 128 principal '
                           "axes (what 'agglomerative' becomes on big sets)"),
        'cc': Method(_multiview('cc', normalize=None), Input.VIEWS,
                     'views concatenated, then Ward'),
        'mvec': Method(_multiview('mvec', normalize=None, base=list(MVEC_BASES)), Input.VIEWS,
                       'a partition per view and clusterer, co-association, average linkage'),
        'idec': Method(_multiview('idec'), Input.VIEWS, 'IDEC on the concatenated views'),
        'dmvc': Method(_multiview('dmvc'), Input.VIEWS, 'MVnet trained with the IDEC loss'),
        'temi': Method(_frozen('TEMIClusterer'), Input.MATRIX,
                       'clustering heads trained on the frozen features by self-distillation '
                       'over nearest neighbours (TEMI)'),
        'umap-ward': Method(_frozen('UMAPWard'), Input.MATRIX,
                            'UMAP to 10 dimensions, then Ward'),
        'turtle': Method(_turtle, Input.VIEWS,
                         'the labelling that linear classifiers in every view (pretrained '
                         "net) separate best (TURTLE); give several nets as features 'a+b'"),
        'bootstrap': Method(_bootstrap(False), Input.VIEWS,
                            'bootstrapping: first view = boot feature, then a trained head'),
        'bootstrap-finetune': Method(_bootstrap(True), Input.TRUNK,
                                     "bootstrapping that fine-tunes EfficientNet-Lite0's "
                                     'last block; the feature name is the boot feature'),
    })
    return reg


METHODS: dict[str, Method] = _registry()


def make_method(name: str, n_clusters: int, random_state=None, progress=False):
    """An unfitted estimator for registry name ``name``."""
    return lookup(name).build(n_clusters, random_state, progress)


def lookup(name) -> Method:
    """The registered :class:`Method` called ``name``; a clear error otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        import difflib
        close = difflib.get_close_matches(str(name), METHODS, n=3)
        hint = f' (did you mean {", ".join(map(repr, close))}?)' if close else ''
        raise ValueError(f'unknown clustering method {name!r}{hint}; choose one of '
                         f'{", ".join(METHODS)}') from None
