"""Read the dataset manifest (manifest.yaml next to this module)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml


@lru_cache(maxsize=1)
def manifest() -> dict:
    return yaml.safe_load((Path(__file__).parent / 'manifest.yaml').read_text())
