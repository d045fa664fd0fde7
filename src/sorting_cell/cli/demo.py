"""``sorting-cell demo``: the main job on the embedded default, on real photos.

Fetches the tool dataset (or uses a local copy), lays out one "tray" the way the
published benchmark does -- one photo of each of the 28 tools -- and sorts it into 7
boxes with the embedded LiteRT MobileNet: assignments.csv, clusters.png, report.html.
"""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument('--out', default='out/demo', help='output directory (default out/demo)')
    p.add_argument('--condition', default='1',
                   help="tool-dataset condition 1..5, or 'mixed' (default 1)")
    p.add_argument('--seed', type=int, default=0, help='which draw of the 28 photos')


def run(args) -> int:
    from ..assets import AssetUnavailableError
    from ..bench.tools import protocol_a_draws
    from ..datasets import load_tools
    from . import main

    condition = args.condition if args.condition == 'mixed' else int(args.condition)
    try:
        images = load_tools()
    except AssetUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    idx = protocol_a_draws(images, condition, n_draws=1, seed=args.seed)[0]
    paths = [str(images[i].path) for i in idx]
    print(f'sorting {len(paths)} photos of the tool dataset (condition {args.condition}) '
          f'into 7 boxes')
    return main(['cluster', *paths, '-k', '7', '--out', args.out, '--truth-from-parent-dir'])
