"""What every benchmark result file records about its run, and which set builds it runs."""
from __future__ import annotations

import os
import platform
import time

from .image_sets import SEEDLESS

__all__ = ['run_meta', 'set_builds']


def run_meta(note: str = '', **extra) -> dict:
    """Date, machine, the load average at the end and the run's note, plus ``extra``.

    The load goes with every figure: timings taken beside other work read differently.
    """
    return {'date': time.strftime('%Y-%m-%d'),
            'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
                       f'Python {platform.python_version()}',
            'load_average_at_end': os.getloadavg()[0], 'note': note, **extra}


def set_builds(sets, seeds: list[int]):
    """``(set, seed)`` for every build: each seed for sets that depend on it, one otherwise."""
    for name in sets:
        for seed in seeds[:1] if name in SEEDLESS else seeds:
            yield name, seed
