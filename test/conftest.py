"""Shared fixtures: assets point at ../shared unless the environment says otherwise. At the end
of every run, what the machine was like while the tests ran: a system test that fails on a
CI machine and nowhere else is explained by its load, by other DDS participants on the
machine (leftovers of an earlier run share its domains), or by a full /dev/shm (Fast DDS's
shared-memory transport)."""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared'
if not os.environ.get('SORTING_CELL_ASSETS') and SHARED.is_dir():
    os.environ['SORTING_CELL_ASSETS'] = str(SHARED)

# This process's own participants (in-process node tests, probes, clients) stay on rmw's
# localhost transports, as they always were; the nodes the tests start as processes get
# the local profile (rosproc.ros_env -> bringup.local_env): their images travel in one
# shared-memory message, never as UDP fragments (config/fastdds_local.xml says why).
# Moving this process to the profile too was tried: a clean-clone run beside a CPU hog
# then segfaulted in an executor thread while garbage-collecting (test_sorter_node).
os.environ.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


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


sys.path.insert(0, str(Path(__file__).parent / 'nodes'))
from rosproc import domain_in_use  # noqa: E402

_AT_START: dict = {}


def _machine() -> dict:
    shm = shutil.disk_usage('/dev/shm') if os.path.isdir('/dev/shm') else None
    return {'load': ' '.join(f'{x:.1f}' for x in os.getloadavg()),
            'domains': [d for d in range(0, 233) if domain_in_use(d)],
            'shm': 'absent' if shm is None else
            f'{shm.used / 2**20:.0f} of {shm.total / 2**20:.0f} MB used'}


def pytest_sessionstart(session):
    _AT_START.update(_machine())


def pytest_terminal_summary(terminalreporter):
    end = _machine()
    tr = terminalreporter
    tr.write_sep('-', 'machine')
    tr.write_line(f'cpus {os.cpu_count()}; load average (1, 5, 15 min) at start '
                  f"{_AT_START.get('load', '?')}, at end {end['load']}")
    tr.write_line(f"DDS domains with participants at start {_AT_START.get('domains', '?')}, "
                  f"at end {end['domains']}")
    tr.write_line(f"/dev/shm at start {_AT_START.get('shm', '?')}, at end {end['shm']}")
