"""Read datasets/manifest.yaml (shipped inside the package as sorting_cell.datasets)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml


@lru_cache(maxsize=1)
def manifest() -> dict:
    return yaml.safe_load((Path(__file__).parent / 'manifest.yaml').read_text())
