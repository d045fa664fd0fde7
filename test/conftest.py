"""Shared fixtures: assets point at ../shared unless the environment says otherwise."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared'
if not os.environ.get('SORTING_CELL_ASSETS') and SHARED.is_dir():
    os.environ['SORTING_CELL_ASSETS'] = str(SHARED)


@pytest.fixture(scope='session')
def tools_root() -> Path:
    """Root of the tool dataset (conditions1..5)."""
    from sorting_cell.assets import resolve
    return resolve('tools', download=False)
