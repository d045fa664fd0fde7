"""What every benchmark result file records about its run, and which set builds it runs."""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from .image_sets import SEEDLESS

__all__ = ['run_meta', 'set_builds', 'add_build_arguments', 'seed_list', 'run_builds',
           'write_results']


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


def add_build_arguments(parser, sets, seeds: str = '0,1,2') -> None:
    """The arguments every image-set benchmark takes: ``--sets``, ``--seeds``, ``--out``,
    ``--note`` (split them with ``args.sets.split(',')``, :func:`seed_list`)."""
    parser.add_argument('--sets', default=','.join(sets), help='comma-separated image sets')
    parser.add_argument('--seeds', default=seeds, help='comma-separated seeds of the set builds')
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--note', default='', help='load note for the table (e.g. "(loaded)")')


def seed_list(text: str) -> list[int]:
    """``'0,1,2'`` -> ``[0, 1, 2]``."""
    return [int(s) for s in text.split(',')]


def run_builds(sets, seeds: list[int], build, show=None) -> list:
    """``build(name, seed, work)`` for every set build (:func:`set_builds`), each in a
    temporary folder ``work`` removed at the end; ``show(result)`` reports each."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in set_builds(sets, seeds):
            results.append(build(name, seed, Path(tmp)))
            if show is not None:
                show(results[-1])
    return results


def write_results(out, name: str, data: dict, md: str, indent: int = 1) -> None:
    """``<out>/<name>.json`` (``data``) and ``<out>/<name>.md`` (``md``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f'{name}.json').write_text(json.dumps(data, indent=indent))
    (out / f'{name}.md').write_text(md)
