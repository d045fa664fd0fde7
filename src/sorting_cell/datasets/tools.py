"""The tool-clustering dataset: 560 photos of 28 tools, 7 classes, 5 conditions, 4 shots."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sorting_cell.assets import resolve

from .manifest import manifest

__all__ = ['ToolImage', 'load_tools', 'tools_root']

_NAME = re.compile(r'^(\d)(\d)\.jpg$')


@dataclass(frozen=True)
class ToolImage:
    """One photo: its file and what it shows."""

    path: Path
    condition: int
    label: str
    object_id: str  # unique across the dataset, e.g. 'driver/3'
    shot: int


def tools_root(download: bool = True) -> Path:
    """Local root of the dataset (``conditions1`` ... ``conditions5`` inside)."""
    return resolve(manifest()['tools']['asset'], download=download)


def load_tools(root: str | Path | None = None, conditions=None) -> list[ToolImage]:
    """List the dataset's images with their class, object, shot and condition.

    Raises ``FileNotFoundError`` when ``root`` does not look like the dataset, and checks
    the image count against the manifest so a partial download is noticed.
    """
    root = Path(root) if root is not None else tools_root()
    spec = manifest()['tools']
    wanted = list(conditions or spec['conditions'])
    out: list[ToolImage] = []
    for c in wanted:
        cdir = root / f'conditions{c}'
        if not cdir.is_dir():
            raise FileNotFoundError(f'{cdir} missing: {root} is not the tool dataset '
                                    f'(layout {spec["layout"]})')
        for label in sorted(spec['classes']):
            for path in sorted((cdir / label).glob('*.jpg')):
                m = _NAME.match(path.name)
                if m:
                    out.append(ToolImage(path, c, label, f'{label}/{m.group(1)}', int(m.group(2))))
    expected = spec['images'] * len(wanted) // len(spec['conditions'])
    if len(out) != expected:
        raise FileNotFoundError(f'found {len(out)} images under {root} for conditions {wanted}, '
                                f'expected {expected}; the copy is incomplete')
    return out
