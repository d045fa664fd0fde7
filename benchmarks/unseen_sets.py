"""The default against whole-image features, through the CLI, on sets nobody tuned for.

Each set of :mod:`sorting_cell.bench.image_sets` is built (seeded) and clustered twice by
``sorting-cell cluster --truth-from-parent-dir``: with the defaults (perception decides
from the images) and with ``--proposer none`` (whole-image features, same backbone). The
table gives NMI, purity, the decisions and the wall time of each run.

    python benchmarks/unseen_sets.py [--sets a,b] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from sorting_cell.bench.image_sets import IMAGE_SETS, build_image_set
from sorting_cell.cli import main as cli


def run_set(name: str, work: Path) -> dict:
    folder = work / name
    n = build_image_set(name, folder)
    k = len([p for p in folder.iterdir() if p.is_dir()])
    row = {'set': name, 'images': n, 'k': k}
    for mode, extra in (('default', []), ('whole', ['--proposer', 'none'])):
        out = work / f'{name}-{mode}'
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(['cluster', str(folder), '-k', str(k), '--out', str(out),
                        '--truth-from-parent-dir', '--no-progress', *extra])
        wall = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f'{name} {mode}: exit {code}')
        s = json.loads((out / 'summary.json').read_text())
        row[mode] = {'nmi': s['metrics']['nmi'], 'purity': s['metrics']['purity'],
                     'wall_s': round(wall, 1),
                     'decided': {k2: v['value'] for k2, v in s['decisions'].items()}}
    row['default_minus_whole'] = round(row['default']['nmi'] - row['whole']['nmi'], 4)
    return row


def markdown(rows: list[dict], loaded: str) -> str:
    lines = ['## Default vs whole-image features on sets that break the tool dataset\'s '
             'assumptions', '',
             f'`sorting-cell cluster --truth-from-parent-dir` (defaults) vs the same with '
             f'`--proposer none`, embedded MobileNetV2 (TF2 int8) + Ward. {loaded}', '',
             '| set | images | k | decided: fixed camera / objects / geometry / surround | '
             'default NMI | '
             'whole-image NMI | default - whole | default wall s | whole wall s |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        d = r['default']['decided']
        yn = ' / '.join('-' if q not in d else 'yes' if d[q] else 'no'
                        for q in ('fixed_camera', 'objects', 'geometry', 'surround'))
        lines.append(f"| {r['set']} | {r['images']} | {r['k']} | {yn} | "
                     f"{r['default']['nmi']:.3f} | {r['whole']['nmi']:.3f} | "
                     f"{r['default_minus_whole']:+.3f} | {r['default']['wall_s']} | "
                     f"{r['whole']['wall_s']} |")
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', default=','.join(IMAGE_SETS))
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--note', default='', help='load note for the table (e.g. "(loaded)")')
    p.add_argument('--markdown-only', action='store_true',
                   help='rewrite the markdown from the JSON of the last run')
    args = p.parse_args()
    if args.markdown_only:
        data = json.loads((Path(args.out) / 'unseen_sets.json').read_text())
        (Path(args.out) / 'unseen_sets.md').write_text(markdown(data['rows'],
                                                                data['meta']['note']))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(','):
            rows.append(run_set(name, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {'date': time.strftime('%Y-%m-%d'), 'machine': f'{platform.machine()}, '
            f'{os.cpu_count()} cores, Python {platform.python_version()}',
            'load_average_at_end': os.getloadavg()[0], 'note': args.note}
    (out / 'unseen_sets.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2))
    (out / 'unseen_sets.md').write_text(markdown(rows, args.note))
    print(markdown(rows, args.note))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
