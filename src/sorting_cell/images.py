"""Load any image file, or accept any array, as RGB uint8 -- or say exactly why not.

Documented conversions (so that every backend sees one format):

- grayscale (HxW or HxWx1) -> replicated to 3 channels;
- RGBA / BGRA -> alpha composited over white (transparent pixels become table-white);
- 16-bit integer -> scaled by 1/257 to 8 bits; float in [0, 1] -> scaled by 255;
- an EXIF orientation tag (phone photos) -> turned upright, as photo viewers show it;
- larger than ``max_side`` pixels on the long side -> downscaled with INTER_AREA
  (ImageNet nets see 224 px anyway; a 20k-pixel panorama should not exhaust memory).

Anything else (missing, zero-byte, corrupt, not an image, empty array) raises
:class:`ImageLoadError` with the path and a specific reason.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ['ImageLoadError', 'load_image', 'to_rgb8', 'IMAGE_SUFFIXES', 'MAX_SIDE']

IMAGE_SUFFIXES = frozenset({'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp',
                            '.ppm', '.pgm', '.pnm'})
MAX_SIDE = 4096


class ImageLoadError(ValueError):
    """An input could not be turned into an RGB image."""

    def __init__(self, source: str | os.PathLike | None, reason: str):
        self.source = None if source is None else str(source)
        self.reason = reason
        super().__init__(f'{self.source}: {reason}' if source is not None else reason)


def load_image(path: str | os.PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read an image file as an HxWx3 RGB uint8 array.

    Raises
    ------
    ImageLoadError
        With a reason: missing file, directory, zero bytes, undecodable content, ...
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(path, 'file does not exist')
    if path.is_dir():
        raise ImageLoadError(path, 'is a directory, not an image file')
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageLoadError(path, f'cannot read file: {exc.strerror or exc}') from exc
    if raw.size == 0:
        raise ImageLoadError(path, 'file is empty (0 bytes)')
    # UNCHANGED keeps alpha and 16 bits, and with them OpenCV ignores the EXIF orientation:
    # that is applied below, as photo viewers do.
    decoded = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None:
        raise ImageLoadError(path, f'not a decodable image ({raw.size} bytes; corrupt, '
                             'truncated, or not an image format OpenCV reads)')
    decoded = _upright(decoded, _exif_orientation(raw))
    # OpenCV decodes colour as BGR(A); convert once here so nothing downstream cares.
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    return to_rgb8(decoded, source=path, max_side=max_side)


# EXIF orientation tag (1..8) -> how to turn the stored pixels upright (numpy axes:
# rows, columns); TIFF/EXIF 2.32 section 4.6.4, as PIL.ImageOps.exif_transpose applies it.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],                 # mirrored left-right
    3: lambda a: a[::-1, ::-1],              # rotated 180
    4: lambda a: a[::-1, :],                 # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),           # transposed
    6: lambda a: np.rot90(a, -1),            # stored 90 deg counter-clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transversed
    8: lambda a: np.rot90(a, 1),             # stored 90 deg clockwise
}


def _exif_orientation(raw: np.ndarray) -> int:
    """The EXIF orientation of an encoded image (1 = as stored, also when there is none)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw.tobytes())) as im:
            value = im.getexif().get(0x0112, 1)  # Orientation
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError):
        return 1  # a format PIL does not read (OpenCV did): no EXIF to honour
    return value if value in _UPRIGHT else 1


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    turn = _UPRIGHT.get(orientation)
    return image if turn is None else np.ascontiguousarray(turn(image))


def to_rgb8(image: np.ndarray, source: str | os.PathLike | None = None,
            max_side: int = MAX_SIDE) -> np.ndarray:
    """Convert an array (gray, RGB, RGBA; uint8/uint16/float) to HxWx3 RGB uint8."""
    arr = np.asarray(image)
    if arr.size == 0 or arr.ndim < 2 or min(arr.shape[:2]) == 0:
        raise ImageLoadError(source, f'empty image (shape {arr.shape})')
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageLoadError(source, f'unsupported shape {arr.shape}: expected HxW, HxWx3 '
                             'or HxWx4')
    arr = _to_uint8(arr, source)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    h, w = arr.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        arr = cv2.resize(arr, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray, source) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageLoadError(source, 'float image contains NaN or infinity')
        top = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
        return np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    raise ImageLoadError(source, f'unsupported pixel type {arr.dtype}')
