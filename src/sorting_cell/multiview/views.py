"""Several descriptions of the same images ("views"), validated together.

A view is one feature matrix with one row per image: the embedding of one pretrained
CNN, a handcrafted descriptor, ... Multi-view clusterers take a list of them. Every
check that protects them from silent garbage lives here: same number of rows in every
view, finite values, no view that is constant over the samples, enough samples for the
clusters asked for.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

__all__ = ['Views', 'check_views', 'check_n_clusters']


def check_n_clusters(n_clusters, n_samples: int) -> int:
    """Validate ``n_clusters`` against the number of samples; return it as an int."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) \
            or n_clusters < 1:
        raise ValueError(f'n_clusters must be an integer >= 1, got {n_clusters!r}')
    if n_clusters > n_samples:
        raise ValueError(f'n_clusters={n_clusters} is larger than the number of samples '
                         f'({n_samples}); need at least as many samples as clusters')
    return int(n_clusters)


def check_views(X, names: Sequence[str] | None = None, n_clusters: int | None = None,
                min_views: int = 1) -> list[np.ndarray]:
    """Validate a multi-view input and return it as a list of float64 matrices.

    Parameters
    ----------
    X : Views, sequence of array-like, or one 2-D array-like
        One matrix per view, each ``(n_samples, n_features_v)``. A single 2-D matrix is a
        one-view input.
    names : sequence of str, optional
        View names used in error messages (default ``view 0``, ``view 1``...).
    n_clusters : int, optional
        When given, also checked against the number of samples.
    min_views : int
        Smallest acceptable number of views.

    Raises
    ------
    ValueError
        Views of different lengths, not 2-D, empty, with NaN/infinity, constant over all
        samples (no information: every sample looks the same), too few views, or more
        clusters than samples.
    """
    if isinstance(X, Views):
        names = names or X.names
        X = X.data
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype != object:
        X = [X]
    if not isinstance(X, (list, tuple)):
        raise ValueError(f'expected a list of per-view feature matrices or one 2-D matrix, '
                         f'got {type(X).__name__}')
    if len(X) < min_views:
        raise ValueError(f'need at least {min_views} view(s), got {len(X)}')
    names = list(names) if names is not None else [f'view {i}' for i in range(len(X))]
    if len(names) != len(X):
        raise ValueError(f'{len(names)} view names for {len(X)} views')
    views = []
    for name, V in zip(names, X):
        V = np.asarray(V, dtype=np.float64)
        if V.ndim != 2:
            raise ValueError(f'{name}: features must be a 2-D array (n_samples, n_features), '
                             f'got shape {V.shape}')
        if V.shape[0] == 0 or V.shape[1] == 0:
            raise ValueError(f'{name}: empty feature matrix (shape {V.shape})')
        bad = ~np.isfinite(V)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise ValueError(f'{name}: features contain NaN or infinity in {rows.size} row(s) '
                             f'(first: {rows[:5].tolist()}); fix or drop those samples')
        if V.shape[0] > 1 and np.ptp(V, axis=0).max() == 0:
            raise ValueError(f'{name}: every sample has the same feature vector (the view is '
                             f'constant over all {V.shape[0]} samples), so it cannot separate '
                             'anything; check the extractor or drop this view')
        views.append(V)
    lengths = {V.shape[0] for V in views}
    if len(lengths) != 1:
        detail = ', '.join(f'{n}: {V.shape[0]}' for n, V in zip(names, views))
        raise ValueError(f'all views must describe the same samples; got rows {detail}')
    if n_clusters is not None:
        check_n_clusters(n_clusters, views[0].shape[0])
    return views


@dataclass
class Views:
    """A named list of per-view feature matrices over the same samples.

    Attributes
    ----------
    data : list of ndarray
        One ``(n_samples, n_features_v)`` float32 matrix per view.
    names : list of str
        A name per view (the extractor's registry name when built from extractors).

    Examples
    --------
    >>> import numpy as np
    >>> v = Views([np.eye(3), np.ones((3, 2)) * [[1], [2], [3]]], ['a', 'b'])
    >>> len(v), v.n_samples, v.dims
    (2, 3, [3, 2])
    """

    data: list[np.ndarray]
    names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.data = [np.asarray(V, dtype=np.float32) for V in self.data]
        if not self.names:
            self.names = [f'view{i}' for i in range(len(self.data))]
        check_views(self.data, self.names)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_extractors(cls, extractors: Sequence, images, names: Sequence[str] | None = None,
                        cache_dir: str | os.PathLike | None = None) -> 'Views':
        """Describe ``images`` with every extractor (objects or registry names).

        A registry spec with ``+`` (``'mobilenet_v1+hog'``) is split into its views.
        """
        from ..features import make_extractor

        exts, labels = [], []
        for i, spec in enumerate(extractors):
            ext = make_extractor(spec, cache_dir=cache_dir) if isinstance(spec, str) else spec
            parts = list(getattr(ext, 'views', None) or [ext])
            if len(parts) > 1 and getattr(ext, 'view_names', None):
                labels += list(ext.view_names)
            elif isinstance(spec, str) and len(parts) > 1:
                sub = spec.split('+')
                labels += sub if len(sub) == len(parts) else [f'{spec}[{j}]'
                                                             for j in range(len(parts))]
            elif isinstance(spec, str):
                labels.append(spec)
            else:
                labels += [type(p).__name__ for p in parts]
            exts += parts
        names = list(names) if names is not None else labels
        if len(names) != len(exts):
            raise ValueError(f'{len(names)} names for {len(exts)} views')
        return cls([np.asarray(e.transform(images)) for e in exts], names)

    @classmethod
    def from_spec(cls, spec: str, images, cache_dir=None) -> 'Views':
        """Views of a ``'a+b+c'`` feature spec, one per ``+`` part."""
        return cls.from_extractors(spec.split('+'), images, cache_dir=cache_dir)

    # -- access --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.data)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, str):
            return self.data[self.names.index(key)]
        return self.data[key]

    @property
    def n_samples(self) -> int:
        return int(self.data[0].shape[0]) if self.data else 0

    @property
    def dims(self) -> list[int]:
        return [int(V.shape[1]) for V in self.data]

    def subset(self, rows) -> 'Views':
        """The same views restricted to ``rows`` (indices or a boolean mask)."""
        return Views([V[rows] for V in self.data], list(self.names))

    def select(self, names: Sequence[str]) -> 'Views':
        """Only the named views, in the order given."""
        return Views([self[n] for n in names], list(names))

    def concatenate(self) -> np.ndarray:
        """All views side by side (no normalisation; see :class:`ConcatClustering`)."""
        return np.hstack(self.data)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write to a ``.npz`` (views under their names, plus any ``extra`` arrays)."""
        arrays = {f'view__{n}': V for n, V in zip(self.names, self.data)}
        np.savez_compressed(path, __names__=np.array(self.names), **arrays, **extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'Views':
        with np.load(path, allow_pickle=False) as z:
            names = [str(n) for n in z['__names__']]
            return cls([z[f'view__{n}'] for n in names], names)
