"""Several views of the same crops, each L2-normalised, side by side."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.preprocessing import normalize

from .base import FeatureExtractor, as_image_list

__all__ = ['ConcatFeatures']


class ConcatFeatures(FeatureExtractor):
    """Concatenation of per-view L2-normalised features (multi-view container).

    Each view is normalised to unit length before concatenation so that a 1280-d CNN
    embedding does not drown a 128-d colour histogram. Multi-view clusterers can use the
    views separately: :attr:`views` (the extractors), :attr:`view_names`,
    :meth:`transform_views` (normalised per view) and :attr:`slices_`.

    Parameters
    ----------
    extractors : sequence of FeatureExtractor or str
        The views; strings are registry names (see
        :func:`sorting_cell.features.make_extractor`).
    names : sequence of str or None
        One name per view (defaults to the registry names, or ``view0``, ``view1`` ...).
    weights : sequence of float or None
        Per-view multipliers applied after normalisation (default: all 1).

    Attributes
    ----------
    slices_ : list of slice
        Columns of each view in the concatenated output, set by :meth:`transform`.
    """

    def __init__(self, extractors: Sequence = (), names: Sequence[str] | None = None,
                 weights: Sequence[float] | None = None):
        self.extractors = extractors
        self.names = names
        self.weights = weights

    def named_views(self) -> list[tuple[str, FeatureExtractor]]:
        """``[(name, extractor), ...]`` with registry names resolved (built once)."""
        from . import make_extractor

        spec = list(self.extractors)
        cached = self.__dict__.get('_views')
        if cached is not None and cached[0] == [id(e) for e in spec]:
            return cached[1]
        if not spec:
            raise ValueError('ConcatFeatures needs at least one extractor')
        names = list(self.names) if self.names is not None else [
            e if isinstance(e, str) else f'view{i}' for i, e in enumerate(spec)]
        if len(names) != len(spec):
            raise ValueError(f'{len(names)} names for {len(spec)} extractors')
        views = list(zip(names, [make_extractor(e) for e in spec]))
        self.__dict__['_views'] = ([id(e) for e in spec], views)
        return views

    @property
    def views(self) -> list[FeatureExtractor]:
        """The view extractors, in order (each ``transform`` gives that view, unnormalised)."""
        return [ext for _, ext in self.named_views()]

    @property
    def view_names(self) -> list[str]:
        """One name per view (registry names when built from a ``'a+b'`` spec)."""
        return [name for name, _ in self.named_views()]

    def load(self) -> 'ConcatFeatures':
        """Load every view's weights now; returns self."""
        for ext in self.views:
            ext.load()
        return self

    def _weights(self) -> list[float]:
        n = len(self.views)
        w = [1.0] * n if self.weights is None else [float(x) for x in self.weights]
        if len(w) != n:
            raise ValueError(f'{len(w)} weights for {n} views')
        return w

    def transform_views(self, X) -> list[np.ndarray]:
        """One L2-normalised (n_images, d_view) array per view, in order."""
        images = as_image_list(X)
        return [normalize(ext.transform(images)).astype(np.float32) for ext in self.views]

    def _transform(self, images):
        parts = [w * v for w, v in zip(self._weights(), self.transform_views(images))]
        edges = np.cumsum([0] + [p.shape[1] for p in parts])
        self.slices_ = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        return np.hstack(parts)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop('_views', None)  # ids are process-specific; rebuild lazily
        return state
