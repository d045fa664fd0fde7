"""The contract every feature extractor follows."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..images import to_rgb8

__all__ = ['FeatureExtractor', 'as_image_list']


def as_image_list(X) -> list[np.ndarray]:
    """Accept one HxWx3 array, a list of arrays, or an NxHxWx3 batch; return RGB uint8s."""
    if isinstance(X, np.ndarray) and X.ndim == 3 and X.shape[-1] in (3, 4) and X.dtype != object:
        X = [X]
    return [to_rgb8(x) for x in X]


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Base class: images in, one float32 row per image out.

    scikit-learn contract: ``__init__`` only stores arguments; weights load lazily on the
    first ``transform`` (``fit`` is a no-op for pretrained extractors), so that
    ``clone`` and ``get_params`` are cheap and ``Pipeline(extractor, scaler, clusterer)``
    works. ``X`` is a sequence of RGB uint8 arrays of any size (crops).

    Subclasses implement :meth:`_transform` on a list of RGB uint8 images and may
    override :meth:`config` (what the on-disk cache keys on).
    """

    def fit(self, X=None, y=None):
        return self

    def load(self) -> 'FeatureExtractor':
        """Load weights now rather than on the first :meth:`transform`; returns self.

        For long-running processes (a ROS node at start-up) so that the first scene does
        not pay for reading the model. Extractors without weights do nothing.
        """
        return self

    def transform(self, X: Sequence[np.ndarray]) -> np.ndarray:
        images = as_image_list(X)
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.asarray(self._transform(images), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(images):
            raise RuntimeError(f'{type(self).__name__} returned shape {out.shape} for '
                               f'{len(images)} images')
        return out

    def _transform(self, images: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    #: Bumped when a subclass changes its computation, so stale cache entries are not reused.
    config_version: int = 1

    def config(self) -> dict:
        """Everything that changes the output: class name + parameters.

        Nested extractors are described by their own ``config()``; the result is plain
        JSON-able data (the on-disk cache hashes it).
        """
        params = {k: _plain(v) for k, v in self.get_params(deep=False).items()}
        return {'class': type(self).__name__, 'version': self.config_version, **params}


def _plain(value):
    """JSON-able description of a parameter value."""
    if isinstance(value, FeatureExtractor):
        return value.config()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)
