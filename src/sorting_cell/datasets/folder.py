"""Any folder of images: list the files a clustering run should consider."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from sorting_cell.images import IMAGE_SUFFIXES

__all__ = ['find_images']


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and directories (recursively, sorted) into image paths.

    Files named explicitly are kept whatever their suffix, so that a bad file the user
    asked for is reported rather than silently skipped; inside directories only files with
    an image suffix are taken. Raises ``FileNotFoundError`` for a path that does not exist.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob('*')
                              if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f'{p}: no such file or directory')
    return out
