"""Contact sheet: one row of thumbnails per cluster, as an RGB image.

A row starts with a header (cluster id, size, optional composition lines) followed by
at most ``max_per_row`` tiles; when a cluster has more members the last tile says
``+N more``. Captions under the tiles (file name or known class) can be coloured, e.g.
red when an image's class differs from its cluster's majority.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from ..images import to_rgb8

__all__ = ['SheetRow', 'thumbnail', 'contact_sheet', 'save_png', 'encode_image']

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PAGE = (250, 250, 250)
_STRIPE = (238, 241, 246)
_TILE = (214, 214, 214)
_INK = (30, 30, 30)
_MUTED = (110, 110, 110)
_PAD = 6


@dataclass
class SheetRow:
    """One cluster's row.

    Attributes
    ----------
    title : str
        First header line, e.g. ``'cluster 3'``.
    images : sequence of ndarray
        Members to show, best first (may be fewer than ``total``).
    total : int
        Members in the cluster; the difference to what is shown becomes ``+N more``.
    lines : list of str
        Further header lines (size, majority class...).
    captions : sequence of str, optional
        One per image in ``images``.
    caption_colors : sequence of RGB tuples, optional
        One per caption; default dark grey.
    """

    title: str
    images: Sequence[np.ndarray]
    total: int
    lines: list[str] = field(default_factory=list)
    captions: Sequence[str] | None = None
    caption_colors: Sequence[tuple[int, int, int]] | None = None


def thumbnail(image: np.ndarray, size: int = 96,
              background: tuple[int, int, int] = _TILE) -> np.ndarray:
    """Fit ``image`` into a ``size`` x ``size`` tile, aspect ratio kept (letterboxed)."""
    img = to_rgb8(image)
    h, w = img.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(img, (nw, nh),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tile = np.empty((size, size, 3), np.uint8)
    tile[:] = background
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    tile[y0:y0 + nh, x0:x0 + nw] = small
    return tile


def _fit_text(text: str, width: int, scale: float) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if cv2.getTextSize(text, _FONT, scale, 1)[0][0] <= width:
        return text
    while text and cv2.getTextSize(text + '..', _FONT, scale, 1)[0][0] > width:
        text = text[:-1]
    return text + '..'


def _put(canvas, text, x, y, scale, color, thick=1, width=None):
    if width is not None:
        text = _fit_text(text, width, scale)
    cv2.putText(canvas, text, (int(x), int(y)), _FONT, scale, color, thick, cv2.LINE_AA)


def contact_sheet(rows: Sequence[SheetRow], thumb_size: int = 96, max_per_row: int = 12,
                  header_width: int = 150, title: str | None = None) -> np.ndarray:
    """Render ``rows`` as one RGB uint8 image.

    Parameters
    ----------
    rows : sequence of SheetRow
        One per cluster, top to bottom.
    thumb_size : int
        Tile side in pixels.
    max_per_row : int
        Tiles per row including the ``+N more`` tile (>= 2).
    header_width : int
        Width of the text column at the left of each row.
    title : str, optional
        A line across the top of the sheet.
    """
    if max_per_row < 2:
        raise ValueError(f'max_per_row must be >= 2 (room for "+N more"), got {max_per_row}')
    if thumb_size < 16:
        raise ValueError(f'thumb_size must be >= 16 pixels, got {thumb_size}')
    has_captions = any(r.captions for r in rows)
    cap_h = 14 if has_captions else 0
    header_lines = max([1 + len(r.lines) for r in rows] or [1])
    row_h = max(thumb_size + cap_h, 18 * header_lines + 4) + 2 * _PAD
    cols = max([min(max(r.total, len(r.images)), max_per_row) for r in rows] or [1])
    width = header_width + cols * (thumb_size + _PAD) + _PAD
    top = 30 if title else 0
    sheet = np.empty((top + row_h * max(1, len(rows)), width, 3), np.uint8)
    sheet[:] = _PAGE
    if title:
        _put(sheet, title, _PAD, 20, 0.55, _INK, 1, width - 2 * _PAD)
    cap_scale = 0.33 * thumb_size / 96
    for r, row in enumerate(rows):
        y = top + r * row_h
        if r % 2:
            sheet[y:y + row_h] = _STRIPE
        _put(sheet, row.title, _PAD, y + _PAD + 16, 0.55, _INK, 2, header_width - 2 * _PAD)
        for j, line in enumerate(row.lines):
            _put(sheet, line, _PAD, y + _PAD + 34 + 18 * j, 0.42, _MUTED, 1,
                 header_width - 2 * _PAD)
        total = max(row.total, len(row.images))
        n_show = total if total <= max_per_row else max_per_row - 1
        for j, image in enumerate(row.images[:n_show]):
            x = header_width + j * (thumb_size + _PAD)
            tile = thumbnail(image, thumb_size)
            sheet[y + _PAD:y + _PAD + thumb_size, x:x + thumb_size] = tile
            if row.captions:
                color = row.caption_colors[j] if row.caption_colors else _INK
                _put(sheet, row.captions[j], x + 1, y + _PAD + thumb_size + 11, cap_scale,
                     color, 1, thumb_size - 2)
        more = total - min(n_show, len(row.images))
        if more > 0:
            x = header_width + min(n_show, len(row.images)) * (thumb_size + _PAD)
            tile = sheet[y + _PAD:y + _PAD + thumb_size, x:x + thumb_size]
            tile[:] = _TILE
            text = f'+{more} more'
            scale = 0.5 * thumb_size / 96
            tw, th = cv2.getTextSize(text, _FONT, scale, 1)[0]
            _put(tile, text, (thumb_size - tw) / 2, (thumb_size + th) / 2, scale, _INK, 1,
                 thumb_size - 4)
    return sheet


def encode_image(rgb: np.ndarray, ext: str = '.png', quality: int = 85) -> bytes:
    """Encode an RGB image to PNG or JPEG bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext.lower() in ('.jpg', '.jpeg') else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f'could not encode a {rgb.shape} image as {ext}')
    return buf.tobytes()


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB image as PNG (raises ``OSError`` when the file cannot be written)."""
    data = encode_image(rgb, '.png')
    with open(path, 'wb') as f:
        f.write(data)
