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


@pytest.fixture(scope='session')
def digits_hog():
    """``make(n, orientations=9) -> (pixels, HOG, labels)`` of the first n 8x8 digits."""
    import numpy as np
    from skimage.feature import hog
    from sklearn.datasets import load_digits

    made = {}

    def make(n: int, orientations: int = 9):
        if (n, orientations) not in made:
            X, y = load_digits(return_X_y=True)
            X, y = X[:n], y[:n]
            H = np.array([hog(x.reshape(8, 8), orientations=orientations,
                              pixels_per_cell=(4, 4), cells_per_block=(1, 1)) for x in X])
            made[n, orientations] = (X, H, y)
        return made[n, orientations]

    return make
