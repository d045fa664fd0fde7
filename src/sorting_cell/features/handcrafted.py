"""Handcrafted descriptors: raw pixels, HOG, a Gabor filter bank, colour histograms.

Weak on their own against ImageNet CNNs, but cheap, weight-free and complementary
(shape, texture, colour); they also seed the bootstrapping of learned features.
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import FeatureExtractor
from .preprocess import check_resize_mode, to_square

__all__ = ['RawPixels', 'HOGFeatures', 'GaborFeatures', 'ColorHistogram']


def _check_size(size, minimum: int = 1) -> int:
    if not isinstance(size, (int, np.integer)) or size < minimum:
        raise ValueError(f'size must be an integer >= {minimum}, got {size!r}')
    return int(size)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class RawPixels(FeatureExtractor):
    """The image itself, shrunk to ``size`` x ``size``, scaled to [0, 1], flattened.

    Parameters
    ----------
    size : int
        Side of the thumbnail.
    gray : bool
        One luminance channel instead of RGB.
    resize : {'pad', 'pad_gray', 'stretch', 'crop'}
        How a crop of any shape becomes square.
    """

    def __init__(self, size: int = 32, gray: bool = False, resize: str = 'pad'):
        self.size = size
        self.gray = gray
        self.resize = resize

    def _transform(self, images):
        size = _check_size(self.size)
        check_resize_mode(self.resize)
        rows = []
        for im in images:
            thumb = to_square(im, size, self.resize)
            if self.gray:
                thumb = _gray(thumb)
            rows.append(thumb.reshape(-1))
        return np.stack(rows).astype(np.float32) / 255.0


class HOGFeatures(FeatureExtractor):
    """Histogram of oriented gradients (Dalal & Triggs) of the gray, squared crop.

    Parameters
    ----------
    size : int
        Side the crop is resized to before the descriptor (fixes the output length).
    orientations, pixels_per_cell, cells_per_block, block_norm
        As in :func:`skimage.feature.hog`.
    resize : {'pad', 'pad_gray', 'stretch', 'crop'}
        How a crop of any shape becomes square.
    """

    def __init__(self, size: int = 128, orientations: int = 9, pixels_per_cell: int = 16,
                 cells_per_block: int = 2, block_norm: str = 'L2-Hys', resize: str = 'pad'):
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.resize = resize

    def _transform(self, images):
        from skimage.feature import hog

        size = _check_size(self.size)
        check_resize_mode(self.resize)
        if size < self.pixels_per_cell * self.cells_per_block:
            raise ValueError(f'size {size} is smaller than one HOG block '
                             f'({self.pixels_per_cell} x {self.cells_per_block} pixels)')
        return np.stack([
            hog(_gray(to_square(im, size, self.resize)), orientations=self.orientations,
                pixels_per_cell=(self.pixels_per_cell,) * 2,
                cells_per_block=(self.cells_per_block,) * 2, block_norm=self.block_norm,
                feature_vector=True)
            for im in images])


class GaborFeatures(FeatureExtractor):
    """Mean and standard deviation of a Gabor filter bank's response magnitude.

    The kernels come from :func:`skimage.filters.gabor_kernel`; filtering is done in the
    Fourier domain (one forward FFT per image), an order of magnitude faster than
    ``skimage.filters.gabor`` for this bank's large low-frequency kernels.

    Parameters
    ----------
    size : int
        Side the gray crop is resized to.
    frequencies : tuple of float
        Spatial frequencies in cycles per pixel (of the resized crop).
    n_orientations : int
        Orientations evenly spread over [0, pi).
    resize : {'pad', 'pad_gray', 'stretch', 'crop'}
        How a crop of any shape becomes square.
    """

    def __init__(self, size: int = 96, frequencies: tuple = (0.05, 0.1, 0.2, 0.35),
                 n_orientations: int = 6, resize: str = 'pad'):
        self.size = size
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.resize = resize

    def _kernels(self) -> list[np.ndarray]:
        from skimage.filters import gabor_kernel

        if not self.frequencies or any(not 0 < f <= 0.5 for f in self.frequencies):
            raise ValueError(f'frequencies must be a non-empty sequence in (0, 0.5] cycles '
                             f'per pixel, got {self.frequencies!r}')
        if not isinstance(self.n_orientations, (int, np.integer)) or self.n_orientations < 1:
            raise ValueError(f'n_orientations must be a positive integer, got '
                             f'{self.n_orientations!r}')
        return [gabor_kernel(f, theta=np.pi * k / self.n_orientations)
                for f in self.frequencies for k in range(self.n_orientations)]

    def _bank_fft(self, size: int) -> tuple[np.ndarray, int]:
        """FFTs of the complex kernels on the padded grid, and the padding (cached)."""
        key = (size, tuple(self.frequencies), self.n_orientations)
        cached = self.__dict__.get('_bank')
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        kernels = self._kernels()
        from scipy.fft import next_fast_len

        pad = max(k.shape[0] for k in kernels) // 2
        n = next_fast_len(size + 2 * pad)
        pad = (n - size) // 2  # grow the padding to an FFT-friendly length
        bank = np.empty((len(kernels), n, n), dtype=np.complex64)
        for i, k in enumerate(kernels):
            grid = np.zeros((n, n), dtype=np.complex128)
            r = k.shape[0] // 2
            # centre the kernel on (0, 0) so the circular convolution is not shifted
            grid[np.arange(-r, r + 1)[:, None] % n, np.arange(-r, r + 1)[None, :] % n] = k
            bank[i] = np.fft.fft2(grid)
        self.__dict__['_bank'] = (key, bank, pad)
        return bank, pad

    def _transform(self, images):
        size = _check_size(self.size, 8)
        check_resize_mode(self.resize)
        from scipy import fft as sp_fft

        bank, pad = self._bank_fft(size)
        n = bank.shape[1]
        rows = []
        for im in images:
            g = _gray(to_square(im, size, self.resize)).astype(np.float32) / 255.0
            g = (g - g.mean()) / (g.std() + 1e-6)  # lighting-invariant texture energy
            # One FFT of the reflect-padded image, one inverse per filter (the bank's
            # large low-frequency kernels make direct convolution slow).
            padded = np.pad(g, (pad, n - size - pad), mode='reflect')
            spec = sp_fft.fft2(padded.astype(np.complex64))
            mag = np.abs(sp_fft.ifft2(spec[None] * bank, axes=(1, 2))
                         [:, pad:pad + size, pad:pad + size])
            rows.append(np.stack([mag.mean(axis=(1, 2)), mag.std(axis=(1, 2))], 1).ravel())
        return np.asarray(rows, dtype=np.float32)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop('_bank', None)
        return state


class ColorHistogram(FeatureExtractor):
    """Joint colour histogram of the crop, normalised to sum 1.

    Parameters
    ----------
    bins : tuple of int
        Bins per channel of ``space``.
    space : {'hsv', 'lab', 'rgb'}
        Colour space; HSV separates hue from the lighting changes between conditions.
    max_side : int
        The crop is shrunk to at most this many pixels on its long side first (speed).
    """

    _SPACES = {'hsv': (cv2.COLOR_RGB2HSV, (180, 256, 256)),
               'lab': (cv2.COLOR_RGB2LAB, (256, 256, 256)),
               'rgb': (None, (256, 256, 256))}

    def __init__(self, bins: tuple = (8, 4, 4), space: str = 'hsv', max_side: int = 128):
        self.bins = bins
        self.space = space
        self.max_side = max_side

    def _transform(self, images):
        if self.space not in self._SPACES:
            raise ValueError(f'unknown colour space {self.space!r}; valid: '
                             f'{", ".join(self._SPACES)}')
        bins = [int(b) for b in self.bins]
        if len(bins) != 3 or min(bins) < 1:
            raise ValueError(f'bins must be three positive integers, got {self.bins!r}')
        max_side = _check_size(self.max_side)
        code, tops = self._SPACES[self.space]
        ranges = [v for top in tops for v in (0, top)]
        rows = []
        for im in images:
            h, w = im.shape[:2]
            if max(h, w) > max_side:
                s = max_side / max(h, w)
                im = cv2.resize(im, (max(1, round(w * s)), max(1, round(h * s))),
                                interpolation=cv2.INTER_AREA)
            conv = im if code is None else cv2.cvtColor(im, code)
            hist = cv2.calcHist([conv], [0, 1, 2], None, bins, ranges).reshape(-1)
            rows.append(hist / max(hist.sum(), 1.0))
        return np.stack(rows)
