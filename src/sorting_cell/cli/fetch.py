"""``sorting-cell fetch [NAME...]``: download, verify and unpack models and datasets."""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    from ..assets import ASSETS
    p.add_argument('names', nargs='*', metavar='NAME',
                   help=f'assets to fetch (default: all): {", ".join(ASSETS)}')
    p.add_argument('--list', action='store_true', help='list assets and where they resolve')


def run(args) -> int:
    from ..assets import ASSETS, AssetUnavailableError, resolve

    names = args.names or list(ASSETS)
    unknown = [n for n in names if n not in ASSETS]
    if unknown:
        print(f'unknown asset(s): {", ".join(unknown)}; known: {", ".join(ASSETS)}',
              file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            path = resolve(name, download=not args.list)
            print(f'{name:18s} {path}')
        except AssetUnavailableError as exc:
            print(f'{name:18s} MISSING\n{exc}', file=sys.stderr)
            status = 1
    return status
