"""Bring a crop of any size to the square input a network or descriptor expects."""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ['RESIZE_MODES', 'to_square', 'check_resize_mode', 'aspect_size',
           'resize_to', 'tta_views']

#: ``'pad'`` keeps the aspect ratio and pads the short side with the crop's own border
#: (background-like, so a long screwdriver stays long); ``'pad_gray'`` pads with mid-gray
#: (zero after MobileNet normalisation); ``'stretch'`` squashes to the square;
#: ``'crop'`` resizes the short side and cuts the centre (the ImageNet evaluation recipe).
#: ``'aspect'`` keeps the aspect ratio *without* padding, for fully convolutional networks
#: that accept any input size (see :func:`aspect_size`); where a square is required it
#: behaves as ``'pad'``.
RESIZE_MODES = ('aspect', 'pad', 'pad_gray', 'stretch', 'crop')


def check_resize_mode(mode: str) -> str:
    """Return ``mode`` or raise a ValueError naming the valid ones."""
    if mode not in RESIZE_MODES:
        raise ValueError(f'unknown resize mode {mode!r}; valid: {", ".join(RESIZE_MODES)}')
    return mode


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    # INTER_AREA avoids aliasing when shrinking; linear is the smooth choice when growing.
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    return cv2.resize(image, (max(1, width), max(1, height)), interpolation=interp)


def to_square(image: np.ndarray, size: int, mode: str = 'pad') -> np.ndarray:
    """Resize ``image`` (HxW or HxWxC) to ``size`` x ``size`` following ``mode``.

    Parameters
    ----------
    image : ndarray
        Any size, uint8 or float.
    size : int
        Side of the output square.
    mode : {'pad', 'pad_gray', 'stretch', 'crop'}
        See :data:`RESIZE_MODES`.

    Returns
    -------
    ndarray of shape (size, size) + image.shape[2:], same dtype as ``image``.
    """
    check_resize_mode(mode)
    mode = 'pad' if mode == 'aspect' else mode
    h, w = image.shape[:2]
    if mode == 'stretch' or h == w:
        return _resize(image, size, size)
    if mode == 'crop':
        scale = size / min(h, w)
        big = _resize(image, round(w * scale), round(h * scale))
        bh, bw = big.shape[:2]
        y0, x0 = max(0, (bh - size) // 2), max(0, (bw - size) // 2)
        out = big[y0:y0 + size, x0:x0 + size]
        if out.shape[:2] != (size, size):  # rounding left it a pixel short
            out = _resize(out, size, size)
        return np.ascontiguousarray(out)
    scale = size / max(h, w)
    nw, nh = min(size, max(1, round(w * scale))), min(size, max(1, round(h * scale)))
    small = _resize(image, nw, nh)
    top, left = (size - nh) // 2, (size - nw) // 2
    bottom, right = size - nh - top, size - nw - left
    if mode == 'pad':
        out = cv2.copyMakeBorder(small, top, bottom, left, right, cv2.BORDER_REPLICATE)
    else:
        gray = 127.5 if np.issubdtype(image.dtype, np.floating) else 128
        fill = [gray] * (image.shape[2] if image.ndim == 3 else 1)
        out = cv2.copyMakeBorder(small, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                 value=fill)
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a singleton channel axis
        out = out[:, :, None]
    return out


def aspect_size(h: int, w: int, long_side: int = 224, multiple: int = 32,
                min_side: int = 96) -> tuple[int, int]:
    """Input ``(height, width)`` that keeps an ``h`` x ``w`` crop's aspect ratio.

    The long side becomes ``long_side``; the short side is rounded to a ``multiple`` (the
    network's total stride, so no activation is wasted on partial cells) and kept at
    least ``min_side`` so thin objects still cover a few cells across. Few distinct sizes
    come out, so interpreters per size can be reused.
    """
    scale = long_side / max(h, w, 1)

    def side(v: int) -> int:
        return int(min(long_side, max(min_side, round(v * scale / multiple) * multiple)))

    return side(h), side(w)


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize to exactly ``height`` x ``width`` (area filter when shrinking)."""
    return _resize(image, width, height)


# Test-time augmentations: the object turned by 180 degrees (a tool lies either way round)
# and, for 'flip4', mirrored too.
_TTA = {
    'none': (lambda im: im,),
    'flip': (lambda im: im, lambda im: im[::-1, ::-1]),
    'flip4': (lambda im: im, lambda im: im[::-1, ::-1], lambda im: im[:, ::-1],
              lambda im: im[::-1]),
}


def tta_views(mode: str) -> tuple:
    """The image transforms whose features are averaged for test-time augmentation ``mode``."""
    if mode not in _TTA:
        raise ValueError(f"tta must be one of {', '.join(_TTA)}, got {mode!r}")
    return _TTA[mode]
