"""Pictures of a sort for the page: outlines on the camera image, object thumbnails, and the
sort's offline ``report.html`` (the same self-contained report ``sorting-cell cluster``
writes, one cluster per box)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..report.contact_sheet import encode_image, thumbnail
from ..report.html import ClusterView, Member, render_html
from ..sortlog import SortLog, SortRecord
from .state import box_colour

__all__ = ['outline', 'crop', 'thumbnail_jpeg', 'sort_dict', 'write_sort_report',
           'list_reports', 'REPORTS']

#: Sub-folder of the page's output folder holding one ``<sort_id>/report.html`` per sort.
REPORTS = 'sorts'


def outline(rgb: np.ndarray, objects: Iterable[tuple[Sequence[int], int]],
            thickness: int = 2) -> np.ndarray:
    """A copy of ``rgb`` with each ``(x0, y0, x1, y1), box`` drawn in its box's colour."""
    out = np.ascontiguousarray(rgb).copy()
    for (x0, y0, x1, y1), box in objects:
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), box_colour(box),
                      thickness, cv2.LINE_AA)
        if box >= 0:
            cv2.putText(out, str(box), (int(x0) + 3, int(y0) + 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, box_colour(box), 1, cv2.LINE_AA)
    return out


def crop(rgb: np.ndarray, bbox: Sequence[int], margin: int = 4) -> np.ndarray:
    """The pixels of ``bbox`` (x0, y0, x1, y1) plus ``margin``, clipped to the image."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in bbox)
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(w, x1 + margin), min(h, y1 + margin)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f'box {tuple(bbox)} is outside the {w}x{h} image')
    return rgb[y0:y1, x0:x1]


def thumbnail_jpeg(rgb: np.ndarray, bbox: Sequence[int], size: int = 80) -> bytes:
    return encode_image(thumbnail(crop(rgb, bbox), size), '.jpg', 80)


def sort_dict(record: SortRecord) -> dict:
    """A logged sort as the page's model holds it."""
    return {'sort_id': record.sort_id, 'num_boxes': record.num_boxes, 'state': record.state,
            'message': record.message, 'created': record.created,
            'objects': [{'object_id': o.object_id, 'box': o.box, 'state': o.state,
                         'reason': o.reason, 'attempts': o.attempts,
                         'bbox': o.info.get('bbox')} for o in record.objects]}


def write_sort_report(log: SortLog, sort_id: str, out_dir: str | Path) -> Path:
    """``out_dir/sorts/<sort_id>/report.html`` for a logged sort: per box the objects sent
    there (crops of the snapshot the sort was planned on, captioned with the outcome), and
    every object that did not reach its box with the reason."""
    record = log.get(sort_id)
    if record is None:
        raise KeyError(f'no sort {sort_id!r} in {log.path}')
    snap = log.load_snapshot(sort_id) or {}
    frame = snap.get('frame')
    views = []
    for box in range(record.num_boxes):
        members = []
        for o in record.objects:
            if o.box != box or frame is None or not o.info.get('bbox'):
                continue
            members.append(Member(o.object_id, crop(frame, o.info['bbox']),
                                  caption=o.reason or o.state, odd=o.state == 'failed'))
        views.append(ClusterView(box, sum(o.box == box for o in record.objects), members))
    failures = [(o.object_id, o.reason or o.state) for o in record.objects
                if o.state != 'done']
    placed = sum(o.state == 'done' for o in record.objects)
    html = render_html(
        title=f'sort {record.sort_id}',
        parameters={'sort id': record.sort_id, 'boxes': record.num_boxes,
                    'state': record.state, 'message': record.message or '-',
                    'started': time.strftime('%Y-%m-%d %H:%M:%S',
                                             time.localtime(record.created))},
        counts={'objects': len(record.objects), 'placed': placed,
                'not placed': len(record.objects) - placed},
        timings={}, clusters=views, failures=failures, sheet_name=None)
    folder = Path(out_dir) / REPORTS / record.sort_id
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / 'report.html.tmp'
    tmp.write_text(html)
    tmp.replace(folder / 'report.html')   # a half-written page is never served
    return folder / 'report.html'


def list_reports(out_dir: str | Path) -> list[dict]:
    """The reports in ``out_dir``, newest first: sort_id and the page-relative URL."""
    root = Path(out_dir) / REPORTS
    if not root.is_dir():
        return []
    pages = sorted(root.glob('*/report.html'), key=lambda p: p.stat().st_mtime, reverse=True)
    return [{'sort_id': p.parent.name, 'url': f'files/{REPORTS}/{p.parent.name}/report.html'}
            for p in pages]
