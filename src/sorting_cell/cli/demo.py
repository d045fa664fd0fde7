"""``sorting-cell demo``: the main job -- the simulated cell sorts a tray of real tools.

Brings up the cell's nodes (``sorting-cell up sim``: the MuJoCo cell with the tool dataset's
own tools, built from its photos at first use, and the sorter with the embedded perception),
sorts one tray through the ``SortObjects`` action and writes, in ``--out``: the overhead
camera before and after, a view of the cell, the per-box contact sheet, an animation and
``report.html`` / ``summary.json`` with the figures (see :mod:`.sim_bench`).

``--photos`` runs the earlier demo instead: one photo of each of the 28 tools clustered
into 7 groups offline (what ``sorting-cell cluster`` does on any folder).
"""
from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument('--out', default='out/demo', help='output directory (default out/demo)')
    p.add_argument('--seed', type=int, default=0, help='which tray (default 0)')
    p.add_argument('--photos', action='store_true',
                   help='cluster 28 photos of the tool dataset offline instead (no robot)')
    p.add_argument('--condition', default='1',
                   help="--photos: tool-dataset condition 1..5, or 'mixed' (default 1)")


def run(args) -> int:
    if args.photos:
        return _photos(args)
    from .sim_bench import run_bench
    out = Path(args.out)
    bench = bench_args(args.seed, out)
    print('sorting one tray of the tool world with the simulated cell (first use builds the '
          '28 tools from the dataset: about 2 minutes)', flush=True)
    status = run_bench(bench)
    if (out / 'summary.json').is_file():
        _report(out)
        print(f'report: {out / "report.html"}')
    return status


def bench_args(seed: int, out: Path) -> argparse.Namespace:
    """``sorting-cell sim bench`` options for one tool-world tray.

    Parsed by the bench's own parser, which fills every option the demo does not set, so
    the two cannot drift apart.
    """
    from .sim_bench import add_arguments as bench_arguments
    parser = argparse.ArgumentParser(prog='sorting-cell demo')
    bench_arguments(parser.add_subparsers())
    return parser.parse_args(['bench', '--objects', 'tools', '--trays', '1', '--seed', str(seed),
                              '--out', str(out), '--timeout', '600', '--animation'])


def _report(out: Path) -> None:
    s = json.loads((out / 'summary.json').read_text())
    images = [(name, caption) for name, caption in [
        ('tray0_before.png', 'the overhead camera before the sort'),
        ('tray0_after.png', 'and after'),
        ('tray0_sort.gif', 'the sort, one frame per simulated second'),
        ('tray0_boxes.png', 'each box from above (labels: ground truth)'),
        ('tray0_cell_after.png', 'the cell after the sort')] if (out / name).is_file()]
    picks, sorting, cycle = s['picks'], s['sorting'], s['cycle_s'] or {}
    rows = ''.join(f'<tr><td>{html.escape(f["instance"] or f["object"])}</td>'
                   f'<td>{html.escape(f["family"])}</td><td>{f["intended_box"]}</td>'
                   f'<td>{f["final_box"]}</td><td>{html.escape(f["reason"])}</td></tr>'
                   for f in s['failures'])
    body = [
        '<h1>sorting_cell demo: the simulated cell sorts the tool world</h1>',
        f'<p>{picks["in_intended_box"]} of {picks["total"]} objects in the box perception '
        f'chose; box contents by true category: NMI {sorting["nmi"]}, purity '
        f'{sorting["purity"]}; {cycle.get("mean")} s simulated per object (p95 '
        f'{cycle.get("p95")}); {s["wall_s"]} s wall in all.</p>',
        f'<p>{html.escape(s["path"])}</p>',
        *(f'<figure><img src="{n}" style="max-width:960px"><figcaption>{html.escape(c)}'
          '</figcaption></figure>' for n, c in images),
        '<h2>objects not in their intended box</h2>' + (
            f'<table border=1><tr><th>object</th><th>category</th><th>intended</th>'
            f'<th>final</th><th>reason</th></tr>{rows}</table>' if rows else '<p>none</p>'),
    ]
    (out / 'report.html').write_text('<!doctype html><meta charset="utf-8"><title>sorting_cell '
                                     'demo</title>' + '\n'.join(body))


def _photos(args) -> int:
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
